package io.policyloss.torch;

import io.policyloss.control.ObjectiveMetrics;
import io.policyloss.loss.LossMetrics;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * One call of {@link FusedLinearPolicyLoss#compute}: the loss value, its metric sums, and the gradients for the
 * head's input, weight and bias (each null where that tensor does not require grad), ready to be fed to autograd.
 */
public final class LinearLossResult {
    private final Tensor hidden, weight, bias, gradHidden, gradWeight, gradBias, loss;
    private final LossMetrics metrics;
    private final ObjectiveMetrics objectiveMetrics;

    LinearLossResult(Tensor hidden, Tensor weight, Tensor bias, Tensor gradHidden, Tensor gradWeight, Tensor gradBias,
            Tensor loss, LossMetrics metrics, ObjectiveMetrics objectiveMetrics) {
        this.hidden = hidden;
        this.weight = weight;
        this.bias = bias;
        this.gradHidden = gradHidden;
        this.gradWeight = gradWeight;
        this.gradBias = gradBias;
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

    /** As {@link TorchLossResult#objectiveMetrics()}, over every chunk. */
    public ObjectiveMetrics objectiveMetrics() {
        return objectiveMetrics;
    }

    /** The same call on the objective's moved rows: metrics with what the kernel's miss, and the objective's counts. */
    LinearLossResult with(MovedRows m) {
        return new LinearLossResult(hidden, weight, bias, gradHidden, gradWeight, gradBias, loss,
                metrics.plus(m.metricsCorrection()), m.objectiveMetrics());
    }

    /** dL/dhidden, of hidden's shape and dtype, or null. */
    public Tensor gradHidden() {
        return gradHidden;
    }

    /** dL/dW, [vocab, width] in the weight's dtype, or null. */
    public Tensor gradWeight() {
        return gradWeight;
    }

    /** dL/db, [vocab] in the bias's dtype, or null (also without a bias). */
    public Tensor gradBias() {
        return gradBias;
    }

    /**
     * Backpropagates the gradients from hidden, weight and bias in one autograd call: into the graph that made the
     * hidden states, and into W and b (their {@code grad()} where they are leaves); gradients accumulate as usual.
     */
    public void backward() {
        TensorVector roots = new TensorVector(), grads = new TensorVector();
        Tensor[][] pairs = {{hidden, gradHidden}, {weight, gradWeight}, {bias, gradBias}};
        for (Tensor[] pair : pairs) {
            if (pair[1] == null) continue;
            roots.push_back(pair[0]);
            grads.push_back(pair[1]);
        }
        if (roots.empty())
            throw new IllegalStateException("hidden, weight, bias: none requires grad (computed under no_grad, or "
                    + "detached)");
        torch.backward(roots, grads, new BoolOptional(), false, new TensorVector());
    }
}
