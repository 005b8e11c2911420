package io.policyloss.loss;

/**
 * bf16 and fp16 as raw 16-bit patterns in Java shorts (Java 17 has no half type): conversions with round to
 * nearest even, matching what the kernels read and write.
 */
public final class HalfFloats {
    private HalfFloats() {}

    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xffff) << 16);
    }

    /** Rounds to nearest even; NaN stays NaN. */
    public static short floatToBf16(float f) {
        if (Float.isNaN(f)) return (short) 0x7fc0;
        int u = Float.floatToRawIntBits(f);
        u += 0x7fff + ((u >>> 16) & 1);
        return (short) (u >>> 16);
    }

    public static float f16ToFloat(short bits) {
        int h = bits & 0xffff;
        int sign = (h & 0x8000) << 16, exp = (h >>> 10) & 0x1f, mant = h & 0x3ff;
        if (exp == 0x1f) return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
        if (exp == 0) {
            float v = mant * 0x1p-24f;  // subnormal (or zero): mant x 2^-24, exact
            return sign != 0 ? -v : v;
        }
        return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
    }

    /** Rounds to nearest even; overflow gives infinity, NaN stays NaN. */
    public static short floatToF16(float f) {
        int u = Float.floatToRawIntBits(f);
        int sign = (u >>> 16) & 0x8000;
        int a = u & 0x7fffffff;
        if (a > 0x7f800000) return (short) (sign | 0x7e00);
        if (a >= 0x477ff000) return (short) (sign | 0x7c00);  // rounds to >= 65520: infinity
        if (a < 0x38800000) {  // below the smallest normal half: a multiple of 2^-24 after rounding
            float v = Float.intBitsToFloat(a) * 0x1p24f;
            return (short) (sign | (int) Math.rint(v));
        }
        int mantOdd = (a >>> 13) & 1;
        a += ((15 - 127) << 23) + 0xfff + mantOdd;
        return (short) (sign | (a >>> 13));
    }

    /** Element i of a 16-bit buffer as float. */
    public static float toFloat(Dtype dtype, short bits) {
        return switch (dtype) {
            case BF16 -> bf16ToFloat(bits);
            case F16 -> f16ToFloat(bits);
            case F32 -> throw new IllegalArgumentException("dtype: F32 is not a 16-bit type");
        };
    }

    public static short fromFloat(Dtype dtype, float f) {
        return switch (dtype) {
            case BF16 -> floatToBf16(f);
            case F16 -> floatToF16(f);
            case F32 -> throw new IllegalArgumentException("dtype: F32 is not a 16-bit type");
        };
    }
}
