package io.policyloss.torch;

import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * The GRPO loss with a token-entropy bonus written the way people write it today, in eager libtorch ops
 * (log_softmax, gather, ratio, clip, max, entropy as -sum p log p), gradient by autograd. Written separately from
 * the kernel: an independent check of the op, and the baseline of TorchLossBenchmark.
 */
public final class EagerGrpoLoss {
    private EagerGrpoLoss() {}

    /** L = sum_i w_i (max(-A r, -A clip(r, 1 - epsLow, 1 + epsHigh)) - entropyCoef H_i), logits [N, V]. */
    public static Tensor loss(Tensor logits, Tensor target, Tensor oldLogp, Tensor advantage, Tensor weight,
            double epsLow, double epsHigh, double entropyCoef) {
        Tensor logProbs = logits.log_softmax(-1);
        Tensor logp = torch.gather(logProbs, 1, target.unsqueeze(1)).squeeze(1);
        Tensor ratio = logp.sub(oldLogp).clamp(bound(-20), bound(20)).exp();
        Tensor unclipped = advantage.neg().mul(ratio);
        Tensor clipped = advantage.neg().mul(ratio.clamp(bound(1 - epsLow), bound(1 + epsHigh)));
        Tensor entropy = logProbs.exp().mul(logProbs).sum(new long[] {-1}, false, null).neg();
        return weight.mul(torch.maximum(unclipped, clipped).sub(entropy.mul(new Scalar(entropyCoef)))).sum();
    }

    private static ScalarOptional bound(double v) {
        return new ScalarOptional(new Scalar(v));
    }
}
