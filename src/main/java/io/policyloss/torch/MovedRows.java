package io.policyloss.torch;

import io.policyloss.loss.LossMetrics;

/**
 * A PolicyObjective's rows for the call with a gradient, moved from a first call's logp and entropy, and what to add
 * to that call's metrics (CurrentPolicyLoss).
 */
record MovedRows(PolicyRows rows, LossMetrics metricsCorrection) {
    /** Rows that need no moving. */
    static MovedRows unmoved(PolicyRows rows) {
        return new MovedRows(rows, LossMetrics.ZERO);
    }
}
