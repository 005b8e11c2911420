package io.policyloss.control;

import static io.policyloss.control.Refusals.assertMessage;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.policyloss.control.GrpoAdvantages.Scale;
import io.policyloss.loss.AggregationMode;
import io.policyloss.loss.AggregationWeights;
import io.policyloss.loss.FusedLoss;
import io.policyloss.loss.LossConfig;
import io.policyloss.loss.LossResult;
import java.util.HashSet;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * GPG's two corrections against the trainers' code written out: verl's {@code compute_gpg_outcome_advantage} in
 * float32 as torch runs it, TRL's {@code GPGTrainer} valid-group fraction by another route (the distinct nonzero values
 * of each group), and the property TRL's docstring claims for its correction under {@code loss_type="grpo"}: the
 * corrected loss is the loss of the groups that carry a gradient alone, at any completion lengths.
 */
class GpgTest {
    /** verl's GPG advantages: alpha = bsz / max(1, count_nonzero) times each score - its prompt's mean, / f_norm. */
    private static float[] verlGpg(float[] scores, int groupSize, float fNorm) {
        int nonzero = 0;
        for (float s : scores) nonzero += s != 0 ? 1 : 0;
        float alpha = (float) scores.length / Math.max(1, nonzero);
        float[] out = new float[scores.length];
        for (int g = 0; g < scores.length; g += groupSize) {
            float sum = 0;
            for (int j = g; j < g + groupSize; ++j) sum += scores[j];
            float mean = groupSize == 1 ? 0 : sum / groupSize;
            for (int j = g; j < g + groupSize; ++j) out[j] = alpha * (scores[j] - mean) / fNorm;
        }
        return out;
    }

    @Test
    void verlsAdvantagesAreItsEstimatorWrittenOut() {
        Random r = new Random(7);
        for (int groupSize : new int[] {1, 4, 8}) {
            float[] binary = new float[groupSize * 10], continuous = new float[groupSize * 10];
            for (int i = 0; i < binary.length; ++i) {
                binary[i] = r.nextInt(3) == 0 ? 1 : 0;
                continuous[i] = r.nextInt(4) == 0 ? 0 : (float) r.nextGaussian();
            }
            for (float[] rewards : new float[][] {binary, continuous, new float[groupSize * 3]}) {
                for (float fNorm : new float[] {1, 2.5f}) {
                    float[] want = verlGpg(rewards, groupSize, fNorm), got = Gpg.advantages(rewards, groupSize, fNorm);
                    double scale = 0;
                    for (float a : want) scale = Math.max(scale, Math.abs(a));
                    for (int i = 0; i < want.length; ++i)
                        if (!(Math.abs(want[i] - got[i]) <= 1e-6 * scale))
                            fail("G " + groupSize + ", f_norm " + fNorm + ", row " + i + ": " + want[i]
                                    + " expected, got " + got[i]);
                }
            }
        }
        // A quarter of the rewards nonzero: alpha is 4, the centred rewards are scaled by it.
        float[] a = Gpg.advantages(new float[] {1, 0, 0, 0, 0, 0, 1, 0}, 4, 1);
        assertEquals(4 * 0.75f, a[0]);
        assertEquals(4 * -0.25f, a[1]);
    }

    /** TRL's rule by another route: a group is valid where its nonzero advantages hold two distinct values. */
    private static double distinctValuesFraction(float[] advantages, int groupSize) {
        int valid = 0;
        for (int g = 0; g < advantages.length; g += groupSize) {
            Set<Float> scored = new HashSet<>();
            for (int j = g; j < g + groupSize; ++j)
                if (advantages[j] != 0) scored.add(advantages[j]);
            valid += scored.size() >= 2 ? 1 : 0;
        }
        return (double) valid / (advantages.length / groupSize);
    }

