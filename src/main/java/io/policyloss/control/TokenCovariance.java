package io.policyloss.control;

/**
 * The entropy mechanism's per-token covariance term ("The Entropy Mechanism of Reinforcement Learning for Reasoning
 * Language Models"): (A - mean A)(logp - mean logp), the means over the counted tokens. The policy's entropy falls
 * with its sum; {@link ClipCov} and {@link KlCov} pick the tokens where it is large.
 */
final class TokenCovariance {
    private TokenCovariance() {}

    /** Each counted row's term (0 on padding rows, which are not read); advantage and logp finite where counted. */
    static double[] of(float[] advantage, float[] logp, float[] mask) {
        RowArrays.mask(mask);
        RowArrays.sameLength(advantage, "advantage", mask.length, "mask");
        RowArrays.sameLength(logp, "logp", mask.length, "mask");
        double meanA = 0, meanLogp = 0, counted = 0;
        for (int i = 0; i < mask.length; ++i) {
            if (mask[i] == 0) continue;
            RowArrays.finite(advantage[i], "advantage", i);
            RowArrays.finite(logp[i], "logp", i);
            meanA += advantage[i];
            meanLogp += logp[i];
            counted++;
        }
        double[] cov = new double[mask.length];
        if (counted == 0) return cov;
        meanA /= counted;
        meanLogp /= counted;
        for (int i = 0; i < mask.length; ++i)
            if (mask[i] != 0) cov[i] = ((double) advantage[i] - meanA) * (logp[i] - meanLogp);
        return cov;
    }
}
