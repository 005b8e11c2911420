// The radix select of the clamped set S (SPEC section 2) on the keys of a row's raw logits, in up to three levels
// of 11, 11 and 10 bits, each a histogram in shared memory (SelectSmem) and a pass over the row from L2; and what it
// shares with the sampled bands (sampled_band.cuh): S's form and its sums over bins of one value each.
#pragma once
#include <cmath>
#include <cstdint>

#include "../order_key.hpp"
#include "block_reduce.cuh"
#include "policyloss.h"
#include "row_access.cuh"

namespace pl::cuda {

// Fixed point of the PROBABILITY_MASS histogram: exp(y - m) in [0, 1] times 2^40, summed in integers so the
// bins do not depend on the order of the atomics.  The smallest mass counted, 2^-40 of the top token's, is far
// below what decides a nucleus boundary.
constexpr float kMassScale = 1099511627776.0f;  // 2^40

// The fixed-point mass of a token d2 below the reference (base 2 units: d2 = y2 - m2 <= 0 for the row's max m2).
__device__ __forceinline__ unsigned long long fixed_mass(float d2) {
    return (unsigned long long)(exp2_approx(d2) * kMassScale);
}

// What choose_bin must reach to cover `mass` (fixed point) of bins that hold `held`: the smallest integer at or
// above it, within [1, held] (choose_bin's range; rounding may put `mass` a little past what the bins hold).
__device__ __forceinline__ unsigned long long mass_need(double mass, unsigned long long held) {
    const double need = ceil(mass);
    if (!(need >= 1.0)) return 1;
    const unsigned long long n = (unsigned long long)need;
    return n > held ? held : n;
}

// PROBABILITY_MASS weighs only the tokens that can be in S.  A token more than log2(finite / (p s)) + 1 below the row's
// max (base-2 units; s = sum exp(y - m) over the row, from pass 1) is lighter than p s / (2 finite), so such tokens,
// however many, hold less than p s / 2 together: S, which covers 1 - p of s, lies above them all.  On a confident
// model's rows, whose bulk lies 15 nats or more under a few heavy tokens, that is almost every token, whose exponential
// and two atomics (piling onto the few bins the bulk falls in) the weighing then skips: measured through the emulated
// kernel on rows of 151,936 logits, normal N(0, 2.5^2) under a target at 20 (99% of the mass), it weighs 1.0% of them
// at p = 0.2 and 0.4% at p = 0.5; without the target, 37% and 24%.  The mass to cover is (1 - p) s in the bins' fixed
// point, which the tokens weighed exceed by about p s / 2, less the rounding in which pass 1's sums and the bins differ
// (about 1e-6 of s).  Below kMassCutMinP that margin would come near the rounding, so every token is weighed, and the
// mass to cover is (1 - p) of the bins' own total.
constexpr float kMassCutMinP = 0x1p-10f;

// The cut below which PROBABILITY_MASS's weighing skips a token, in base-2 units under the row's max; -inf where
// every token is weighed.
__device__ __forceinline__ float mass_cut(float p, double total_e, int64_t finite) {
    return p < kMassCutMinP ? -INFINITY
                            : log2_approx(p) + log2_approx((float)total_e) - log2_approx((float)finite) - 1.0f;
}

#ifndef __CUDACC__
// The tokens PROBABILITY_MASS's first level weighed, counted where the emulated test runs this code on the host
// (native/tests/test_cuda_emulated.cpp): the results alone cannot tell a cut from none.  Added to atomically, as
// emulated_band_hits.
inline int64_t emulated_mass_weighed = 0;
#endif

// Radix levels of the select, each resolving the next 11, 11 and 10 key bits from the top.  A bf16 or fp16 logit
// becomes a float whose key has at most 19 significant bits (sign, exponent and 10 mantissa bits), so for those
// dtypes two levels single out one logit value; fp32 needs all three.
template <int DT>
constexpr int kSelectLevels = DT == PL_F32 ? 3 : 2;
// The first level's bin of a key is its top 11 bits (pass 1 counts TOKEN_FRACTION's where the row has no band).
constexpr int kFirstLevelShift = 21;
// -inf's first-level bin holds no finite logit's key (only negative NaNs' lie beside it; ~0xff7fffff is -FLT_MAX's
// key), and the first level counts no -inf: a prefix chosen from its counts is a finite token's, and -inf's key lies
// under it.
static_assert((kNegInfKey >> kFirstLevelShift) < (~0xff7fffffu >> kFirstLevelShift), "-inf alone in its bin");

// The clamped set S = { v : key(z_v) >= threshold } and its sums over the row: sum exp(y - m) and, in base-2
// units, sum exp(y - m)(y2 - m2).  The threshold's last-level bin holds one logit value, `smallest`, and the key is
// monotone, so S is also { v : z_v >= smallest }: one float comparison per column in the gradient pass.
struct ClampedSet {
    float smallest;
    double sum_e, sum_t2;
};

// Adds to `sums` this thread's share of the bins from `chosen` up, bin b holding copies of the one logit value
// value(b): their count (by_mass: their fixed-point mass, divided here by one copy's, mass(z)) times exp(y - m) and
// exp(y - m)(y2 - m2), in base-2 units.
template <typename Value, typename Mass>
__device__ __forceinline__ void add_value_bins(const SelectSmem &sel, bool by_mass, uint32_t chosen, Value &&value,
                                               Mass &&mass, const Transform &tr, float m2, double (&sums)[2]) {
    for (int j = 0; j < kBinsPerThread; ++j) {
        const uint32_t b = threadIdx.x * kBinsPerThread + j;
        const unsigned long long amount = sel.held(b, by_mass);
        if (b < chosen || amount == 0) continue;
        const float z = value(b);
        const double count = by_mass ? (double)(amount / mass(z)) : (double)amount;
        const float d = tr.y2(z) - m2, e = exp2_approx(d);
        sums[0] += count * e;
        sums[1] += count * e * d;
    }
}

// Where the radix select starts: at its first level (level 0), or at a later one whose prefix, the key bits the
// levels before it resolved, and count still to keep within that prefix (TOKEN_FRACTION) are known already: an fp32
// row's sampled band gives its threshold's 22-bit prefix, the first two levels' (sampled_band.cuh's band_prefix).
struct RadixStart {
    int level;
    uint32_t prefix, prefix_mask;
    unsigned long long need;
};

// The radix select of S over the keys of the row's raw logits (SPEC section 2).  On entry the first level's bins
// hold the token counts (TOKEN_FRACTION, `counted` by the first pass), or they are counted here (TOKEN_FRACTION
// rows whose sampled band missed) or weighed here (PROBABILITY_MASS, the tokens above mass_cut, total_e being the
// row's sum of exp(y - m)); or `start` skips the levels that a band resolved (fp32 TOKEN_FRACTION).  The last level's
// pass also sums the tokens above the bins it counts, which are in S whatever the bin chosen; each of its bins holds
// copies of one logit value, so the chosen bin and those above it add count x exp(y - m) without another pass over
// the row.  `span` (row_kernel.cuh): the columns this block reads, and how its histograms and sums make the row's.
template <int DT, int M, typename Span>
__device__ ClampedSet select_clamped_set(const pl_loss_params &p, const typename Elem<DT>::type *row, int64_t vocab,
                                         const Transform &tr, float m2, double total_e, int64_t finite, bool counted,
                                         const RadixStart &start, SelectSmem &sel, ReduceSmem<M> &reduce,
                                         unsigned long long *u64_slots, Span &span) {
    const int shifts[3] = {kFirstLevelShift, 10, 0};
    const uint32_t widths[3] = {0x7ffu, 0x7ffu, 0x3ffu};
    const bool by_mass = p.clamp_mode == PL_CLAMP_PROBABILITY_MASS;
    // A token's fixed-point exp-mass (kMassScale): equal logits weigh the same, exactly, which add_value_bins's
    // count (a bin's mass divided by one copy's) needs.  -0 and +0 are equal logits, but 2^-0 and 2^+0 are two
    // results of the special function unit, which NVIDIA bounds and does not say are equal: + 0.0f makes the
    // argument one zero (y2 - m2 is -0 for a -0 logit under a row max of 0).
    const auto mass = [&](float z) { return fixed_mass(tr.y2(z) - m2 + 0.0f); };
    const SharedAddress uncounted = sel.lane_uncounted();  // a TOKEN_FRACTION pass's counter for a token in no bin
    // Only fp32 rows start past the first level: the others' instances keep no code for it.
    const int first_level = DT == PL_F32 ? start.level : 0;
    unsigned long long need = start.need;
    uint32_t prefix = start.prefix, prefix_mask = start.prefix_mask;
    if (first_level == 0) {  // the first level, from its bins
        if (by_mass) {
            const float cut = mass_cut(p.clamp_p, total_e, finite);
            sel.clear_bins();
            unsigned long long held = 0;
            span.each_column(row, vocab, [&](int64_t, float z) {
                const float d2 = tr.y2(z) - m2;
                if (!(d2 >= cut)) return;
                const uint32_t key = order_key(z);
                if (key == kNegInfKey) return;
                const unsigned long long q = fixed_mass(d2);
                sel.add_mass(key >> shifts[0], q);
                held += q;
#ifndef __CUDACC__
                __atomic_fetch_add(&emulated_mass_weighed, 1, __ATOMIC_RELAXED);
#endif
            });
            held = span.sum_u64(held, u64_slots);  // also orders the atomics before the merge and choose_bin
            span.merge_bins(sel, true);
            // Cover (1 - p) of the mass: of the row's, or of the bins' where every token is weighed.
            const double mass_total = cut > -INFINITY ? total_e * (double)kMassScale : (double)held;
            need = mass_need((1.0 - (double)p.clamp_p) * mass_total, held);
        } else {
            if (!counted) {
                sel.clear_bins();
                span.each_column(row, vocab, [&](int64_t, float z) {
                    const uint32_t key = order_key(z);
                    count_at(key != kNegInfKey ? shared_address(&sel.count[key >> shifts[0]]) : uncounted);
                });
                __syncthreads();
                span.merge_bins(sel, false);
            }
            need = (unsigned long long)kept_tokens(p.clamp_p, finite);
        }
        prefix = (uint32_t)choose_bin(sel, by_mass, need) << shifts[0];
        prefix_mask = widths[0] << shifts[0];
    }
    float above_e = 0.0f, above_t = 0.0f;  // this thread's tokens above the last level's bins
    constexpr int levels = kSelectLevels<DT>;
    // Unrolled, so that each level's pass is a loop of its own with `last`, `shift` and `width` constants in it.
#pragma unroll
    for (int level = 1; level < levels; ++level) {
        if (level < first_level) continue;
        sel.clear_bins();
        const bool last = level == levels - 1;
        const int shift = shifts[level];
        const uint32_t width = widths[level];
        if (by_mass) {
            // Behind branches: on a confident model's rows few tokens weigh in, and a warp with none of them skips
            // their exponentials and atomics.
            span.each_column(row, vocab, [&](int64_t, float z) {
                const uint32_t key = order_key(z);
                if (key == kNegInfKey) return;
                const uint32_t bin_prefix = key & prefix_mask;
                if (bin_prefix == prefix) {
                    sel.add_mass((key >> shift) & width, mass(z));
                } else if (last && bin_prefix > prefix) {
                    const float d = tr.y2(z) - m2, e = exp2_approx(d);
                    above_e += e;
                    above_t = fmaf(e, d, above_t);
                }
            });
        } else {
            // Without a branch, as pass 1's band (row_kernel.cuh's bin_in_band): the tokens of the prefix are one bin's
            // of the level before, spread over the row, so a warp's lanes split on it at most columns, and ptxas puts
            // an atomic that some lanes take in a branch (BSSY, BRA, BSYNC).  Every lane counts, a token off the
            // prefix on its lane's `uncounted` word, and the sums over the tokens above it are selects (the same bits
            // as the branch's adds); at p = 0.33 two tokens in three are above, so a warp takes the exponential at
            // every column either way.  A -inf logit needs no test of its own: its key matches no prefix chosen and
            // lies under every one (kFirstLevelShift's static_assert).
            span.each_column(row, vocab, [&](int64_t, float z) {
                const uint32_t key = order_key(z);
                const uint32_t bin_prefix = key & prefix_mask;
                count_at(bin_prefix == prefix ? shared_address(&sel.count[(key >> shift) & width]) : uncounted);
                if (last) {
                    const bool above = bin_prefix > prefix;
                    const float d = tr.y2(z) - m2, e = exp2_approx(d);
                    above_e = above ? above_e + e : above_e;
                    above_t = above ? fmaf(e, d, above_t) : above_t;
                }
            });
        }
        __syncthreads();
        span.merge_bins(sel, by_mass);
        prefix |= (uint32_t)choose_bin(sel, by_mass, need) << shift;
        prefix_mask |= width << shift;
    }
    // The last level's bins from the chosen one up (this thread's share), each holding one value.  With
    // PROBABILITY_MASS a bin holds count x mass: tokens lighter than 2^-40 of the top one weigh 0 there and are left
    // out of the sums, which they would change by less than V 2^-40 of the top token's term.
    const int shift = shifts[levels - 1];
    const uint32_t chosen = (prefix >> shift) & widths[levels - 1];
    const uint32_t level_prefix = prefix & ~(widths[levels - 1] << shift);
    // Every block of a span holds the row's bins, so one block adds them to the sums of the tokens above them.
    double sums[2] = {above_e, above_t};
    if (span.adds_row_bins())
        add_value_bins(
            sel, by_mass, chosen, [&](uint32_t b) { return key_value(level_prefix | (b << shift), shift); }, mass, tr,
            m2, sums);
    span.template sum_first<2>(sums, reduce);
    return ClampedSet{key_value(prefix, shift), sums[0], sums[1]};
}

}  // namespace pl::cuda
