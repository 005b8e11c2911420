package io.policyloss.control;

import java.util.Objects;

/**
 * The outcome advantage estimators of verl's {@code algorithm.adv_estimator}, one advantage per response from one
 * reward per response, for every token of the response: GRPO's ({@link GrpoAdvantages}) and the five that differ from
 * it only in the baseline and the scale. Groups are consecutive runs of {@code groupSize} responses (the samples of one
 * prompt); lengths are the responses' counted tokens (verl's {@code response_mask} sums). RLOO, OPO and
 * REINFORCE++-baseline give a group of one response a baseline of 0, as verl gives a prompt it sampled once.
 */
public enum AdvantageEstimator {
    /** GRPO ({@code grpo}): R - the group's mean, divided by the group's std + 1e-6 where divideByStd. */
    GRPO,
    /**
     * RLOO ({@code rloo}; TRL's RLOOTrainer; "Back to Basics: Revisiting REINFORCE Style Optimization for Learning
     * from Human Feedback in LLMs"): R - the mean of the group's other rewards, G / (G - 1) (R - the group's mean), so
     * that the baseline does not hold the response's own reward. divideByStd is not read.
     */
    RLOO,
    /**
     * OPO ({@code opo}; "On-Policy RL with Optimal reward baseline"): R - the group's mean weighted by response length,
     * sum |o| R / sum |o|, the baseline of least gradient variance when a response's gradient grows with its length.
     * divideByStd is not read.
     */
    OPO,
    /**
     * GRPO for pass@k ({@code grpo_passk}; "Pass@k Training for Adaptively Balancing Exploration and Exploitation"):
     * only the group's best response learns, from r_max - r_second (divided by the group's std + 1e-6 where
     * divideByStd); every other response gets 0, and a group whose best is tied gets 0 throughout. Groups of at least
     * two.
     */
    GRPO_PASS_K,
    /**
     * REINFORCE++ with the group baseline ({@code reinforce_plus_plus_baseline}; "REINFORCE++: An Efficient RLHF
     * Algorithm with Robustness to Both Prompt and Reward Models"): R - the group's mean, whitened over the batch's
     * tokens, (c - mu) / sqrt(var + 1e-8), mu and the unbiased var over every counted token, so that a long response
     * weighs as its length. Over data-parallel ranks, pass every rank's responses, as verl's batch holds them.
     * divideByStd is not read.
     */
    REINFORCE_PLUS_PLUS_BASELINE,
    /**
     * REINFORCE++ ({@code reinforce_plus_plus}; same paper), here at verl's default gamma of 1 with outcome rewards
     * alone: no baseline, R whitened over the batch's tokens as REINFORCE++-baseline's. Its general form, per token,
     * with a discount and the KL penalty in the reward, is {@link ReinforcePlusPlus}'s, which the trainer runs.
     * The groups do not change its advantages, nor does divideByStd.
     */
    REINFORCE_PLUS_PLUS,
    /**
     * ReMax ({@code remax}; {@link ReMax}): each token's return less the reward of its prompt's greedy response. That
     * baseline is not among {@link #advantages}' arguments, which refuses it: the trainer runs {@link ReMax}.
     */
    REMAX;

    /** verl's epsilon under the group's std. */
    private static final double STD_EPSILON = 1e-6;

