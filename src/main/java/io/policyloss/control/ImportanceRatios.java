package io.policyloss.control;

/**
 * Each row's importance ratio of the current policy to the old one, for the surrogates that weigh a token's policy
 * gradient by a function of its ratio held constant ({@link ReweightedPolicyGradient}): the token's own,
 * exp(logp - oldLogp), or its sequence's, exp(mean over the sequence's counted tokens of logp - oldLogp) (GSPO's;
 * TRL's {@code importance_sampling_level="sequence"}). The log-ratio is clamped to [-20, 20] as the kernel clamps
 * d (SPEC section 3). logp is the current policy's, from a first kernel call without a gradient on the same logits;
 * padding rows (mask 0) are not read and get 1.
 */
public final class ImportanceRatios {
    private static final double MAX_LOG_RATIO = 20;

    private ImportanceRatios() {}

    /** exp(clamp(logp - oldLogp, -20, 20)) on each counted row. */
    public static double[] token(float[] logp, float[] oldLogp, float[] mask) {
        RowArrays.mask(mask);
        RowArrays.sameLength(logp, "logp", mask.length, "mask");
        RowArrays.sameLength(oldLogp, "oldLogp", mask.length, "mask");
        double[] ratio = new double[mask.length];
        for (int i = 0; i < mask.length; ++i) {
            if (mask[i] == 0) {
                ratio[i] = 1;
                continue;
            }
            RowArrays.finite(logp[i], "logp", i);
            RowArrays.finite(oldLogp[i], "oldLogp", i);
            ratio[i] = ratio(logp[i], oldLogp[i]);
        }
        return ratio;
    }

    /** exp(clamp(log s_i, -20, 20)) on each counted row of sequence i ({@link SequenceImportanceRatio}'s log s_i). */
    public static double[] sequence(float[] logp, float[] oldLogp, float[] mask, int[] sequenceOf) {
        double[] logRatio = SequenceImportanceRatio.sequenceLogRatios(logp, oldLogp, mask, sequenceOf);
        double[] ratio = new double[mask.length];
        for (int i = 0; i < mask.length; ++i) ratio[i] = mask[i] == 0 ? 1 : Math.exp(clamp(logRatio[sequenceOf[i]]));
        return ratio;
    }

    /**
     * The kernel's old_logp that makes its ratio exactly 1: logp on each counted row (the first call's, which the
     * second recomputes bit for bit, so d = 0), oldLogp kept on padding rows.
     */
    public static float[] oldLogpAtRatioOne(float[] logp, float[] oldLogp, float[] mask) {
        RowArrays.mask(mask);
        RowArrays.sameLength(logp, "logp", mask.length, "mask");
        RowArrays.sameLength(oldLogp, "oldLogp", mask.length, "mask");
        float[] out = oldLogp.clone();
        for (int i = 0; i < mask.length; ++i) {
            if (mask[i] == 0) continue;
            RowArrays.finite(logp[i], "logp", i);
            out[i] = logp[i];
        }
        return out;
    }

    /**
     * Whether each counted row's log-ratio is clamped, so that its ratio takes no gradient: the token's own
     * ({@link #clamped(double, double)}), or with sequenceOf, its sequence's mean, as the kernel clamps GSPO-token's d
     * ({@link SequenceImportanceRatio#tokenOldLogp}). Padding rows are not read and get false.
     *
     * @param sequenceOf each row's sequence for the sequence ratio; null for each token's own
     */
    static boolean[] clamped(float[] logp, float[] oldLogp, float[] mask, int[] sequenceOf) {
        RowArrays.mask(mask);
        RowArrays.finiteWhereCounted(mask, new String[] {"logp", "oldLogp"}, logp, oldLogp);
        double[] sequenceLogRatio = sequenceOf == null ? null
                : SequenceImportanceRatio.sequenceLogRatios(logp, oldLogp, mask, sequenceOf);
        boolean[] out = new boolean[mask.length];
        for (int i = 0; i < mask.length; ++i) {
            if (mask[i] == 0) continue;
            out[i] = sequenceOf == null ? clamped(logp[i], oldLogp[i])
                    : Math.abs(sequenceLogRatio[sequenceOf[i]]) > MAX_LOG_RATIO;
        }
        return out;
    }

    /** One row's ratio, exp(clamp(logp - oldLogp, -20, 20)). */
    static double ratio(double logp, double oldLogp) {
        return Math.exp(logRatio(logp, oldLogp));
    }

    /** Whether the kernel clamps the row's log-ratio (its PL_FLAG_RATIO_CLAMPED): the ratio then takes no gradient. */
    static boolean clamped(double logp, double oldLogp) {
        return Math.abs(logp - oldLogp) > MAX_LOG_RATIO;
    }

    /** logp - oldLogp, clamped to [-20, 20] as the kernel clamps d. */
    static double logRatio(double logp, double oldLogp) {
        return clamp(logp - oldLogp);
    }

    private static double clamp(double logRatio) {
        return Math.min(Math.max(logRatio, -MAX_LOG_RATIO), MAX_LOG_RATIO);
    }
}
