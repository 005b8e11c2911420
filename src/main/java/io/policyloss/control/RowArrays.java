package io.policyloss.control;

import java.util.Objects;

/** The per-row checks of the controllers that take one value per token: errors name the array and the row. */
final class RowArrays {
    private RowArrays() {}

    /** a has one value per row of `of` (the array the rows are counted by), or throws naming both. */
    static void sameLength(float[] a, String name, int rows, String of) {
        Objects.requireNonNull(a, name);
        if (a.length != rows)
            throw new IllegalArgumentException(name + ": length " + a.length + ", " + of + " has " + rows + " rows");
    }

    static void finite(float v, String name, int row) {
        if (!Float.isFinite(v))
            throw new IllegalArgumentException(name + ": row " + row + ": must be finite, got " + v);
    }
}
