package io.policyloss.control;

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

    /** Every row of the mask is 0 (padding) or 1 (a counted token). */
    static void mask(float[] mask) {
        Objects.requireNonNull(mask, "mask");
        for (int i = 0; i < mask.length; ++i)
            if (!(mask[i] == 0 || mask[i] == 1))
                throw new IllegalArgumentException("mask: row " + i + ": must be 0 or 1, got " + mask[i]);
    }

    static void finite(float v, String name, int row) {
        if (!Float.isFinite(v))
            throw new IllegalArgumentException(name + ": row " + row + ": must be finite, got " + v);
    }
}
