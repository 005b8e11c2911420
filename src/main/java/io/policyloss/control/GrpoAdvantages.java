package io.policyloss.control;

import java.util.Objects;

/**
 * GRPO's group-relative advantage (SPEC section 7): A = (R - mean of the group) / (std of the group + 1e-6), std
 * the unbiased sample standard deviation; Dr. GRPO drops the division. Groups are consecutive runs of
 * {@code groupSize} rewards (the G samples of one prompt).
 */
public final class GrpoAdvantages {
    private GrpoAdvantages() {}

    public static float[] compute(float[] rewards, int groupSize, boolean divideByStd) {
        Objects.requireNonNull(rewards, "rewards");
        if (groupSize < 1) throw new IllegalArgumentException("groupSize: must be >= 1, got " + groupSize);
        if (rewards.length % groupSize != 0)
            throw new IllegalArgumentException("rewards: length " + rewards.length + " is not a multiple of groupSize "
                    + groupSize);
        float[] a = new float[rewards.length];
        for (int g = 0; g < rewards.length; g += groupSize) {
            double mean = 0;
            for (int j = 0; j < groupSize; ++j) {
                if (!Float.isFinite(rewards[g + j]))
                    throw new IllegalArgumentException("rewards: row " + (g + j) + ": must be finite, got " + rewards[g + j]);
                mean += rewards[g + j];
            }
            mean /= groupSize;
            double var = 0;
            for (int j = 0; j < groupSize; ++j) var += (rewards[g + j] - mean) * (rewards[g + j] - mean);
            double std = groupSize > 1 ? Math.sqrt(var / (groupSize - 1)) : 0.0;
            for (int j = 0; j < groupSize; ++j) {
                double centred = rewards[g + j] - mean;
                a[g + j] = (float) (divideByStd ? centred / (std + 1e-6) : centred);
            }
        }
        return a;
    }
}
