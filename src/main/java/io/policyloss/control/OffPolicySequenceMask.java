package io.policyloss.control;

import io.policyloss.loss.AggregationWeights;

/**
 * Off-policy sequence masking (DeepSeek-V3.2; TRL's {@code off_policy_mask_threshold}): a sequence of negative
 * advantage that the current policy has moved away from, its mean over counted tokens of oldLogp - logp (a KL
 * estimate between the policy that sampled it and the current one) above the threshold, leaves no policy gradient.
 * Negative samples the policy would no longer produce teach it little and destabilise it; positive ones always stay.
 *
 * <p>TRL multiplies the per-token policy loss by this mask before the KL term is added, for every loss type, so the
 * masked tokens get an advantage of 0 here, as {@link HighEntropyTokens} gives its masked tokens: their pg term and
 * its gradient are 0 for PPO's clip, CISPO, SAPO and VESPO alike, their KL and entropy terms stay, and their
 * aggregation weights are unchanged (their clips TRL counts by A, as {@link PolicyObjective} does, where the kernel
 * counts them nowhere). A whole sequence is masked, so with GSPO's sequence ratio too. oldLogp is the
 * sampling policy's (TRL takes the rollout engine's log-probs where it has them, else the old policy's); logp is the
 * current policy's, from a first call without a gradient on the same logits.
 */
public final class OffPolicySequenceMask {
    private OffPolicySequenceMask() {}

    /**
     * Each row's advantage, but 0 on the counted rows of negative advantage whose sequence's mean of oldLogp - logp
     * exceeds the threshold (+inf masks nothing); padding rows as given. Rows, mask and sequenceOf as in
     * {@link AggregationWeights}.
     */
    public static float[] advantages(float[] advantage, float[] logp, float[] oldLogp, float[] mask, int[] sequenceOf,
            double threshold) {
        if (Double.isNaN(threshold)) throw new IllegalArgumentException("threshold: must not be NaN");
        double[] logRatio = SequenceImportanceRatio.sequenceLogRatios(logp, oldLogp, mask, sequenceOf);
        RowArrays.sameLength(advantage, "advantage", mask.length, "mask");
        float[] out = advantage.clone();
        for (int i = 0; i < mask.length; ++i) {
            if (mask[i] == 0) continue;
            RowArrays.finite(advantage[i], "advantage", i);
            if (advantage[i] < 0 && -logRatio[sequenceOf[i]] > threshold) out[i] = 0;
        }
        return out;
    }
}
