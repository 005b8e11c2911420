package io.policyloss.control;

import io.policyloss.loss.AggregationWeights;
import io.policyloss.loss.LossConfig;
import io.policyloss.loss.LossMetrics;

/**
 * The KL term weighted by the ratio ({@link LossConfig#klBiasCorrection}: TRL's {@code use_bias_correction_kl},
 * {@code per_token_kl * coef_1}, DeepSeek-V3.2's unbiased estimate) for the objectives the kernel runs at ratio 1
 * (CISPO, SAPO, KL-Cov, GMPO, VESPO, DPPO, and GSPO under this term: {@link PpoClipAtRatioOne}). There the kernel
 * weights the term by its own ratio, exactly 1: its value is kl and its gradient beta (kl + dkl/dlogp) grad logp.
 * TRL's term is beta r kl, r not held constant: the token's own ratio, or at the sequence level (sequenceRatio) its
 * sequence's s_i, whose derivative s_i / |y_i| in each counted token's logp spreads the gradient of the sequence's sum
 * of w_u kl_u over all its tokens. The pg term at ratio 1 is never clipped and its gradient is -A' grad logp, so the
 * advantage carries the difference ({@link #of}) and the metrics correction puts the loss and the KL back as TRL logs
 * them. TRL adds the term after any mask and rollout weight of the pg term, as here: these advantages come after them.
 */
final class RatioOneKlBiasCorrection {
    private RatioOneKlBiasCorrection() {}

    /**
     * The rows with the weighted term: each counted row's advantage less beta times the gradient the kernel misses
     * there, and what the kernel's metrics miss, the KL sum as r kl and the loss as beta r kl without what the
     * advantage carried into the kernel's pg loss (-A'). Padding rows keep their advantage.
     *
     * <p>The gradient missed, per unit of the row's aggregation weight w_t (the kernel multiplies its pg term by it):
     * r_t dkl_t/dlogp_t, plus r's own derivative times the KL it weights, r_t kl_t for a token's own ratio and
     * s_i / |y_i| (sum over the sequence's counted rows u of w_u kl_u) / w_t for its sequence's (0 where the ratio is
     * clamped: it takes no gradient, as in the kernel), less the kernel's kl_t + dkl_t/dlogp_t.
     *
     * @param ratio each row's ratio ({@link ImportanceRatios#token} or {@link ImportanceRatios#sequence})
     * @param clamped whether each row's ratio is clamped ({@link ImportanceRatios#clamped(float[], float[], float[],
     *     int[])}, with the same sequenceOf)
     * @param weight the kernel's aggregation weights; above 0 on every counted row with sequenceOf
     * @param sequenceOf each row's sequence where the ratio is its sequence's; null where it is each token's own
     */
    static RatioOneMetrics.Rows of(LossConfig config, float[] advantage, double[] ratio, boolean[] clamped,
            float[] logp, float[] refLogp, float[] weight, float[] mask, int[] sequenceOf) {
        RowArrays.sameLength(ratio, "ratio", mask.length, "mask");
        RowArrays.sameLength(weight, "weight", mask.length, "mask");
        RowArrays.finiteWhereCounted(mask, new String[] {"advantage", "logp", "refLogp"}, advantage, logp, refLogp);
        KlTerm[] term = new KlTerm[mask.length];
        // Each sequence's sum of w_u kl_u and its counted rows; with token ratios, each row is its own sequence.
        double[] weightedKl = null, tokens = null;
        if (sequenceOf != null) {
            int sequences = (int) AggregationWeights.Totals.of(mask, sequenceOf).sequences();
            weightedKl = new double[sequences];
            tokens = new double[sequences];
        }
        for (int i = 0; i < mask.length; ++i) {
            if (mask[i] == 0) continue;
            term[i] = KlTerm.of(config.klEstimator(), logp[i], refLogp[i]);
            if (sequenceOf == null) continue;
            if (!(weight[i] > 0))
                throw new IllegalArgumentException("weight: row " + i + ": must be > 0 on a counted row (mask 1), "
                        + "got " + weight[i] + ": the KL weighted by the sequence's ratio takes its gradient into "
                        + "every counted token through its weight");
            weightedKl[sequenceOf[i]] += weight[i] * term[i].kl();
            tokens[sequenceOf[i]] += 1;
        }
        float[] out = advantage.clone();
        double beta = config.klCoef(), loss = 0, kl = 0;
        for (int i = 0; i < mask.length; ++i) {
            if (mask[i] == 0) continue;
            KlTerm t = term[i];
            double ratioOwn = clamped[i] ? 0 : sequenceOf == null ? ratio[i] * t.kl()
                    : ratio[i] * weightedKl[sequenceOf[i]] / (tokens[sequenceOf[i]] * weight[i]);
            double missing = ratio[i] * t.gradient() + ratioOwn - t.klPlusGradient();
            out[i] = (float) (advantage[i] - beta * missing);
            loss += weight[i] * beta * ((ratio[i] - 1) * t.kl() - missing);
            kl += (ratio[i] - 1) * t.kl();
        }
        return new RatioOneMetrics.Rows(out, new LossMetrics(loss, 0, 0, 0, 0, 0, 0, 0, 0, 0, kl, 0));
    }
}
