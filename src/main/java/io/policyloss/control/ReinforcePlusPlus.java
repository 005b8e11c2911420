package io.policyloss.control;

import io.policyloss.loss.AggregationWeights;
import java.util.Arrays;
import java.util.Objects;

/**
 * REINFORCE++ (verl's {@code adv_estimator: reinforce_plus_plus}; OpenRLHF's; "REINFORCE++: An Efficient RLHF
 * Algorithm with Robustness to Both Prompt and Reward Models"): no baseline and no groups; each token's advantage is
 * its discounted return, the rewards of it and of the tokens after it in its response, the k-th after weighted by
 * gamma^k, whitened over the batch's counted tokens. The rewards are token-level, as verl's: a response's outcome sits
 * on its last counted token ({@link #outcomeRewards}), less each token's KL penalty where the KL is in the reward
 * ({@link KlInReward#penalizeTokens}), so that a token answers for the KL of itself and what follows, not of what came
 * before. With gamma 1 and no penalty every token of a response carries its outcome, and the advantages are
 * {@link AdvantageEstimator#REINFORCE_PLUS_PLUS}'s, one per response.
 */
public final class ReinforcePlusPlus {
    /** verl's {@code masked_whiten}: the variance's floor. */
    private static final double WHITEN_EPSILON = 1e-8;

    private ReinforcePlusPlus() {}

    /**
     * Each row's advantage: {@link #whitened} {@link #returns}.
     *
     * @param tokenRewards each row's reward, finite on counted rows
     * @param mask 1 on a response's tokens, 0 on padding (not read; its advantage is 0)
     * @param sequenceOf each row's response; a response's rows in the order of its tokens
     * @param gamma the discount (verl's {@code algorithm.gamma}, 1 by default), in [0, 1]
     */
    public static float[] advantages(float[] tokenRewards, float[] mask, int[] sequenceOf, double gamma) {
        return whitened(returns(tokenRewards, mask, sequenceOf, gamma), mask);
    }

    /**
     * The token-level rewards of outcome rewards: response s's reward on its last counted row, 0 elsewhere.
     *
     * @param rewards one per response, finite; each has a counted row to hold it
     * @param mask 1 on a response's tokens, 0 on padding
     * @param sequenceOf each row's response, 0 to rewards.length - 1; a response's rows in the order of its tokens
     */
    public static float[] outcomeRewards(float[] rewards, float[] mask, int[] sequenceOf) {
        Objects.requireNonNull(rewards, "rewards");
        RowArrays.responses(mask, sequenceOf, rewards.length, "rewards");
        int[] last = new int[rewards.length];
        Arrays.fill(last, -1);
        for (int i = 0; i < mask.length; ++i) if (mask[i] != 0) last[sequenceOf[i]] = i;
        float[] out = new float[mask.length];
        for (int s = 0; s < rewards.length; ++s) {
            RowArrays.finite(rewards[s], "rewards", s);
            if (last[s] < 0)
                throw new IllegalArgumentException("rewards: response " + s + " has no counted token to hold its "
                        + "reward");
            out[last[s]] = rewards[s];
        }
        return out;
    }

    /**
     * Each counted row's discounted return: its reward plus gamma times the return of its response's next counted row
     * (verl's loop from the last token back, which a response's end resets); 0 on padding.
     */
    public static float[] returns(float[] tokenRewards, float[] mask, int[] sequenceOf, double gamma) {
        int sequences = (int) AggregationWeights.Totals.of(mask, sequenceOf).sequences();
        RowArrays.finiteWhereCounted(mask, new String[] {"tokenRewards"}, tokenRewards);
        if (!(gamma >= 0 && gamma <= 1)) throw new IllegalArgumentException("gamma: must be in [0, 1], got " + gamma);
        double[] running = new double[sequences];
        float[] out = new float[mask.length];
        for (int i = mask.length - 1; i >= 0; --i) {
            if (mask[i] == 0) continue;
            int s = sequenceOf[i];
            running[s] = tokenRewards[i] + gamma * running[s];
            out[i] = (float) running[s];
        }
        return out;
    }

    /**
     * verl's {@code masked_whiten}: (v - mu) / sqrt(var + 1e-8) on counted rows, mu and the unbiased var over them;
     * 0 on padding. Over data-parallel ranks, pass every rank's rows, as verl's batch holds them.
     *
     * @param values finite on counted rows
     * @param mask 1 on counted rows (at least 2), 0 on padding
     */
    public static float[] whitened(float[] values, float[] mask) {
        RowArrays.mask(mask);
        RowArrays.finiteWhereCounted(mask, new String[] {"values"}, values);
        double[] v = new double[values.length];
        int[] counts = new int[values.length];
        for (int i = 0; i < v.length; ++i) {
            v[i] = values[i];
            counts[i] = (int) mask[i];
        }
        float[] a = whitened(v, counts, "mask", "REINFORCE++");
        for (int i = 0; i < a.length; ++i) if (mask[i] == 0) a[i] = 0;  // verl's advantages times the mask
        return a;
    }

    /**
     * verl's {@code masked_whiten} of a list that holds value i counts[i] times: mean and unbiased var over the list,
     * (value - mean) / sqrt(var + 1e-8) for each i. Needs a list of at least 2; countsName and who name the counts and
     * the estimator where it is shorter.
     */
    static float[] whitened(double[] value, int[] counts, String countsName, String who) {
        double tokens = 0, sum = 0;
        for (int i = 0; i < value.length; ++i) {
            tokens += counts[i];
            sum += counts[i] * value[i];
        }
        if (tokens < 2)
            throw new IllegalArgumentException(countsName + ": " + who + " whitens over the batch's tokens, which "
                    + "needs at least 2, got " + (long) tokens);
        double mean = sum / tokens, squares = 0;
        for (int i = 0; i < value.length; ++i) squares += counts[i] * (value[i] - mean) * (value[i] - mean);
        double scale = 1 / Math.sqrt(squares / (tokens - 1) + WHITEN_EPSILON);
        float[] a = new float[value.length];
        for (int i = 0; i < value.length; ++i) a[i] = (float) ((value[i] - mean) * scale);
        return a;
    }
}
