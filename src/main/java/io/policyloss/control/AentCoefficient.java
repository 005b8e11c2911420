package io.policyloss.control;

/**
 * AEnt's adaptive clamped-entropy coefficient (seed 001, Eq. 4.1; SPEC section 7), applied once per global step
 * from {@code startStep} on:
 * lambda &lt;- clip(lambda - beta min(Hc - Hc_low, 0) + beta min(Hc_high - Hc, 0), lambda_low, lambda_high).
 * Below the band the coefficient grows (more entropy bonus); above it, it shrinks. Immutable: {@link #update}
 * returns the next state.
 *
 * @param lambda the current coefficient
 * @param beta the step size
 * @param low Hc_low, the bottom of the clamped-entropy band
 * @param high Hc_high, the top of the band
 * @param lambdaLow the smallest coefficient
 * @param lambdaHigh the largest coefficient
 * @param startStep the first global step that updates lambda
 */
public record AentCoefficient(double lambda, double beta, double low, double high, double lambdaLow, double lambdaHigh,
        long startStep) {
    public AentCoefficient {
        finite(lambda, "lambda");
        finite(beta, "beta");
        finite(low, "low");
        finite(high, "high");
        finite(lambdaLow, "lambdaLow");
        finite(lambdaHigh, "lambdaHigh");
        if (beta < 0) throw new IllegalArgumentException("beta: must be >= 0, got " + beta);
        if (high < low) throw new IllegalArgumentException("high: must be >= low (" + low + "), got " + high);
        if (lambdaHigh < lambdaLow)
            throw new IllegalArgumentException("lambdaHigh: must be >= lambdaLow (" + lambdaLow + "), got "
                    + lambdaHigh);
        if (lambda < lambdaLow || lambda > lambdaHigh)
            throw new IllegalArgumentException("lambda: must be in [lambdaLow, lambdaHigh] = [" + lambdaLow + ", "
                    + lambdaHigh + "], got " + lambda);
    }

    private static void finite(double v, String name) {
        if (!Double.isFinite(v)) throw new IllegalArgumentException(name + ": must be finite, got " + v);
    }

    /** The state after global step {@code step}, whose batch had mean clamped entropy {@code clampedEntropy}. */
    public AentCoefficient update(long step, double clampedEntropy) {
        finite(clampedEntropy, "clampedEntropy");
        if (step < startStep) return this;
        double next = lambda - beta * Math.min(clampedEntropy - low, 0) + beta * Math.min(high - clampedEntropy, 0);
        next = Math.min(Math.max(next, lambdaLow), lambdaHigh);
        return new AentCoefficient(next, beta, low, high, lambdaLow, lambdaHigh, startStep);
    }
}
