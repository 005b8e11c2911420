package io.policyloss.torch;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.policyloss.loss.LossMetrics;
import java.util.Arrays;

/** What the tests of a batch split by sequence over ranks share, beside the ranks themselves (LoopbackRanks). */
final class SplitBatches {
    private SplitBatches() {}

    /** The sequences of rows [from, to), numbered from 0 as the rank that holds them numbers its own. */
    static int[] sequencesFromZero(int[] sequenceOf, int from, int to) {
        int[] seq = Arrays.copyOfRange(sequenceOf, from, to);
        int base = seq[0];
        for (int i = 0; i < seq.length; ++i) seq[i] -= base;
        return seq;
    }

    /** The ranks' rows one after the other, rank 0's first. */
    static float[] concat(float[]... parts) {
        int n = 0;
        for (float[] p : parts) n += p.length;
        float[] out = new float[n];
        int at = 0;
        for (float[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }

    /** Every metric sum of {@code got} within float rounding of {@code want}'s: the ranks add them in another order. */
    static void assertSumsClose(LossMetrics want, LossMetrics got) {
        double[] w = want.toSums(), g = got.toSums();
        for (int k = 0; k < w.length; ++k) assertEquals(w[k], g[k], 1e-5 * Math.abs(w[k]) + 1e-12, "metric sum " + k);
    }
}
