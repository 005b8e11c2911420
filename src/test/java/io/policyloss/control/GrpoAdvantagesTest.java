package io.policyloss.control;

import static io.policyloss.control.Refusals.assertMessage;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.policyloss.control.GrpoAdvantages.Scale;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * TRL's advantages (GRPOTrainer._generate_and_score_completions) written out here on the [B / G, G] view of the
 * rewards: scale_rewards group / batch / none under sum_then_normalize, and normalize_then_sum (GDPO); torch's std is
 * the unbiased one, TRL's epsilon 1e-4.
 */
class GrpoAdvantagesTest {
    private static final int G = 8, PROMPTS = 12;

    /** Binary correctness, a format reward of another scale, and a small length penalty. */
    private static float[][] rewards(long seed) {
        Random r = new Random(seed);
        float[][] rewards = new float[3][G * PROMPTS];
        for (int i = 0; i < G * PROMPTS; ++i) {
            rewards[0][i] = r.nextInt(3) == 0 ? 1 : 0;
            rewards[1][i] = r.nextInt(2) * 2.5f;
            rewards[2][i] = (float) (-0.01 * r.nextDouble());
        }
        for (int j = 0; j < G; ++j) rewards[0][j] = 1;  // a group with one correctness value
        return rewards;
    }

    private static double std(double[] x) {
        double mean = 0, var = 0;
        for (double v : x) mean += v / x.length;
        for (double v : x) var += (v - mean) * (v - mean);
        return Math.sqrt(var / (x.length - 1));
    }

    @Test
    void scaleRewardsAsTrlDoes() {
        float[] rewards = rewards(41)[1];
        double[] all = new double[rewards.length];
        for (int i = 0; i < all.length; ++i) all[i] = rewards[i];
        for (Scale scale : Scale.values()) {
            float[] a = GrpoAdvantages.compute(rewards, G, scale, 1e-4);
            for (int p = 0; p < PROMPTS; ++p) {
                double[] group = new double[G];
                double mean = 0;
                for (int j = 0; j < G; ++j) mean += (group[j] = rewards[p * G + j]) / G;
                for (int j = 0; j < G; ++j) {
                    double centred = group[j] - mean;
                    double expected = switch (scale) {
                        case GROUP -> centred / (std(group) + 1e-4);
                        case BATCH -> centred / (std(all) + 1e-4);
                        case NONE -> centred;
                    };
                    close(expected, a[p * G + j], scale + " row " + (p * G + j));
                }
            }
        }
        assertArrayEquals(GrpoAdvantages.compute(rewards, G, true), GrpoAdvantages.compute(rewards, G, Scale.GROUP,
                1e-6), "SPEC's advantage is GROUP at 1e-6");
        assertArrayEquals(GrpoAdvantages.compute(rewards, G, false), GrpoAdvantages.compute(rewards, G, Scale.NONE,
                1e-6), "Dr. GRPO's is NONE");
    }

    @Test
    void gdpoNormalizesEachRewardBeforeSumming() {
        float[][] rewards = rewards(42);
        float[] weights = {1f, 0.5f, 2f};
        float[] a = GrpoAdvantages.decoupled(rewards, weights, G, 1e-4);
        double[] sum = new double[G * PROMPTS];
        for (int k = 0; k < rewards.length; ++k)
            for (int p = 0; p < PROMPTS; ++p) {
                double[] group = new double[G];
                double mean = 0;
                for (int j = 0; j < G; ++j) mean += (group[j] = rewards[k][p * G + j]) / G;
                for (int j = 0; j < G; ++j) sum[p * G + j] += weights[k] * (group[j] - mean) / (std(group) + 1e-4);
            }
        double mean = 0;
        for (double s : sum) mean += s / sum.length;
        double std = std(sum);
        for (int i = 0; i < sum.length; ++i) close((sum[i] - mean) / (std + 1e-4), a[i], "row " + i);

        // The length penalty's spread is 1 / 100 of the others': summed first, it all but vanishes
        float[] summed = new float[G * PROMPTS];
        for (int k = 0; k < rewards.length; ++k)
            for (int i = 0; i < summed.length; ++i) summed[i] += weights[k] * rewards[k][i];
        float[] sumThenNormalize = GrpoAdvantages.compute(summed, G, Scale.GROUP, 1e-4);
        double gap = 0;
        for (int i = 0; i < a.length; ++i) gap = Math.max(gap, Math.abs(a[i] - sumThenNormalize[i]));
        assertTrue(gap > 0.5, "GDPO and sum-then-normalize differ by at most " + gap);
    }

    @Test
    void badArgumentsNameTheArgumentAndRow() {
        float[] four = new float[4];
        assertMessage("rewards: length 5 is not a multiple of groupSize 4",
                () -> GrpoAdvantages.compute(new float[5], 4, Scale.BATCH, 1e-4));
        assertMessage("groupSize: must be >= 1, got 0", () -> GrpoAdvantages.compute(four, 0, Scale.NONE, 1e-4));
        assertMessage("epsilon: must be finite and > 0, got 0.0",
                () -> GrpoAdvantages.compute(four, 2, Scale.GROUP, 0));
        assertMessage("rewards: row 2: must be finite, got NaN",
                () -> GrpoAdvantages.compute(new float[] {0, 1, Float.NaN, 0}, 2, Scale.GROUP, 1e-4));
        assertMessage("rewards[1]: row 3: must be finite, got Infinity", () -> GrpoAdvantages.decoupled(
                new float[][] {four, {0, 0, 0, Float.POSITIVE_INFINITY}}, new float[] {1, 1}, 2, 1e-4));
        assertMessage("rewards[1]: length 2, rewards[0] has 4 rows", () -> GrpoAdvantages.decoupled(
                new float[][] {four, new float[2]}, new float[] {1, 1}, 2, 1e-4));
        assertMessage("weights: length 1, rewards has 2 functions", () -> GrpoAdvantages.decoupled(
                new float[][] {four, four}, new float[] {1}, 2, 1e-4));
        assertMessage("weights: function 0: must be finite, got NaN", () -> GrpoAdvantages.decoupled(
                new float[][] {four}, new float[] {Float.NaN}, 2, 1e-4));
        assertMessage("rewards: must have a reward function",
                () -> GrpoAdvantages.decoupled(new float[0][], new float[0], 2, 1e-4));
        assertMessage("rewards[0]: length 3 is not a multiple of groupSize 2",
                () -> GrpoAdvantages.decoupled(new float[][] {new float[3]}, new float[] {1}, 2, 1e-4));
    }

    private static void close(double expected, double actual, String what) {
        if (!(Math.abs(expected - actual) <= 2e-6 * Math.abs(expected) + 1e-6))
            fail(what + ": " + expected + " expected, got " + actual);
    }
}
