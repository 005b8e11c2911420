package io.policyloss.control;

/**
 * GPG ("GPG: A Simple and Strong Reinforcement Learning Baseline for Model Reasoning", Chu et al.): the policy
 * gradient -A logp ({@link Cispo#gpg}) on group-relative advantages without the std's division, scaled up by how
 * many samples carry no gradient. A group whose responses all got the same reward has advantages of 0 and adds
 * nothing to the gradient, yet its tokens still count in the loss's denominator, which shrinks the update; the
 * paper multiplies it back by alpha = B / (B - M), M the samples of such groups (its eq. 7). The trainers read M
 * differently, and both ways are here:
 * <ul>
 *   <li>TRL's {@code GPGTrainer} ({@code bias_correction}, on by default): M counts the groups whose nonzero
 *       advantages are all equal, and the loss is divided by the fraction of the others ({@link
 *       #validGroupFraction}, {@link #lossScale}); with {@code scale_rewards="none"}, {@code beta} 0 and no entropy
 *       term, which TRL requires so that the division reaches the policy gradient alone.</li>
 *   <li>verl's {@code adv_estimator: gpg}: the advantages themselves are alpha (R - the group's mean) / fNorm, with
 *       alpha the batch's size over its count of nonzero rewards ({@link #advantages}).</li>
 * </ul>
 */
public final class Gpg {
    private Gpg() {}

    /**
     * verl's GPG advantages: alpha (R - the group's mean) / fNorm, alpha = rows / max(1, the rows whose reward is not
     * 0), over the whole batch (pass every reward, as verl's batch holds them). A group of one response is centred on
     * 0, as verl centres a prompt it sampled once. Groups are consecutive runs of {@code groupSize} rewards.
     *
     * @param fNorm verl's {@code f_norm} (1 unless set), finite and &gt; 0
     */
    public static float[] advantages(float[] rewards, int groupSize, double fNorm) {
        GrpoAdvantages.checkGroups(rewards, "rewards", groupSize);
        if (!(fNorm > 0) || fNorm == Double.POSITIVE_INFINITY)
            throw new IllegalArgumentException("fNorm: must be finite and > 0, got " + fNorm);
        int nonzero = 0;
        for (float r : rewards) nonzero += r != 0 ? 1 : 0;
        double alpha = (double) rewards.length / Math.max(1, nonzero);
        float[] a = new float[rewards.length];
        for (int g = 0; g < rewards.length; g += groupSize) {
            double mean = groupSize == 1 ? 0 : GrpoAdvantages.mean(rewards, g, groupSize);
            for (int j = g; j < g + groupSize; ++j) a[j] = (float) (alpha * (rewards[j] - mean) / fNorm);
        }
        return a;
    }

    /**
     * TRL's fraction of the groups that carry a gradient: those whose nonzero advantages take more than one value. Not
     * "any advantage is nonzero": in float, a group of equal rewards lands on one rounding residual of its mean, the
     * same for every member, and an exact 0 is a response no reward function scored (TRL's {@code nan_to_num}), which
     * is left out. 0 for a batch without groups.
     *
     * @param advantages one per response, in consecutive groups of {@code groupSize}; the whole batch's, before any
     *     masking (TRL gathers them over its ranks)
     */
    public static double validGroupFraction(float[] advantages, int groupSize) {
        GrpoAdvantages.checkGroups(advantages, "advantages", groupSize);
        int groups = advantages.length / groupSize, valid = 0;
        for (int g = 0; g < advantages.length; g += groupSize) {
            float lowest = Float.POSITIVE_INFINITY, highest = Float.NEGATIVE_INFINITY;
            for (int j = g; j < g + groupSize; ++j) {
                if (advantages[j] == 0) continue;
                lowest = Math.min(lowest, advantages[j]);
                highest = Math.max(highest, advantages[j]);
            }
            valid += lowest < highest ? 1 : 0;
        }
        return groups == 0 ? 0 : (double) valid / groups;
    }

    /**
     * TRL's bias correction as a factor of the loss: 1 / {@link #validGroupFraction}, or 1 where no group carries a
     * gradient (TRL skips the division, the loss being flat). Multiply the aggregation weights by it: the kernel's
     * loss and gradient scale with them, its KL and entropy terms too, which is why TRL refuses the correction with
     * either.
     */
    public static double lossScale(float[] advantages, int groupSize) {
        double fraction = validGroupFraction(advantages, groupSize);
        return fraction > 0 ? 1 / fraction : 1;
    }
}
