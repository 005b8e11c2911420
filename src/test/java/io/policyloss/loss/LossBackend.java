package io.policyloss.loss;

/**
 * A kernel under test. The kernel-versus-oracle contract runs every case through each backend unchanged: the CPU
 * kernel everywhere, the CUDA kernel (tagged "gpu") where a device is present ({@link BuffersBackend}).
 */
public interface LossBackend {
    String name();

    /** Why the backend cannot run here, or null if it can (tests then skip, or fail where {@code GpuSuite} says). */
    String unavailableReason();

    LossResult run(LossConfig config, LossBatch batch);
}
