package io.policyloss.control;

import static io.policyloss.control.Refusals.assertMessage;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.policyloss.loss.FusedLoss;
import io.policyloss.loss.LossConfig;
import io.policyloss.loss.LossResult;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** TIS's weight against its definition, and the claim that weighting the advantage weights the pg term. */
class TruncatedImportanceSamplingTest {
    @Test
    void theWeightIsTheTruncatedRatio() {
        assertEquals(Math.exp(0.5), TruncatedImportanceSampling.weight(-1.0, -1.5, 2.0), 1e-15);
        assertEquals(Math.exp(-0.7), TruncatedImportanceSampling.weight(-2.2, -1.5, 2.0), 1e-15);
        assertEquals(1.2, TruncatedImportanceSampling.weight(-1.0, -1.5, 1.2), "truncated at the cap");
        assertEquals(2.0, TruncatedImportanceSampling.weight(0.0, -1e4, 2.0), "exp overflows to the cap");
        float[] a = TruncatedImportanceSampling.advantages(new float[] {1.5f, -2f}, new float[] {-1f, -3f},
                new float[] {-1.5f, -1f}, 2.0);
        assertArrayEquals(new float[] {(float) (1.5 * Math.exp(0.5)), (float) (-2 * Math.exp(-2))}, a);
    }

    /**
     * Clip-low, clip-high, the dual clip and unclipped rows, without entropy or KL: with the weighted advantages
     * each row's loss and gradient are its weight times those with the advantages as they were, and every row
     * takes the same branch (its clip flags).
     */
    @Test
    void weightingTheAdvantageWeightsTheRowsLossAndGradient() {
        int rows = 400, vocab = 64;
        Random r = new Random(3);
        float[] logits = new float[rows * vocab];
        for (int k = 0; k < logits.length; ++k) logits[k] = (float) (2 * r.nextGaussian());
        int[] target = new int[rows];
        float[] advantage = new float[rows], weight = new float[rows], rolloutLogp = new float[rows];
        for (int i = 0; i < rows; ++i) {
            target[i] = r.nextInt(vocab);
            advantage[i] = (float) r.nextGaussian();
            weight[i] = 1f / rows;
        }
        LossConfig config = LossConfig.builder().epsLow(0.2).epsHigh(0.28).dualClipC(3).build();
        FusedLoss loss = new FusedLoss(config);
        float[] logp = loss.compute(F32Batches.of(logits, target, new float[rows], null, advantage, weight)).logp();
        float[] oldLogp = new float[rows];
        double[] logRatio = {-1.5, -0.5, -0.1, 0.0, 0.1, 0.5, 1.5};  // r across clip-low, unclipped, clip-high, dual
        for (int i = 0; i < rows; ++i) {
            oldLogp[i] = (float) (logp[i] - logRatio[i % logRatio.length]);
            rolloutLogp[i] = (float) (oldLogp[i] + 0.8 * r.nextGaussian());  // weights from 0.1 to the cap
        }
        double cap = 2.0;
        LossResult plain = loss.compute(F32Batches.of(logits, target, oldLogp, null, advantage, weight));
        LossResult weighted = loss.compute(F32Batches.of(logits, target, oldLogp, null,
                TruncatedImportanceSampling.advantages(advantage, oldLogp, rolloutLogp, cap), weight));
        assertArrayEquals(plain.flags(), weighted.flags(), "the same branch in every row");
        int capped = 0, clipped = 0;
        for (int i = 0; i < rows; ++i) {
            double f = TruncatedImportanceSampling.weight(oldLogp[i], rolloutLogp[i], cap);
            capped += f == cap ? 1 : 0;
            clipped += plain.flags()[i] != 0 ? 1 : 0;
            assertEquals(f * plain.loss()[i], weighted.loss()[i], 1e-6 * Math.abs(f * plain.loss()[i]) + 1e-12,
                    "row " + i + " loss");
            double rowMax = 0;
            for (int v = 0; v < vocab; ++v) rowMax = Math.max(rowMax, Math.abs(f * plain.dlogitsF32()[i * vocab + v]));
            for (int v = 0; v < vocab; ++v) {
                double expected = f * plain.dlogitsF32()[i * vocab + v], actual = weighted.dlogitsF32()[i * vocab + v];
                if (!(Math.abs(expected - actual) <= 1e-5 * rowMax + 1e-30))
                    fail("row " + i + " dlogits[" + v + "]: " + expected + " expected, got " + actual);
            }
        }
        assertTrue(capped > 20 && clipped > rows / 3, capped + " rows capped, " + clipped + " clipped");
    }

    @Test
    void badArgumentsNameTheArgumentAndRow() {
        float[] one = {0f}, two = {0f, 0f};
        assertMessage("oldLogp: length 2, advantage has 1 rows",
                () -> TruncatedImportanceSampling.advantages(one, two, one, 2));
        assertMessage("cap: must be finite and > 0, got 0.0",
                () -> TruncatedImportanceSampling.advantages(one, one, one, 0));
        assertMessage("cap: must be finite and > 0, got NaN",
                () -> TruncatedImportanceSampling.advantages(one, one, one, Double.NaN));
        assertMessage("rolloutLogp: row 1: must be finite, got NaN",
                () -> TruncatedImportanceSampling.advantages(two, two, new float[] {0f, Float.NaN}, 2));
    }
}
