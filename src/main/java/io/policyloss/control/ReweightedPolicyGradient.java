package io.policyloss.control;

import io.policyloss.loss.LossMetrics;

/**
 * A surrogate whose gradient is the policy gradient reweighted token by token: -c(r_t, A_t) A_t grad logp_t, the
 * weight c held constant (CISPO's clipped importance weight, SAPO's soft gate's slope), where PPO's clipped loss
 * has -A_t r_t grad logp_t inside its clip range and 0 outside.
 *
 * <p>The kernel computes it at ratio 1. With old_logp = logp ({@link ImportanceRatios#oldLogpAtRatioOne}), d = 0
 * and r = 1 exactly, which no clip range clips (the tie counts as unclipped, and the dual clip's c &gt; 1 is
 * inactive), so the kernel's pg gradient is -A' grad logp: the advantage A' = c A ({@link #advantages}) gives the
 * surrogate's gradient, and the KL and entropy terms stay as they were. Not with Entropy-Adv (entropy_adv_beta &gt;
 * 0), which shapes the advantage by its size: the weight would reach the shaping too. The ratios r_t are
 * {@link ImportanceRatios#token} or {@link ImportanceRatios#sequence}, from a first call without a gradient.
 *
 * <p>That call's metrics see r = 1 on these rows: {@link #metricsCorrection} adds what they miss.
 */
public sealed interface ReweightedPolicyGradient extends Surrogate permits Cispo, Sapo {
    /** c: the constant weight of the token's policy gradient, -c A grad logp. */
    double weight(double ratio, double advantage);

    /** The surrogate's own loss of one token, whose gradient is -c A grad logp (its value as TRL logs it). */
    double tokenLoss(double ratio, double advantage, double logp);

    /** A token this surrogate counts as clipped low (TRL's and verl's names); none for a smooth one. */
    boolean clippedLow(double ratio, double advantage);

    /** A token this surrogate counts as clipped high. */
    boolean clippedHigh(double ratio, double advantage);

    /** Each counted row's advantage times its {@link #weight}, for the kernel at ratio 1; padding rows as given. */
    default float[] advantages(float[] advantage, double[] ratio, float[] mask) {
        RowArrays.mask(mask);
        RowArrays.sameLength(advantage, "advantage", mask.length, "mask");
        RowArrays.sameLength(ratio, "ratio", mask.length, "mask");
        float[] out = advantage.clone();
        for (int i = 0; i < mask.length; ++i) {
            if (mask[i] == 0) continue;
            RowArrays.finite(advantage[i], "advantage", i);
            out[i] = (float) (weight(ratio[i], advantage[i]) * advantage[i]);
        }
        return out;
    }

    /**
     * What the kernel's metrics miss on the rows it ran at ratio 1 ({@link RatioOneMetrics}), to add to that call's:
     * arguments as before {@link #advantages} and {@link ImportanceRatios#oldLogpAtRatioOne}, weight the kernel's
     * aggregation weights.
     */
    default LossMetrics metricsCorrection(float[] advantage, double[] ratio, float[] logp, float[] oldLogp,
            float[] weight, float[] mask) {
        RowArrays.sameLength(advantage, "advantage", mask.length, "mask");
        return RatioOneMetrics.correction(
                i -> tokenLoss(ratio[i], advantage[i], logp[i]) + weight(ratio[i], advantage[i]) * advantage[i],
                i -> clippedLow(ratio[i], advantage[i]), i -> clippedHigh(ratio[i], advantage[i]),
                ratio, logp, oldLogp, weight, mask);
    }
}
