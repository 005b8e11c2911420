// The clamped set's selection on raw logits (SPEC section 2), shared by the CPU and CUDA kernels: scale, softcap
// and temperature all preserve order, so S is chosen on an order-preserving integer key of the raw logit.  Its ties
// are the logits' own, as in exact arithmetic: not those of a saturated softcap's y, which rounds distinct logits
// to one float from about |s z / c| = 8, where tanh lies within a few float roundings of 1.
#pragma once
#include <cmath>
#include <cstdint>

#include "host_device.hpp"

namespace pl {
// Internal linkage: each CPU ISA's translation unit compiles its own copy with its own flags.
namespace {

// Monotone map float -> uint32: a < b  <=>  key(a) < key(b), and a == b  <=>  key(a) == key(b), for non-NaN floats.
// -0 and +0 are one value (SPEC compares values: they tie), so -0 takes +0's key.
PL_HD uint32_t order_key(float f) {
    uint32_t u = float_bits(f + 0.0f);  // -0 + 0 = +0 (kept: this code is never built with -fno-signed-zeros)
    return u ^ ((uint32_t)((int32_t)u >> 31) | 0x80000000u);  // negative: flip all bits; positive: the sign bit
}

// The value whose key has `key`'s top 32 - low_bits bits, for values whose float bits are zero below those (a bf16
// logit as a float: low_bits up to 16; an fp16 one: up to 13; any float: 0).  Such a value's key has zeros there
// when positive and ones when negative (order_key flips a negative float's bits).
PL_HD float key_value(uint32_t key, int low_bits) {
    const uint32_t low = (1u << low_bits) - 1u, sign = 0x80000000u;
    key = key & sign ? key & ~low : key | low;
    return bits_float(key & sign ? key ^ sign : ~key);
}

// The key of -inf: the smallest key of any non-NaN float.
constexpr uint32_t kNegInfKey = ~0xff800000u;

// The sampled bands' sample, the same columns in the CPU and CUDA kernels: kSample keys, at columns j V / kSample,
// from rows of kSampleMinVocab logits or more (below, the sample is not small next to the row).
constexpr int64_t kSampleMinVocab = 16384;
constexpr int kSample = 2048;

// The sampled bands' width around a rank of sf samples, q of them above it: 3 sigma of the binomial, so a band
// misses about 0.3% of rows.
PL_HD double rank_width(double sf, double q) {
    return 3.0 * sqrt(sf * q * (1.0 - q)) + 4.0;
}

// TOKEN_FRACTION's k (SPEC section 2): the number of largest finite logits kept, of `finite`.
PL_HD int64_t kept_tokens(float p, int64_t finite) {
    int64_t kept = finite - (int64_t)floor((double)p * (double)finite);
    return kept > 1 ? kept : 1;
}

}  // namespace
}  // namespace pl
