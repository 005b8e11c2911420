// TOKEN_FRACTION's threshold without a pass of its own, for bf16 and fp16 logits on long rows: the CPU kernel's
// sampled band (cpu/row_kernels.inl, SampleBand) on the GPU.  A strided sample of the row's keys brackets the
// threshold, the k-th largest key, in a band [lo, hi] with high probability.  Pass 1 then counts each token of the
// band into a bin of its own logit value (such a logit has few enough values that a useful band holds at most
// kBins of them) and sums exp over the tokens above hi, with the exponentials it takes for its other sums.  After
// pass 1 the threshold and S's sums come from those alone: the radix select (radix_select.cuh) would read the row
// once more, from L2, taking an exponential for every token above the threshold's bin, which a warp takes for all
// its lanes when any of them needs one (RESULTS.md: 16 a cycle per SM).  A band that missed (the tokens above hi
// already reach k, or above and in the band together fall short of it: about 0.3% of rows, by the width below)
// leaves the row to the radix select, its first level counted by a pass of its own.  Rows whose sample gives no band
// (mostly masked; the threshold near either end of the row or near 0, where a band of whole first-level bins would
// hold more than kBins values) leave it to the radix select with pass 1's counts, as fp32 rows and rows read
// without 16-byte packs do.
#pragma once
#include <cmath>
#include <cstdint>

#include "../order_key.hpp"
#include "block_reduce.cuh"
#include "policyloss.h"
#include "radix_select.cuh"
#include "row_access.cuh"

namespace pl::cuda {

// The CPU kernel's: 2048 keys, from rows of 16,384 logits or more (below, the sample is not small next to the row).
constexpr int64_t kSampleMinVocab = 16384;
constexpr int kSample = 2048;
constexpr int kSamplesPerThread = kSample / kThreads;
static_assert(kSample % kThreads == 0, "each thread reads whole samples");

// The low key bits that a bf16 (16) or fp16 (13) logit's float leaves zero (ones, once order_key flips a negative
// one): key >> kValueShift numbers the dtype's values in order, one index each.
template <int DT>
constexpr int kValueShift = DT == PL_BF16 ? 16 : 13;

struct Band {
    bool active;
    uint32_t lo, hi;  // value indices (key >> kValueShift): the band is lo <= v <= hi, counted in bin v - lo
};

#ifndef __CUDACC__
// The rows whose band gave S and those whose band missed, counted where the emulated test runs this code on the
// host (native/tests/test_cuda_emulated.cpp): the results alone cannot tell the band from the radix select.
inline int64_t emulated_band_hits = 0, emulated_band_misses = 0;
#endif

// Whether a row samples a band: TOKEN_FRACTION, bf16 / fp16, 16-byte packs (the scalar loads' instances, for rows
// that are not aligned, are held to 64 registers, which the band's state in pass 1 would spill), a long row.
template <int DT, bool VEC>
__device__ __forceinline__ bool samples_band(const pl_loss_params &p, int64_t vocab) {
    return VEC && DT != PL_F32 && p.clamp_p > 0.0f && p.clamp_mode == PL_CLAMP_TOKEN_FRACTION &&
           vocab >= kSampleMinVocab;
}

// The band of a row, the same in every thread, from the keys at columns j V / kSample (the CPU kernel's sample):
// the first-level bins (radix_select.cuh) that hold the sample's keys of ranks r - w and r + w from the top, r = (1 -
// p) times the finite samples and w three standard deviations of that rank, and the bins between.  The bins the
// band is counted in are left for the caller to empty.
template <int DT, int M>
__device__ Band sample_band(const pl_loss_params &p, const typename Elem<DT>::type *row, int64_t vocab,
                            SelectSmem &sel, ReduceSmem<M> &reduce) {
    uint32_t keys[kSamplesPerThread];
#pragma unroll
    for (int u = 0; u < kSamplesPerThread; ++u)
        keys[u] = order_key(to_float<DT>(row[(int64_t)(threadIdx.x + u * kThreads) * vocab / kSample]));
    sel.clear_bins();  // while the loads are in flight
    double finite[1] = {0.0};
#pragma unroll
    for (int u = 0; u < kSamplesPerThread; ++u) {
        if (keys[u] == kNegInfKey) continue;
        atomicAdd(&sel.count[keys[u] >> kFirstLevelShift], 1u);
        finite[0] += 1.0;
    }
    block_sum(finite, reduce);  // its barriers also order the adds before choose_bin
    const double sf = finite[0], q = 1.0 - (double)p.clamp_p, r = q * sf;
    const double width = 3.0 * sqrt(sf * q * (1.0 - q)) + 4.0;  // the CPU kernel's: misses about 0.3% of rows
    const int64_t hi_rank = (int64_t)floor(r - width), lo_rank = (int64_t)ceil(r + width);
    if (sf < kSample / 4 || hi_rank < 0 || lo_rank >= (int64_t)sf) return Band{false, 0, 0};
    unsigned long long need = (unsigned long long)hi_rank + 1;
    const uint32_t hi_bin = (uint32_t)choose_bin(sel, false, need);
    need = (unsigned long long)lo_rank + 1;
    const uint32_t lo_bin = (uint32_t)choose_bin(sel, false, need);
    constexpr int values_per_bin_log2 = kFirstLevelShift - kValueShift<DT>;
    const uint32_t lo = lo_bin << values_per_bin_log2, hi = ((hi_bin + 1) << values_per_bin_log2) - 1;
    return Band{hi - lo < (uint32_t)kBins, lo, hi};
}

// S from the band after pass 1, where `above` holds the count of finite tokens above it and their sums of
// exp(y - m) and exp(y - m)(y2 - m2) (base 2, the target's included) and the bins hold the band's counts: false
// where the band missed the threshold (the count to keep, k, is not above + 1 ... above + in the band).
template <int DT, int M>
__device__ bool band_clamped_set(const Band &band, int64_t kept, double above_count, const double (&above)[2],
                                 double in_band, const Transform &tr, float m2, SelectSmem &sel,
                                 ReduceSmem<M> &reduce, ClampedSet &set) {
    if (!(above_count < (double)kept && (double)kept <= above_count + in_band)) return false;
    unsigned long long need = (unsigned long long)(kept - (int64_t)above_count);
    const uint32_t chosen = (uint32_t)choose_bin(sel, false, need);
    constexpr int shift = kValueShift<DT>;
    const auto value = [&](uint32_t b) { return key_value((band.lo + b) << shift, shift); };
    double sums[2] = {0.0, 0.0};
    add_value_bins(sel, false, chosen, value, [](float) { return 1ull; }, tr, m2, sums);
    block_sum(sums, reduce);
    set = ClampedSet{value(chosen), above[0] + sums[0], above[1] + sums[1]};
    return true;
}

}  // namespace pl::cuda
