package io.policyloss;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

/**
 * Whether a gpu-tagged test may skip where the library can use no CUDA device. Skipping is right on a machine
 * without a GPU (CI); on one with a GPU it would let {@code mvn verify} pass with the whole GPU suite unrun, for a
 * driver older than the library's CUDA runtime or a build made without nvcc, so there such a test fails with the
 * library's reason. The environment variable {@code POLICYLOSS_GPU} decides: {@code required} fails, {@code optional}
 * skips, and unset (or {@code auto}) requires a device where an NVIDIA driver's control device, /dev/nvidiactl,
 * shows that the machine has a GPU.
 */
public final class GpuSuite {
    public static final String VARIABLE = "POLICYLOSS_GPU";
    private static final Path NVIDIA_CONTROL_DEVICE = Path.of("/dev/nvidiactl");

    private GpuSuite() {}

    /**
     * Returns where {@code unavailableReason} is null; else skips the calling test (an assumption) or, where the GPU
     * suite is required here, fails it, naming {@code what} and the reason.
     */
    public static void assumeAvailable(String what, String unavailableReason) {
        if (unavailableReason == null) return;
        skipOrFail(what, unavailableReason, required(System.getenv(VARIABLE), Files.exists(NVIDIA_CONTROL_DEVICE)));
    }

    static void skipOrFail(String what, String unavailableReason, boolean required) {
        String message = what + " not available: " + unavailableReason;
        if (required)
            Assertions.fail(message + ". The GPU suite is required here (" + VARIABLE + "=required, or "
                    + NVIDIA_CONTROL_DEVICE + " present); " + VARIABLE + "=optional lets it skip");
        Assumptions.abort(message);
    }

    /** Whether a test that cannot run fails: {@code setting} is the variable's value (null where unset). */
    static boolean required(String setting, boolean machineHasGpu) {
        if (setting == null || setting.isEmpty() || setting.equals("auto")) return machineHasGpu;
        if (setting.equals("required")) return true;
        if (setting.equals("optional")) return false;
        throw new IllegalArgumentException(
                VARIABLE + ": must be required, optional or auto, got \"" + setting + "\"");
    }
}
