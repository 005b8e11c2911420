package io.policyloss.bench;

import io.policyloss.control.Cispo;
import io.policyloss.control.PolicyObjective;
import io.policyloss.loss.FusedLoss;
import io.policyloss.loss.LossConfig;
import io.policyloss.torch.CurrentPolicyLoss;
import io.policyloss.torch.FusedLinearPolicyLoss;
import io.policyloss.torch.LinearLossResult;
import io.policyloss.torch.PolicyRows;
import io.policyloss.torch.Tensors;
import io.policyloss.torch.TorchFusedLoss;
import io.policyloss.torch.TorchLossResult;
import java.util.Random;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;

/**
 * One batch behind a linear head, host fp32: hidden states [N, D] and the head's W [V, D] and b [V], all leaves that
 * require grad, and GRPO rows (clip 0.2 / 0.28, a token-entropy bonus). A step is one loss call and its backward,
 * through the whole logits or through {@link FusedLinearPolicyLoss}'s chunks; the leaves' gradients accumulate.
 */
final class LinearHeadBatch {
    static final LossConfig CONFIG = LossConfig.builder().epsLow(0.2).epsHigh(0.28).entropyCoef(0.001).build();

    final int rows, width, vocab;
    final Tensor hidden, weight, bias;
    final PolicyRows policyRows;
    private final TorchFusedLoss kernel;

    LinearHeadBatch(int rows, int width, int vocab, int threads) {
        this.rows = rows;
        this.width = width;
        this.vocab = vocab;
        Random r = new Random(1);
        hidden = Tensors.floats(gaussians(r, rows * width, 1), rows, width).requires_grad_(true);
        weight = Tensors.floats(gaussians(r, vocab * width, 1 / Math.sqrt(width)), vocab, width).requires_grad_(true);
        bias = Tensors.floats(gaussians(r, vocab, 0.1), vocab).requires_grad_(true);
        long[] target = new long[rows];
        float[] old = new float[rows], advantage = new float[rows], w = new float[rows];
        for (int i = 0; i < rows; ++i) {
            target[i] = r.nextInt(vocab);
            old[i] = (float) (-Math.log(vocab) + 0.3 * r.nextGaussian());
            advantage[i] = (float) r.nextGaussian();
            w[i] = 1f / rows;
        }
        policyRows = PolicyRows.of(Tensors.longs(target, rows), Tensors.floats(old, rows),
                Tensors.floats(advantage, rows), Tensors.floats(w, rows));
        kernel = new TorchFusedLoss(new FusedLoss(CONFIG, threads));
    }

    /** The whole logits by libtorch's linear, the kernel's gradient over them (in place) or into a new tensor. */
    double wholeLogits(boolean inPlace) {
        Tensor logits = torch.linear(hidden, weight, new TensorOptional(bias));
        TorchLossResult r = inPlace ? kernel.computeInPlace(logits, policyRows) : kernel.compute(logits, policyRows);
        r.backward();
        return r.metrics().loss();
    }

    /** FusedLinearPolicyLoss in chunks of {@code chunkRows} rows, 0 for its default. */
    double chunks(int chunkRows) {
        FusedLinearPolicyLoss loss = chunkRows == 0 ? new FusedLinearPolicyLoss(kernel)
                : new FusedLinearPolicyLoss(kernel, chunkRows);
        LinearLossResult r = loss.compute(hidden, weight, bias, policyRows);
        r.backward();
        return r.metrics().loss();
    }

    /**
     * CISPO behind the head through CurrentPolicyLoss, every row moved: in one pass, each chunk's logits made once
     * for both calls, or in two (the same loss with off-policy masking at an infinite threshold, which masks nothing
     * but reads whole sequences, so every chunk's logits are made for the first call and again for the second).
     */
    double cispo(int chunkRows, boolean onePass) {
        PolicyObjective objective = PolicyObjective.CLIPPED.with(Cispo.defaults());
        if (!onePass) objective = objective.withOffPolicyMaskThreshold(Double.POSITIVE_INFINITY);
        float[] mask = new float[rows];
        int[] sequenceOf = new int[rows];
        for (int i = 0; i < rows; ++i) {
            mask[i] = 1;
            sequenceOf[i] = i / 16;
        }
        CurrentPolicyLoss loss = new CurrentPolicyLoss(chunkRows == 0 ? new FusedLinearPolicyLoss(kernel)
                : new FusedLinearPolicyLoss(kernel, chunkRows), objective);
        LinearLossResult r = loss.compute(hidden, weight, bias, policyRows, mask, sequenceOf, null);
        r.backward();
        return r.metrics().loss();
    }

    private static float[] gaussians(Random r, int n, double scale) {
        float[] out = new float[n];
        for (int k = 0; k < n; ++k) out[k] = (float) (scale * r.nextGaussian());
        return out;
    }
}
