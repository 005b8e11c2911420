package io.policyloss.control;

import io.policyloss.loss.KlEstimator;

/**
 * One row's KL estimator as the kernel's {@code row_loss.hpp} computes it, in double, at log-prob logp against the
 * reference's: its value, the gradient the kernel takes through it (k2's for the straight-through K1_PLUS and
 * K3_PLUS) and the two summed, the gradient of r kl over r. Read by the weighted KL at ratio 1
 * ({@link RatioOneKlBiasCorrection}) and, by its value, the KL in the reward ({@link KlInReward}).
 */
record KlTerm(double kl, double gradient, double klPlusGradient) {
    static KlTerm of(KlEstimator estimator, double logp, double refLogp) {
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
        return new KlTerm(kl, gradient, kl + gradient);
    }
}
