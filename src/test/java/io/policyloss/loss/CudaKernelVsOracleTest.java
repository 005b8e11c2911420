package io.policyloss.loss;

import org.junit.jupiter.api.Tag;

/** The CUDA kernel against the oracle: every case of the contract, on device buffers. Skips without a device. */
@Tag("gpu")
class CudaKernelVsOracleTest extends KernelVsOracleContract {
    @Override
    protected LossBackend backend() {
        return BuffersBackend.CUDA;
    }
}
