package io.policyloss.loss;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** The 16-bit conversions: exact widening, round trips of every pattern, and round-to-nearest-even narrowing. */
class HalfFloatsTest {
    @Test
    void everyFiniteHalfPatternRoundTrips() {
        for (int bits = 0; bits < 65536; ++bits) {
            short h = (short) bits;
            float f16 = HalfFloats.f16ToFloat(h), bf16 = HalfFloats.bf16ToFloat(h);
            if (!Float.isNaN(f16)) assertEquals(h, HalfFloats.floatToF16(f16), "f16 " + bits);
            if (!Float.isNaN(bf16)) assertEquals(h, HalfFloats.floatToBf16(bf16), "bf16 " + bits);
        }
    }

    @Test
    void knownValues() {
        assertEquals(1.0f, HalfFloats.f16ToFloat((short) 0x3c00));
        assertEquals(65504f, HalfFloats.f16ToFloat((short) 0x7bff));
        assertEquals(0x1p-24f, HalfFloats.f16ToFloat((short) 0x0001));
        assertEquals(Float.POSITIVE_INFINITY, HalfFloats.f16ToFloat(HalfFloats.floatToF16(70000f)));
        assertEquals((short) 0x3c00, HalfFloats.floatToF16(1.0f + 0x1p-11f), "a tie rounds to even (down)");
        assertEquals((short) 0x3c02, HalfFloats.floatToF16(1.0f + 3 * 0x1p-11f), "a tie rounds to even (up)");
        assertEquals((short) 0x3f80, HalfFloats.floatToBf16(1.0f + 0x1p-8f), "bf16 tie to even");
    }

    /** Narrowing picks the nearest representable value: no neighbour is closer. */
    @Test
    void narrowingIsNearest() {
        Random rnd = new Random(1);
        for (int k = 0; k < 100_000; ++k) {
            float x = (float) (rnd.nextGaussian() * Math.pow(2, rnd.nextInt(30) - 20));
            for (Dtype d : new Dtype[] {Dtype.F16, Dtype.BF16}) {
                short h = HalfFloats.fromFloat(d, x);
                double err = Math.abs(HalfFloats.toFloat(d, h) - (double) x);
                for (int step : new int[] {-1, 1}) {
                    float neighbour = HalfFloats.toFloat(d, (short) (h + step));
                    if (Float.isFinite(neighbour)) assertTrue(err <= Math.abs(neighbour - (double) x), d + " " + x);
                }
            }
        }
    }
}
