package io.policyloss.loss;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/** Two kernel results of one {@link RandomCase} compared bit for bit: a call against the same call made another way. */
final class SameBits {
    private SameBits() {}

    /**
     * The metrics, every per-row output, the flags and (where the case asks for it) each row's V gradient columns;
     * not the stride's gap after them, which each call leaves as it found it.
     */
    static void assertSameBits(String what, RandomCase c, LossResult expected, LossResult actual) {
        assertEquals(expected.metrics(), actual.metrics(), what + " metrics");
        assertArrayEquals(expected.logp(), actual.logp(), what + " logp");
        assertArrayEquals(expected.entropy(), actual.entropy(), what + " entropy");
        assertArrayEquals(expected.clampedEntropy(), actual.clampedEntropy(), what + " clampedEntropy");
        assertArrayEquals(expected.ratio(), actual.ratio(), what + " ratio");
        assertArrayEquals(expected.loss(), actual.loss(), what + " loss");
        assertArrayEquals(expected.kl(), actual.kl(), what + " kl");
        assertArrayEquals(expected.flags(), actual.flags(), what + " flags");
        if (c.gradient() == RandomCase.Gradient.NONE) return;
        for (int i = 0; i < c.rows(); ++i) {
            for (int v = 0; v < c.vocab(); ++v) {
                float e = expected.dlogit(i, v, c.stride()), a = actual.dlogit(i, v, c.stride());
                if (Float.floatToRawIntBits(e) != Float.floatToRawIntBits(a))
                    fail(what + " dlogits[" + i + "][" + v + "]: " + e + " expected, got " + a);
            }
        }
    }
}
