package io.policyloss.control;

import io.policyloss.loss.LossMetrics;

/**
 * A surrogate whose gradient on token t of sequence i is -A'_t grad logp_t with A'_t a function of the whole
 * sequence's ratios, held constant: GMPO's A_i R_i on its unclipped tokens, R_i the geometric mean of their clipped
 * ratios; VESPO's phi(w_i) A_t, w_i the product of their ratios. Through the kernel at ratio 1, as
 * {@link ReweightedPolicyGradient}'s token-by-token weights are: old_logp = logp
 * ({@link ImportanceRatios#oldLogpAtRatioOne}) and the advantage A'.
 */
public sealed interface SequenceWeightedPolicyGradient permits Gmpo, Vespo {
    /**
     * A' for the kernel at ratio 1 on each counted row; padding rows as given. logp is the current policy's (a first
     * call's), rows, mask and sequenceOf as in {@code AggregationWeights}.
     */
    float[] advantages(float[] advantage, float[] logp, float[] oldLogp, float[] mask, int[] sequenceOf);

    /**
     * What the kernel's metrics miss on the rows it ran at ratio 1 ({@link RatioOneMetrics}): arguments as before
     * {@link #advantages} and {@link ImportanceRatios#oldLogpAtRatioOne}, ratio each token's own
     * ({@link ImportanceRatios#token}), weight the kernel's aggregation weights.
     */
    LossMetrics metricsCorrection(float[] advantage, double[] ratio, float[] logp, float[] oldLogp, float[] weight,
            float[] mask, int[] sequenceOf);
}
