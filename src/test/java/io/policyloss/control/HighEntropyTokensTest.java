package io.policyloss.control;

import static io.policyloss.control.Refusals.assertMessage;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.policyloss.loss.FusedLoss;
import io.policyloss.loss.KlEstimator;
import io.policyloss.loss.LossBatch;
import io.policyloss.loss.LossConfig;
import io.policyloss.loss.LossResult;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The threshold against torch.quantile's definition, and TRL's masked loss through the kernel. */
class HighEntropyTokensTest {
    @Test
    void theThresholdIsTheQuantileOfTheCountedTokens() {
        // Counted entropies 0 .. 9 out of order; the padding rows' 50 and -50 must not count.
        float[] entropy = {7, 50, 2, 9, 0, 4, -50, 1, 8, 3, 6, 5};
        float[] mask = {1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1};
        // torch.quantile(0..9, 0.8): position 0.8 * 9 = 7.2, between 7 and 8.
        assertEquals(7.2, HighEntropyTokens.threshold(entropy, mask, 0.2), 1e-12);
        assertEquals(0.0, HighEntropyTokens.threshold(entropy, mask, 1.0), "rho = 1: the minimum");
        assertEquals(9.0, HighEntropyTokens.threshold(entropy, mask, 0.0), "rho = 0: the maximum");
        assertEquals(4.5, HighEntropyTokens.threshold(entropy, mask, 0.5), 1e-12);
        assertEquals(Double.POSITIVE_INFINITY, HighEntropyTokens.threshold(entropy, new float[12], 0.2));
        float[] advantage = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
        assertArrayEquals(new float[] {0, 0, 0, 4, 0, 0, 0, 0, 9, 0, 0, 0},
                HighEntropyTokens.advantages(advantage, entropy, mask, 7.2), "entropies 8 and 9, counted");
    }

    /** What a rank gives to the gather, and the threshold of the gathered tokens: the one-call threshold in parts. */
    @Test
    void theCountedTokensInPartsGiveTheWholeThreshold() {
        float[] entropy = {7, 50, 2, 9, 0, 4, -50, 1, 8, 3, 6, 5};
        float[] mask = {1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1};
        assertArrayEquals(new float[] {7, 2, 9, 0}, HighEntropyTokens.counted(Arrays.copyOf(entropy, 5),
                Arrays.copyOf(mask, 5)), "the counted rows in row order");
        float[] counted = HighEntropyTokens.counted(entropy, mask);
        assertArrayEquals(new float[] {7, 2, 9, 0, 4, 1, 8, 3, 6, 5}, counted);
        for (double rho : new double[] {0, 0.2, 0.5, 1})
            assertEquals(HighEntropyTokens.threshold(entropy, mask, rho), HighEntropyTokens.thresholdOf(counted, rho));
        assertArrayEquals(new float[] {7, 2, 9, 0, 4, 1, 8, 3, 6, 5}, counted, "thresholdOf leaves them in order");
        assertEquals(Double.POSITIVE_INFINITY, HighEntropyTokens.thresholdOf(new float[0], 0.2));
        assertEquals(7.2, HighEntropyTokens.OWN_ROWS.of(entropy, mask, 0.2), 1e-12);
    }

