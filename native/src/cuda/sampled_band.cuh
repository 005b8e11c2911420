// The clamp's threshold without a pass of its own, for bf16 and fp16 logits on long rows: the CPU kernel's sampled
// bands (cpu/row_kernels.inl: SampleBand for TOKEN_FRACTION, mass_sample_band for PROBABILITY_MASS) on the GPU.  A
// strided sample of the row's keys brackets the threshold (the k-th largest key, or the key where the kept mass reaches
// 1 - p) in a band [lo, hi] with high probability.  Pass 1 then counts each token of the band into a bin of its own
// logit value (such a logit has few enough values that a useful band holds at most kBins of them) and sums exp over the
// tokens above hi, with the exponentials it takes for its other sums.  After pass 1 the threshold and S's sums come
// from those alone, by count or by mass (a bin of one value weighs its count times that value's exponential): the radix
// select (radix_select.cuh) would read the row once more from L2 for TOKEN_FRACTION, twice for PROBABILITY_MASS
// (weighing the first level, then the second), taking exponentials that a warp takes for all its lanes when any of them
// needs one (RESULTS.md: 16 a cycle per SM).  A band that missed (the tokens above hi already reach the threshold, or
// above and in the band together fall short of it: about 0.3% of rows, by the widths below) leaves the row to the radix
// select, TOKEN_FRACTION's first level counted by a pass of its own.  A band whose first-level bins would hold more
// than kBins values (one across 0, where the values crowd without end toward it) is narrowed to the kBins values around
// the sample's estimate.  Long fp32 rows take a TOKEN_FRACTION band of the radix select's 22-bit prefixes instead, each
// a bin of many floats: it gives the threshold's prefix, where the select's last level, which sums S, starts
// (band_prefix): such a row is read three times (pass 1, that level, the gradient) instead of four.  Rows whose sample
// gives no band (mostly masked; TOKEN_FRACTION's threshold near either end of the sample; PROBABILITY_MASS on fp32)
// leave it to the radix select as rows read without 16-byte packs do.
#pragma once
#include <cmath>
#include <cstdint>

#include "../order_key.hpp"
#include "block_reduce.cuh"
#include "policyloss.h"
#include "radix_select.cuh"
#include "row_access.cuh"

