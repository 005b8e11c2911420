package io.policyloss.loss;

/**
 * What a {@link LossBatch} call returns: the metric sums, every per-row output, and the gradient (float[] for
 * F32, short[] bits for bf16 / fp16; the stride is the batch's stride, with untouched padding between rows).
 */
public record LossResult(LossMetrics metrics, float[] logp, float[] entropy, float[] clampedEntropy, float[] ratio,
        float[] loss, float[] kl, byte[] flags, Dtype gradientDtype, float[] dlogitsF32, short[] dlogits16) {

    /** L = sum_i w_i l_i. */
    public double totalLoss() {
        return metrics.loss();
    }

    /** Gradient element (row, column) as float, whatever its dtype; stride is the batch's row stride. */
    public float dlogit(int row, int column, int stride) {
        int k = row * stride + column;
        if (dlogitsF32 != null) return dlogitsF32[k];
        if (dlogits16 != null) return HalfFloats.toFloat(gradientDtype, dlogits16[k]);
        throw new IllegalStateException("dlogits: the batch asked for no gradient");
    }
}
