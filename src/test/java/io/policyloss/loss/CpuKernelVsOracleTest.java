package io.policyloss.loss;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.policyloss.oracle.Oracle;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The CPU kernel against the oracle: every case of the contract on poisoned host buffers, plus the array call on
 * every case and the CPU kernel's own fast-path boundaries.
 */
class CpuKernelVsOracleTest extends KernelVsOracleContract {
    @Override
    protected LossBackend backend() {
        return BuffersBackend.CPU;
    }

    /**
     * The array call ({@link FusedLoss#compute(LossBatch)}, fresh output buffers), which users call, gives bit for
     * bit what the contract checked against the oracle on poisoned buffers: the same kernel, so its results need no
     * oracle of their own, only the copies in and out. In place, each call gets logits of its own.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("caseStream")
    void theArrayCallGivesTheBuffersCallsBits(RandomCase c) {
        long seed = System.nanoTime();
        LossResult viaArrays = new FusedLoss(c.config()).compute(c.generate(seed).batch());
        LossResult viaBuffers = backend().run(c.config(), c.generate(seed).batch());
        SameBits.assertSameBits("'" + c.name() + "' seed " + seed + " arrays against buffers", c, viaBuffers,
                viaArrays);
    }

    /**
     * The CPU kernel brackets the TOKEN_FRACTION threshold with a strided sample of 2048 columns (j * V / 2048) on
     * long rows. Spikes placed exactly on those columns mislead the sample, so the band misses and the general
     * radix select must take over; the result must still be the oracle's.
     */
    @Test
    void misleadingSampleFallsBackToTheFullSelection() {
        int rows = 3, vocab = 20_000;
        LossConfig config = LossConfig.builder().entropyCoef(0.01).clampedEntropyCoef(0.05).clampP(0.4).build();
        RandomCase c = RandomCase.of("misleading sample", rows, vocab, Dtype.F32, config);
        RandomCase.Generated g = c.generate(17);
        float[] logits = g.logitsF32();
        double[][] z = g.inputs().logits();
        for (int i = 0; i < rows; ++i) {
            for (int j = 0; j < 2048; ++j) {
                int v = (int) ((long) j * vocab / 2048);
                logits[i * vocab + v] = 9f + j * 1e-3f;
                z[i][v] = logits[i * vocab + v];
            }
        }
        Oracle.Output expected = Oracle.compute(config, g.inputs());
        LossResult actual = backend().run(config, g.batch());
        OracleComparison.assertMatches("misleading sample", c, expected, actual);
        for (int i = 0; i < rows; ++i)
            assertTrue(expected.rows()[i].clampedEntropy() > 0.5, "the clamp keeps far more than the spikes");
    }
}
