package io.policyloss.control;

import io.policyloss.loss.KlEstimator;
import io.policyloss.loss.LossConfig;
import io.policyloss.loss.LossMetrics;

/**
 * The KL term weighted by the token's ratio ({@link LossConfig#klBiasCorrection}: TRL's {@code
 * use_bias_correction_kl}, {@code per_token_kl * coef_1}, DeepSeek-V3.2's unbiased estimate) for the objectives the
 * kernel runs at ratio 1 (CISPO, SAPO, KL-Cov, GMPO, VESPO, DPPO). There the kernel weights the term by its own ratio,
 * exactly 1: its value is kl and its gradient beta (kl + dkl/dlogp) grad logp, where the token's ratio r gives
 * beta r kl and beta r (kl + dkl/dlogp) (beta r dkl/dlogp where r is clamped, as the kernel takes it). The pg term at
 * ratio 1 is never clipped and its gradient is -A' grad logp, so the advantage A' - beta (r (kl + dkl/dlogp) - (kl +
 * dkl/dlogp)) carries the difference ({@link #advantages}); the metrics correction puts the loss and the KL back as TRL
 * logs them ({@link #metricsCorrection}). TRL adds the term after any mask and rollout weight of the pg term, as here:
 * these advantages come after them.
 */
final class RatioOneKlBiasCorrection {
    private RatioOneKlBiasCorrection() {}

    /**
     * One row's estimator as the kernel's {@code row_loss.hpp} computes it, in double: its value, the gradient the
     * kernel takes through it (k2's for the straight-through K1_PLUS and K3_PLUS) and the two summed, the gradient of
     * r kl over r.
     */
    record Term(double kl, double gradient, double klPlusGradient) {
        static Term of(KlEstimator estimator, double logp, double refLogp) {
            double delta = refLogp - logp, kl, gradient;
            switch (estimator) {
                case K1, K1_PLUS -> {
                    kl = logp - refLogp;
                    gradient = 1;
                }
                case K2 -> {
                    kl = delta * delta / 2;
                    gradient = -delta;
                }
                case ABS -> {
                    kl = Math.abs(delta);
                    gradient = Math.signum(logp - refLogp);
                }
                default -> {  // K3 and K3_PLUS: clamped to [-10, 10], no gradient where the clamp is active
                    double raw = Math.expm1(delta) - delta;
                    kl = Math.min(Math.max(raw, -10), 10);
                    gradient = raw >= -10 && raw <= 10 ? -Math.expm1(delta) : 0;
                }
            }
            if (estimator == KlEstimator.K1_PLUS || estimator == KlEstimator.K3_PLUS) gradient = -delta;
            return new Term(kl, gradient, kl + gradient);
        }

        /**
         * d(r kl)/dlogp, r (kl + dkl/dlogp) (r dkl/dlogp where r is clamped: it takes no gradient), less the kernel's
         * at ratio 1, kl + dkl/dlogp.
         */
        double missingGradient(double ratio, double logp, double oldLogp) {
            return ratio * (ImportanceRatios.clamped(logp, oldLogp) ? gradient : klPlusGradient) - klPlusGradient;
        }
    }

    /**
     * A' with the weighted KL term's missing gradient, on each counted row; padding rows as given.
     *
     * @param ratio each row's ratio, exp(clamp(logp - oldLogp, -20, 20)) ({@link ImportanceRatios#token})
     * @param oldLogp the old log-probs as they came, before the rows were moved to ratio 1
     */
    static float[] advantages(LossConfig config, float[] advantage, double[] ratio, float[] logp, float[] oldLogp,
            float[] refLogp, float[] mask) {
        checkRows(ratio, logp, oldLogp, refLogp, mask);
        float[] out = advantage.clone();
        for (int i = 0; i < mask.length; ++i) {
            if (mask[i] == 0) continue;
            Term t = Term.of(config.klEstimator(), logp[i], refLogp[i]);
            out[i] = (float) (advantage[i] - config.klCoef() * t.missingGradient(ratio[i], logp[i], oldLogp[i]));
        }
        return out;
    }

    /**
     * What the kernel's metrics miss with {@link #advantages}' rows: the KL sum as r kl, and the loss less the
     * missing gradient the advantage carried into the kernel's pg loss (-A'), plus beta (r - 1) kl. Arguments as
     * {@link #advantages}', weight the kernel's aggregation weights.
     */
    static LossMetrics metricsCorrection(LossConfig config, double[] ratio, float[] logp, float[] oldLogp,
            float[] refLogp, float[] weight, float[] mask) {
        checkRows(ratio, logp, oldLogp, refLogp, mask);
        RowArrays.sameLength(weight, "weight", mask.length, "mask");
        double loss = 0, kl = 0;
        for (int i = 0; i < mask.length; ++i) {
            if (mask[i] == 0) continue;
            Term t = Term.of(config.klEstimator(), logp[i], refLogp[i]);
            loss += weight[i] * config.klCoef()
                    * ((ratio[i] - 1) * t.kl() - t.missingGradient(ratio[i], logp[i], oldLogp[i]));
            kl += (ratio[i] - 1) * t.kl();
        }
        return new LossMetrics(loss, 0, 0, 0, 0, 0, 0, 0, 0, 0, kl, 0);
    }

    private static void checkRows(double[] ratio, float[] logp, float[] oldLogp, float[] refLogp, float[] mask) {
        RowArrays.sameLength(ratio, "ratio", mask.length, "mask");
        RowArrays.finiteWhereCounted(mask, new String[] {"logp", "oldLogp", "refLogp"}, logp, oldLogp, refLogp);
    }
}
