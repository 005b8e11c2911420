// The GPU's special function unit (MUFU.EX2, MUFU.LG2, MUFU.RCP) as the emulator computes it.  The kernels take
// 2^x and log2 x from it (exp2_approx and log2_approx in row_access.cuh: ex2.approx.ftz and lg2.approx.ftz), and the
// softcap's tanh from __expf and __fdividef, which compile to a multiply by log2 e and ex2.approx, and to rcp.approx
// and a multiply.  NVIDIA documents these results by bounds, not by bits (the CUDA C++ Programming Guide's accuracy
// tables): 2 ulps for exp2f (this instruction plus a subnormal fix-up), 2 ulps for __fdividef, and for __log2f an
// absolute error of 2^-22 on [0.5, 2] and 2 ulps elsewhere; .ftz flushes subnormal arguments and results to zeros
// of the same sign (PTX ISA).  So by default the emulator moves each of libm's results by up to those bounds (a
// rounding's half ulp more), in steps chosen by a hash of the instruction and its argument's bits: a function of the
// argument, as the hardware's error is, so that every schedule, grid and layout still gets the same bits.  A test
// that passes so passes for any unit within the bounds, not only for one that rounds as the host's libm does.
// Rounded gives libm's results, flushed as .ftz flushes, for telling a failure of the bounds from another.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace emu {

enum class SpecialFunctions { WithinBounds, Rounded };
inline SpecialFunctions special_functions = SpecialFunctions::WithinBounds;
inline uint32_t special_functions_seed = 1;  // another seed, another unit within the bounds

namespace sfu {

enum Instruction : uint32_t { kEx2 = 0, kLg2 = 1, kRcp = 2 };
inline uint64_t calls[3] = {};  // per instruction: the emulated test checks that the kernels reach each one here

// One fiber runs at a time, so a load and a store add one; as atomics they are no race to the racecheck build.
inline void count(Instruction instruction) {
    __atomic_store_n(&calls[instruction], __atomic_load_n(&calls[instruction], __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

inline uint32_t bits(float x) {
    uint32_t u;
    std::memcpy(&u, &x, 4);
    return u;
}

inline float from_bits(uint32_t u) {
    float x;
    std::memcpy(&x, &u, 4);
    return x;
}

// An error in [-most, most] steps for this instruction and argument (a 32-bit integer hash, lowbias32).
inline int error_steps(Instruction instruction, float argument, int most) {
    uint32_t h = bits(argument) ^ (special_functions_seed * 0x9e3779b9u + (instruction + 1u) * 0x85ebca6bu);
    h ^= h >> 16;
    h *= 0x7feb352du;
    h ^= h >> 15;
    h *= 0x846ca68bu;
    h ^= h >> 16;
    return (int)(h % (2u * (uint32_t)most + 1u)) - most;
}

// r moved by `steps` units in its last place, away from 0 for steps > 0; it stays finite and keeps its sign.
inline float move_ulps(float r, int steps) {
    if (r == 0.0f || !std::isfinite(r)) return r;
    const uint32_t u = bits(r), sign = u & 0x80000000u;
    int64_t magnitude = (int64_t)(u & 0x7fffffffu) + steps;
    magnitude = magnitude < 1 ? 1 : magnitude > 0x7f7fffff ? 0x7f7fffff : magnitude;
    return from_bits(sign | (uint32_t)magnitude);
}

inline float flush(float x) { return std::fpclassify(x) == FP_SUBNORMAL ? std::copysign(0.0f, x) : x; }

}  // namespace sfu

// ex2.approx.f32, with .ftz or without: 2^x within 2 ulps.
inline float ex2_approx(float x, bool ftz) {
    sfu::count(sfu::kEx2);
    if (ftz) x = sfu::flush(x);
    float r = std::exp2f(x);
    if (special_functions == SpecialFunctions::WithinBounds) r = sfu::move_ulps(r, sfu::error_steps(sfu::kEx2, x, 2));
    return ftz ? sfu::flush(r) : r;
}

// lg2.approx.ftz.f32: log2 x within 2^-22 on [0.5, 2] (in steps of 2^-23), within 2 ulps elsewhere.
inline float lg2_approx_ftz(float x) {
    sfu::count(sfu::kLg2);
    x = sfu::flush(x);
    const float r = std::log2f(x);  // -inf for 0, NaN below
    if (special_functions == SpecialFunctions::Rounded || !std::isfinite(r)) return r;
    const int steps = sfu::error_steps(sfu::kLg2, x, 2);
    return x >= 0.5f && x <= 2.0f ? r + (float)steps * 0x1p-23f : sfu::move_ulps(r, steps);
}

// rcp.approx.ftz.f32: 1 / x within 1 ulp; 0 where that is subnormal (|x| above 2^126).
inline float rcp_approx_ftz(float x) {
    sfu::count(sfu::kRcp);
    x = sfu::flush(x);
    float r = 1.0f / x;
    if (special_functions == SpecialFunctions::WithinBounds) r = sfu::move_ulps(r, sfu::error_steps(sfu::kRcp, x, 1));
    return sfu::flush(r);
}

}  // namespace emu
