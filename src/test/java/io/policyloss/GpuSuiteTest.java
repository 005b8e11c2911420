package io.policyloss;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.opentest4j.AssertionFailedError;
import org.opentest4j.TestAbortedException;

/** When a gpu-tagged test that cannot run skips, and when it fails. */
class GpuSuiteTest {
    @Test
    void unsetOrAutoRequiresTheSuiteExactlyOnAMachineWithAGpu() {
        for (String setting : new String[] {null, "", "auto"}) {
            assertTrue(GpuSuite.required(setting, true), String.valueOf(setting));
            assertFalse(GpuSuite.required(setting, false), String.valueOf(setting));
        }
    }

    @Test
    void anExplicitSettingOverridesTheMachine() {
        for (boolean gpu : new boolean[] {false, true}) {
            assertTrue(GpuSuite.required("required", gpu));
            assertFalse(GpuSuite.required("optional", gpu));
        }
    }

    @Test
    void anUnknownSettingNamesTheVariable() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> GpuSuite.required("yes", true));
        assertEquals("POLICYLOSS_GPU: must be required, optional or auto, got \"yes\"", e.getMessage());
    }

    @Test
    void anAvailableBackendNeitherSkipsNorFails() {
        assertDoesNotThrow(() -> GpuSuite.assumeAvailable("cuda backend", null));
    }

    @Test
    void requiredFailsWithTheReasonAndTheWayOut() {
        AssertionFailedError e = assertThrows(AssertionFailedError.class,
                () -> GpuSuite.skipOrFail("cuda backend", "no NVIDIA driver is installed", true));
        assertTrue(e.getMessage().startsWith("cuda backend not available: no NVIDIA driver is installed."), e.getMessage());
        assertTrue(e.getMessage().contains("POLICYLOSS_GPU=optional"), e.getMessage());
    }

    @Test
    void optionalSkipsWithTheReason() {
        TestAbortedException e = assertThrows(TestAbortedException.class,
                () -> GpuSuite.skipOrFail("cuda backend", "no NVIDIA driver is installed", false));
        assertTrue(e.getMessage().contains("cuda backend not available: no NVIDIA driver is installed"), e.getMessage());
    }
}
