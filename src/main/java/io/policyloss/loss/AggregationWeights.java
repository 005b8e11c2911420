package io.policyloss.loss;

import java.util.Objects;

/**
 * The per-row weights of SPEC section 6. Rows are tokens; {@code sequenceOf[i]} numbers the sequence of row i
 * (0 .. S_local - 1) and {@code mask[i]} is 1 for a token that counts, 0 for padding. The denominators are global:
 * take the {@link Totals} of each micro-batch or data-parallel rank, add them up ({@link Totals#plus}, or an
 * all-reduce), and pass the sum, so that a loss split over ranks equals the single-batch loss.
 */
public final class AggregationWeights {
    private AggregationWeights() {}

    /** Global denominators: the number of counted tokens and of sequences. */
    public record Totals(double tokens, double sequences) {
        public Totals plus(Totals o) {
            return new Totals(tokens + o.tokens, sequences + o.sequences);
        }

        /** The local totals of one batch: sum of the mask and the number of sequences (max sequence index + 1). */
        public static Totals of(float[] mask, int[] sequenceOf) {
            checkShapes(mask, sequenceOf);
            double tokens = 0;
            int sequences = 0;
            for (int i = 0; i < mask.length; ++i) {
                tokens += mask[i];
                sequences = Math.max(sequences, sequenceOf[i] + 1);
            }
            return new Totals(tokens, sequences);
        }
    }

    /**
     * @param maxLength L_max, the response length Dr. GRPO normalises by (only read by SEQ_MEAN_TOKEN_SUM_NORM)
     */
    public static float[] weights(AggregationMode mode, float[] mask, int[] sequenceOf, Totals global, int maxLength) {
        Objects.requireNonNull(mode, "mode");
        Objects.requireNonNull(global, "global");
        checkShapes(mask, sequenceOf);
        if (mode == AggregationMode.SEQ_MEAN_TOKEN_SUM_NORM && maxLength < 1)
            throw new IllegalArgumentException("maxLength: must be >= 1, got " + maxLength);
        double[] seqLength = new double[(int) Totals.of(mask, sequenceOf).sequences()];
        for (int i = 0; i < mask.length; ++i) seqLength[sequenceOf[i]] += mask[i];
        float[] w = new float[mask.length];
        for (int i = 0; i < mask.length; ++i) {
            if (mask[i] == 0) continue;
            double denominator = switch (mode) {
                case TOKEN_MEAN -> global.tokens();
                case SEQ_MEAN_TOKEN_MEAN -> seqLength[sequenceOf[i]] * global.sequences();
                case SEQ_MEAN_TOKEN_SUM -> global.sequences();
                case SEQ_MEAN_TOKEN_SUM_NORM -> global.sequences() * maxLength;
            };
            if (!(denominator > 0))
                throw new IllegalArgumentException("global: a " + mode + " denominator is " + denominator
                        + " at row " + i + " (global totals must cover this batch)");
            w[i] = (float) (mask[i] / denominator);
        }
        return w;
    }

    private static void checkShapes(float[] mask, int[] sequenceOf) {
        Objects.requireNonNull(mask, "mask");
        Objects.requireNonNull(sequenceOf, "sequenceOf");
        if (mask.length != sequenceOf.length)
            throw new IllegalArgumentException("sequenceOf: length " + sequenceOf.length + ", expected "
                    + mask.length + " (the mask length)");
        for (int i = 0; i < mask.length; ++i) {
            if (!(mask[i] == 0 || mask[i] == 1))
                throw new IllegalArgumentException("mask: row " + i + ": must be 0 or 1, got " + mask[i]);
            if (sequenceOf[i] < 0)
                throw new IllegalArgumentException("sequenceOf: row " + i + ": must be >= 0, got " + sequenceOf[i]);
        }
    }
}