    @Test
    void trlsValidGroupsAreThoseWhoseScoredAdvantagesDiffer() {
        int groupSize = 6, groups = 40;
        Random r = new Random(11);
        int residualGroups = 0;
        for (int trial = 0; trial < 20; ++trial) {
            float[] advantages = new float[groupSize * groups];
            for (int g = 0; g < groups; ++g) {
                // TRL's advantages under scale_rewards="none": rewards minus their float32 mean, where every member
                // of a group of equal rewards lands on the same residual; some responses unscored (an exact 0).
                int kind = r.nextInt(4);
                float[] rewards = new float[groupSize];
                float same = (float) (3 * r.nextDouble());
                for (int j = 0; j < groupSize; ++j)
                    rewards[j] = kind == 0 ? same : kind == 1 ? r.nextInt(2) : (float) r.nextGaussian();
                float sum = 0;
                for (float x : rewards) sum += x;
                float mean = sum / groupSize;
                for (int j = 0; j < groupSize; ++j) advantages[g * groupSize + j] = rewards[j] - mean;
                if (kind == 0 && advantages[g * groupSize] != 0) residualGroups++;
                if (kind == 3) advantages[g * groupSize + r.nextInt(groupSize)] = 0;  // unscored
            }
            double want = distinctValuesFraction(advantages, groupSize);
            assertEquals(want, Gpg.validGroupFraction(advantages, groupSize), "trial " + trial);
            assertEquals(want > 0 ? 1 / want : 1, Gpg.lossScale(advantages, groupSize), "trial " + trial);
        }
        assertTrue(residualGroups > 5, residualGroups + " groups of equal rewards with a nonzero residual");
        // TRL's docstring's cases: three equal rewards and an unscored one; [0, 1, 2] centred; all unscored; a group
        // with one scored response.
        float res = -2.4e-7f;
        assertEquals(0.0, Gpg.validGroupFraction(new float[] {res, res, res, 0}, 4));
        assertEquals(1.0, Gpg.validGroupFraction(new float[] {-1, 0, 1}, 3));
        assertEquals(0.5, Gpg.validGroupFraction(new float[] {0, 0, 0, 0, 0, -1, 0, 1}, 4));
        assertEquals(0.0, Gpg.validGroupFraction(new float[] {0, 0, 0.5f, 0}, 4));
        assertEquals(1.0, Gpg.lossScale(new float[] {0, 0, 0, 0}, 2), "no group: no division");
        assertEquals(0.0, Gpg.validGroupFraction(new float[0], 2));
    }

