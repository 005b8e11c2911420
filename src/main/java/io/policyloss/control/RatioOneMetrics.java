package io.policyloss.control;

import io.policyloss.loss.LossMetrics;
import java.util.function.IntPredicate;
import java.util.function.IntToDoubleFunction;

/**
 * What the kernel's metrics miss on the counted rows it ran at ratio 1 ({@link ReweightedPolicyGradient},
 * {@link KlCov}): it saw r = 1, no clip, old_logp - logp = 0 and the pg loss -A' for the advantage A' it was given.
 * The correction, added to that call's metrics ({@link LossMetrics#plus}), puts back each row's ratio - 1, its
 * oldLogp - logp, the surrogate's clipped counts, and weight times (its own token loss + A'); the ratios clamped come
 * from {@link #ratiosClamped}.
 */
final class RatioOneMetrics {
    private RatioOneMetrics() {}

    /** Rows moved to ratio 1 in one pass: the advantages the kernel is given, and what its metrics miss with them. */
    record Rows(float[] advantage, LossMetrics correction) {}

    /**
     * The counted rows whose log-ratio the objective's own ratio clamps to [-20, 20] ({@link
     * ImportanceRatios#clamped(float[], float[], float[], int[])}), which the kernel counts (its ratio-clamped sum)
     * where it computes the ratio, and at ratio 1 does not.
     */
    static LossMetrics ratiosClamped(boolean[] clamped) {
        double count = 0;
        for (boolean c : clamped) count += c ? 1 : 0;
        return new LossMetrics(0, 0, 0, 0, 0, 0, 0, count, 0, 0, 0, 0);
    }

    /**
     * The correction; ratio, logp and oldLogp as before the kernel's rows were moved to ratio 1, weight the kernel's
     * aggregation weights.
     *
     * @param lossChange row i's own token loss + A' (A', the advantage the kernel was given at ratio 1, is minus the
     *     token loss's derivative in logp, and -A' the kernel's pg loss there)
     * @param clippedLow whether the surrogate counts row i as clipped low
     * @param clippedHigh whether it counts row i as clipped high
     */
    static LossMetrics correction(IntToDoubleFunction lossChange, IntPredicate clippedLow, IntPredicate clippedHigh,
            double[] ratio, float[] logp, float[] oldLogp, float[] weight, float[] mask) {
        return correction(lossChange, clippedLow, clippedHigh, i -> false, ratio, logp, oldLogp, weight, mask);
    }

    /** As above, with the rows the surrogate counts where PPO counts its dual clip ({@link Dppo}'s truncation). */
    static LossMetrics correction(IntToDoubleFunction lossChange, IntPredicate clippedLow, IntPredicate clippedHigh,
            IntPredicate dualClipped, double[] ratio, float[] logp, float[] oldLogp, float[] weight, float[] mask) {
        RowArrays.mask(mask);
        RowArrays.sameLength(ratio, "ratio", mask.length, "mask");
        RowArrays.sameLength(logp, "logp", mask.length, "mask");
        RowArrays.sameLength(oldLogp, "oldLogp", mask.length, "mask");
        RowArrays.sameLength(weight, "weight", mask.length, "mask");
        double loss = 0, clipLow = 0, clipHigh = 0, dualClip = 0, ratioSum = 0, approxKl = 0;
        for (int i = 0; i < mask.length; ++i) {
            if (mask[i] == 0) continue;
            loss += weight[i] * lossChange.applyAsDouble(i);
            if (clippedLow.test(i)) clipLow++;
            if (clippedHigh.test(i)) clipHigh++;
            if (dualClipped.test(i)) dualClip++;
            ratioSum += ratio[i] - 1;
            approxKl += (double) oldLogp[i] - logp[i];
        }
        return new LossMetrics(loss, 0, 0, 0, clipLow, clipHigh, dualClip, 0, ratioSum, approxKl, 0, 0);
    }
}
