// The CUDA row kernel: one block of kThreads per row at a time, each block walking rows blockIdx.x,
// blockIdx.x + gridDim.x, ... (or a row split over the blocks of a cluster: clustered_rows.cuh, the same code on a
// span of the row).  Per row (SPEC sections 2-4):
//  1. the row's scalars, loaded into shared memory by six warps at once and checked there (SPEC section 8, in the
//     CPU kernel's order);
//  2. one pass over the logits: online max, sum exp(y - m) and sum exp(y - m)(y - m) over the tokens other than
//     the target (its terms are added once), the -inf count, the first NaN / +inf column, and, with a clamp,
//     either the counts and sums of a band sampled at the row's start (rows of 16,384 logits or more, bf16 / fp16
//     and fp32 TOKEN_FRACTION: sampled_band.cuh) or, for TOKEN_FRACTION, the first radix level's histogram of keys;
//  3. with clamp_p > 0, the clamped set S on the raw logits' keys: from a bf16 / fp16 band alone where it holds the
//     threshold; else by the radix select (radix_select.cuh: levels of 11, 11 and 10 bits, two for bf16 / fp16,
//     three for fp32, whose band gives the first two; PROBABILITY_MASS first weighs the first level by exp-mass,
//     over the tokens near enough the max to be in S, a TOKEN_FRACTION band that missed first counts it), whose last
//     pass also takes the sums over S.  So S takes no pass of its own where a bf16 / fp16 band holds the threshold;
//     for TOKEN_FRACTION one, without a band (bf16 / fp16) or with one that held it (fp32), two for fp32 without a
//     band, and one more where a band missed; for PROBABILITY_MASS two, three for fp32;
//  4. the loss of the row (row_loss, shared with the CPU kernel) and its outputs;
//  5. a last pass that writes dlogits.
// Passes after the first read the row again, from L2 where the rows in flight still fit there (the host holds them
// to twice L2: fused_loss.cu), and the last pass marks what it reads and writes evict-first, so that it leaves L2
// before the rows still to be read again (row_access.cuh).  Exponentials and log-probabilities are
// taken in base 2 (Transform::y2), one ex2 instruction each, and converted to nats once per row: per column,
// pass 1 is a multiply, a finiteness test, a max, a subtract, the ex2, an add and an FMA; the gradient pass a
// multiply, two subtracts, the ex2, a max and two FMAs (without the clamp and the softcap, whose terms add to both).
#pragma once
#include <cstdint>
#include <type_traits>

#include "../order_key.hpp"
#include "../row_error.hpp"
#include "../row_loss.hpp"
#include "block_reduce.cuh"
#include "kernel_args.cuh"
#include "radix_select.cuh"
#include "row_access.cuh"
#include "row_record.hpp"
#include "sampled_band.cuh"

