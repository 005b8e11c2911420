package io.policyloss.loss;

/**
 * A kernel under test. The kernel-versus-oracle contract runs every case through each backend unchanged: the CPU
 * kernel here, the CUDA kernel (tagged "gpu") where a device is present.
 */
public interface LossBackend {
    String name();

    /** Why the backend cannot run here, or null if it can (tests then skip, or fail where {@code GpuSuite} says). */
    String unavailableReason();

    LossResult run(LossConfig config, LossBatch batch);

    /** The CPU kernel through the Java array API. */
    LossBackend CPU = new LossBackend() {
        @Override
        public String name() {
            return "cpu";
        }

        @Override
        public String unavailableReason() {
            return null;
        }

        @Override
        public LossResult run(LossConfig config, LossBatch batch) {
            return new FusedLoss(config).compute(batch);
        }
    };
}
