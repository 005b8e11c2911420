package io.policyloss.loss;

/** How per-token losses become the batch loss (SPEC section 6); each is a choice of per-row weights. */
public enum AggregationMode {
    /** w = m / (global sum of m) */
    TOKEN_MEAN,
    /** w = m / (n_s * global S) */
    SEQ_MEAN_TOKEN_MEAN,
    /** w = m / global S */
    SEQ_MEAN_TOKEN_SUM,
    /** w = m / (global S * L_max) (Dr. GRPO) */
    SEQ_MEAN_TOKEN_SUM_NORM
}