namespace pl::cuda {

// The sample (order_key.hpp's kSample keys), shared among the block's threads.
constexpr int kSamplesPerThread = kSample / kThreads;
static_assert(kSample % kThreads == 0, "each thread reads whole samples");

// The low key bits under a band's bins.  A bf16 (16) or fp16 (13) logit's float leaves them zero (ones, once
// order_key flips a negative one): key >> kValueShift numbers the dtype's values in order, one index each.  An fp32
// band's bins are the radix select's 22-bit prefixes, the key bits of its first two levels (10 low bits under
// them), each holding many floats, which the select's last level tells apart.
template <int DT>
constexpr int kValueShift = DT == PL_BF16 ? 16 : DT == PL_F16 ? 13 : 10;

struct Band {
    bool active;
    uint32_t lo, hi;  // value indices (key >> kValueShift): the band is lo <= v <= hi, counted in bin v - lo
};

#ifndef __CUDACC__
// The rows whose band gave S (an fp32 band: its threshold's prefix) and those whose band missed, counted where the
// emulated test runs this code on the host (native/tests/test_cuda_emulated.cpp): the results alone cannot tell the
// band from the radix select.  Added to by relaxed atomics: the blocks of a cooperative launch count on fibers of their
// own, whose plain adds the emulator's race check would report (emulator/cuda_emulator.hpp).
inline int64_t emulated_band_hits = 0, emulated_band_misses = 0;
// The rows whose band lay on one side of 0 (BandTests::one_sided), counted the same way.
inline int64_t emulated_one_sided_bands = 0;
#endif

// Whether a row samples a band: a clamp (`clamp`, the row kernel's, which its instances without the clamp's code hold
// false), 16-byte packs, a long row, and bf16 / fp16 or fp32 TOKEN_FRACTION (a band by mass would need fp32's
// bins weighed by each float's own exponential).  The scalar loads' instances, for rows that are not aligned, were
// left without it when they alone were held to 64 registers, which the band's state in pass 1 would spill; the packed
// instances now are too, and spill with it (benchmarks/RESULTS.md: GPU, measured on an H200).
template <int DT, bool VEC>
__device__ __forceinline__ bool samples_band(bool clamp, bool token_fraction, int64_t vocab) {
    return VEC && (DT != PL_F32 || token_fraction) && clamp && vocab >= kSampleMinVocab;
}

// The row's logits at columns j V / kSample (the CPU kernel's sample), kSamplesPerThread per thread, with the bins
// emptied while their loads are in flight.
template <int DT>
__device__ __forceinline__ void load_sample(const typename Elem<DT>::type *row, int64_t vocab,
                                            float (&z)[kSamplesPerThread], SelectSmem &sel) {
#pragma unroll
    for (int u = 0; u < kSamplesPerThread; ++u)
        z[u] = to_float<DT>(row[(int64_t)(threadIdx.x + u * kThreads) * vocab / kSample]);
    sel.clear_bins();
}

// The index bits that a first-level bin leaves under it: 5 for bf16 values, 8 for fp16's, 11 for fp32's prefixes.
template <int DT>
constexpr int kIndicesPerBinLog2 = kFirstLevelShift - kValueShift<DT>;

// The units that band_around takes its bounds in: bf16 / fp16 bands are placed by first-level bins, each holding
// several values, fp32's by the prefixes themselves.
template <int DT>
constexpr int kBandUnitLog2 = DT == PL_F32 ? 0 : kIndicesPerBinLog2<DT>;

// The bins that pass 1 counts a band in: kBins of one value each for bf16 / fp16, and twice as many for fp32's
// prefixes, among which a sample places the threshold less closely (a band of kBins missed 9% to 27% of the normal
// rows that took one at p = 0.33: benchmarks/RESULTS.md).
template <int DT>
constexpr int kBandCountBins = DT == PL_F32 ? kCountBins : kBins;

// The most units a band may span: their indices fill the bins that pass 1 counts it in.
template <int DT>
constexpr uint32_t kBandBins = kBandCountBins<DT> >> kBandUnitLog2<DT>;

// The band of the units lo_wide ... hi_wide (kBandUnitLog2), as value indices; where they are more than kBandBins,
// the kBandBins of them around `at` (the unit of the sample's estimate), as centred on it as lo_wide and hi_wide
// allow.
template <int DT>
__device__ __forceinline__ Band band_around(uint32_t at, uint32_t lo_wide, uint32_t hi_wide) {
    constexpr uint32_t bins = kBandBins<DT>;
    const uint32_t hi = at + bins / 2 - 1 < hi_wide ? at + bins / 2 - 1 : hi_wide;
    const uint32_t lo_bin = hi - lo_wide >= bins ? hi - (bins - 1) : lo_wide;
    const uint32_t hi_bin = hi_wide - lo_bin >= bins ? lo_bin + (bins - 1) : hi_wide;
    constexpr int log2 = kBandUnitLog2<DT>;
    return Band{true, lo_bin << log2, ((hi_bin + 1) << log2) - 1};
}

// The most 22-bit prefixes from rank r - w to rank r + w of an fp32 row's sample for which it takes a band (three
// times the band's, so the band then holds a third of that reach or more): more would leave the band too little of
// it, and a miss costs the row a pass.
constexpr int64_t kPrefixReachMost = 3 * (int64_t)kBandBins<PL_F32>;

// TOKEN_FRACTION's band of an fp32 row (sample_band's, from its sample's first-level bins in `sel`), the same in every
// thread: the 22-bit prefixes of the sample's keys of ranks hi_rank, at_rank and lo_rank from the top (each from its
// first-level bin, then the next 11 bits of that bin's keys), and the kBandBins prefixes around at_rank's between the
// other two; none where those two are kPrefixReachMost or more apart (benchmarks/gpu/fp32_band_model.py models how
// often rows of normal logits take a band and how often it misses: RESULTS.md).
__device__ __forceinline__ Band prefix_band(const float (&z)[kSamplesPerThread], SelectSmem &sel, int64_t hi_rank,
                                            int64_t at_rank, int64_t lo_rank) {
    constexpr int shift = kValueShift<PL_F32>, below = kIndicesPerBinLog2<PL_F32>;
    static_assert(1 << below == kBins, "a first-level bin's prefixes fill the bins");
    const int64_t ranks[3] = {hi_rank, at_rank, lo_rank};
    unsigned long long need[3];
    uint32_t bin[3], prefix[3];
#pragma unroll
    for (int i = 0; i < 3; ++i) {
        need[i] = (unsigned long long)ranks[i] + 1;
        bin[i] = (uint32_t)choose_bin(sel, false, need[i]);
    }
#pragma unroll
    for (int i = 0; i < 3; ++i) {
        sel.clear_bins();
#pragma unroll
        for (int u = 0; u < kSamplesPerThread; ++u) {
            const uint32_t key = order_key(z[u]);  // -inf's first-level bin holds no finite sample: never bin[i]
            if (key >> kFirstLevelShift == bin[i]) atomicAdd(&sel.count[(key >> shift) & (kBins - 1)], 1u);
        }
        __syncthreads();
        prefix[i] = bin[i] << below | (uint32_t)choose_bin(sel, false, need[i]);
    }
    if ((int64_t)prefix[0] - (int64_t)prefix[2] >= kPrefixReachMost) return Band{false, 0, 0};
    return band_around<PL_F32>(prefix[1], prefix[2], prefix[0]);
}

// TOKEN_FRACTION's band of a row, the same in every thread: the first-level bins (radix_select.cuh) that hold the
// sample's keys of ranks r - w and r + w from the top, r = (1 - p) times the finite samples and w three standard
// deviations of that rank, and the bins between, or the kBandBins of them around the bin of rank r where they are
// more.  Those are rows whose threshold lies near 0 (p = 0.5 on logits centred there, or the paper's p = 0.33 on
// rows whose bulk sits about half its standard deviation up), where a band reaches from one sign to the other,
// across every smaller value of either: the band then reaches toward 0 on the estimate's side, and a threshold on
// the other side is a miss.  fp32's band is prefix_band's.  The bins the band is counted in are left for the caller to
// empty.
template <int DT, int M>
__device__ Band sample_band(const pl_loss_params &p, const typename Elem<DT>::type *row, int64_t vocab,
                            SelectSmem &sel, ReduceSmem<M> &reduce) {
    float z[kSamplesPerThread];
    load_sample<DT>(row, vocab, z, sel);
    double finite[1] = {0.0};
#pragma unroll
    for (int u = 0; u < kSamplesPerThread; ++u) {
        const uint32_t key = order_key(z[u]);
        if (key == kNegInfKey) continue;
        atomicAdd(&sel.count[key >> kFirstLevelShift], 1u);
        finite[0] += 1.0;
    }
    block_sum(finite, reduce);  // its barriers also order the adds before choose_bin
    const double sf = finite[0], q = 1.0 - (double)p.clamp_p, r = q * sf;
    const double width = rank_width(sf, q);
    const int64_t hi_rank = (int64_t)floor(r - width), lo_rank = (int64_t)ceil(r + width);
    if (sf < kSample / 4 || hi_rank < 0 || lo_rank >= (int64_t)sf) return Band{false, 0, 0};
    if constexpr (DT == PL_F32) return prefix_band(z, sel, hi_rank, (int64_t)floor(r), lo_rank);
    unsigned long long need = (unsigned long long)hi_rank + 1;
    const uint32_t hi_bin = (uint32_t)choose_bin(sel, false, need);
    need = (unsigned long long)lo_rank + 1;
    const uint32_t lo_bin = (uint32_t)choose_bin(sel, false, need);
    if (hi_bin - lo_bin < kBandBins<DT>) return band_around<DT>(hi_bin, lo_bin, hi_bin);  // as wide as it fits
    need = (unsigned long long)floor(r) + 1;
    return band_around<DT>((uint32_t)choose_bin(sel, false, need), lo_bin, hi_bin);
}

// How far PROBABILITY_MASS's band reaches either side of the sample's estimate, in standard errors of the mass
// fraction.  Unequal: under a heavy top the estimate errs one way.  The row's heaviest tokens are few and mostly off
// the sample, so the sample puts too little mass near the top and the threshold too low, and its variance misses
// them too.  Measured through the emulated kernel on normal N(0, 2.5^2) logits, 400 rows of V = 151,936 (bf16) and
// 1,400 of V = 32,768 (bf16 and fp16): 4 either side missed 8 and 11 of them, every one from above, with 39,000
// tokens in the band at V = 151,936; 8 up and 3 down missed none, with 28,000 (RESULTS.md).
constexpr double kReachUp = 8.0, kReachDown = 3.0;

// PROBABILITY_MASS's band of a row (the CPU kernel's mass_sample_band, on first-level bins), the same in every
// thread.  The sample's logits, weighted by exp(y - y_max) over the sample's largest and weighed into the bins in the
// radix select's fixed point, estimate where the kept mass reaches 1 - p: the bin where it does, at_q.  The band
// reaches from where the mass reaches 1 - p - kReachUp se to where it reaches 1 - p + kReachDown se, se the ratio
// estimator's standard error (sqrt(sum w^2 (1[above] - q)^2) / sum w, the samples in at_q counted on the side that
// makes it larger), or the rank's width either side of at_q's samples, as TOKEN_FRACTION's band, whichever reaches
// further: on rows of near-equal weights the two are one binomial.  Where that would hold more than kBins values (a
// few heavy samples over a light bulk, whose tokens hold little mass but which both reaches enter), the band keeps
// the kBins values around at_q.  A band clipped by the sample's ends is kept: tokens above it are summed in pass 1,
// and a threshold below it is a miss.  The bins the band is counted in are left for the caller to empty.
// The row's target (in [0, V): check_scalars) joins the sample with the weight of one token, kSample / V of a
// sample's, as a sampled logit stands for V / kSample tokens: a confident model's rows, the commonest in RL on
// reasoning, hold most of their mass on the sampled token, which 2048 columns of the bulk would not see, and the
// band would miss.  Its weight is known, not estimated, so it adds to the total and to its bin's mass, and to
// neither the variance nor the ranks.
template <int DT, int M>
__device__ Band sample_mass_band(const pl_loss_params &p, const typename Elem<DT>::type *row, int64_t vocab,
                                 int64_t target, const Transform &tr, SelectSmem &sel, ReduceSmem<M> &reduce,
                                 float *max_slots) {
    float z[kSamplesPerThread], y2[kSamplesPerThread];
    load_sample<DT>(row, vocab, z, sel);
    const float z_target = to_float<DT>(row[target]);  // the same address in every thread: one load
    const float y2_target = tr.y2(z_target);
    const bool target_finite = fabsf(y2_target) < INFINITY;
    float top = target_finite ? y2_target : -INFINITY;
#pragma unroll
    for (int u = 0; u < kSamplesPerThread; ++u) {
        y2[u] = tr.y2(z[u]);
        if (fabsf(y2[u]) < INFINITY) top = fmaxf(top, y2[u]);  // NaN and +inf are pass 1's errors to report
    }
    top = block_max(top, max_slots);
    if (top == -INFINITY) return Band{false, 0, 0};
    unsigned long long weights[kSamplesPerThread];  // 0 where not finite
    double totals[2] = {0.0, 0.0};  // finite samples; their weight and the target's (integers below 2^53: exact)
#pragma unroll
    for (int u = 0; u < kSamplesPerThread; ++u) {
        weights[u] = 0;
        if (!(fabsf(y2[u]) < INFINITY)) continue;
        weights[u] = fixed_mass(y2[u] - top);
        const uint32_t bin = order_key(z[u]) >> kFirstLevelShift;
        sel.add_mass(bin, weights[u]);
        atomicAdd(&sel.count[bin], 1u);
        totals[0] += 1.0;
        totals[1] += (double)weights[u];
    }
    if (threadIdx.x == 0 && target_finite) {
        const double share = (double)kSample / (double)vocab;  // of a sampled logit's weight
        const unsigned long long w = (unsigned long long)((double)fixed_mass(y2_target - top) * share);
        sel.add_mass(order_key(z_target) >> kFirstLevelShift, w);
        totals[1] += (double)w;
    }
    block_sum(totals, reduce);  // its barriers also order the adds before choose_bin
    const double sf = totals[0], q = 1.0 - (double)p.clamp_p;
    if (sf < kSample / 4) return Band{false, 0, 0};
    const unsigned long long sample_mass = (unsigned long long)totals[1];
    const auto fraction_need = [&](double f) { return mass_need(f * totals[1], sample_mass); };  // f of the sample's
    unsigned long long need = fraction_need(q);
    const uint32_t at_q = (uint32_t)choose_bin(sel, true, need);
    double ranks[3] = {0.0, 0.0, 0.0};  // samples above at_q, in it; the ratio estimator's sum w^2 (1[above] - q)^2
#pragma unroll
    for (int u = 0; u < kSamplesPerThread; ++u) {
        if (weights[u] == 0) continue;
        const uint32_t bin = order_key(z[u]) >> kFirstLevelShift;
        const double w = (double)weights[u] / kMassScale;
        const double d = bin > at_q ? 1.0 - q : bin < at_q ? -q : (q > 0.5 ? q : 1.0 - q);
        ranks[0] += bin > at_q ? 1.0 : 0.0;
        ranks[1] += bin == at_q ? 1.0 : 0.0;
        ranks[2] += w * w * d * d;
    }
    block_sum(ranks, reduce);
    const double se = sqrt(ranks[2]) / (totals[1] / kMassScale);
    const double width = rank_width(sf, (ranks[0] + ranks[1]) / sf);
    const auto rank_need = [&](double rank) {  // the sample of that rank from the top, clipped to the sample
        return (unsigned long long)(rank < 0.0 ? 1.0 : rank > sf - 1.0 ? sf : rank + 1.0);
    };
    need = fraction_need(q - kReachUp * se);
    const uint32_t hi_by_mass = (uint32_t)choose_bin(sel, true, need);
    need = fraction_need(q + kReachDown * se);
    const uint32_t lo_by_mass = (uint32_t)choose_bin(sel, true, need);
    need = rank_need(floor(ranks[0] - width));
    const uint32_t hi_by_rank = (uint32_t)choose_bin(sel, false, need);
    need = rank_need(ceil(ranks[0] + ranks[1] - 1.0 + width));
    const uint32_t lo_by_rank = (uint32_t)choose_bin(sel, false, need);
    // Both reaches, within the kBins values that pass 1 can count.
    return band_around<DT>(at_q, lo_by_rank < lo_by_mass ? lo_by_rank : lo_by_mass,
                           hi_by_rank > hi_by_mass ? hi_by_rank : hi_by_mass);
}

// The logit value of the band's bin b, a bf16 / fp16 band's (one value a bin).
template <int DT>
__device__ __forceinline__ float band_value(const Band &band, uint32_t b) {
    return key_value((band.lo + b) << kValueShift<DT>, kValueShift<DT>);
}

// The value index of 0 (+0's, which order_key gives -0 as well); the index under it holds -0's bits' key, no logit's.
template <int DT>
constexpr uint32_t kZeroValue = 0x80000000u >> kValueShift<DT>;

// Pass 1's tests of a finite token against the band (row_kernel.cuh), on the logit itself: in the band, bottom <= z <=
// top, above it z > top.  These are the tokens whose value indices v = order_key(z) >> kValueShift have lo <= v <= hi
// and v > hi, as keys order values as floats do and tie -0 with +0 as floats do: bottom and top are the floats of the
// band's lowest and highest keys (the infinities where it reaches past them), but for -0's bits' key, which no logit
// has and whose float would tie with +0 above the band, where the key under it stands in.  A token in the band goes
// into bin v - lo: order_key takes four instructions and an add for -0, but on a band whose values all lie on one side
// of 0 (the headline's normal rows at p = 0.33 put theirs under it) v is an affine map of the logit's bits: v = (bits
// >> shift) + kZeroValue above 0, and ~bits >> shift = ((2^32 - 1) >> shift) - (bits >> shift) under it, so the bin's
// address is one multiply-add from an address computed once a row.  A warp counts at almost every column (its lanes
// fall on every side of a band that holds a tenth of the tokens), so what it computes there costs every column.
template <int DT>
struct BandTests {
    float bottom, top;
    // A one-sided band's bytes a value index (4 above 0, -4 under it; 0 for other bands), and where its bins are
    // counted from: the address of the bin of the value whose bits >> shift are 0.
    int32_t step;
    SharedAddress origin;