    /**
     * With KL (k3), entropy regularisation and Entropy-Adv on, as TRL computes it: pg times the mask, plus the rest.
     * A masked row's loss and gradient are the full ones less those of a pg-only call; a kept row's are the full ones.
     */
    @Test
    void maskedTokensLoseTheirPolicyGradientTermAlone() {
        int rows = 300, vocab = 40;
        Random r = new Random(9);
        float[] logits = new float[rows * vocab], oldLogp = new float[rows], refLogp = new float[rows],
                advantage = new float[rows], weight = new float[rows], mask = new float[rows];
        int[] target = new int[rows];
        for (int i = 0; i < rows; ++i) {
            double spread = 0.3 + 3 * r.nextDouble();  // entropies from near log(40) down to peaked rows
            for (int v = 0; v < vocab; ++v) logits[i * vocab + v] = (float) (spread * r.nextGaussian());
            target[i] = r.nextInt(vocab);
            mask[i] = i % 7 == 6 ? 0 : 1;
            weight[i] = mask[i] / rows;
            advantage[i] = (float) r.nextGaussian();
        }
        LossConfig full = LossConfig.builder().klCoef(0.05).klEstimator(KlEstimator.K3).entropyCoef(0.01)
                .entropyAdvBeta(0.4).entropyAdvKappa(2).build();
        LossConfig pgOnly = full.toBuilder().klCoef(0).entropyCoef(0).build();
        LossResult first = new FusedLoss(full)
                .compute(F32Batches.of(logits, target, oldLogp, refLogp, advantage, weight).noGradient());
        for (int i = 0; i < rows; ++i) {
            oldLogp[i] = (float) (first.logp()[i] + 0.3 * r.nextGaussian());  // clipped rows as well
            refLogp[i] = (float) (first.logp()[i] + 0.5 * r.nextGaussian());
        }
        double threshold = HighEntropyTokens.threshold(first.entropy(), mask, 0.2);
        float[] kept = HighEntropyTokens.advantages(advantage, first.entropy(), mask, threshold);

        LossBatch unmasked = F32Batches.of(logits, target, oldLogp, refLogp, advantage, weight);
        LossResult all = new FusedLoss(full).compute(unmasked);
        LossResult pg = new FusedLoss(pgOnly).compute(unmasked);
        LossResult masked = new FusedLoss(full).compute(F32Batches.of(logits, target, oldLogp, refLogp, kept, weight));
        int keptRows = 0, counted = 0;
        for (int i = 0; i < rows; ++i) {
            if (mask[i] == 0) continue;
            counted++;
            boolean keep = first.entropy()[i] >= threshold;
            keptRows += keep ? 1 : 0;
            double expected = all.loss()[i] - (keep ? 0 : pg.loss()[i]);
            assertEquals(expected, masked.loss()[i], 1e-5 * (Math.abs(all.loss()[i]) + Math.abs(pg.loss()[i])),
                    "row " + i + " loss");
            double rowMax = 0;
            for (int v = 0; v < vocab; ++v) rowMax = Math.max(rowMax, Math.abs(all.dlogitsF32()[i * vocab + v]));
            for (int v = 0; v < vocab; ++v) {
                int k = i * vocab + v;
                double want = all.dlogitsF32()[k] - (keep ? 0 : pg.dlogitsF32()[k]);
                if (!(Math.abs(want - masked.dlogitsF32()[k]) <= 1e-5 * rowMax + 1e-30))
                    fail("row " + i + " dlogits[" + v + "]: " + want + " expected, got " + masked.dlogitsF32()[k]);
            }
        }
        assertTrue(Math.abs(keptRows - 0.2 * counted) <= 1, keptRows + " of " + counted + " rows kept");
    }

    @Test
    void badArgumentsNameTheArgumentAndRow() {
        float[] two = {0f, 0f}, mask = {1f, 0f};
        assertMessage("topQuantile: must be in [0, 1], got 1.5", () -> HighEntropyTokens.threshold(two, mask, 1.5));
        assertMessage("entropy: length 1, mask has 2 rows",
                () -> HighEntropyTokens.threshold(new float[1], mask, 0.2));
        assertMessage("mask: row 1: must be 0 or 1, got 2.0",
                () -> HighEntropyTokens.threshold(two, new float[] {1f, 2f}, 0.2));
        assertMessage("entropy: row 0: must be finite, got NaN",
                () -> HighEntropyTokens.advantages(two, new float[] {Float.NaN, 0f}, mask, 0.5));
        assertMessage("threshold: must not be NaN", () -> HighEntropyTokens.advantages(two, two, mask, Double.NaN));
        assertEquals(0.0, HighEntropyTokens.threshold(new float[] {0f, Float.NaN}, mask, 0.2),
                "a padding row is not read");
        assertMessage("counted: row 1: must be finite, got Infinity",
                () -> HighEntropyTokens.thresholdOf(new float[] {0f, Float.POSITIVE_INFINITY}, 0.2));
        assertMessage("topQuantile: must be in [0, 1], got -0.1", () -> HighEntropyTokens.thresholdOf(two, -0.1));
        assertEquals("counted", assertThrows(NullPointerException.class,
                () -> HighEntropyTokens.thresholdOf(null, 0.2)).getMessage());
        assertMessage("entropy: row 0: must be finite, got -Infinity",
                () -> HighEntropyTokens.counted(new float[] {Float.NEGATIVE_INFINITY, 0f}, mask));
    }
}
