package io.policyloss.control;

import io.policyloss.loss.AggregationWeights;
import java.util.Objects;

/** The per-row checks of the controllers that take one value per token: errors name the array and the row. */
final class RowArrays {
    private RowArrays() {}

    /** a has one value per row of `of` (the array the rows are counted by), or throws naming both. */
    static void sameLength(float[] a, String name, int rows, String of) {
        length(Objects.requireNonNull(a, name).length, name, rows, of);
    }

    static void sameLength(double[] a, String name, int rows, String of) {
        length(Objects.requireNonNull(a, name).length, name, rows, of);
    }

    /** A length of one value per row of `of`, or throws naming both. */
    static void length(int length, String name, int rows, String of) {
        if (length != rows)
            throw new IllegalArgumentException(name + ": length " + length + ", " + of + " has " + rows + " rows");
    }

    /**
     * The responses sequenceOf names (its largest + 1), after {@link AggregationWeights.Totals#of}'s checks of mask
     * and sequenceOf; more than {@code responses}, the length of the per-response array {@code of}, is refused.
     */
    static int responses(float[] mask, int[] sequenceOf, int responses, String of) {
        int sequences = (int) AggregationWeights.Totals.of(mask, sequenceOf).sequences();
        if (sequences > responses)
            throw new IllegalArgumentException("sequenceOf: names response " + (sequences - 1) + ", " + of + " has "
                    + responses);
        return sequences;
    }

    /** Every row of the mask is 0 (padding) or 1 (a counted token). */
    static void mask(float[] mask) {
        Objects.requireNonNull(mask, "mask");
        for (int i = 0; i < mask.length; ++i)
            if (!(mask[i] == 0 || mask[i] == 1))
                throw new IllegalArgumentException("mask: row " + i + ": must be 0 or 1, got " + mask[i]);
    }

    /** The rows a surrogate reads: advantage, logp and oldLogp, as {@link #finiteWhereCounted} checks them. */
    static void advantageAndLogps(float[] advantage, float[] logp, float[] oldLogp, float[] mask) {
        finiteWhereCounted(mask, new String[] {"advantage", "logp", "oldLogp"}, advantage, logp, oldLogp);
    }

    /**
     * Each array has a value per row of the mask and is finite on each counted row: every length first, then row by
     * row, the first bad row named (names[k] is rows[k]'s).
     */
    static void finiteWhereCounted(float[] mask, String[] names, float[]... rows) {
        for (int k = 0; k < rows.length; ++k) sameLength(rows[k], names[k], mask.length, "mask");
        for (int i = 0; i < mask.length; ++i) {
            if (mask[i] == 0) continue;
            for (int k = 0; k < rows.length; ++k) finite(rows[k][i], names[k], i);
        }
    }

    static void finite(float v, String name, int row) {
        if (!Float.isFinite(v))
            throw new IllegalArgumentException(name + ": row " + row + ": must be finite, got " + v);
    }

    /** A weight or ratio of one row: finite and &gt;= 0. */
    static void finiteNonNegative(float v, String name, int row) {
        if (!(v >= 0 && v < Float.POSITIVE_INFINITY))
            throw new IllegalArgumentException(name + ": row " + row + ": must be finite and >= 0, got " + v);
    }
}
