package io.policyloss.torch;

import io.policyloss.control.ObjectiveMetrics;
import io.policyloss.loss.LossMetrics;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorArrayRefOptional;

/**
 * One call of {@link TorchFusedLoss#compute}: the loss value, its metric sums, and dL/dlogits (rows x vocab, the
 * logits' dtype) ready to be fed back to autograd.
 */
public final class TorchLossResult {
    private final Tensor logits, dlogits, loss;
    private final LossMetrics metrics;
    private final ObjectiveMetrics objectiveMetrics;

    TorchLossResult(Tensor logits, Tensor dlogits, Tensor loss, LossMetrics metrics) {
        this(logits, dlogits, loss, metrics, ObjectiveMetrics.ZERO);
    }

    private TorchLossResult(Tensor logits, Tensor dlogits, Tensor loss, LossMetrics metrics,
            ObjectiveMetrics objectiveMetrics) {
        this.logits = logits;
        this.dlogits = dlogits;
        this.loss = loss;
        this.metrics = metrics;
        this.objectiveMetrics = objectiveMetrics;
    }

    /** L = sum_i w_i l_i as a 0-dim fp32 tensor (a value: gradients go through {@link #backward()}). */
    public Tensor loss() {
        return loss;
    }

    public LossMetrics metrics() {
        return metrics;
    }

    /**
     * What the call's {@link io.policyloss.control.PolicyObjective} counted beyond {@link #metrics()}
     * (CurrentPolicyLoss: a sequence ratio's clips over sequences, Clip-Cov's chosen tokens); ZERO for the kernel
     * alone.
     */
    public ObjectiveMetrics objectiveMetrics() {
        return objectiveMetrics;
    }

    /** The same call on the objective's moved rows: metrics with what the kernel's miss, and the objective's counts. */
    TorchLossResult with(MovedRows m) {
        return new TorchLossResult(logits, dlogits, loss, metrics.plus(m.metricsCorrection()), m.objectiveMetrics());
    }

    /** dL/dlogits for the logits flattened to rows x vocab. */
    public Tensor dlogits() {
        return dlogits;
    }

    /** Backpropagates dL/dlogits through the graph that produced the logits; gradients accumulate as usual. */
    public void backward() {
        if (!logits.requires_grad())
            throw new IllegalStateException("logits: do not require grad (computed under no_grad, or detached)");
        logits.backward(dlogits, new BoolOptional(), false, new TensorArrayRefOptional());
    }
}
