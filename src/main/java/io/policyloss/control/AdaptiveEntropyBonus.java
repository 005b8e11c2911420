package io.policyloss.control;

/**
 * TRL's adaptive entropy bonus ({@code GRPOConfig.use_adaptive_entropy}, {@code entropy_coef}, {@code entropy_target},
 * {@code entropy_coef_delta}, {@code entropy_coef_min}, {@code entropy_coef_max}): the Entropy-Reg term
 * -coefficient H of the loss, switched on only while the policy's mean token entropy is at or below a target, its
 * coefficient walking up by delta after each optimizer step whose tokens' entropy was at or below the target and down
 * by delta after each one above it, within [min, max]. It engages once entropy has collapsed to the target and grows
 * for as long as it stays there, where AEnt's coefficient ({@link AentCoefficient}) moves with the clamped entropy's
 * distance from a band. Immutable: {@link #update} returns the next state.
 *
 * <p>TRL's order within a step: the term applies the state left by the previous optimizer step ({@link #applied}),
 * and the step's own tokens then update it. Before any measurement the bonus is off, TRL's too (its bonus "only
 * engages once entropy is at or below the target"). TRL takes H as a token mean whatever its loss type; the kernel's
 * entropy term is weighted by the aggregation weights, as verl's {@code entropy_coeff} term is: the same with
 * {@code TOKEN_MEAN}, the sequence-level mean under the other modes.
 *
 * @param coefficient the coefficient, applied while engaged (TRL's entropy_coef, its start value: 0); in [min, max]
 * @param target the mean token entropy in nats at or below which the bonus engages (TRL: 0.2, "near-complete
 *     collapse"; TRL advises a value near the entropy early in training), finite
 * @param delta the coefficient's step per optimizer step (TRL: 0.005), finite and &gt;= 0
 * @param min the smallest coefficient (TRL: 0), finite
 * @param max the largest coefficient (TRL: 1), finite and &gt;= min
 * @param engaged whether the last measured entropy was at or below the target (false before any measurement)
 */
public record AdaptiveEntropyBonus(double coefficient, double target, double delta, double min, double max,
        boolean engaged) {
    public AdaptiveEntropyBonus {
        finite(target, "target");
        finite(delta, "delta");
        finite(min, "min");
        finite(max, "max");
        finite(coefficient, "coefficient");
        if (delta < 0) throw new IllegalArgumentException("delta: must be >= 0, got " + delta);
        if (max < min) throw new IllegalArgumentException("max: must be >= min (" + min + "), got " + max);
        if (coefficient < min || coefficient > max)
            throw new IllegalArgumentException("coefficient: must be in [min, max] = [" + min + ", " + max + "], got "
                    + coefficient);
    }

    /** TRL's defaults but the target: a coefficient from 0, steps of 0.005, within [0, 1]. */
    public static AdaptiveEntropyBonus trl(double target) {
        return new AdaptiveEntropyBonus(0, target, 0.005, 0, 1, false);
    }

    private static void finite(double v, String name) {
        if (!Double.isFinite(v)) throw new IllegalArgumentException(name + ": must be finite, got " + v);
    }

    /** The Entropy-Reg coefficient of the next optimizer step's loss: the coefficient while engaged, else 0. */
    public double applied() {
        return engaged ? coefficient : 0;
    }

    /**
     * The state after an optimizer step whose tokens' mean entropy was {@code entropy} (the policy's, as the step's
     * loss computed it: {@code LossMetrics.meanEntropy}, summed over every micro-batch and rank of the step).
     */
    public AdaptiveEntropyBonus update(double entropy) {
        finite(entropy, "entropy");
        boolean atOrBelow = entropy <= target;
        double next = atOrBelow ? Math.min(coefficient + delta, max) : Math.max(coefficient - delta, min);
        return new AdaptiveEntropyBonus(next, target, delta, min, max, atOrBelow);
    }
}
