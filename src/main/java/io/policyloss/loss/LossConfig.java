package io.policyloss.loss;

import com.fasterxml.jackson.databind.annotation.JsonDeserialize;
import com.fasterxml.jackson.databind.annotation.JsonPOJOBuilder;

/**
 * The hyper-parameters of the fused loss (SPEC section 1), immutable and validated on construction. Read and
 * written as JSON or YAML with {@link ConfigIO}; fields missing from a file keep the defaults of {@link #builder()}.
 *
 * @param epsLow clip-low epsilon: the ratio is clipped below at 1 - epsLow for negative advantages (&gt;= 0)
 * @param epsHigh clip-high epsilon: clipped above at 1 + epsHigh for positive advantages (&gt;= 0; +Infinity = none)
 * @param dualClipC the dual-clip bound c &gt; 1 for negative advantages; 0 disables it
 * @param klCoef beta, the weight of the KL to the reference policy (needs ref_logp when != 0)
 * @param klEstimator k1, k2, k3, verl's straight-through k1+ and k3+ (their values, k2's gradient), or verl's abs
 * @param entropyCoef lambda_H, the token-entropy bonus (Entropy-Reg)
 * @param clampedEntropyCoef lambda_C, the clamped-entropy bonus (AEnt)
 * @param clampP the fraction p in [0, 1) that clamped entropy drops; 0 makes it the plain entropy
 * @param clampMode which tokens clamped entropy keeps
 * @param entropyAdvBeta Entropy-Adv shaping strength (&gt;= 0; 0 = off)
 * @param entropyAdvKappa Entropy-Adv cap divisor kappa &gt; 1
 * @param gradScale the upstream gradient g of L
 * @param logitScale s &gt; 0, multiplies the raw logits
 * @param softcap c_s &gt; 0 caps logits as c_s tanh(z / c_s); 0 disables it
 * @param temperature the temperature of every row when no per-row temperatures are given (&gt; 0)
 * @param klBiasCorrection the KL term weighted by the row's ratio r, r kl with r not held constant: DeepSeek-V3.2's
 *     unbiased KL estimate, TRL's {@code use_bias_correction_kl}; the KL metrics then hold r kl
 */
