package io.policyloss.control;

import java.util.Objects;

/**
 * ReMax (verl's {@code adv_estimator: remax}; "ReMax: A Simple, Effective, and Efficient Reinforcement Learning Method
 * for Aligning Large Language Models"): REINFORCE whose baseline is the reward of the prompt's greedy response, which
 * costs one more generation per prompt and no critic. Each token's advantage is its return, the undiscounted sum of
 * the token-level rewards of it and the tokens after it in its response ({@link ReinforcePlusPlus#returns} at gamma
 * 1), less the baseline: neither normalized nor whitened. With outcome rewards alone every token of a response has
 * R - b; with the KL penalty in the reward ({@link KlInReward#penalizeTokens}), a token answers for the KL of itself
 * and what follows. verl scores the greedy response with the reward function alone, without the penalty.
 */
public final class ReMax {
    private ReMax() {}

    /**
     * Each row's advantage, 0 on padding.
     *
     * @param tokenRewards each row's reward ({@link ReinforcePlusPlus#outcomeRewards}, less the penalty where there is
     *     one), finite on counted rows
     * @param baselines one per response: the reward of the greedy response to its prompt, finite
     * @param mask 1 on a response's tokens, 0 on padding (not read)
     * @param sequenceOf each row's response, 0 to baselines.length - 1; a response's rows in the order of its tokens
     */
    public static float[] advantages(float[] tokenRewards, float[] baselines, float[] mask, int[] sequenceOf) {
        Objects.requireNonNull(baselines, "baselines");
        float[] returns = ReinforcePlusPlus.returns(tokenRewards, mask, sequenceOf, 1);
        RowArrays.responses(mask, sequenceOf, baselines.length, "baselines");
        for (int s = 0; s < baselines.length; ++s) RowArrays.finite(baselines[s], "baselines", s);
        float[] a = new float[returns.length];
        for (int i = 0; i < a.length; ++i)
            if (mask[i] != 0) a[i] = (float) ((double) returns[i] - baselines[sequenceOf[i]]);
        return a;
    }
}