    /**
     * Each response's advantage.
     *
     * @param rewards one per response, finite, in whole groups
     * @param lengths each response's counted tokens, &gt;= 0; read by OPO and the two REINFORCE++ alone (null is
     *     fine otherwise)
     * @param divideByStd GRPO's and pass@k's division by the group's std (verl's {@code norm_adv_by_std_in_grpo})
     */
    public float[] advantages(float[] rewards, int groupSize, int[] lengths, boolean divideByStd) {
        GrpoAdvantages.checkGroups(rewards, "rewards", groupSize);
        if (this == OPO || this == REINFORCE_PLUS_PLUS_BASELINE || this == REINFORCE_PLUS_PLUS)
            checkLengths(lengths, rewards.length);
        if (this == GRPO_PASS_K && groupSize < 2)
            throw new IllegalArgumentException("groupSize: pass@k compares a group's best response with its second, "
                    + "so must be >= 2, got " + groupSize);
        return switch (this) {
            case GRPO -> GrpoAdvantages.compute(rewards, groupSize, divideByStd);
            case RLOO -> leaveOneOut(rewards, groupSize);
            case OPO -> lengthWeighted(rewards, groupSize, lengths);
            case GRPO_PASS_K -> bestOfGroup(rewards, groupSize, divideByStd);
            case REINFORCE_PLUS_PLUS_BASELINE -> ReinforcePlusPlus.whitened(centred(rewards, groupSize), lengths,
                    "lengths", "REINFORCE++-baseline");
            case REINFORCE_PLUS_PLUS -> ReinforcePlusPlus.whitened(asDoubles(rewards), lengths, "lengths",
                    "REINFORCE++");
            case REMAX -> throw new UnsupportedOperationException("REMAX's baseline is the reward of each prompt's "
                    + "greedy response, which ReMax.advantages takes");
        };
    }

    /** G / (G - 1) (R - the group's mean): R less the mean of the others. */
    private static float[] leaveOneOut(float[] rewards, int groupSize) {
        double[] c = centred(rewards, groupSize);
        double scale = groupSize == 1 ? 1 : groupSize / (groupSize - 1.0);
        float[] a = new float[c.length];
        for (int i = 0; i < c.length; ++i) a[i] = (float) (scale * c[i]);
        return a;
    }

    private static float[] lengthWeighted(float[] rewards, int groupSize, int[] lengths) {
        float[] a = new float[rewards.length];
        for (int g = 0; g < rewards.length; g += groupSize) {
            double weighted = 0, tokens = 0;
            for (int j = g; j < g + groupSize; ++j) {
                weighted += (double) lengths[j] * rewards[j];
                tokens += lengths[j];
            }
            if (groupSize > 1 && tokens == 0)
                throw new IllegalArgumentException("lengths: group " + g / groupSize + " (rows " + g + " to "
                        + (g + groupSize - 1) + ") has no token, and OPO's baseline weighs its rewards by their "
                        + "tokens");
            double baseline = groupSize == 1 ? 0 : weighted / tokens;
            for (int j = g; j < g + groupSize; ++j) a[j] = (float) (rewards[j] - baseline);
        }
        return a;
    }

    private static float[] bestOfGroup(float[] rewards, int groupSize, boolean divideByStd) {
        float[] a = new float[rewards.length];
        for (int g = 0; g < rewards.length; g += groupSize) {
            int best = g;
            for (int j = g + 1; j < g + groupSize; ++j) if (rewards[j] > rewards[best]) best = j;
            double second = Double.NEGATIVE_INFINITY;
            for (int j = g; j < g + groupSize; ++j) if (j != best) second = Math.max(second, rewards[j]);
            double gap = rewards[best] - second;
            a[best] = (float) (divideByStd ? gap / (GrpoAdvantages.std(rewards, g, groupSize) + STD_EPSILON) : gap);
        }
        return a;
    }

    private static double[] asDoubles(float[] rewards) {
        double[] d = new double[rewards.length];
        for (int i = 0; i < d.length; ++i) d[i] = rewards[i];
        return d;
    }

    /** R - the group's mean (a group of one: R). */
    private static double[] centred(float[] rewards, int groupSize) {
        double[] c = new double[rewards.length];
        for (int g = 0; g < rewards.length; g += groupSize) {
            double mean = groupSize == 1 ? 0 : GrpoAdvantages.mean(rewards, g, groupSize);
            for (int j = g; j < g + groupSize; ++j) c[j] = rewards[j] - mean;
        }
        return c;
    }

    private static void checkLengths(int[] lengths, int rows) {
        Objects.requireNonNull(lengths, "lengths");
        if (lengths.length != rows)
            throw new IllegalArgumentException("lengths: length " + lengths.length + ", rewards has " + rows + " rows");
        for (int i = 0; i < rows; ++i)
            if (lengths[i] < 0)
                throw new IllegalArgumentException("lengths: row " + i + ": must be >= 0, got " + lengths[i]);
    }
}
