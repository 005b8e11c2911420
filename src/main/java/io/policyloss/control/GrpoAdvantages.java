package io.policyloss.control;

import java.util.Objects;

/**
 * GRPO's group-relative advantage (SPEC section 7): A = (R - mean of the group) / (std of the group + 1e-6), std
 * the unbiased sample standard deviation; Dr. GRPO drops the division. Groups are consecutive runs of
 * {@code groupSize} rewards (the G samples of one prompt). TRL's other two ways: {@code scale_rewards="batch"} (the
 * group's mean, the whole batch's std) and GDPO's decoupled normalization of several rewards
 * ({@code multi_objective_aggregation="normalize_then_sum"}), with TRL's epsilon of 1e-4.
 */
public final class GrpoAdvantages {
    /** SPEC's epsilon in the group std's denominator. */
    private static final double SPEC_EPSILON = 1e-6;

    private GrpoAdvantages() {}

    /** What divides the centred rewards: TRL's {@code scale_rewards}. */
    public enum Scale {
        /** The group's std (TRL's {@code "group"}, verl's {@code norm_adv_by_std_in_grpo}). */
        GROUP,
        /** The std of every reward of the batch (TRL's {@code "batch"}, as the PPO Lite paper recommends). */
        BATCH,
        /** Nothing (TRL's {@code "none"}, Dr. GRPO). */
        NONE
    }

    /** SPEC's advantage: divided by the group std + 1e-6, or (Dr. GRPO) not divided. */
    public static float[] compute(float[] rewards, int groupSize, boolean divideByStd) {
        return compute(rewards, groupSize, divideByStd ? Scale.GROUP : Scale.NONE, SPEC_EPSILON);
    }

    /**
     * R - the group's mean, divided by (the scale's unbiased std + epsilon), as TRL computes it (its epsilon: 1e-4).
     * The batch is every reward here: over data-parallel ranks, pass them all, as TRL gathers them.
     */
    public static float[] compute(float[] rewards, int groupSize, Scale scale, double epsilon) {
        Objects.requireNonNull(scale, "scale");
        checkEpsilon(epsilon);
        checkGroups(rewards, "rewards", groupSize);
        double batchStd = scale == Scale.BATCH ? std(rewards, 0, rewards.length) : 0;
        float[] a = new float[rewards.length];
        for (int g = 0; g < rewards.length; g += groupSize) {
            double mean = mean(rewards, g, groupSize);
            double divisor = switch (scale) {
                case GROUP -> std(rewards, g, groupSize) + epsilon;
                case BATCH -> batchStd + epsilon;
                case NONE -> 1;
            };
            for (int j = g; j < g + groupSize; ++j) a[j] = (float) ((rewards[j] - mean) / divisor);
        }
        return a;
    }

    /**
     * GDPO ("Group reward-Decoupled Normalization Policy Optimization"; TRL's
     * {@code multi_objective_aggregation="normalize_then_sum"}): each reward function's rewards normalized within
     * each group, (r_k - the group's mean of r_k) / (its unbiased std + epsilon), summed with the weights, then the
     * sums normalized over the batch, (s - mean s) / (std s + epsilon). Normalizing before summing keeps a reward of
     * small spread from being drowned by one of large spread. TRL's epsilon is 1e-4.
     *
     * @param rewards [function][row]: each function's reward of every row, finite
     * @param weights each function's weight (TRL's {@code reward_weights}; all 1 by default), finite
     */
    public static float[] decoupled(float[][] rewards, float[] weights, int groupSize, double epsilon) {
        Objects.requireNonNull(rewards, "rewards");
        Objects.requireNonNull(weights, "weights");
        checkEpsilon(epsilon);
        if (rewards.length == 0) throw new IllegalArgumentException("rewards: must have a reward function");
        if (weights.length != rewards.length)
            throw new IllegalArgumentException("weights: length " + weights.length + ", rewards has "
                    + rewards.length + " functions");
        int rows = Objects.requireNonNull(rewards[0], "rewards[0]").length;
        double[] sum = new double[rows];
        for (int k = 0; k < rewards.length; ++k) {
            String name = "rewards[" + k + "]";
            if (Objects.requireNonNull(rewards[k], name).length != rows)
                throw new IllegalArgumentException(name + ": length " + rewards[k].length + ", rewards[0] has "
                        + rows + " rows");
            if (!Float.isFinite(weights[k]))
                throw new IllegalArgumentException("weights: function " + k + ": must be finite, got " + weights[k]);
            checkGroups(rewards[k], name, groupSize);
            float[] normalized = compute(rewards[k], groupSize, Scale.GROUP, epsilon);
            for (int i = 0; i < rows; ++i) sum[i] += (double) weights[k] * normalized[i];
        }
        float[] s = new float[rows];
        for (int i = 0; i < rows; ++i) s[i] = (float) sum[i];
        // each group's normalized rewards sum to 0, so the mean is 0 to within rounding; TRL subtracts it anyway
        double mean = mean(s, 0, rows), std = std(s, 0, rows);
        float[] a = new float[rows];
        for (int i = 0; i < rows; ++i) a[i] = (float) ((s[i] - mean) / (std + epsilon));
        return a;
    }

    /** Whole groups of finite rewards, the first bad row named. */
    static void checkGroups(float[] rewards, String name, int groupSize) {
        Objects.requireNonNull(rewards, name);
        if (groupSize < 1) throw new IllegalArgumentException("groupSize: must be >= 1, got " + groupSize);
        if (rewards.length % groupSize != 0)
            throw new IllegalArgumentException(name + ": length " + rewards.length + " is not a multiple of "
                    + "groupSize " + groupSize);
        for (int i = 0; i < rewards.length; ++i)
            if (!Float.isFinite(rewards[i]))
                throw new IllegalArgumentException(name + ": row " + i + ": must be finite, got " + rewards[i]);
    }

    private static void checkEpsilon(double epsilon) {
        if (!(epsilon > 0) || epsilon == Double.POSITIVE_INFINITY)
            throw new IllegalArgumentException("epsilon: must be finite and > 0, got " + epsilon);
    }

    static double mean(float[] x, int from, int n) {
        double sum = 0;
        for (int i = from; i < from + n; ++i) sum += x[i];
        return sum / n;
    }

    /** The unbiased sample std of x[from, from + n); 0 for one value (torch gives NaN; TRL's groups of 1 give 0). */
    static double std(float[] x, int from, int n) {
        if (n < 2) return 0;
        double mean = mean(x, from, n), var = 0;
        for (int i = from; i < from + n; ++i) var += (x[i] - mean) * (x[i] - mean);
        return Math.sqrt(var / (n - 1));
    }
}
