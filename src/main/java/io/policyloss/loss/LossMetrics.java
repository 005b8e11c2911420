package io.policyloss.loss;

import static io.policyloss.nativeapi.PolicyLossNative.*;

/**
 * The batch metrics of SPEC section 5 as sums and counts over valid rows (weight != 0), so that micro-batches and
 * data-parallel ranks combine by {@link #plus}; the means divide at the end. Field names follow TRL / verl usage.
 *
 * @param loss L = sum_i w_i l_i
 * @param validRows rows with w != 0
 * @param sumEntropy sum of H
 * @param sumClampedEntropy sum of Hc
 * @param clipLow rows clipped low (A' &lt; 0, r &lt; 1 - eps_low)
 * @param clipHigh rows clipped high (A' &gt; 0, r &gt; 1 + eps_high)
 * @param dualClip rows where the dual clip was active (with DPPO's correction, also the rows whose ratio it truncated,
 *     as verl counts both in pg_clipfrac_lower)
 * @param ratioClamped rows whose log-ratio left [-20, 20]
 * @param sumRatio sum of r
 * @param sumApproxKl sum of old_logp - logp
 * @param sumKl sum of the KL estimator against the reference
 * @param sumWeight sum of w
 */
public record LossMetrics(double loss, double validRows, double sumEntropy, double sumClampedEntropy, double clipLow,
        double clipHigh, double dualClip, double ratioClamped, double sumRatio, double sumApproxKl, double sumKl,
        double sumWeight) {

    public static final LossMetrics ZERO = fromSums(new double[PL_METRICS_LEN]);

    /** From the PL_METRICS_LEN sums of the C ABI, in its order. */
    public static LossMetrics fromSums(double[] m) {
        return new LossMetrics(m[PL_M_LOSS], m[PL_M_VALID_ROWS], m[PL_M_ENTROPY], m[PL_M_CLAMPED_ENTROPY],
                m[PL_M_CLIP_LOW], m[PL_M_CLIP_HIGH], m[PL_M_DUAL_CLIP], m[PL_M_RATIO_CLAMPED], m[PL_M_RATIO],
                m[PL_M_APPROX_KL], m[PL_M_KL], m[PL_M_WEIGHT]);
    }

    public double[] toSums() {
        double[] m = new double[PL_METRICS_LEN];
        m[PL_M_LOSS] = loss;
        m[PL_M_VALID_ROWS] = validRows;
        m[PL_M_ENTROPY] = sumEntropy;
        m[PL_M_CLAMPED_ENTROPY] = sumClampedEntropy;
        m[PL_M_CLIP_LOW] = clipLow;
        m[PL_M_CLIP_HIGH] = clipHigh;
        m[PL_M_DUAL_CLIP] = dualClip;
        m[PL_M_RATIO_CLAMPED] = ratioClamped;
        m[PL_M_RATIO] = sumRatio;
        m[PL_M_APPROX_KL] = sumApproxKl;
        m[PL_M_KL] = sumKl;
        m[PL_M_WEIGHT] = sumWeight;
        return m;
    }

    /** The metrics of two disjoint sets of rows together (micro-batches, ranks). */
    public LossMetrics plus(LossMetrics o) {
        double[] a = toSums(), b = o.toSums();
        for (int k = 0; k < a.length; ++k) a[k] += b[k];
        return fromSums(a);
    }

    private double mean(double sum) {
        return validRows == 0 ? Double.NaN : sum / validRows;
    }

    public double meanEntropy() { return mean(sumEntropy); }
    public double meanClampedEntropy() { return mean(sumClampedEntropy); }
    /** TRL's clip_ratio/low_mean. */
    public double clipLowFraction() { return mean(clipLow); }
    /** TRL's clip_ratio/high_mean. */
    public double clipHighFraction() { return mean(clipHigh); }
    /** verl's pg_clipfrac_lower. */
    public double dualClipFraction() { return mean(dualClip); }
    public double ratioClampedFraction() { return mean(ratioClamped); }
    public double meanRatio() { return mean(sumRatio); }
    public double approxKl() { return mean(sumApproxKl); }
    public double meanKl() { return mean(sumKl); }
}
