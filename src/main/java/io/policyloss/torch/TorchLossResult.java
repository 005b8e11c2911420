package io.policyloss.torch;

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

    TorchLossResult(Tensor logits, Tensor dlogits, Tensor loss, LossMetrics metrics) {
        this.logits = logits;
        this.dlogits = dlogits;
        this.loss = loss;
        this.metrics = metrics;
    }

    /** L = sum_i w_i l_i as a 0-dim fp32 tensor (a value: gradients go through {@link #backward()}). */
    public Tensor loss() {
        return loss;
    }

    public LossMetrics metrics() {
        return metrics;
    }

    /** The same call with metrics that add {@code correction} (CurrentPolicyLoss: what the kernel's miss). */
    TorchLossResult plus(LossMetrics correction) {
        return correction.equals(LossMetrics.ZERO) ? this
                : new TorchLossResult(logits, dlogits, loss, metrics.plus(correction));
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
