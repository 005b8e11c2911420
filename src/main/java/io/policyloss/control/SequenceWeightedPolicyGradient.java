package io.policyloss.control;

import io.policyloss.loss.LossMetrics;

/**
 * A surrogate whose gradient on token t of sequence i is -A'_t grad logp_t with A'_t a function of the whole
 * sequence's ratios, held constant: GMPO's A_i R_i on its unclipped tokens, R_i the geometric mean of their clipped
 * ratios; VESPO's phi(w_i) A_t, w_i the product of their ratios. Through the kernel at ratio 1, as
 * {@link ReweightedPolicyGradient}'s token-by-token weights are: old_logp = logp
 * ({@link ImportanceRatios#oldLogpAtRatioOne}) and the advantage A'.
 */
public sealed interface SequenceWeightedPolicyGradient extends Surrogate permits Gmpo, Vespo {
    /**
     * A' for the kernel at ratio 1 on each counted row; padding rows as given. logp is the current policy's (a first
     * call's), rows, mask and sequenceOf as in {@code AggregationWeights}.
     */
    default float[] advantages(float[] advantage, float[] logp, float[] oldLogp, float[] mask, int[] sequenceOf) {
        return advantages(advantage, logp, oldLogp, mask, sequenceOf, null);
    }

    /**
     * As {@link #advantages(float[], float[], float[], float[], int[])}, for rollouts from another engine with an
     * importance weight f of each row ({@link RolloutCorrection#ratios}), applied as the trainer that has the rule
     * applies it: VESPO folds it into w_i (TRL), GMPO weighs each sequence by its geometric mean (verl).
     *
     * @param rolloutRatio f per row, finite and &gt;= 0 on the counted rows; null for none
     */
    float[] advantages(float[] advantage, float[] logp, float[] oldLogp, float[] mask, int[] sequenceOf,
            float[] rolloutRatio);

    /**
     * What the kernel's metrics miss on the rows it ran at ratio 1 ({@link RatioOneMetrics}): arguments as before
     * {@link #advantages} and {@link ImportanceRatios#oldLogpAtRatioOne}, ratio each token's own
     * ({@link ImportanceRatios#token}), weight the kernel's aggregation weights.
     */
    default LossMetrics metricsCorrection(float[] advantage, double[] ratio, float[] logp, float[] oldLogp,
            float[] weight, float[] mask, int[] sequenceOf) {
        return metricsCorrection(advantage, ratio, logp, oldLogp, weight, mask, sequenceOf, null);
    }

    /**
     * As {@link #metricsCorrection(float[], double[], float[], float[], float[], float[], int[])}, with the rollout
     * ratios as {@link #advantages(float[], float[], float[], float[], int[], float[])} applies them.
     */
    LossMetrics metricsCorrection(float[] advantage, double[] ratio, float[] logp, float[] oldLogp, float[] weight,
            float[] mask, int[] sequenceOf, float[] rolloutRatio);
}
