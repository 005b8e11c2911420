package io.policyloss.control;

import java.util.Arrays;

/**
 * DAPO's dynamic sampling ("DAPO: An Open-Source LLM Reinforcement Learning System at Scale", section 3.2; verl's
 * {@code algorithm.filter_groups}): a group whose rewards are all equal, every answer right or every one wrong, has
 * advantages of 0 under a group baseline and gives no gradient, yet fills the batch; the trainer samples more prompts
 * and keeps the groups whose rewards differ until the batch is full.
 */
public final class DynamicSampling {
    private DynamicSampling() {}

    /**
     * The groups whose rewards are not all equal, in order.
     *
     * @param rewards one per response, finite, in consecutive groups of {@code groupSize}
     */
    public static int[] informativeGroups(float[] rewards, int groupSize) {
        GrpoAdvantages.checkGroups(rewards, "rewards", groupSize);
        int[] kept = new int[rewards.length / groupSize];
        int count = 0;
        for (int g = 0; g < kept.length; ++g) {
            float first = rewards[g * groupSize];
            boolean differ = false;
            for (int j = g * groupSize + 1; j < (g + 1) * groupSize; ++j) differ |= rewards[j] != first;
            if (differ) kept[count++] = g;
        }
        return Arrays.copyOf(kept, count);
    }

    /**
     * The {@code groups} groups a batch keeps of those drawn: the first whose rewards differ, in order; where fewer
     * differ, all of those, then the first of the others (which carry no gradient; verl stops the run there instead).
     *
     * @param rewards one per response of every group drawn, in the order drawn
     * @param groups the batch's groups, at most those drawn
     */
    public static int[] batch(float[] rewards, int groupSize, int groups) {
        int[] informative = informativeGroups(rewards, groupSize);
        int drawn = rewards.length / groupSize;
        if (groups < 0 || groups > drawn)
            throw new IllegalArgumentException("groups: must be in [0, " + drawn + "] (the groups drawn), got "
                    + groups);
        int[] out = Arrays.copyOf(informative, groups);
        boolean[] taken = new boolean[drawn];
        for (int k : informative) taken[k] = true;
        for (int k = 0, n = Math.min(informative.length, groups); n < groups; ++k) if (!taken[k]) out[n++] = k;
        return out;
    }
}
