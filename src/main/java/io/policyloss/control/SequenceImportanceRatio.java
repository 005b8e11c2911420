package io.policyloss.control;

import io.policyloss.loss.AggregationWeights;

/**
 * GSPO's sequence-level importance ratio (Group Sequence Policy Optimization; TRL's
 * {@code importance_sampling_level="sequence"}, verl's {@code loss_mode: gspo}) through the token-level kernel:
 * s_i = exp(mean over the counted tokens t of sequence i of (logp_t - oldLogp_t)), clipped and weighted by the
 * sequence's advantage in place of each token's own ratio.
 *
 * <p>GSPO-token gives token t of sequence i the ratio sg[s_i] pi(y_t) / sg[pi(y_t)]: its value is s_i and its
 * derivative with respect to logp_t is s_i. The kernel's ratio exp(logp - old_logp), its old_logp held constant,
 * has exactly that value and derivative when old_logp is logp_t - log s_i, which {@link #tokenOldLogp} returns.
 * Every token of a sequence then takes the same branch of SPEC section 3 (clip-low, clip-high, the dual clip), as
 * the sequence does in GSPO. With an advantage and an aggregation weight constant over each sequence's counted
 * tokens (GRPO's advantages; every {@code AggregationMode}), the loss and its gradient are GSPO's own: TRL's
 * sequence-level loss gives each token the sequence's term, whose gradient s_i / |y_i| sum_t grad logp_t, taken
 * |y_i| times, is the kernel's sum of s_i grad logp_t.
 *
 * <p>It takes two kernel calls on the same logits: the first, without a gradient ({@code LossBatch.noGradient()}),
 * gives each token's logp; the second, with {@code tokenOldLogp(...)} as old_logp, gives the loss and gradient.
 * The logp must be that kernel's own (the second call recomputes it bit for bit; a model's log-prob computed
 * otherwise would leave their difference in the ratio). That is one more read of the logits than a token-level
 * loss. The kernel's clamp of logp - old_logp to [-20, 20] then bounds log s_i (verl clamps it at 10).
 */
public final class SequenceImportanceRatio {
    private SequenceImportanceRatio() {}

    /**
     * log s_i of each sequence: the mean over its counted tokens (mask 1) of logp - oldLogp; 0 for a sequence with
     * none. Rows, mask and sequenceOf as in {@link AggregationWeights}: a row of mask 1 needs a weight above 0, as
     * the kernel gives no logp for a row it does not read. Padding rows (mask 0) are not read here either.
     */
    public static double[] sequenceLogRatios(float[] logp, float[] oldLogp, float[] mask, int[] sequenceOf) {
        int sequences = (int) AggregationWeights.Totals.of(mask, sequenceOf).sequences();
        RowArrays.finiteWhereCounted(mask, new String[] {"logp", "oldLogp"}, logp, oldLogp);
        double[] sum = new double[sequences], tokens = new double[sequences];
        for (int i = 0; i < mask.length; ++i) {
            if (mask[i] == 0) continue;
            sum[sequenceOf[i]] += (double) logp[i] - oldLogp[i];
            tokens[sequenceOf[i]] += 1;
        }
        for (int s = 0; s < sequences; ++s) sum[s] = tokens[s] == 0 ? 0 : sum[s] / tokens[s];
        return sum;
    }

    /**
     * The kernel's old_logp for GSPO-token: logp_t - log s_i on each counted token, so that the kernel's ratio is
     * its sequence's s_i (to within the float rounding of the result: a relative 6e-8 |logp_t|, against GSPO's clip
     * range of 3e-4); padding rows keep their oldLogp.
     */
    public static float[] tokenOldLogp(float[] logp, float[] oldLogp, float[] mask, int[] sequenceOf) {
        double[] logRatio = sequenceLogRatios(logp, oldLogp, mask, sequenceOf);
        float[] out = oldLogp.clone();
        for (int i = 0; i < mask.length; ++i)
            if (mask[i] != 0) out[i] = (float) (logp[i] - logRatio[sequenceOf[i]]);
        return out;
    }
}
