package io.policyloss.loss;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.policyloss.nativeapi.PolicyLossNative;
import org.junit.jupiter.api.Test;

/** The native library loads (from the class path, no LD_LIBRARY_PATH) and says what it was built with. */
class NativeLibraryTest {
    @Test
    void loadsAndDescribesItsBackends() {
        String info = FusedLoss.buildInfo();
        assertTrue(info.startsWith("policyloss "), info);
        assertTrue(info.contains("backends: cpu ("), info);
        assertEquals(7, PolicyLossNative.pl_abi_version());
        assertEquals(PolicyLossNative.pl_has_cuda_backend() == 1, info.contains("cuda ("), info);
        assertTrue(FusedLoss.cudaDeviceCount() >= 0);
        // Where no device can be used the library says why (the GPU suite's skip or failure quotes it); else nothing.
        assertEquals(FusedLoss.cudaDeviceCount() == 0, FusedLoss.cudaUnavailableReason().isPresent());
        FusedLoss.cudaUnavailableReason().ifPresent(reason -> assertFalse(reason.isBlank()));
    }

    /**
     * A device past the visible ones is never usable, and without any device device 0 is not either, for the
     * library's reason (the GPU suite asks about device 0).
     */
    @Test
    void saysWhyADeviceCannotBeUsed() {
        int visible = FusedLoss.cudaDeviceCount();
        String past = FusedLoss.cudaDeviceUnusableReason(visible).orElseThrow();
        assertTrue(past.startsWith("device: CUDA device " + visible + " requested, "), past);
        FusedLoss.cudaUnavailableReason().ifPresent(reason ->
                assertEquals("device: CUDA device 0 requested, but none can be used: " + reason,
                        FusedLoss.cudaDeviceUnusableReason(0).orElseThrow()));
    }

    /** The scratch query names a device it cannot read: the host's -1, or one past the visible devices. */
    @Test
    void deviceScratchRefusesADeviceItCannotRead() {
        PolicyLossException host = assertThrows(PolicyLossException.class, () -> FusedLoss.deviceScratch(-1, false));
        assertEquals(PolicyLossException.Status.INVALID_ARGUMENT, host.status());
        assertEquals("device", host.argument());
        PolicyLossException absent = assertThrows(PolicyLossException.class,
                () -> FusedLoss.deviceScratch(FusedLoss.cudaDeviceCount(), true));
        assertEquals(PolicyLossException.Status.NO_DEVICE, absent.status());
        assertEquals("device", absent.argument());
    }

    /** POLICYLOSS_CPU_ISA=baseline (the build's second test run) selects the portable kernels. */
    @Test
    void forcedBaselineIsaIsUsed() {
        org.junit.jupiter.api.Assumptions.assumeTrue("baseline".equals(System.getenv("POLICYLOSS_CPU_ISA")),
                "only in the baseline-isa test run");
        assertTrue(FusedLoss.buildInfo().contains("backends: cpu (baseline)"), FusedLoss.buildInfo());
    }
}
