package io.policyloss.loss;

/** The CPU kernel against the oracle: every case of the contract. */
class CpuKernelVsOracleTest extends KernelVsOracleContract {
    @Override
    protected LossBackend backend() {
        return LossBackend.CPU;
    }
}