namespace pl::cuda {

// The code of a row kernel instance (fused_loss_row's CODE): bits for the clamp's and the softcap's.
constexpr int kPlainCode = 0, kClampCode = 1, kSoftcapCode = 2, kFullCode = kClampCode | kSoftcapCode;

// A row's per-row inputs, padding's included (every array holds N values; a padding row's target, which may be
// anything, is never used).
struct RowScalars {
    float weight, temperature, old_logp, advantage, ref_logp;
    int64_t target;
    float next_weight;  // the weight of the block's next row, where its last pass may prefetch that row
};

// check_row_scalars's view of RowScalars, as of a call of one row (index 0), so that the CPU and CUDA kernels
// keep one definition of the checks and their order.
struct ScalarView {
    const float *temperature, *old_logp, *advantage, *ref_logp;
    int64_t vocab;
};

struct RowSmem {
    ReduceSmem<7> reduce;  // pass 1's sums, a sampled band's four included
    SelectSmem select;
    float max_slots[kWarps];
    int64_t min_slots[kWarps];
    unsigned long long u64_slots[kWarps];
    RowScalars scalars;
    float target_logit;  // z_a, kept by the thread that reads it in pass 1
};

// Row i's scalars into shared memory, each read by the first thread of a warp of its own: the whole block waits for
// them at the start of every row, so their loads are in flight together.  Read in turn by one thread with the
// checks between them, they would be a chain of up to six global loads, each waiting for the one before (seven
// with the target's logit, which pass 1 keeps instead).  NEXT_ROW: also the weight of row `next` into next_weight
// (0 where next is n_rows or more).
template <bool NEXT_ROW>
__device__ __forceinline__ void load_row_scalars(const pl_loss_params &p, const KernelArgs &a, int64_t i,
                                                 int64_t next, RowScalars &r) {
    static_assert(kWarps >= 6 + NEXT_ROW, "a warp for each scalar");
    if (threadIdx.x % 32 != 0) return;
    switch (threadIdx.x / 32) {
        case 0: r.weight = a.weight[i]; break;
        case 1: r.temperature = a.temperature ? a.temperature[i] : p.temperature; break;
        case 2: r.target = target_at(a.target, a.target64, i); break;
        case 3: r.old_logp = a.old_logp[i]; break;
        case 4: r.advantage = a.advantage[i]; break;
        case 5: r.ref_logp = a.ref_logp ? a.ref_logp[i] : 0.0f; break;
        case 6:
            if (NEXT_ROW) r.next_weight = next < a.n_rows ? a.weight[next] : 0.0f;
            break;
    }
}

// The checks of SPEC section 8 that need no logits, in the CPU kernel's order.
__device__ __forceinline__ RowError check_scalars(const KernelArgs &a, const RowScalars &r) {
    if (!std::isfinite(r.weight)) return RowError{ROW_WEIGHT_NOT_FINITE, 0};
    if (r.weight == 0.0f) return RowError{ROW_OK, 0};
    const ScalarView view{a.temperature ? &r.temperature : nullptr, &r.old_logp, &r.advantage,
                          a.ref_logp ? &r.ref_logp : nullptr, a.vocab};
    return check_row_scalars(view, 0, r.target);
}

// By the thread that writes the row's outputs (the span's leader).
__device__ __forceinline__ void record_error(const KernelArgs &a, int64_t i, int32_t code, int64_t detail,
                                             bool leader) {
    if (!leader) return;
    RowRecord r{};
    r.info = (uint32_t)code << kErrorShift;
    r.detail = (int32_t)detail;
    a.records[i] = r;
}

// What pass 1 found over the whole row: the first NaN or +inf column, the max (base-2 units) and the target's logit.
struct FirstPassTotals {
    int64_t first_bad;
    float row_max, target_logit;
};

// The row kernel's own span of a row: all of it, in one block, read from global memory at each pass.  A span says
// which columns a block reads in each pass (pass 1, the radix select's, the gradient's), how its values and its
// histograms combine into the row's, and which thread writes the row's outputs; the other span (clustered_rows.cuh)
// splits a row over the blocks of a cluster.  Walk: the last pass's direction and the prefetches (row_access.cuh's
// RowWalk); `next_row`, where a pass is the last to read its row: the block's next row to prefetch, or null.
template <int DT, bool VEC, class Walk = BuildWalk>
struct BlockSpan {
    using T = typename Elem<DT>::type;
    static constexpr bool kPrefetchesNextRow = VEC && Walk::kPrefetchNextRow;
    float l2_keep;  // the share of a row's lines that pass 1 marks to keep in L2 (KernelArgs's)

    __device__ __forceinline__ bool leader() const { return threadIdx.x == 0; }
    __device__ __forceinline__ int64_t next_row_index(int64_t i) const { return i + gridDim.x; }

    template <typename F>
    __device__ __forceinline__ void first_pass(const T *row, int64_t vocab, F &&f, const T *next_row) {
        for_each_pack<DT, VEC, false, Walk>(row, vocab, f, next_row, l2_keep);
    }
    template <typename F>
    __device__ __forceinline__ void each_column(const T *row, int64_t vocab, F &&f) {
        for_each_column<DT, VEC, Walk>(row, vocab, f);
    }
    template <typename F>
    __device__ __forceinline__ void last_pass(const T *row, int64_t vocab, F &&f, const T *next_row) {
        for_each_pack<DT, VEC, true, Walk>(row, vocab, f, next_row);
    }

