package io.policyloss.loss;

import io.policyloss.oracle.Oracle;
import java.util.Random;

/**
 * A kernel-versus-oracle case: its shape and features, and fresh random inputs for it. Inputs are made in the
 * logits dtype and decoded exactly for the oracle; old_logp is placed relative to the oracle's logp so that each
 * clip regime is hit on purpose and far from its boundary.
 */
public record RandomCase(String name, int rows, int vocab, int stride, Dtype dtype, boolean target64, LossConfig config,
        double maskFraction, int tieLevels, boolean perRowTemperature, double zeroWeightFraction, Gradient gradient,
        boolean withRef, double peakGap, double offset) {

    /** How the gradient is asked for. */
    public enum Gradient { F32, LOGITS_DTYPE, IN_PLACE, NONE }

    /** log r offsets: ratio clamp, clip-low side, unclipped, clip-high side, dual-clip range (c = 3). */
    private static final double[] LOG_RATIO = {-25, -0.9, -0.35, -0.05, 0, 0.08, 0.4, 1.6, 25};

    public static RandomCase of(String name, int rows, int vocab, Dtype dtype, LossConfig config) {
        return new RandomCase(name, rows, vocab, vocab, dtype, false, config, 0, 0, false, 0, Gradient.F32, false, 0, 0);
    }

    public RandomCase stride(int s) { return new RandomCase(name, rows, vocab, s, dtype, target64, config, maskFraction, tieLevels, perRowTemperature, zeroWeightFraction, gradient, withRef, peakGap, offset); }
    public RandomCase withInt64Targets() { return new RandomCase(name, rows, vocab, stride, dtype, true, config, maskFraction, tieLevels, perRowTemperature, zeroWeightFraction, gradient, withRef, peakGap, offset); }
    public RandomCase masked(double f) { return new RandomCase(name, rows, vocab, stride, dtype, target64, config, f, tieLevels, perRowTemperature, zeroWeightFraction, gradient, withRef, peakGap, offset); }
    public RandomCase ties(int levels) { return new RandomCase(name, rows, vocab, stride, dtype, target64, config, maskFraction, levels, perRowTemperature, zeroWeightFraction, gradient, withRef, peakGap, offset); }
    public RandomCase withPerRowTemperature() { return new RandomCase(name, rows, vocab, stride, dtype, target64, config, maskFraction, tieLevels, true, zeroWeightFraction, gradient, withRef, peakGap, offset); }
    public RandomCase zeroWeights(double f) { return new RandomCase(name, rows, vocab, stride, dtype, target64, config, maskFraction, tieLevels, perRowTemperature, f, gradient, withRef, peakGap, offset); }
    public RandomCase gradient(Gradient g) { return new RandomCase(name, rows, vocab, stride, dtype, target64, config, maskFraction, tieLevels, perRowTemperature, zeroWeightFraction, g, withRef, peakGap, offset); }
    public RandomCase withRefLogp() { return new RandomCase(name, rows, vocab, stride, dtype, target64, config, maskFraction, tieLevels, perRowTemperature, zeroWeightFraction, gradient, true, peakGap, offset); }
    /** A row as a confident model's: one token in a hundred {@code gap} above the rest, which then hold little mass. */
    public RandomCase peaked(double gap) { return new RandomCase(name, rows, vocab, stride, dtype, target64, config, maskFraction, tieLevels, perRowTemperature, zeroWeightFraction, gradient, withRef, gap, offset); }
    /** Every drawn logit moved by {@code d}: e.g. far past a softcap, where tanh saturates. */
    public RandomCase offset(double d) { return new RandomCase(name, rows, vocab, stride, dtype, target64, config, maskFraction, tieLevels, perRowTemperature, zeroWeightFraction, gradient, withRef, peakGap, d); }

    @Override
    public String toString() {
        return name;
    }

    /** Inputs for the kernel and the same inputs, decoded, for the oracle. */
    public record Generated(LossBatch batch, Oracle.Inputs inputs, float[] logitsF32, short[] logits16) {}

    public Generated generate(long seed) {
        Random rnd = new Random(seed);
        int elems = (rows - 1) * stride + vocab;
        float[] f32 = dtype == Dtype.F32 ? new float[Math.max(elems, 0)] : null;
        short[] h16 = dtype == Dtype.F32 ? null : new short[Math.max(elems, 0)];
        double[][] z = new double[rows][vocab];
        long[] target = new long[rows];
        double[] weight = new double[rows], adv = new double[rows], temp = perRowTemperature ? new double[rows] : null;
        for (int i = 0; i < rows; ++i) {
            boolean padding = rnd.nextDouble() < zeroWeightFraction;
            weight[i] = padding ? 0 : (float) (0.1 + 0.9 * rnd.nextDouble());
            adv[i] = (float) rnd.nextGaussian();
            if (temp != null) temp[i] = (float) (0.5 + rnd.nextDouble());
            for (int v = 0; v < vocab; ++v) {
                float value;
                if (padding) value = Float.NaN;  // padding rows must never be read
                else if (v > 0 && rnd.nextDouble() < maskFraction) value = Float.NEGATIVE_INFINITY;
                else if (tieLevels > 0) {
                    value = rnd.nextInt(tieLevels) - tieLevels / 2;
                    if (value == 0 && rnd.nextBoolean()) value = -0.0f;  // -0 and +0 are one value: a tie
                }
                else value = (float) (offset + 2.0 * rnd.nextGaussian()
                        + (peakGap > 0 && rnd.nextDouble() < 0.01 ? peakGap : 0));
                z[i][v] = store(f32, h16, i * stride + v, value);
            }
            // The gap between rows holds NaN in the case's dtype: never read; a kernel that read it would report NaN.
            for (int v = vocab; v < stride && i < rows - 1; ++v) store(f32, h16, i * stride + v, Float.NaN);
            if (!padding && boundaryWithinRounding(z[i], temp != null ? temp[i] : (float) config.temperature())) {
                padding = true;
                weight[i] = 0;
                for (int v = 0; v < vocab; ++v) z[i][v] = store(f32, h16, i * stride + v, Float.NaN);
            }
            if (padding) {
                target[i] = -100;
            } else {
                int t;
                do t = rnd.nextInt(vocab); while (z[i][t] == Double.NEGATIVE_INFINITY);
                target[i] = t;
            }
        }
        // old_logp relative to the true logp (one oracle pass without the clamp), so each regime is hit on purpose.
        double[] zeros = new double[rows];
        Oracle.Inputs probe = new Oracle.Inputs(z, target, zeros, null, zeros, weight, temp);
        Oracle.Output truth = Oracle.compute(config.toBuilder().clampP(0).build(), probe);
        double[] oldLogp = new double[rows], refLogp = withRef ? new double[rows] : null;
        for (int i = 0; i < rows; ++i) {
            if (weight[i] == 0) {
                oldLogp[i] = Float.NaN;  // never read
                continue;
            }
            double logp = truth.rows()[i].logp();
            oldLogp[i] = (float) (logp - LOG_RATIO[rnd.nextInt(LOG_RATIO.length)]);
            if (refLogp != null) refLogp[i] = (float) (logp + 0.5 * rnd.nextGaussian());
        }
        LossBatch batch = f32 != null ? LossBatch.f32(f32, rows, vocab, stride) : LossBatch.halves(dtype, h16, rows, vocab, stride);
        if (target64) batch.target(target);
        else batch.target(toInts(target));
        batch.oldLogp(toFloats(oldLogp)).advantage(toFloats(adv)).weight(toFloats(weight));
        if (refLogp != null) batch.refLogp(toFloats(refLogp));
        if (temp != null) batch.temperature(toFloats(temp));
        switch (gradient) {
            case F32 -> batch.gradient(Dtype.F32);
            case LOGITS_DTYPE -> batch.gradient(dtype);
            case IN_PLACE -> batch.gradientInPlace();
            case NONE -> batch.noGradient();
        }
        return new Generated(batch, new Oracle.Inputs(z, target, oldLogp, refLogp, adv, weight, temp), f32, h16);
    }

    /** A logit into the buffer of the case's dtype; returns what the kernel reads there, which the oracle gets. */
    private double store(float[] f32, short[] h16, int k, float value) {
        if (f32 != null) return f32[k] = value;
        h16[k] = HalfFloats.fromFloat(dtype, value);
        return HalfFloats.toFloat(dtype, h16[k]);
    }

    /**
     * Whether a PROBABILITY_MASS row's S is a rounding choice: the mass to cover within 1e-6 of the row's mass at or
     * above a value ({@link Oracle#massBoundaryDistance}). A float kernel takes its exponentials with its own
     * rounding and may keep one value more there, which on a row of a few hundred tokens moves the gradient past the
     * comparison's tolerance. Such a row becomes padding, as in the C++ tests' cases: over 200 seeds, 0.2% of the
     * masked fp16 case's rows and 0.6% of the everything-on case's.
     */
    private boolean boundaryWithinRounding(double[] zRow, double tau) {
        return config.clampMode() == ClampMode.PROBABILITY_MASS && config.clampP() > 0
                && Oracle.massBoundaryDistance(config, zRow, tau) < 1e-6;
    }

    static float[] toFloats(double[] a) {
        float[] out = new float[a.length];
        for (int i = 0; i < a.length; ++i) out[i] = (float) a[i];
        return out;
    }

    static int[] toInts(long[] a) {
        int[] out = new int[a.length];
        for (int i = 0; i < a.length; ++i) out[i] = (int) a[i];
        return out;
    }
}