@JsonDeserialize(builder = LossConfig.Builder.class)
public record LossConfig(
        double epsLow,
        double epsHigh,
        double dualClipC,
        double klCoef,
        KlEstimator klEstimator,
        double entropyCoef,
        double clampedEntropyCoef,
        double clampP,
        ClampMode clampMode,
        double entropyAdvBeta,
        double entropyAdvKappa,
        double gradScale,
        double logitScale,
        double softcap,
        double temperature,
        boolean klBiasCorrection) {

    public LossConfig {
        requireThat(epsLow >= 0 && Double.isFinite(epsLow), "epsLow", "must be finite and >= 0", epsLow);
        requireThat(epsHigh >= 0, "epsHigh", "must be >= 0 (Infinity disables clip-high)", epsHigh);
        requireThat(dualClipC == 0 || dualClipC > 1, "dualClipC", "must be > 1 when enabled (0 disables it)", dualClipC);
        requireThat(Double.isFinite(klCoef), "klCoef", "must be finite", klCoef);
        if (klEstimator == null) throw new IllegalArgumentException("klEstimator: must not be null");
        requireThat(Double.isFinite(entropyCoef), "entropyCoef", "must be finite", entropyCoef);
        requireThat(Double.isFinite(clampedEntropyCoef), "clampedEntropyCoef", "must be finite", clampedEntropyCoef);
        requireThat(clampP >= 0 && clampP < 1, "clampP", "must be in [0, 1)", clampP);
        if (clampMode == null) throw new IllegalArgumentException("clampMode: must not be null");
        requireThat(entropyAdvBeta >= 0 && Double.isFinite(entropyAdvBeta), "entropyAdvBeta", "must be finite and >= 0",
                entropyAdvBeta);
        requireThat(entropyAdvKappa > 1, "entropyAdvKappa", "must be > 1", entropyAdvKappa);
        requireThat(Double.isFinite(gradScale), "gradScale", "must be finite", gradScale);
        requireThat(logitScale > 0 && Double.isFinite(logitScale), "logitScale", "must be finite and > 0", logitScale);
        requireThat(softcap == 0 || (softcap > 0 && Double.isFinite(softcap)), "softcap",
                "must be finite and > 0 when enabled (0 disables it)", softcap);
        requireThat(temperature > 0 && Double.isFinite(temperature), "temperature", "must be finite and > 0",
                temperature);
    }

    private static void requireThat(boolean ok, String name, String rule, double value) {
        if (!ok) throw new IllegalArgumentException(name + ": " + rule + ", got " + value);
    }

    /** The defaults: symmetric clip 0.2, no dual clip, no KL, no entropy terms, temperature 1. */
    public static LossConfig defaults() {
        return builder().build();
    }

    public static Builder builder() {
        return new Builder();
    }

    public Builder toBuilder() {
        return new Builder().epsLow(epsLow).epsHigh(epsHigh).dualClipC(dualClipC).klCoef(klCoef)
                .klEstimator(klEstimator).entropyCoef(entropyCoef).clampedEntropyCoef(clampedEntropyCoef)
                .clampP(clampP).clampMode(clampMode).entropyAdvBeta(entropyAdvBeta).entropyAdvKappa(entropyAdvKappa)
                .gradScale(gradScale).logitScale(logitScale).softcap(softcap).temperature(temperature)
                .klBiasCorrection(klBiasCorrection);
    }

    /** Fields start at the defaults; {@link #build()} validates. */
    @JsonPOJOBuilder(withPrefix = "")
    public static final class Builder {
        private double epsLow = 0.2, epsHigh = 0.2, dualClipC = 0, klCoef = 0;
        private KlEstimator klEstimator = KlEstimator.K3;
        private double entropyCoef = 0, clampedEntropyCoef = 0, clampP = 0;
        private ClampMode clampMode = ClampMode.TOKEN_FRACTION;
        private double entropyAdvBeta = 0, entropyAdvKappa = 2, gradScale = 1, logitScale = 1, softcap = 0;
        private double temperature = 1;
        private boolean klBiasCorrection = false;

        public Builder epsLow(double v) { epsLow = v; return this; }
        public Builder epsHigh(double v) { epsHigh = v; return this; }
        public Builder dualClipC(double v) { dualClipC = v; return this; }
        public Builder klCoef(double v) { klCoef = v; return this; }
        public Builder klEstimator(KlEstimator v) { klEstimator = v; return this; }
        public Builder entropyCoef(double v) { entropyCoef = v; return this; }
        public Builder clampedEntropyCoef(double v) { clampedEntropyCoef = v; return this; }
        public Builder clampP(double v) { clampP = v; return this; }
        public Builder clampMode(ClampMode v) { clampMode = v; return this; }
        public Builder entropyAdvBeta(double v) { entropyAdvBeta = v; return this; }
        public Builder entropyAdvKappa(double v) { entropyAdvKappa = v; return this; }
        public Builder gradScale(double v) { gradScale = v; return this; }
        public Builder logitScale(double v) { logitScale = v; return this; }
        public Builder softcap(double v) { softcap = v; return this; }
        public Builder temperature(double v) { temperature = v; return this; }
        public Builder klBiasCorrection(boolean v) { klBiasCorrection = v; return this; }

        public LossConfig build() {
            return new LossConfig(epsLow, epsHigh, dualClipC, klCoef, klEstimator, entropyCoef, clampedEntropyCoef,
                    clampP, clampMode, entropyAdvBeta, entropyAdvKappa, gradScale, logitScale, softcap, temperature,
                    klBiasCorrection);
        }
    }
}