    __device__ __forceinline__ bool one_sided() const { return step != 0; }
    // The address of z's bin on a one-sided band, z a token of the band's (any address for others).
    __device__ __forceinline__ SharedAddress one_sided_bin(float z) const {
        return origin + (SharedAddress)(step * (int32_t)(float_bits(z) >> kValueShift<DT>));
    }
};

// `bins`: where the band's bins start (bin 0, value index band.lo), for a one-sided band's origin.
template <int DT>
__device__ __forceinline__ BandTests<DT> band_tests(const Band &band, const unsigned *bins) {
    constexpr int shift = kValueShift<DT>;
    constexpr uint32_t zero = kZeroValue<DT>, neg_inf = kNegInfKey >> shift, pos_inf = ~kNegInfKey >> shift;
    constexpr uint32_t negative_zero_key = ~0x80000000u;
    const uint32_t top = band.hi << shift | ((1u << shift) - 1u);
    // v0: the value index whose bits >> shift are 0: v = v0 + (bits >> shift) above 0, v0 - (bits >> shift) under.
    const int32_t step = band.lo > zero ? 4 : band.hi < zero ? -4 : 0;
    const int32_t v0 = step > 0 ? (int32_t)zero : (int32_t)(0xffffffffu >> shift);
    return BandTests<DT>{band.lo <= neg_inf ? -INFINITY : key_value(band.lo << shift, 0),
                         band.hi >= pos_inf ? INFINITY : key_value(top == negative_zero_key ? top - 1 : top, 0), step,
                         shared_address(bins) + (SharedAddress)(4 * (v0 - (int32_t)band.lo))};
}

// S once the band's bin `chosen` holds the threshold: its value, and the sums over the tokens above the band plus
// count x exp over the band's bins from `chosen` up.
template <int DT, int M>
__device__ bool band_set_from(const Band &band, uint32_t chosen, const double (&above)[2], const Transform &tr,
                              float m2, SelectSmem &sel, ReduceSmem<M> &reduce, ClampedSet &set) {
    const auto value = [&](uint32_t b) { return band_value<DT>(band, b); };
    double sums[2] = {0.0, 0.0};
    add_value_bins(sel, false, chosen, value, [](float) { return 1ull; }, tr, m2, sums);
    block_sum(sums, reduce);
    set = ClampedSet{value(chosen), above[0] + sums[0], above[1] + sums[1]};
    return true;
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
    return band_set_from<DT>(band, (uint32_t)choose_bin(sel, false, need), above, tr, m2, sel, reduce, set);
}

// fp32's band after pass 1 (TOKEN_FRACTION), where `above_count` is the count of finite tokens above it and its bins
// hold its counts: the 22-bit prefix that holds the threshold, as band_clamped_set's bin, and the count still to keep
// within it, where the radix select's last level starts (the same prefix and count as its first two levels would
// reach, from every token's count); false where the band missed.
__device__ __forceinline__ bool band_prefix(const Band &band, int64_t kept, double above_count, double in_band,
                                            SelectSmem &sel, RadixStart &start) {
    if (!(above_count < (double)kept && (double)kept <= above_count + in_band)) return false;
    unsigned long long need = (unsigned long long)(kept - (int64_t)above_count);
    constexpr int shift = kValueShift<PL_F32>;
    const uint32_t prefix = band.lo + (uint32_t)choose_bin<kBandCountBins<PL_F32>>(sel, false, need);
    start = RadixStart{kSelectLevels<PL_F32> - 1, prefix << shift, ~0u << shift, need};
    return true;
}

// The same by mass, where `total` is the row's sum of exp(y - m): false where the tokens above the band already
// hold 1 - p of it, or where they and the band's together fall short of it.  The band's bins are weighed by their
// counts in the radix select's fixed point, so that the bin where the mass runs out is an integer scan's, as there.
template <int DT, int M>
__device__ bool band_mass_set(const Band &band, float p, double total, const double (&above)[2], const Transform &tr,
                              float m2, SelectSmem &sel, ReduceSmem<M> &reduce, unsigned long long *u64_slots,
                              ClampedSet &set) {
    const double rest = ((1.0 - (double)p) * total - above[0]) * kMassScale;  // the mass the band must cover
    if (!(rest > 0.0)) return false;
    unsigned long long mine = 0;
    for (int j = 0; j < kBinsPerThread; ++j) {  // this thread's own bins: no atomics
        const uint32_t b = threadIdx.x * kBinsPerThread + j;
        const unsigned long long q =
            sel.count[b] == 0 ? 0ull : sel.count[b] * fixed_mass(tr.y2(band_value<DT>(band, b)) - m2);
        sel.mass_lo[b] = (unsigned)q;
        sel.mass_hi[b] = (unsigned)(q >> 32);
        mine += q;
    }
    const unsigned long long in_band = block_sum_u64(mine, u64_slots);  // also orders the writes before choose_bin
    if (!(rest <= (double)in_band)) return false;
    unsigned long long need = mass_need(rest, in_band);
    return band_set_from<DT>(band, (uint32_t)choose_bin(sel, true, need), above, tr, m2, sel, reduce, set);
}

}  // namespace pl::cuda