    // `bad`, `m`: this thread's first bad column and max; s.target_logit, written in pass 1, is read after the
    // reductions' barriers.
    __device__ __forceinline__ FirstPassTotals totals(int64_t bad, float m, int64_t, RowSmem &s) {
        const int64_t first_bad = block_min(bad, s.min_slots);
        const float row_max = block_max(m, s.max_slots);
        return FirstPassTotals{first_bad, row_max, s.target_logit};
    }
    template <int K, int M>
    __device__ __forceinline__ void sum_first(double *v, ReduceSmem<M> &reduce) {
        block_sum_first<K>(v, reduce);
    }
    __device__ __forceinline__ unsigned long long sum_u64(unsigned long long v, unsigned long long *slots) {
        return block_sum_u64(v, slots);
    }
    // The block's histogram is the row's.
    __device__ __forceinline__ void merge_bins(SelectSmem &, bool) {}
    __device__ __forceinline__ bool adds_row_bins() const { return true; }

    template <int DDT>
    __device__ __forceinline__ void zero_gradient(typename Elem<DDT>::type *drow, int64_t vocab) {
        constexpr int Q = VEC ? kPack<DDT> : 1;
        const int64_t packs = vocab / Q;
        float zeros[Q] = {};
        for (int64_t pk = threadIdx.x; pk < packs; pk += kThreads) store_columns<DDT>(drow, pk * Q, zeros);
        for (int64_t c = packs * Q + threadIdx.x; c < vocab; c += kThreads)
            store_evict_first(drow + c, from_float<DDT>(0.0f));
    }
};

// Rows of weight 0: never read; zero gradient, zero outputs, counted in no metric.
template <int DDT, typename Span>
__device__ void skip_row(const KernelArgs &a, int64_t i, Span &span) {
    using D = typename Elem<DDT>::type;
    if (a.dlogits) span.template zero_gradient<DDT>((D *)a.dlogits + i * a.ld_dlogits, a.vocab);
    if (span.leader()) {
        if (a.out_logp) a.out_logp[i] = 0.0f;
        if (a.out_entropy) a.out_entropy[i] = 0.0f;
        if (a.out_clamped_entropy) a.out_clamped_entropy[i] = 0.0f;
        if (a.out_ratio) a.out_ratio[i] = 0.0f;
        if (a.out_loss) a.out_loss[i] = 0.0f;
        if (a.out_kl) a.out_kl[i] = 0.0f;
        if (a.out_flags) a.out_flags[i] = 0;
        a.records[i] = RowRecord{};
    }
}

// SPEC section 4's gradient of a row, dL/dz_v = g w [ G (1[v = a] - pi_v) + lambda_H pi_v (log pi_v + H)
// + lambda_C pt_v (log pt_v + Hc) 1[v in S] ] dy/dz_v (as the CPU kernel's phase_b), as brackets linear in
// lp2 = log2 pi_v, with dy/dz's constant s / tau folded in (the softcap's slope multiplies after):
//   every column   pi_v (a lp2 + b), where b = b_h - G g w s / tau;
//   on S, added    pi_v (a_c lp2 + b_c);
//   the target     target + pi_a (a lp2 + b_h) [+ the S term], where target is G g w (1 - pi_a) s / tau taken
//                  from the sum over the other tokens, not from 1 - pi_a in fp32.
// Without the clamp S is every finite token and pt = pi, so lambda_C folds into lambda_H; with it pt = c pi on S,
// so log pt + Hc = log pi + log c + Hc.
struct GradientTerms {
    float a, b, b_h, a_c, b_c, target;
};

__device__ __forceinline__ GradientTerms gradient_terms(const pl_loss_params &p, float w, float dloss_dlogp,
                                                        double entropy, bool clamp, double log_c,
                                                        double clamped_entropy, double other_mass, float dy_dz) {
    const double gw = (double)p.grad_scale * w * dy_dz;
    const double c_h = gw * (clamp ? p.entropy_coef : (double)p.entropy_coef + p.clamped_entropy_coef);
    const double c_c = clamp ? gw * p.clamped_entropy_coef * exp(log_c) : 0.0;
    const double c_logp = gw * dloss_dlogp, b_h = c_h * entropy;
    return GradientTerms{(float)(c_h * kLn2),         (float)(b_h - c_logp),
                         (float)b_h,                  (float)(c_c * kLn2),
                         (float)(c_c * (log_c + clamped_entropy)), (float)(c_logp * other_mass)};
}

// CODE: the code an instance is compiled with, the clamp's (kClampCode) and the softcap's (kSoftcapCode), chosen from
// the call by kernel_plan.cuh's row_code: a call without one or both runs loops with no branch per column to their
// code, in a fraction of the instruction bytes (kPlainCode, the calls most have; kClampCode, the clamped modes
// without a softcap; kSoftcapCode, Gemma 2's entropy calls).
// `span`: the columns this block reads (BlockSpan: all of them).  The sampled bands read their samples from the row
// in global memory, the same in every block of a span.
template <int DT, int DDT, bool VEC, int CODE, typename Span>
__device__ void fused_loss_row(const pl_loss_params &p, const KernelArgs &a, int64_t i, RowSmem &s, Span &span) {
    using T = typename Elem<DT>::type;
    using D = typename Elem<DDT>::type;
    const T *row = (const T *)a.logits + i * a.ld;
    int64_t next = a.n_rows;  // the block's next row, where the span prefetches it
    if constexpr (Span::kPrefetchesNextRow) next = span.next_row_index(i);
    load_row_scalars<Span::kPrefetchesNextRow>(p, a, i, next, s.scalars);
    __syncthreads();
    // Read from shared memory where used (written again only for the next row, after fused_loss_rows's barrier).
    const RowScalars &r = s.scalars;
    const int64_t target = r.target;
    const float w = r.weight, tau = r.temperature;
    const RowError scalar_error = check_scalars(a, r);
    if (scalar_error.code != ROW_OK) {
        record_error(a, i, scalar_error.code, scalar_error.detail, span.leader());
        return;
    }
    if (w == 0.0f) {
        skip_row<DDT>(a, i, span);
        return;
    }

    // The next row to prefetch where it is read (a finite weight, not 0; a row that fails a scalar check is not
    // read either, but is in the buffer); null where the span does not prefetch one.
    const T *next_row = nullptr;
    if (Span::kPrefetchesNextRow && std::isfinite(r.next_weight) && r.next_weight != 0.0f)
        next_row = (const T *)a.logits + next * a.ld;
    const Transform tr = Transform::make(p.logit_scale, CODE & kSoftcapCode ? p.softcap : 0.0f, tau);
    const bool clamp = (CODE & kClampCode) && p.clamp_p > 0.0f;
    const bool token_fraction = p.clamp_mode == PL_CLAMP_TOKEN_FRACTION;
    Band band{false, 0, 0};
    if (samples_band<DT, VEC>(clamp, token_fraction, a.vocab))
        band = token_fraction ? sample_band<DT>(p, row, a.vocab, s.select, s.reduce)
                              : sample_mass_band<DT>(p, row, a.vocab, target, tr, s.select, s.reduce, s.max_slots);
    // Tokens are binned in pass 1 by value where the row has a band; else TOKEN_FRACTION's every token by the radix
    // select's first level (PROBABILITY_MASS's weighs that level after pass 1, once the row's max is known).
    const bool bin_tokens = clamp && (token_fraction || band.active);
    if (bin_tokens) s.select.clear_bins();

    // Pass 1.  Each thread keeps its own running max m (base-2 units, as every y2 below) and the sums relative to
    // it, rescaled when m grows: S' = sum 2^(y2 - m) and T' = sum 2^(y2 - m)(y2 - m) over the tokens other than
    // the target, whose terms are added once after the block's reduction (so S' is also G's sum over the others);
    // with a band, the same sums over the tokens above it.
    float m = -INFINITY, sum_e = 0.0f, sum_t = 0.0f, above_e = 0.0f, above_t = 0.0f;
    int32_t masked = 0;                // -inf logits
    // Finite tokens above the band and in it, the target's included (in_band from the band's bins after the pass).
    int32_t above_n = 0, in_band = 0;
    int64_t bad_column = INT64_MAX;
    const auto raise_max = [&](float y2) {  // y2 > m
        if (sum_e > 0.0f) {
            const float scale = exp2_approx(m - y2);
            sum_t = scale * fmaf(m - y2, sum_e, sum_t);
            sum_e *= scale;
            above_t = scale * fmaf(m - y2, above_e, above_t);
            above_e *= scale;
        }
        // A zero max as +0: y2 may be the pack's fmaxf, whose sign for zeros of both signs is the compiled code's
        // choice, and y2 - m then reaches ex2 as -0 or +0 by the instance (block_max does the same for the row's).
        m = y2 + 0.0f;
    };
    const auto add = [&](float y2, float &e, float &d) {  // a token other than the target: its terms, kept
        d = y2 - m;
        e = exp2_approx(d);
        sum_e += e;
        sum_t = fmaf(e, d, sum_t);
    };
    // A finite token into its bin: by the radix select's first level (no band), or into the band's bin of its value,
    // or, above the band, into the sums over the tokens above it; e and d: its 2^(y2 - m) and y2 - m (0 for the
    // target, added after the pass).  No branch: a warp's lanes fall on every side of the band, and ptxas puts an
    // atomic taken by some lanes in one (BSSY, BRA, BSYNC: three instruction slots a column at 60b676c, sm_90), so
    // every lane counts, a token out of the band on the lane's own word of `uncounted`; the sums over the tokens
    // above the band are predicated instructions, the same bits as adding 0 where not above.  `one_sided`
    // (std::true_type where the band's values lie on one side of 0): the bin from the logit's bits (sampled_band.cuh's
    // BandTests).
    const auto bin_first_level = [&](float z) {
        atomicAdd(&s.select.count[order_key(z) >> kFirstLevelShift], 1u);
    };
    const BandTests<DT> tests = band.active ? band_tests<DT>(band, s.select.count) : BandTests<DT>{};
    const SharedAddress uncounted = s.select.lane_uncounted();
    const auto band_bin = [&](auto one_sided, float z) {  // z's bin, a token of the band's
        if constexpr (decltype(one_sided)::value) return tests.one_sided_bin(z);
        else return shared_address(&s.select.count[(order_key(z) >> kValueShift<DT>) - band.lo]);
    };
    const auto bin_in_band = [&](auto one_sided, float z, float e, float d) {
        const bool above = z > tests.top;
        count_at(z >= tests.bottom && !above ? band_bin(one_sided, z) : uncounted);
        if (above) {
            ++above_n;
            if constexpr (DT != PL_F32) {  // fp32's select sums S in its last level, over every token above its bins
                above_e += e;
                above_t = fmaf(e, d, above_t);
            }
        }
    };
    const auto bin_token = [&](float z, float e, float d) {
        if (band.active) bin_in_band(std::false_type{}, z, e, d);
        else bin_first_level(z);
    };
    span.first_pass(row, a.vocab, [&](int64_t c0, const auto &z) {
        constexpr int n = sizeof(z) / sizeof(float);
        float y2[n];
        float pack_max = -INFINITY;
        bool finite = true;
#pragma unroll
        for (int j = 0; j < n; ++j) {
            y2[j] = tr.y2(z[j]);
            finite &= fabsf(y2[j]) < INFINITY;
            pack_max = fmaxf(pack_max, y2[j]);
        }
        if (finite && (uint64_t)(target - c0) >= (uint64_t)n) {  // almost every pack: one max test, no branches
            if (pack_max > m) raise_max(pack_max);
            float e[n], d[n];
#pragma unroll
            for (int j = 0; j < n; ++j) add(y2[j], e[j], d[j]);
            // The row's binning chosen once a pack, not once a column.
            if (tests.one_sided()) {
#pragma unroll
                for (int j = 0; j < n; ++j) bin_in_band(std::true_type{}, z[j], e[j], d[j]);
            } else if (band.active) {
#pragma unroll
                for (int j = 0; j < n; ++j) bin_in_band(std::false_type{}, z[j], e[j], d[j]);
            } else if (bin_tokens) {
#pragma unroll
                for (int j = 0; j < n; ++j) bin_first_level(z[j]);
            }
            return;
        }
#pragma unroll
        for (int j = 0; j < n; ++j) {
            // The target's logit, kept by the one thread that reads it: with dlogits in place, no thread may read
            // it later, as its gradient may be written over it after the barriers that follow this pass.
            if (c0 + j == target) s.target_logit = z[j];
            if (!(fabsf(y2[j]) < INFINITY)) {
                if (y2[j] == -INFINITY) ++masked;
                else bad_column = c0 + j < bad_column ? c0 + j : bad_column;
                continue;
            }
            if (y2[j] > m) raise_max(y2[j]);  // the target too: the row's max may be the target alone
            float e = 0.0f, d = 0.0f;
            if (c0 + j != target) add(y2[j], e, d);
            if (bin_tokens) bin_token(z[j], e, d);
        }
    }, a.dlogits || clamp ? nullptr : next_row);  // the row's last pass where neither a gradient nor a select follows
    const FirstPassTotals first = span.totals(bad_column, m, target, s);
    // The band's count, whole after totals' barriers.
    if (band.active) in_band = (int32_t)s.select.held_by_this_thread<kBandCountBins<DT>>(false);
    const float row_max = first.row_max;
    if (first.first_bad != INT64_MAX) {
        record_error(a, i, ROW_LOGITS_NAN, first.first_bad, span.leader());
        return;
    }
    if (row_max == -INFINITY) {
        record_error(a, i, ROW_NO_FINITE_LOGIT, 0, span.leader());
        return;
    }
    // Over the row, relative to its max: S', T', the -inf count; with a band, its sums and counts.
    double sums[7] = {0.0, 0.0, (double)masked, 0.0, 0.0, (double)above_n, (double)in_band};
    if (m > -INFINITY) {
        const float scale = exp2_approx(m - row_max);
        const double to_max = (double)m - (double)row_max;
        sums[0] = (double)sum_e * scale;
        sums[1] = ((double)sum_t + to_max * sum_e) * scale;
        sums[3] = (double)above_e * scale;
        sums[4] = ((double)above_t + to_max * above_e) * scale;
    }
    if (band.active) span.template sum_first<7>(sums, s.reduce);
    else span.template sum_first<3>(sums, s.reduce);
    const int64_t finite_count = a.vocab - (int64_t)sums[2];

    const float y2_target = tr.y2(first.target_logit);
    if (y2_target == -INFINITY) {
        record_error(a, i, ROW_TARGET_MASKED, target, span.leader());
        return;
    }
    const double d_target = (double)y2_target - (double)row_max, e_target = exp2(d_target);
    const double total_other = sums[0], total_e = total_other + e_target;
    const double log_s = log(total_e);
    const double entropy = log_s - kLn2 * (sums[1] + e_target * d_target) / total_e;
    double clamped_entropy = entropy, log_c = 0.0;
    float smallest_in_s = 0.0f;
    if (clamp) {
        if (bin_tokens) span.merge_bins(s.select, false);  // pass 1's counts
        ClampedSet set;
        bool from_band = false;  // S from the band; fp32's: the threshold's 22-bit prefix, where the select starts
        RadixStart start{0, 0, 0, 0};
        if constexpr (DT == PL_F32) {
            if (band.active)
                from_band = band_prefix(band, kept_tokens(p.clamp_p, finite_count), sums[5], sums[6], s.select, start);
        } else if (band.active) {
            const bool target_above = (order_key(first.target_logit) >> kValueShift<DT>) > band.hi;
            const double above[2] = {sums[3] + (target_above ? e_target : 0.0),
                                     sums[4] + (target_above ? e_target * d_target : 0.0)};
            from_band = token_fraction
                            ? band_clamped_set<DT>(band, kept_tokens(p.clamp_p, finite_count), sums[5], above, sums[6],
                                                   tr, row_max, s.select, s.reduce, set)
                            : band_mass_set<DT>(band, p.clamp_p, total_e, above, tr, row_max, s.select, s.reduce,
                                                s.u64_slots, set);
        }
#ifndef __CUDACC__
        if (band.active && span.leader()) {
            __atomic_fetch_add(from_band ? &emulated_band_hits : &emulated_band_misses, 1, __ATOMIC_RELAXED);
            if (tests.one_sided()) __atomic_fetch_add(&emulated_one_sided_bands, 1, __ATOMIC_RELAXED);
        }
#endif
        // Without a band pass 1 counted the first level; a band that missed left its own counts there instead, and
        // an fp32 band that held the threshold gave its prefix (start).
        if (!from_band || DT == PL_F32)
            set = select_clamped_set<DT>(p, row, a.vocab, tr, row_max, total_e, finite_count, !band.active, start,
                                         s.select, s.reduce, s.u64_slots, span);
        smallest_in_s = set.smallest;
        clamped_entropy = log(set.sum_e) - kLn2 * set.sum_t2 / set.sum_e;
        log_c = log_s - log(set.sum_e);
    }
    const RowStats stats{(float)(kLn2 * d_target - log_s), (float)entropy, (float)clamped_entropy};
    const RowLoss loss = row_loss(p, stats, r.old_logp, a.ref_logp != nullptr, r.ref_logp, r.advantage);
    if (span.leader()) {
        if (a.out_logp) a.out_logp[i] = stats.logp;
        if (a.out_entropy) a.out_entropy[i] = stats.entropy;
        if (a.out_clamped_entropy) a.out_clamped_entropy[i] = stats.clamped_entropy;
        if (a.out_ratio) a.out_ratio[i] = loss.ratio;
        if (a.out_loss) a.out_loss[i] = loss.loss;
        if (a.out_kl) a.out_kl[i] = loss.kl;
        if (a.out_flags) a.out_flags[i] = loss.flags;
        a.records[i] = RowRecord{loss.loss, stats.entropy, stats.clamped_entropy, loss.ratio, stats.logp, loss.kl,
                                 (uint32_t)loss.flags | kCounted, 0};
    }
    if (!a.dlogits) return;

    // Pass 2: the gradient, as the CPU kernel's phase_b, per column an FMA per bracket (GradientTerms).
    const GradientTerms gt = gradient_terms(p, w, loss.dloss_dlogp, entropy, clamp, log_c, clamped_entropy,
                                            total_other / total_e, p.logit_scale / tau);
    const float log2_sum = (float)(log_s * kLog2e);
    // (pi_v (a lp2 + b) + intercept, plus pi_v (a_c lp2 + b_c) on S) times the softcap's slope, lp2 = log2 pi_v.
    const auto column = [&](float z, float b, float intercept) {
        float slope;
        const float lp2 = (tr.y2(z, slope) - row_max) - log2_sum;
        const float pi = exp2_approx(lp2);
        // A masked column has lp2 = -inf and pi = 0: a floor on lp2 keeps the bracket finite, so its gradient is
        // 0 and not NaN (0 * -inf), and the zero intercept makes that +0, as the CPU kernel writes there.
        const float l = fmaxf(lp2, -1024.0f);
        float x = fmaf(gt.a, l, b);
        if (clamp && z >= smallest_in_s) x += fmaf(gt.a_c, l, gt.b_c);
        return fmaf(pi, x, intercept) * slope;
    };
    D *drow = opaque((D *)a.dlogits + i * a.ld_dlogits);
    span.last_pass(row, a.vocab, [&](int64_t c0, const auto &z) {
        constexpr int n = sizeof(z) / sizeof(float);
        float g[n];
#pragma unroll
        for (int j = 0; j < n; ++j) g[j] = column(z[j], gt.b, 0.0f);
        if ((uint64_t)(target - c0) < (uint64_t)n) {  // the pack holding the target
            // Its logit picked out first and its gradient taken once: taken at its column of the unrolled pack, it
            // let the compiler keep what the columns' gradients had computed (in the clamp's instances, whether each
            // column is in S: two instructions a column to build a bit mask) for a branch that almost no pack takes.
            float zt = 0.0f;
#pragma unroll
            for (int j = 0; j < n; ++j) zt = c0 + j == target ? z[j] : zt;
            const float g_target = column(zt, gt.b_h, gt.target);
#pragma unroll
            for (int j = 0; j < n; ++j) g[j] = c0 + j == target ? g_target : g[j];
        }
        store_columns<DDT>(drow, c0, g);
    }, next_row);
}

// The block's rows: blockIdx.x, blockIdx.x + gridDim.x, ...
template <int DT, int DDT, bool VEC, int CODE, class Walk>
__device__ void fused_loss_rows(const pl_loss_params &p, const KernelArgs &a, RowSmem &s) {
    BlockSpan<DT, VEC, Walk> span{a.l2_keep};
    for (int64_t i = blockIdx.x; i < a.n_rows; i += gridDim.x) {
        fused_loss_row<DT, DDT, VEC, CODE>(p, a, i, s, span);
        __syncthreads();  // the next row reuses s
    }
}

}  // namespace pl::cuda
