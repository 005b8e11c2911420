// Branch-free scalar math that GCC vectorises inside `#pragma omp simd` loops: exp, tanh and dtype conversion (the
// order key of a float is in ../order_key.hpp, shared with CUDA).  libm's expf does not vectorise without -ffast-math, which would
// also license reassociation we do not want outside the explicitly reduced loops.
#pragma once
#include <cmath>
#include <cstdint>

#include "../order_key.hpp"

// Internal linkage on purpose: each ISA's translation unit compiles its own copy with its own flags; shared inline
// definitions would be merged by the linker, and baseline code could end up calling the AVX2 copy.
namespace pl::cpu {
namespace {

// min / max as selects: fminf / fmaxf have NaN rules that keep GCC from vectorising them (they become calls).
inline float min_f(float a, float b) { return a < b ? a : b; }
inline float max_f(float a, float b) { return a > b ? a : b; }

// exp(x) to about 2 ulp for x in [-87.3, 88.37]; 0 below (so exp(-inf) = 0), +inf above: there the scale 2^n is
// 2^128, the bits of +inf, which the clamp at 88.7 keeps n from passing.  (The callers pass x <= 0: y - m under the
// row's max, a log-probability, -2|x|.)
__attribute__((always_inline)) inline float fast_exp(float x) {
    const float log2e = 1.44269504088896341f, ln2_hi = 0.693145751953125f, ln2_lo = 1.428606765330187e-06f;
    float xc = min_f(max_f(x, -87.3f), 88.7f);
    float n = (xc * log2e + 12582912.0f) - 12582912.0f;  // round to nearest integer
    float r = (xc - n * ln2_hi) - n * ln2_lo;            // |r| <= ln2 / 2
    // Taylor to degree 7: relative error below 2e-8 on |r| <= 0.347.
    float q = 1.0f / 5040.0f;
    q = q * r + 1.0f / 720.0f;
    q = q * r + 1.0f / 120.0f;
    q = q * r + 1.0f / 24.0f;
    q = q * r + 1.0f / 6.0f;
    q = q * r + 0.5f;
    q = q * r + 1.0f;
    q = q * r + 1.0f;
    float scale = bits_float((uint32_t)((int32_t)n + 127) << 23);
    // 0 below, chosen on the bits: a select of floats here lets GCC (with -fno-trapping-math) turn
    // `out[j] = fast_exp(..)` into masked stores (vmaskmovps), slow on AMD's cores (tests/no_masked_stores.cmake).
    return bits_float(float_bits(q * scale) & (x < -87.3f ? 0u : ~0u));
}

// tanh from exp(-2|x|): absolute error about 1e-7, which is what a logit softcap needs.
__attribute__((always_inline)) inline float fast_tanh(float x) {
    float e = fast_exp(-2.0f * fabsf(x));
    float t = (1.0f - e) / (1.0f + e);
    return x < 0.0f ? -t : t;
}

// fp16 -> fp32, exact (subnormals by the magic multiply; inf and NaN kept).
inline float f16_to_f32(uint16_t h) {
    float o = bits_float((uint32_t)(h & 0x7fffu) << 13) * bits_float((254u - 15u) << 23);
    uint32_t u = float_bits(o);
    u = o >= bits_float((127u + 16u) << 23) ? (u | (255u << 23)) : u;
    return bits_float(u | ((uint32_t)(h & 0x8000u) << 16));
}

// fp32 -> fp16, round to nearest even, overflow to inf.
inline uint16_t f32_to_f16(float fv) {
    const uint32_t f32_inf = 255u << 23, f16_max = (127u + 16u) << 23;
    const float denorm_magic = bits_float(((127u - 15u) + (23u - 10u) + 1u) << 23);
    uint32_t f = float_bits(fv);
    uint32_t sign = f & 0x80000000u;
    f ^= sign;
    uint16_t o;
    if (f >= f16_max) {
        o = f > f32_inf ? 0x7e00 : 0x7c00;
    } else if (f < (113u << 23)) {
        o = (uint16_t)(float_bits(bits_float(f) + denorm_magic) - float_bits(denorm_magic));
    } else {
        uint32_t mant_odd = (f >> 13) & 1u;
        f += ((uint32_t)(15 - 127) << 23) + 0xfffu;
        f += mant_odd;
        o = (uint16_t)(f >> 13);
    }
    return (uint16_t)(o | (sign >> 16));
}

inline float bf16_to_f32(uint16_t h) { return bits_float((uint32_t)h << 16); }

// fp32 -> bf16, round to nearest even (inputs here are never NaN).
inline uint16_t f32_to_bf16(float f) {
    uint32_t u = float_bits(f);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

// Sum of x[0..len) in eight interleaved lanes, added in a fixed order.  GCC vectorises this without being allowed
// to reassociate, and the order (so the rounding) is the same for every ISA and thread count.
__attribute__((always_inline)) inline float lane_sum(const float *x, int len) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int j = 0;
    for (; j + 8 <= len; j += 8)
        for (int u = 0; u < 8; ++u) acc[u] += x[j + u];
    for (; j < len; ++j) acc[j & 7] += x[j];
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

}  // namespace
}  // namespace pl::cpu
