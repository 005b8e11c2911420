package io.policyloss.control;

import static io.policyloss.control.Refusals.assertMessage;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.policyloss.loss.AggregationMode;
import io.policyloss.loss.AggregationWeights;
import io.policyloss.loss.FusedLoss;
import io.policyloss.loss.LossConfig;
import io.policyloss.loss.LossResult;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * GSPO through the kernel's two calls, against TRL's sequence-level loss differentiated here in double: the ratio
 * exp(mean_t (logp_t - oldLogp_t)) of each sequence, clipped as a whole, every token's loss the sequence's.
 */
class SequenceImportanceRatioTest {
    private static final double EPS_LOW = 3e-4, EPS_HIGH = 4e-4, DUAL_CLIP = 3;  // GSPO's clip range
    private static final int VOCAB = 48;

    /** Sequences of 1 to 16 counted tokens and up to 3 padding rows each, whose oldLogp must not count. */
    @ParameterizedTest
    @EnumSource(value = AggregationMode.class, names = {"TOKEN_MEAN", "SEQ_MEAN_TOKEN_MEAN"})
    void theKernelGivesGspoLossAndGradient(AggregationMode mode) {
        Random r = new Random(11);
        int sequences = 40;
        int[] length = new int[sequences], padding = new int[sequences];
        int n = 0;
        for (int s = 0; s < sequences; ++s) {
            length[s] = 1 + r.nextInt(16);
            padding[s] = r.nextInt(4);
            n += length[s] + padding[s];
        }
        float[] logits = new float[n * VOCAB], mask = new float[n], advantage = new float[n];
        int[] target = new int[n], sequenceOf = new int[n];
        for (int k = 0; k < logits.length; ++k) logits[k] = (float) (2 * r.nextGaussian());
        double[] sequenceAdvantage = new double[sequences];
        for (int s = 0, i = 0; s < sequences; ++s) {
            sequenceAdvantage[s] = r.nextGaussian();
            for (int t = 0; t < length[s] + padding[s]; ++t, ++i) {
                sequenceOf[i] = s;
                mask[i] = t < length[s] ? 1 : 0;
                target[i] = r.nextInt(VOCAB);
                advantage[i] = (float) sequenceAdvantage[s];
            }
        }
        float[] weight = AggregationWeights.weights(mode, mask, sequenceOf,
                AggregationWeights.Totals.of(mask, sequenceOf), 16);
        FusedLoss loss =
                new FusedLoss(LossConfig.builder().epsLow(EPS_LOW).epsHigh(EPS_HIGH).dualClipC(DUAL_CLIP).build());

        // The old policy: each sequence's log-ratio from clip-low through the dual clip, spread over its tokens
        // so unevenly that their own ratios would be clipped otherwise; padding rows far off.
        float[] logp =
                loss.compute(F32Batches.of(logits, target, new float[n], null, advantage, weight).noGradient()).logp();
        double[] logRatio = {-2e-3, -1e-4, 1e-4, 2e-3, 1.5};
        float[] oldLogp = new float[n];
        for (int s = 0, i = 0; s < sequences; ++s) {
            double[] noise = new double[length[s]];
            double mean = 0;
            for (int t = 0; t < length[s]; ++t) mean += (noise[t] = 0.5 * r.nextGaussian()) / length[s];
            for (int t = 0; t < length[s] + padding[s]; ++t, ++i)
                oldLogp[i] = t < length[s] ? (float) (logp[i] - logRatio[s % logRatio.length] - (noise[t] - mean))
                        : (float) (-40 * r.nextDouble());
        }

        float[] gspoOldLogp = SequenceImportanceRatio.tokenOldLogp(logp, oldLogp, mask, sequenceOf);
        LossResult got = loss.compute(F32Batches.of(logits, target, gspoOldLogp, null, advantage, weight));
        Oracle want = new Oracle(logits, target, oldLogp, mask, sequenceOf, sequenceAdvantage, weight);

        assertEquals(want.loss, got.totalLoss(), 1e-5 * want.lossScale, "loss");
        int[] branches = new int[4];  // unclipped, clip-low, clip-high, dual
        for (int i = 0; i < n; ++i) {
            int s = sequenceOf[i];
            if (mask[i] == 0) {
                assertEquals(oldLogp[i], gspoOldLogp[i], "row " + i + ": padding keeps its oldLogp");
                continue;
            }
            assertEquals(want.ratio[s], got.ratio()[i], 2e-6 * want.ratio[s], "row " + i + " ratio");
            int branch = want.branch[s];
            assertEquals(branch == 0 ? 0 : 1 << (branch - 1), got.flags()[i], "row " + i + " flags");
            if (i == 0 || sequenceOf[i - 1] != s) branches[branch]++;
            double rowMax = 0;
            for (int v = 0; v < VOCAB; ++v) rowMax = Math.max(rowMax, Math.abs(want.dlogits[i * VOCAB + v]));
            for (int v = 0; v < VOCAB; ++v) {
                double expected = want.dlogits[i * VOCAB + v], actual = got.dlogitsF32()[i * VOCAB + v];
                if (!(Math.abs(expected - actual) <= 1e-5 * rowMax + 1e-30))
                    fail("row " + i + " dlogits[" + v + "]: " + expected + " expected, got " + actual);
            }
        }
        for (int b = 0; b < 4; ++b)
            assertTrue(branches[b] >= 3, "sequences unclipped / clip-low / clip-high / dual: "
                    + Arrays.toString(branches));
    }