    /**
     * Under seq-mean-token-mean weights (TRL's "grpo", GPGConfig's default) the loss times {@link Gpg#lossScale} and
     * its gradient are those of the batch with its degenerate groups left out, whatever the completions' lengths.
     */
    @Test
    void theCorrectedLossIsTheLossOfTheGroupsThatCarryAGradient() {
        int groupSize = 4, groups = 6, vocab = 32;
        Random r = new Random(5);
        float[] rewards = new float[groupSize * groups];
        for (int i = 0; i < rewards.length; ++i) rewards[i] = r.nextInt(2);
        for (int j = 0; j < groupSize; ++j) {
            rewards[j] = 0;  // all wrong
            rewards[3 * groupSize + j] = 1;  // all right
        }
        rewards[groupSize] = 0;  // each other group mixed
        rewards[groupSize + 1] = 1;
        float[] sequenceAdvantage = GrpoAdvantages.compute(rewards, groupSize, Scale.NONE, 1e-4);
        double scale = Gpg.lossScale(sequenceAdvantage, groupSize);
        assertEquals(1.5, scale, 1e-12, "4 of 6 groups carry a gradient");

        int[] length = new int[rewards.length];
        int rows = 0;
        for (int s = 0; s < length.length; ++s) rows += length[s] = 1 + r.nextInt(6);
        float[] logits = new float[rows * vocab];
        for (int k = 0; k < logits.length; ++k) logits[k] = (float) (2 * r.nextGaussian());
        int[] target = new int[rows], sequenceOf = new int[rows];
        float[] oldLogp = new float[rows], advantage = new float[rows], mask = new float[rows];
        for (int s = 0, i = 0; s < length.length; ++s)
            for (int t = 0; t < length[s]; ++t, ++i) {
                target[i] = r.nextInt(vocab);
                oldLogp[i] = (float) (Math.log(1.0 / vocab) + 0.3 * r.nextGaussian());
                advantage[i] = sequenceAdvantage[s];
                sequenceOf[i] = s;
                mask[i] = 1;
            }
        FusedLoss loss = new FusedLoss(LossConfig.defaults());
        float[] weight = AggregationWeights.weights(AggregationMode.SEQ_MEAN_TOKEN_MEAN, mask, sequenceOf,
                AggregationWeights.Totals.of(mask, sequenceOf), 1);
        for (int i = 0; i < rows; ++i) weight[i] *= (float) scale;
        LossResult corrected = loss.compute(F32Batches.of(logits, target, oldLogp, null, advantage, weight));

        // The valid groups' rows alone, weighted over their own sequences.
        int keptRows = 0;
        for (int i = 0; i < rows; ++i) keptRows += degenerate(sequenceOf[i] / groupSize) ? 0 : 1;
        int[] keptTarget = new int[keptRows], keptSequence = new int[keptRows], from = new int[keptRows];
        float[] keptLogits = new float[keptRows * vocab], keptOld = new float[keptRows],
                keptAdvantage = new float[keptRows], keptMask = new float[keptRows];
        for (int i = 0, k = 0; i < rows; ++i) {
            int group = sequenceOf[i] / groupSize;
            if (degenerate(group)) continue;
            from[k] = i;
            keptTarget[k] = target[i];
            keptOld[k] = oldLogp[i];
            keptAdvantage[k] = advantage[i];
            keptSequence[k] = sequenceOf[i] - groupSize * (group > 3 ? 2 : 1);  // groups 0 and 3 left out
            keptMask[k] = 1;
            System.arraycopy(logits, i * vocab, keptLogits, k * vocab, vocab);
            ++k;
        }
        float[] keptWeight = AggregationWeights.weights(AggregationMode.SEQ_MEAN_TOKEN_MEAN, keptMask, keptSequence,
                AggregationWeights.Totals.of(keptMask, keptSequence), 1);
        LossResult valid = loss.compute(F32Batches.of(keptLogits, keptTarget, keptOld, null, keptAdvantage,
                keptWeight));

        assertEquals(valid.totalLoss(), corrected.totalLoss(), 1e-6 * Math.abs(valid.totalLoss()));
        double largest = 0;
        for (int k = 0; k < keptRows * vocab; ++k) largest = Math.max(largest, Math.abs(valid.dlogitsF32()[k]));
        for (int k = 0; k < keptRows; ++k)
            for (int v = 0; v < vocab; ++v) {
                double want = valid.dlogitsF32()[k * vocab + v], got = corrected.dlogitsF32()[from[k] * vocab + v];
                if (!(Math.abs(want - got) <= 1e-6 * largest))
                    fail("row " + from[k] + " dlogits[" + v + "]: " + want + " expected, got " + got);
            }
        for (int i = 0; i < rows; ++i)
            if (degenerate(sequenceOf[i] / groupSize))
                for (int v = 0; v < vocab; ++v)
                    if (corrected.dlogitsF32()[i * vocab + v] != 0) fail("degenerate row " + i + " has a gradient");
    }

    /** The test's two degenerate groups. */
    private static boolean degenerate(int group) {
        return group == 0 || group == 3;
    }

    @Test
    void badArgumentsNameTheArgumentAndRow() {
        assertMessage("groupSize: must be >= 1, got 0", () -> Gpg.advantages(new float[2], 0, 1));
        assertMessage("rewards: length 3 is not a multiple of groupSize 2", () -> Gpg.advantages(new float[3], 2, 1));
        assertMessage("rewards: row 1: must be finite, got NaN",
                () -> Gpg.advantages(new float[] {0, Float.NaN}, 2, 1));
        assertMessage("fNorm: must be finite and > 0, got 0.0", () -> Gpg.advantages(new float[2], 2, 0));
        assertMessage("advantages: row 0: must be finite, got Infinity",
                () -> Gpg.validGroupFraction(new float[] {Float.POSITIVE_INFINITY, 0}, 2));
        assertMessage("advantages: length 5 is not a multiple of groupSize 2", () -> Gpg.lossScale(new float[5], 2));
    }
}
