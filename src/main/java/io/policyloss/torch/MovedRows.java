package io.policyloss.torch;

import io.policyloss.control.ObjectiveMetrics;
import io.policyloss.loss.LossMetrics;

/**
 * A PolicyObjective's rows for the call with a gradient, moved from a first call's logp and entropy, what to add to
 * that call's metrics, and what the objective counted beyond them (CurrentPolicyLoss).
 */
record MovedRows(PolicyRows rows, LossMetrics metricsCorrection, ObjectiveMetrics objectiveMetrics) {
    /** Rows that need no moving. */
    static MovedRows unmoved(PolicyRows rows) {
        return new MovedRows(rows, LossMetrics.ZERO, ObjectiveMetrics.ZERO);
    }
}
