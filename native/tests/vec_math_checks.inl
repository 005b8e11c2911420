// The CPU kernel's scalar math (src/cpu/vec_math.hpp) against references it does not share: libm in double for
// exp and tanh, the compiler's _Float16 for fp16, and a rounding by distance for bf16.  Included by one file per
// ISA, as the kernels' row_kernels_*.cpp include row_kernels.inl: vec_math.hpp's functions have internal linkage,
// and with -mfma GCC contracts fast_exp's polynomial into fused multiply-adds, which round otherwise.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <initializer_list>

#include "cpu/vec_math.hpp"

namespace {

// Every `stride`-th float bit pattern (prime strides, so every exponent and sign is visited), NaNs left out.
template <typename F>
void for_floats(uint64_t stride, F f) {
    for (uint64_t u = 0; u < (1ull << 32); u += stride) {
        const float x = pl::bits_float((uint32_t)u);
        if (!std::isnan(x)) f(x);
    }
}

// One line per check, passed or not: the worst error (or the count of wrong results, and the last one's input) is
// worth seeing next to its bound.
int report(const char *isa, const char *what, double worst, double bound, float at) {
    const bool ok = worst <= bound;
    std::printf("%s [%s] %s: %g, at most %g (at %a)\n", ok ? "ok  " : "FAIL", isa, what, worst, bound, (double)at);
    return ok ? 0 : 1;
}

// fast_exp: within 2 ulp of exp on [-87.3, 88.37]; +0 below -87.3, -inf included; +inf from 88.38, +inf included.
int check_exp(const char *isa) {
    double worst = 0;
    float at = 0, wrong_at = 0;
    int wrong = 0;
    for_floats(97, [&](float x) {
        const float e = pl::cpu::fast_exp(x);
        if (x < -87.3f || x >= 88.38f) {
            if (!(x < 0 ? e == 0.0f && !std::signbit(e) : e == INFINITY)) ++wrong, wrong_at = x;
        } else if (x <= 88.37f) {
            const double exact = std::exp((double)x);
            const float rounded = (float)exact;
            const double err = std::fabs((double)e - exact) / ((double)std::nextafter(rounded, INFINITY) - rounded);
            if (err > worst) worst = err, at = x;
        }
    });
    return report(isa, "fast_exp (ulp)", worst, 2.0, at) +
           report(isa, "fast_exp beyond its range (wrong values)", wrong, 0, wrong_at);
}

// fast_tanh: within 1e-7 of tanh, absolutely (what a logit softcap needs), +-1 at +-inf included.
int check_tanh(const char *isa) {
    double worst = 0;
    float at = 0;
    for_floats(97, [&](float x) {
        const double err = std::fabs((double)pl::cpu::fast_tanh(x) - std::tanh((double)x));
        if (err > worst) worst = err, at = x;
    });
    return report(isa, "fast_tanh (absolute)", worst, 1e-7, at);
}

uint16_t half_bits(_Float16 h) {
    uint16_t b;
    std::memcpy(&b, &h, 2);
    return b;
}

// fp16 both ways, bit for bit as the compiler converts: every half to float, and floats to half, with every
// half's midpoint to the next one and the floats either side of it (round to nearest even decides there).
int check_f16(const char *isa) {
    int wrong_up = 0, wrong_down = 0;
    float at = 0;
    for (uint32_t b = 0; b < 65536; ++b) {
        _Float16 h;
        const uint16_t bits = (uint16_t)b;
        std::memcpy(&h, &bits, 2);
        const float mine = pl::cpu::f16_to_f32(bits), ref = (float)h;
        if (!(pl::float_bits(mine) == pl::float_bits(ref) || (std::isnan(mine) && std::isnan(ref)))) ++wrong_up;
    }
    const auto down = [&](float x) {
        const uint16_t mine = pl::cpu::f32_to_f16(x), ref = half_bits((_Float16)x);
        if (mine != ref) ++wrong_down, at = x;
    };
    for_floats(1009, down);  // sparser: the compiler's conversion is a libgcc call without F16C; midpoints below
    for (uint32_t b = 0; b < 0x7c00; ++b) {  // the finite non-negative halves; the signs mirror them
        // The next half up, past the largest finite one as 2^16: its midpoint is where rounding overflows.
        const double lo = (double)pl::cpu::f16_to_f32((uint16_t)b),
                     hi = b + 1 == 0x7c00 ? 65536.0 : (double)pl::cpu::f16_to_f32((uint16_t)(b + 1));
        const float mid = (float)((lo + hi) / 2);  // exact: a half's midpoint has at most 12 significant bits
        for (float x : {std::nextafter(mid, 0.0f), mid, std::nextafter(mid, INFINITY)}) down(x), down(-x);
    }
    return report(isa, "f16_to_f32 (wrong halves)", wrong_up, 0, 0.0f) +
           report(isa, "f32_to_f16 (wrong floats)", wrong_down, 0, at);
}

// fp32 -> bf16 against the nearer of the two bf16 values around x, ties to the even one; and back, exactly.
int check_bf16(const char *isa) {
    int wrong = 0;
    float at = 0;
    const auto value = [](uint32_t b) {  // a non-negative bf16's value, the one past the largest finite as 2^128
        return b == 0x7f80u ? std::ldexp(1.0, 128) : (double)pl::bits_float(b << 16);
    };
    for_floats(61, [&](float x) {
        const uint32_t u = pl::float_bits(x), sign = u & 0x80000000u, t = (u & 0x7fffffffu) >> 16;
        uint32_t ref = t;
        if (t != 0x7f80u) {  // inf stays inf
            const double dl = std::fabs((double)x) - value(t), dh = value(t + 1) - std::fabs((double)x);
            ref = dl < dh ? t : dh < dl ? t + 1 : (t & 1u ? t + 1 : t);
        }
        ref |= sign >> 16;
        const uint16_t mine = pl::cpu::f32_to_bf16(x);
        if (mine != ref || pl::float_bits(pl::cpu::bf16_to_f32(mine)) != ref << 16) ++wrong, at = x;
    });
    return report(isa, "f32_to_bf16 (wrong floats)", wrong, 0, at);
}

int vec_math_failures(const char *isa) { return check_exp(isa) + check_tanh(isa) + check_f16(isa) + check_bf16(isa); }

}  // namespace