    @Test
    void eachSequenceRatioIsTheMeanOverItsCountedTokens() {
        float[] logp = {-1f, -2f, -3f, -4f, -5f}, oldLogp = {-1.5f, -2f, 100f, -3f, -4.5f};
        float[] mask = {1, 1, 0, 1, 1};
        int[] sequenceOf = {0, 0, 0, 2, 2};  // sequence 1 has no tokens
        assertArrayEquals(new double[] {0.25, 0.0, -0.75},
                SequenceImportanceRatio.sequenceLogRatios(logp, oldLogp, mask, sequenceOf), 1e-15);
        assertArrayEquals(new float[] {-1.25f, -2.25f, 100f, -3.25f, -4.25f},
                SequenceImportanceRatio.tokenOldLogp(logp, oldLogp, mask, sequenceOf));
    }

    @Test
    void badArgumentsNameTheArgumentAndRow() {
        float[] one = {0f}, two = {0f, 0f}, mask = {1f, 0f};
        int[] seq = {0, 0};
        assertMessage("logp: length 1, mask has 2 rows",
                () -> SequenceImportanceRatio.tokenOldLogp(one, two, mask, seq));
        assertMessage("mask: row 1: must be 0 or 1, got 0.5",
                () -> SequenceImportanceRatio.tokenOldLogp(two, two, new float[] {1f, 0.5f}, seq));
        assertMessage("sequenceOf: row 1: must be >= 0, got -1",
                () -> SequenceImportanceRatio.tokenOldLogp(two, two, mask, new int[] {0, -1}));
        assertMessage("oldLogp: row 0: must be finite, got NaN",
                () -> SequenceImportanceRatio.tokenOldLogp(two, new float[] {Float.NaN, 0f}, mask, seq));
        float[] paddingNaN = {0f, Float.NaN};
        assertArrayEquals(paddingNaN, SequenceImportanceRatio.tokenOldLogp(two, paddingNaN, mask, seq),
                "a padding row is not read");
    }

    /** TRL's sequence-level GSPO loss and its gradient, from the logits in double. */
    private static final class Oracle {
        final double[] ratio, dlogits;
        final int[] branch;  // 0 unclipped, 1 clip-low, 2 clip-high, 3 dual
        double loss, lossScale;  // and the sum of its terms' sizes

        Oracle(float[] logits, int[] target, float[] oldLogp, float[] mask, int[] sequenceOf, double[] advantage,
                float[] weight) {
            int n = target.length, sequences = advantage.length;
            double[][] softmax = new double[n][];
            double[] logRatio = new double[sequences], tokens = new double[sequences], weights = new double[sequences];
            for (int i = 0; i < n; ++i) {
                if (mask[i] == 0) continue;
                double max = Double.NEGATIVE_INFINITY, sum = 0;
                for (int v = 0; v < VOCAB; ++v) max = Math.max(max, logits[i * VOCAB + v]);
                for (int v = 0; v < VOCAB; ++v) sum += Math.exp(logits[i * VOCAB + v] - max);
                softmax[i] = new double[VOCAB];
                for (int v = 0; v < VOCAB; ++v) softmax[i][v] = Math.exp(logits[i * VOCAB + v] - max) / sum;
                double logp = logits[i * VOCAB + target[i]] - max - Math.log(sum);
                logRatio[sequenceOf[i]] += logp - oldLogp[i];
                tokens[sequenceOf[i]] += 1;
                weights[sequenceOf[i]] += weight[i];
            }
            ratio = new double[sequences];
            branch = new int[sequences];
            double[] dLossDRatio = new double[sequences];
            for (int s = 0; s < sequences; ++s) {
                double a = advantage[s], rs = ratio[s] = Math.exp(logRatio[s] / tokens[s]);
                double pg1 = -a * rs, pg2 = -a * Math.min(Math.max(rs, 1 - EPS_LOW), 1 + EPS_HIGH);
                double pg = Math.max(pg1, pg2);
                branch[s] = pg1 >= pg2 ? 0 : a < 0 ? 1 : 2;
                if (a < 0 && pg > -a * DUAL_CLIP) {
                    pg = -a * DUAL_CLIP;
                    branch[s] = 3;
                }
                dLossDRatio[s] = branch[s] == 0 ? -a : 0;
                loss += weights[s] * pg;  // each counted token's loss is its sequence's
                lossScale += weights[s] * Math.abs(pg);
            }
            // d s / d logp_t = s / |y|, for each of the sequence's tokens; d logp_t / d z_v = 1[v = a] - pi_v.
            dlogits = new double[n * VOCAB];
            for (int i = 0; i < n; ++i) {
                if (mask[i] == 0) continue;
                int s = sequenceOf[i];
                double dLogp = weights[s] * dLossDRatio[s] * ratio[s] / tokens[s];
                for (int v = 0; v < VOCAB; ++v)
                    dlogits[i * VOCAB + v] = dLogp * ((v == target[i] ? 1 : 0) - softmax[i][v]);
            }
        }
    }
}
