// The CPU row kernels, compiled once per ISA: the including file defines PL_ISA_NS (a namespace) and is compiled
// with that ISA's flags.  Everything here is in an anonymous namespace inside
// PL_ISA_NS, so the copies never meet at link time.
//
// Phase A (per row): one read of the logits from memory, in blocks of kBlock that stay in L1: convert, scale,
// softcap, temperature; online max / sum exp / sum exp * (y - m) (the entropy moment), rescaled when the max grows.
// With clamp_p > 0 the clamped set S is chosen on order-preserving keys of the raw logits (scale, softcap and
// temperature preserve order): inside phase A's own read, on long TOKEN_FRACTION rows from a sampled band
// (SampleBand) and on PROBABILITY_MASS rows from the tokens near the maximum (MassBand), or from a band sampled by
// mass where those are too many; otherwise by a radix select that reads the row twice more, from cache
// (clamp_select).
// Phase B (per row): the second read, which writes dlogits.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>
#include <vector>

#include "key_band_append.hpp"
#include "row_plan.hpp"
#include "vec_math.hpp"

namespace pl::cpu::PL_ISA_NS {
namespace {

constexpr int kBlock = 512;

template <int DT>
constexpr int64_t dtype_bytes() {
    return DT == PL_F32 ? 4 : 2;
}

// u = s z; softcap: u = c tanh(u / c) (a -inf logit stays -inf: masked stays masked); y = u / tau.
struct Transform {
    float scale, softcap, inv_softcap, inv_tau;

    template <bool SOFTCAP>
    inline float y(float z) const {
        float u = z * scale;
        if (SOFTCAP) {
            float capped = softcap * fast_tanh(u * inv_softcap);
            u = z == -INFINITY ? -INFINITY : capped;
            u = z != z ? z : u;  // NaN stays NaN, so validation sees it
        }
        return u * inv_tau;
    }

    // dy/dz = s / tau, times 1 - tanh^2 x with the softcap (x = s z / c), taken as 4 e / (1 + e)^2 for
    // e = exp(-2|x|): 1 - th^2 from th = tanh x would cancel to th's rounding where th nears 1 (a relative error of
    // percents from |x| = 7, and a slope of 0 from about |x| = 9).
    template <bool SOFTCAP>
    inline float dy_dz(float z) const {
        if (!SOFTCAP) return scale * inv_tau;
        const float e = fast_exp(-2.0f * fabsf(z * scale * inv_softcap)), d = 1.0f + e;
        return scale * inv_tau * (4.0f * e / (d * d));
    }
};

Transform make_transform(const pl_loss_params &p, const pl_loss_args &a, int64_t i) {
    float tau = a.temperature ? a.temperature[i] : p.temperature;
    return Transform{p.logit_scale, p.softcap, p.softcap > 0.0f ? 1.0f / p.softcap : 0.0f, 1.0f / tau};
}

template <int DT>
inline void load_block(const void *row, int64_t off, int len, float *out) {
    if (DT == PL_F32) {
        std::memcpy(out, (const float *)row + off, sizeof(float) * len);
    } else {
        const uint16_t *src = (const uint16_t *)row + off;
#pragma omp simd
        for (int j = 0; j < len; ++j) out[j] = DT == PL_BF16 ? bf16_to_f32(src[j]) : f16_to_f32(src[j]);
    }
}

template <int DT>
inline float load_one(const void *row, int64_t col) {
    if (DT == PL_F32) return ((const float *)row)[col];
    uint16_t h = ((const uint16_t *)row)[col];
    return DT == PL_BF16 ? bf16_to_f32(h) : f16_to_f32(h);
}

constexpr int kBins = 2048;
struct Bins {
    int32_t count[kBins];
    double mass[kBins];  // sum of exp(y - m), mass mode only
};

// A histogram built in four interleaved copies (element c goes to copy c % 4), so that runs of equal keys do not
// chain each add on the previous one's store; bin kBins of each copy takes what is not counted (-inf, keys
// outside the prefix), so the loops need no branch.  merge() adds the copies into a Bins.
struct SplitBins {
    static constexpr int kDiscard = kBins;
    int32_t count[4][kBins + 1];
    double mass[4][kBins + 1];  // mass mode only
    void clear(bool by_mass) {
        std::memset(count, 0, sizeof count);
        if (by_mass) std::memset(mass, 0, sizeof mass);
    }
    void merge(Bins &b, bool by_mass) const {
        for (int bin = 0; bin < kBins; ++bin)
            b.count[bin] = (count[0][bin] + count[1][bin]) + (count[2][bin] + count[3][bin]);
        if (by_mass)
            for (int bin = 0; bin < kBins; ++bin)
                b.mass[bin] = (mass[0][bin] + mass[1][bin]) + (mass[2][bin] + mass[3][bin]);
    }
};

// Per-thread buffers for the clamped-entropy selection; the candidate arrays grow to the largest V seen and stay.
struct SelectBuffers {
    Bins bins;
    SplitBins split;
    std::vector<float> cand_z;  // candidates for the threshold: their raw logits
    std::vector<uint32_t> cand_key;  // then their keys, exp(y - m) and exp(y - m)(y - m) (candidate_exps)
    std::vector<float> cand_e, cand_t;
    void reserve(int64_t v) {
        if ((int64_t)cand_key.size() < v) {
            cand_key.resize(v);
            cand_z.resize(v);
            cand_e.resize(v);
            cand_t.resize(v);
        }
    }
};
thread_local SelectBuffers t_buffers;

// One level of the radix select: the bin holding the threshold, scanning from the largest keys, by count
// (TOKEN_FRACTION: `need` = tokens still to keep) or by mass (PROBABILITY_MASS: `need` = exp-mass still to cover).
// `need` loses what the bins above the chosen one hold.
int choose_bin(const Bins &b, bool by_mass, double &need) {
    int lowest_nonempty = -1;
    for (int bin = kBins - 1; bin >= 0; --bin) {
        if (!b.count[bin]) continue;
        lowest_nonempty = bin;
        double amount = by_mass ? b.mass[bin] : (double)b.count[bin];
        if (amount >= need) return bin;
        need -= amount;
    }
    // Only reachable by rounding in the mass mode (the whole row short of 1 - p by an ulp): keep everything.
    // Undo the last bin's step, so the next levels fall back to their lowest bin too and S ends at the smallest key.
    need += by_mass ? b.mass[lowest_nonempty] : (double)b.count[lowest_nonempty];
    return lowest_nonempty;
}

// The bits that differ among the candidates with the given prefix (`all`: the bits they all have).
inline uint32_t varying_bits(const uint32_t *key, int64_t n, uint32_t prefix, uint32_t prefix_mask, uint32_t &all) {
    uint32_t any_one = 0, all_one = ~0u;
#pragma omp simd reduction(| : any_one) reduction(& : all_one)
    for (int64_t c = 0; c < n; ++c) {
        const bool in = (key[c] & prefix_mask) == prefix;
        any_one |= in ? key[c] : 0u;
        all_one &= in ? key[c] : ~0u;
    }
    all = all_one;
    return any_one ^ all_one;
}

// At most this many candidates, select_among_candidates sorts them instead of taking radix levels, whose fixed cost
// (2048 bins cleared, merged and scanned) would be most of its time.  PROBABILITY_MASS rows this short take all
// their tokens as candidates (MassBand), so that no radix pass over the row runs at all.
constexpr int64_t kSortSelect = 128;

// The threshold among at most kSortSelect candidates with the given prefix: their keys sorted, largest first, and
// walked until they hold `need`, as the radix levels walk their bins (ties at the threshold are all in S, and
// candidates short of `need` by rounding keep them all).
inline uint32_t sort_select(const SelectBuffers &buf, int64_t n, bool by_mass, double need, uint32_t prefix,
                            uint32_t prefix_mask) {
    uint32_t key[kSortSelect];
    float e[kSortSelect];
    int order[kSortSelect];
    int m = 0;
    for (int64_t c = 0; c < n; ++c) {
        if ((buf.cand_key[c] & prefix_mask) != prefix) continue;
        key[m] = buf.cand_key[c];
        e[m] = buf.cand_e[c];
        order[m] = m;
        ++m;
    }
    std::sort(order, order + m, [&](int x, int y) { return key[x] > key[y]; });
    double held = 0.0;
    for (int i = 0; i < m; ++i) {
        held += by_mass ? (double)e[order[i]] : 1.0;
        if (held >= need) return key[order[i]];
    }
    return key[order[m - 1]];
}

// The threshold among the candidates, digit by digit from `level` on (levels: bits 31..21, 20..10, 9..0), each
// over the candidates that share the digits chosen so far; `need` is what the keys above the candidates left over.
// A digit the candidates all share needs no histogram: its one nonempty bin is the threshold's and leaves `need` as
// it was.  Ties make that common: bf16 / fp16 keys never differ in their low 16 / 13 bits, and a row of a few
// distinct values has candidates of one key, which end the select at once.
inline uint32_t select_among_candidates(SelectBuffers &buf, int64_t n, bool by_mass, double need, uint32_t prefix,
                                        uint32_t prefix_mask, int level) {
    const int shifts[3] = {21, 10, 0};
    const uint32_t masks[3] = {0x7ffu, 0x7ffu, 0x3ffu};
    const uint32_t *key = buf.cand_key.data();
    const float *e = buf.cand_e.data();
    uint32_t all;
    uint32_t varying = varying_bits(key, n, prefix, prefix_mask, all);
    for (; level < 3; ++level) {
        if (!(varying & ~prefix_mask)) return prefix | (all & ~prefix_mask);
        if (n <= kSortSelect) return sort_select(buf, n, by_mass, need, prefix, prefix_mask);
        const int shift = shifts[level];
        const uint32_t mask = masks[level];
        if (!(varying & (mask << shift))) {
            prefix |= all & (mask << shift);
            prefix_mask |= mask << shift;
            continue;
        }
        SplitBins &split = buf.split;
        split.clear(by_mass);
        for (int64_t c = 0; c < n; ++c) {
            const uint32_t bin = (key[c] & prefix_mask) == prefix ? (key[c] >> shift) & mask : SplitBins::kDiscard;
            ++split.count[c & 3][bin];
            if (by_mass) split.mass[c & 3][bin] += e[c];
        }
        split.merge(buf.bins, by_mass);
        prefix |= (uint32_t)choose_bin(buf.bins, by_mass, need) << shift;
        prefix_mask |= mask << shift;
        varying = varying_bits(key, n, prefix, prefix_mask, all);
    }
    return prefix;
}

// Key, exp(y - m) and exp(y - m)(y - m) of each candidate, from its raw logit (the row's max is final now); then
// their share of the sums over S: every candidate at or above the threshold (ties at the threshold are all in S).
template <bool SOFTCAP>
void candidate_exps(const Transform &tr, float m, SelectBuffers &buf, int64_t n) {
    const float *z = buf.cand_z.data();
    uint32_t *key = buf.cand_key.data();
    float *e_out = buf.cand_e.data(), *t_out = buf.cand_t.data();
#pragma omp simd
    for (int64_t c = 0; c < n; ++c) {
        float d = tr.y<SOFTCAP>(z[c]) - m;
        float e = fast_exp(d);
        key[c] = order_key(z[c]);
        e_out[c] = e;
        t_out[c] = e > 0.0f ? e * d : 0.0f;
    }
}

// In blocks, as phase A sums: a row of ties can make every column a candidate.
inline void add_candidate_sums(const SelectBuffers &buf, int64_t n, uint32_t threshold, double &sum_e, double &sum_t) {
    const uint32_t *key = buf.cand_key.data();
    const float *e = buf.cand_e.data(), *t = buf.cand_t.data();
    for (int64_t off = 0; off < n; off += kBlock) {
        const int len = (int)std::min<int64_t>(kBlock, n - off);
        float eb[kBlock], tb[kBlock];
#pragma omp simd
        for (int j = 0; j < len; ++j) {
            // Loaded before the select: a load under it becomes a masked load (vmaskmovps).
            const float ej = e[off + j], tj = t[off + j];
            const bool in_s = key[off + j] >= threshold;
            eb[j] = in_s ? ej : 0.0f;
            tb[j] = in_s ? tj : 0.0f;
        }
        sum_e += lane_sum(eb, len);
        sum_t += lane_sum(tb, len);
    }
}

// The clamped set S = { v : order_key(z_v) >= key_threshold } and the sums over it of exp(y - m) and
// exp(y - m)(y - m), by a full three-level radix select on the keys of the raw logits:
//  1. histogram the row by the top digit (counts, or exp-mass in the mass mode) and choose the threshold's bin;
//  2. one vectorised pass sums exp over the bins above it and collects the bin's columns as candidates;
//  3. the two lower digits and the candidates' share of the sums come from the candidates alone.
// TOKEN_FRACTION rows usually take the sampled band of phase A instead (SampleBand); this is the general path.
template <int DT, bool SOFTCAP>
void clamp_select(const pl_loss_params &p, const Transform &tr, const void *row, int64_t vocab, int64_t finite,
                  float m, SelectBuffers &buf, uint32_t &key_threshold, double &sum_e, double &sum_t) {
    Bins &bins = buf.bins;
    const bool by_mass = p.clamp_mode == PL_CLAMP_PROBABILITY_MASS;
    SplitBins &split = buf.split;
    split.clear(by_mass);
    for (int64_t off = 0; off < vocab; off += kBlock) {
        int len = (int)std::min<int64_t>(kBlock, vocab - off);
        uint32_t kb[kBlock];
        float zb[kBlock], eb[kBlock];
        load_block<DT>(row, off, len, zb);
#pragma omp simd
        for (int j = 0; j < len; ++j) kb[j] = order_key(zb[j]);
        if (by_mass) {
#pragma omp simd
            for (int j = 0; j < len; ++j) eb[j] = fast_exp(tr.y<SOFTCAP>(zb[j]) - m);
        }
        for (int j = 0; j < len; ++j) {
            const uint32_t bin = kb[j] == kNegInfKey ? SplitBins::kDiscard : kb[j] >> 21;
            ++split.count[j & 3][bin];
            if (by_mass) split.mass[j & 3][bin] += eb[j];
        }
    }
    split.merge(bins, by_mass);
    // Tokens (k) or exp-mass ((1 - p) of the row's total, summed from the bins as choose_bin takes them) to keep.
    double total = 0.0;
    if (by_mass)
        for (int bin = kBins - 1; bin >= 0; --bin) total += bins.mass[bin];
    double need = by_mass ? (1.0 - (double)p.clamp_p) * total
                          : (double)kept_tokens(p.clamp_p, finite);
    const uint32_t top = (uint32_t)choose_bin(bins, by_mass, need);
    // The bin's keys.  -inf's key is the top of bin 3, which holds no finite logit: the counts skip -inf, so
    // choose_bin never takes that bin, and no -inf is a candidate.
    const uint32_t top_lo = top << 21, top_hi = top_lo | 0x1fffffu;

    sum_e = 0.0;
    sum_t = 0.0;
    int64_t n = 0;
    for (int64_t off = 0; off < vocab; off += kBlock) {
        int len = (int)std::min<int64_t>(kBlock, vocab - off);
        uint32_t kb[kBlock];
        float zb[kBlock], above_e[kBlock], above_t[kBlock];
        load_block<DT>(row, off, len, zb);
#pragma omp simd
        for (int j = 0; j < len; ++j) {
            float z = zb[j];
            float d = tr.y<SOFTCAP>(z) - m;
            float e = fast_exp(d);
            uint32_t k = order_key(z);
            kb[j] = k;
            above_e[j] = (k >> 21) > top ? e : 0.0f;
            above_t[j] = (k >> 21) > top ? e * d : 0.0f;
        }
        sum_e += lane_sum(above_e, len);
        sum_t += lane_sum(above_t, len);
        n = append_in_key_band(zb, kb, len, top_lo, top_hi, buf.cand_z.data(), n);
    }
    candidate_exps<SOFTCAP>(tr, m, buf, n);
    key_threshold = select_among_candidates(buf, n, by_mass, need, top_lo, 0xffe00000u, 1);
    add_candidate_sums(buf, n, key_threshold, sum_e, sum_t);
}

// TOKEN_FRACTION's fast path.  A strided sample of the row's keys brackets the threshold (the k-th largest key)
// in a band [lo, hi] with high probability; phase A then sums exp over the keys above hi while it reads the row
// (rescaled with the running max, as s and t are) and collects the keys inside the band as candidates, so the
// threshold and the sums over S come from the candidates alone: no extra pass over the row.  If the band missed
// (the count above hi already reaches k, or above plus band falls short of it), phase A falls back to
// clamp_select.  Only for rows long enough that the sample is small next to them (order_key.hpp's kSampleMinVocab).

struct SampleBand {
    bool active = false;
    uint32_t lo = 0, hi = 0;  // candidates: lo <= key <= hi; above: key > hi
    double above_count = 0.0, above_e = 0.0, above_t = 0.0;
    int64_t n = 0;  // candidates collected
};

// The row's finite keys at kSample evenly strided columns; returns how many.
template <int DT>
int sample_keys(const void *row, int64_t vocab, uint32_t *keys) {
    int sf = 0;
    for (int j = 0; j < kSample; ++j) {
        uint32_t k = order_key(load_one<DT>(row, (int64_t)j * vocab / kSample));
        if (k != kNegInfKey) keys[sf++] = k;
    }
    return sf;
}

// The band between the sample's keys at ranks hi_rank and lo_rank from the top (clipped to the sample: open at
// that end); `keys` in any order (nth_element) or sorted largest first.
inline SampleBand band_between(uint32_t *keys, int sf, int64_t hi_rank, int64_t lo_rank) {
    SampleBand band;
    auto descending = [](uint32_t x, uint32_t y) { return x > y; };
    int64_t below_hi = 0;  // after the first selection, lo_rank's key is among keys[below_hi...]
    if (hi_rank >= 0) {
        std::nth_element(keys, keys + hi_rank, keys + sf, descending);
        band.hi = keys[hi_rank];
        below_hi = hi_rank + 1;
    } else {
        band.hi = 0xffffffffu;  // the band reaches the top: nothing is above it
    }
    if (lo_rank < sf) {
        std::nth_element(keys + below_hi, keys + lo_rank, keys + sf, descending);
        band.lo = keys[lo_rank];
    } else {
        band.lo = kNegInfKey + 1;  // the band reaches the bottom
    }
    band.active = true;
    return band;
}

template <int DT>
SampleBand sample_band(const void *row, int64_t vocab, float p) {
    uint32_t keys[kSample];
    const int sf = sample_keys<DT>(row, vocab, keys);
    if (sf < kSample / 4) return SampleBand{};  // mostly masked: let the general path handle it
    const double q = 1.0 - (double)p;  // the kept fraction
    const double r = q * sf;            // the threshold's rank from the top, in the sample
    const double width = rank_width(sf, q);
    return band_between(keys, sf, (int64_t)std::floor(r - width), (int64_t)std::ceil(r + width));
}

// PROBABILITY_MASS's sampled band, for the rows whose mass band gave up (flat rows: most tokens lie within reach
// of the maximum).  The sample's keys, largest first, weighted by exp(y - y_max), estimate where the kept mass
// reaches 1 - p; the band spans 4 standard errors of the estimated mass fraction either side, or the rank's width
// as TOKEN_FRACTION's does, whichever reaches further (on rows of near-equal weights the two are one binomial).
// Not 3: where a few samples carry most of the weight the variance's own estimate is rough, and 3 missed 6 of 256
// rows of normal N(0, 4) logits (4: none, for 1.55x the candidates).  Whether the band holds S's threshold is then
// decided exactly, from the sums of phase A (sampled_mass_select), so a band that misses costs clamp_select, never
// a wrong S.
template <int DT, bool SOFTCAP>
SampleBand mass_sample_band(const void *row, int64_t vocab, float p, const Transform &tr) {
    uint32_t keys[kSample];
    const int sf = sample_keys<DT>(row, vocab, keys);
    if (sf < kSample / 4) return SampleBand{};
    std::sort(keys, keys + sf, [](uint32_t x, uint32_t y) { return x > y; });
    float y[kSample], w[kSample];
#pragma omp simd
    for (int j = 0; j < sf; ++j) y[j] = tr.y<SOFTCAP>(key_value(keys[j], 0));
    const float y_max = y[0];
    double total = 0.0;
    for (int j = 0; j < sf; ++j) total += w[j] = fast_exp(y[j] - y_max);
    const double q = 1.0 - (double)p;
    // The first rank, from the top, at which the cumulative mass reaches the fraction f of the sample's.
    auto rank_of = [&](double f) {
        double held = 0.0;
        int r = 0;
        while (r < sf - 1 && held + w[r] < f * total) held += w[r++];
        return r;
    };
    const int r = rank_of(q);
    // The ratio estimator's variance: sum w^2 (1[above] - q)^2 / total^2.
    double var = 0.0;
    for (int j = 0; j < sf; ++j) {
        const double d = (j <= r ? 1.0 : 0.0) - q;
        var += (double)w[j] * w[j] * d * d;
    }
    const double delta = 4.0 * std::sqrt(var) / total;
    const double width = rank_width(sf, (r + 1.0) / sf);
    return band_between(keys, sf, (int64_t)std::floor(std::min<double>(rank_of(q - delta), r - width)),
                        (int64_t)std::ceil(std::max<double>(rank_of(q + delta), r + width)));
}

// One block's share of a sampled band: the sums of exp(y - m) and exp(y - m)(y - m) over the keys above the band,
// their count, and the band's raw logits appended as candidates (their keys are recomputed later, vectorised, for
// the few candidates).
inline void band_block(const float *zb, const float *eb, const float *tb, int len, SampleBand &band, float *cand_z) {
    uint32_t kb[kBlock];
    float ab_e[kBlock], ab_t[kBlock], ab_c[kBlock];
#pragma omp simd
    for (int j = 0; j < len; ++j) {
        uint32_t k = order_key(zb[j]);
        kb[j] = k;
        ab_e[j] = k > band.hi ? eb[j] : 0.0f;
        ab_t[j] = k > band.hi ? tb[j] : 0.0f;
        ab_c[j] = k > band.hi ? 1.0f : 0.0f;
    }
    band.above_e += lane_sum(ab_e, len);
    band.above_t += lane_sum(ab_t, len);
    band.above_count += lane_sum(ab_c, len);
    band.n = append_in_key_band(zb, kb, len, band.lo, band.hi, cand_z, band.n);
}

// exp(y - m) and exp(y - m)(y - m) of a block.
inline void block_exps(const float *yb, int len, float m, float *eb, float *tb) {
#pragma omp simd
    for (int j = 0; j < len; ++j) {
        float d = yb[j] - m;
        float e = fast_exp(d);
        eb[j] = e;
        tb[j] = e > 0.0f ? e * d : 0.0f;
    }
}

// A band that starts after phase A has read the columns before `end` (PROBABILITY_MASS's sampled band, once the
// mass band gave up): their share, read again from cache, against the running max m.
template <int DT, bool SOFTCAP>
void band_from_start(const void *row, int64_t end, const Transform &tr, float m, SampleBand &band, float *cand_z) {
    float zb[kBlock], yb[kBlock], eb[kBlock], tb[kBlock];
    for (int64_t off = 0; off < end; off += kBlock) {
        const int len = (int)std::min<int64_t>(kBlock, end - off);
        load_block<DT>(row, off, len, zb);
#pragma omp simd
        for (int j = 0; j < len; ++j) yb[j] = tr.y<SOFTCAP>(zb[j]);
        block_exps(yb, len, m, eb, tb);
        band_block(zb, eb, tb, len, band, cand_z);
    }
}

// PROBABILITY_MASS's fast path.  S, the fewest largest logits that hold 1 - p of the row's exp-mass, never reaches
// far below the maximum m: the tokens with y < m - reach + 1 hold at most V e^(1 - reach) of the mass, relative to
// the maximum's 1, and with reach = ln(V / p) + 2 that is p / e of it, less than the p that S leaves out.  So phase A
// collects as candidates the tokens with y >= m - reach, m its running max (which only grows: every token that ends
// within reach of the final max is collected, and some lower ones), and the threshold and the sums over S come from
// the candidates alone, as the sampled band's do: no extra pass over the row.  A row whose candidates pass `cap`
// (a flat row) stops collecting and leaves S to a band sampled by mass (mass_sample_band) or, on short rows, to
// clamp_select.
struct MassBand {
    bool active = false;
    float reach = 0.0f;
    int64_t cap = 0;
    int64_t n = 0;  // candidates collected
};

MassBand mass_band(int64_t vocab, float p) {
    const float reach = (float)std::log((double)vocab / (double)p) + 2.0f;
    return MassBand{true, reach, std::max<int64_t>(vocab / 16, kSortSelect), 0};
}

// S by mass from candidates whose exponentials candidate_exps has taken, over keys above them that hold above_e and
// above_t: the threshold where they reach `need`, and the sums over S.  False where those keys and all the
// candidates together fall short of it (by rounding, or a band that missed; the margin covers the sums' different
// orders), leaving S to clamp_select.
inline bool threshold_by_mass(SelectBuffers &buf, int64_t n, double above_e, double above_t, double need,
                              uint32_t &key_threshold, double &sum_e, double &sum_t) {
    double held = above_e, held_t = 0.0;
    add_candidate_sums(buf, n, 0, held, held_t);
    if (!(held > need * (1.0 + 1e-9))) return false;
    key_threshold = select_among_candidates(buf, n, true, need - above_e, 0, 0, 0);
    sum_e = above_e;
    sum_t = above_t;
    add_candidate_sums(buf, n, key_threshold, sum_e, sum_t);
    return true;
}

// S from a mass band's candidates after phase A, whose sum s of exp(y - m) over the row gives the mass to cover.
// False, leaving S to clamp_select, where the candidates cannot show it: they hold less than that mass (by
// rounding), or the threshold lies within 1 of the band's edge, where a token a rounding below it may not have
// been collected.
template <bool SOFTCAP>
bool mass_band_select(const MassBand &band, const Transform &tr, float m, double s, float p, SelectBuffers &buf,
                      uint32_t &key_threshold, double &sum_e, double &sum_t) {
    candidate_exps<SOFTCAP>(tr, m, buf, band.n);
    return threshold_by_mass(buf, band.n, 0.0, 0.0, (1.0 - (double)p) * s, key_threshold, sum_e, sum_t) &&
           tr.y<SOFTCAP>(key_value(key_threshold, 0)) >= m - band.reach + 1.0f;
}

// S from a sampled band's candidates after phase A, when the band holds the k-th largest key: the keys above it
// are fewer than k, and with the band's at least k.  False, leaving S to clamp_select, where it missed.
template <bool SOFTCAP>
bool sampled_count_select(const SampleBand &band, const Transform &tr, float m, int64_t k, SelectBuffers &buf,
                          uint32_t &key_threshold, double &sum_e, double &sum_t) {
    if (!(band.above_count < k && k <= band.above_count + band.n)) return false;
    candidate_exps<SOFTCAP>(tr, m, buf, band.n);
    key_threshold = select_among_candidates(buf, band.n, false, k - band.above_count, 0, 0, 0);
    sum_e = band.above_e;
    sum_t = band.above_t;
    add_candidate_sums(buf, band.n, key_threshold, sum_e, sum_t);
    return true;
}

// The same by mass: the keys above the band hold less than 1 - p of the row's sum s, and with the band's more.
// The margins cover the sums' different orders.
template <bool SOFTCAP>
bool sampled_mass_select(const SampleBand &band, const Transform &tr, float m, double s, float p, SelectBuffers &buf,
                         uint32_t &key_threshold, double &sum_e, double &sum_t) {
    const double need = (1.0 - (double)p) * s;
    if (!(band.above_e < need * (1.0 - 1e-9))) return false;
    candidate_exps<SOFTCAP>(tr, m, buf, band.n);
    return threshold_by_mass(buf, band.n, band.above_e, band.above_t, need, key_threshold, sum_e, sum_t);
}

inline int64_t target_of(const pl_loss_args &a, int64_t i) {
    return a.target_dtype == PL_I32 ? (int64_t)((const int32_t *)a.target)[i] : ((const int64_t *)a.target)[i];
}

template <int DT, bool SOFTCAP>
void phase_a(const pl_loss_params &p, const pl_loss_args &a, int64_t i, RowPlan &plan) {
    plan = RowPlan{};
    float w = a.weight[i];
    if (!std::isfinite(w)) {
        plan.err = RowError{ROW_WEIGHT_NOT_FINITE, 0};
        return;
    }
    if (w == 0.0f) {
        plan.skipped = true;
        return;
    }
    plan.err = check_row_scalars(a, i, target_of(a, i));
    if (plan.err.code != ROW_OK) return;

    const int64_t vocab = a.vocab;
    const void *row = (const char *)a.logits + i * a.ld * dtype_bytes<DT>();
    const Transform tr = make_transform(p, a, i);
    const bool clamp = p.clamp_p > 0.0f;
    SelectBuffers *buf = nullptr;
    if (clamp) {
        try {
            t_buffers.reserve(vocab);
        } catch (const std::bad_alloc &) {
            plan.err = RowError{ROW_OUT_OF_MEMORY, 0};
            return;
        }
        buf = &t_buffers;
    }
    SampleBand band;
    if (clamp && p.clamp_mode == PL_CLAMP_TOKEN_FRACTION && vocab >= kSampleMinVocab)
        band = sample_band<DT>(row, vocab, p.clamp_p);
    MassBand mass;
    if (clamp && p.clamp_mode == PL_CLAMP_PROBABILITY_MASS) mass = mass_band(vocab, p.clamp_p);

    const int64_t target = target_of(a, i);
    float m = -INFINITY;
    // sum exp(y - m), sum exp(y - m) (y - m), and sum exp(y - m) over the tokens other than the target:
    // 1 - pi_a = s_other / s has no cancellation, where 1 - pi_a in fp32 loses everything for confident tokens.
    double s = 0.0, t = 0.0, s_other = 0.0;
    int64_t finite = 0;
    float zb[kBlock], yb[kBlock];
    for (int64_t off = 0; off < vocab; off += kBlock) {
        int len = (int)std::min<int64_t>(kBlock, vocab - off);
        load_block<DT>(row, off, len, zb);
        float bm = -INFINITY;
        int nbad = 0, nfin = 0;
#pragma omp simd reduction(max : bm) reduction(+ : nbad, nfin)
        for (int j = 0; j < len; ++j) {
            float y = tr.y<SOFTCAP>(zb[j]);
            yb[j] = y;
            bm = max_f(bm, y);
            nbad += (y != y) | (y == INFINITY);
            nfin += y > -INFINITY;
        }
        if (nbad) {
            int j = 0;
            while (!(yb[j] != yb[j] || yb[j] == INFINITY)) ++j;
            plan.err = RowError{ROW_LOGITS_NAN, off + j};
            return;
        }
        finite += nfin;
        if (bm == -INFINITY) continue;
        if (bm > m) {
            if (s > 0.0) {
                double scale = std::exp((double)m - (double)bm);
                t = scale * (t + ((double)m - (double)bm) * s);
                s *= scale;
                s_other *= scale;
                band.above_t = scale * (band.above_t + ((double)m - (double)bm) * band.above_e);
                band.above_e *= scale;
            }
            m = bm;
        }
        float eb[kBlock], tb[kBlock];
        block_exps(yb, len, m, eb, tb);
        if (band.active) band_block(zb, eb, tb, len, band, buf->cand_z.data());
        if (mass.active) {
            // y's own keys: the band is y >= m - reach, m as it stands after this block.
            uint32_t kb[kBlock];
#pragma omp simd
            for (int j = 0; j < len; ++j) kb[j] = order_key(yb[j]);
            mass.n = append_in_key_band(zb, kb, len, order_key(m - mass.reach), 0xffffffffu, buf->cand_z.data(),
                                        mass.n);
            mass.active = mass.n <= mass.cap;
            // Too many tokens near the maximum: S comes from a band sampled by mass instead, which takes over the
            // candidate buffer and starts with the columns read so far.
            if (!mass.active && vocab >= kSampleMinVocab) {
                band = mass_sample_band<DT, SOFTCAP>(row, vocab, p.clamp_p, tr);
                if (band.active) band_from_start<DT, SOFTCAP>(row, off + len, tr, m, band, buf->cand_z.data());
            }
        }
        float block_e = lane_sum(eb, len);
        s += block_e;
        t += lane_sum(tb, len);
        if (target >= off && target < off + len) {
            eb[target - off] = 0.0f;
            s_other += lane_sum(eb, len);
        } else {
            s_other += block_e;
        }
    }
    if (finite == 0) {
        plan.err = RowError{ROW_NO_FINITE_LOGIT, 0};
        return;
    }
    float y_target = tr.y<SOFTCAP>(load_one<DT>(row, target));
    if (y_target == -INFINITY) {
        plan.err = RowError{ROW_TARGET_MASKED, target};
        return;
    }

    double log_s = std::log(s);
    double entropy = log_s - t / s;
    double clamped_entropy = entropy;
    plan.key_threshold = 0;
    plan.log_c = 0.0f;
    if (clamp) {
        double se, st;
        bool selected;
        if (band.active)
            selected = p.clamp_mode == PL_CLAMP_PROBABILITY_MASS
                           ? sampled_mass_select<SOFTCAP>(band, tr, m, s, p.clamp_p, *buf, plan.key_threshold, se, st)
                           : sampled_count_select<SOFTCAP>(band, tr, m, kept_tokens(p.clamp_p, finite), *buf,
                                                           plan.key_threshold, se, st);
        else
            selected = mass.active &&
                       mass_band_select<SOFTCAP>(mass, tr, m, s, p.clamp_p, *buf, plan.key_threshold, se, st);
        if (!selected) clamp_select<DT, SOFTCAP>(p, tr, row, vocab, finite, m, *buf, plan.key_threshold, se, st);
        clamped_entropy = std::log(se) - st / se;
        plan.log_c = (float)(log_s - std::log(se));
    }
    plan.clamped = clamp;
    plan.max = m;
    plan.log_sum = (float)log_s;
    plan.other_mass = (float)(s_other / s);
    plan.stats = RowStats{(float)(((double)y_target - (double)m) - log_s), (float)entropy, (float)clamped_entropy};
    plan.loss = row_loss(p, plan.stats, a.old_logp[i], a.ref_logp != nullptr, a.ref_logp ? a.ref_logp[i] : 0.0f,
                         a.advantage[i]);
}

template <int DT>
inline void store_block(void *row, int64_t off, int len, const float *in) {
    if (DT == PL_F32) {
        std::memcpy((float *)row + off, in, sizeof(float) * len);
    } else {
        uint16_t *dst = (uint16_t *)row + off;
#pragma omp simd
        for (int j = 0; j < len; ++j) dst[j] = DT == PL_BF16 ? f32_to_bf16(in[j]) : f32_to_f16(in[j]);
    }
}

// dL/dz_v = g w [ G (1[v = a] - pi_v) + lambda_H pi_v (log pi_v + H) + lambda_C pt_v (log pt_v + Hc) 1[v in S] ]
//           * dy/dz_v.  Without the clamp (p = 0), S is every finite token and pt = pi, so lambda_C folds into
// lambda_H and the S term drops out (CLAMPED = false).
template <int DT, int DDT, bool SOFTCAP, bool CLAMPED>
void phase_b(const pl_loss_params &p, const pl_loss_args &a, int64_t i, const RowPlan &plan) {
    void *drow = (char *)a.dlogits + i * a.ld_dlogits * dtype_bytes<DDT>();
    float gb[kBlock];
    if (plan.skipped) {
        std::fill(gb, gb + kBlock, 0.0f);
        for (int64_t off = 0; off < a.vocab; off += kBlock)
            store_block<DDT>(drow, off, (int)std::min<int64_t>(kBlock, a.vocab - off), gb);
        return;
    }
    const void *row = (const char *)a.logits + i * a.ld * dtype_bytes<DT>();
    const Transform tr = make_transform(p, a, i);
    const float gw = p.grad_scale * a.weight[i];
    const float c_logp = gw * plan.loss.dloss_dlogp;
    const float c_h = gw * (CLAMPED ? p.entropy_coef : p.entropy_coef + p.clamped_entropy_coef);
    const float c_c = gw * p.clamped_entropy_coef;
    const float m = plan.max, log_sum = plan.log_sum, h = plan.stats.entropy, c = std::exp(plan.log_c);
    const float cc = c_c * c;  // pt = c pi on S
    const float hc_shift = plan.log_c + plan.stats.clamped_entropy;  // log pt + Hc = log pi + log_c + Hc
    const uint32_t key_t = plan.key_threshold;
    const int64_t target = target_of(a, i);
    float zb[kBlock];
    for (int64_t off = 0; off < a.vocab; off += kBlock) {
        int len = (int)std::min<int64_t>(kBlock, a.vocab - off);
        load_block<DT>(row, off, len, zb);
        // A masked column (pi = 0, lp = -inf) makes g NaN through 0 * -inf; the last select writes its 0.
#pragma omp simd
        for (int j = 0; j < len; ++j) {
            float lp = (tr.y<SOFTCAP>(zb[j]) - m) - log_sum;
            float pi = fast_exp(lp);
            float g = pi * (c_h * (lp + h) - c_logp);
            if (CLAMPED) g += order_key(zb[j]) >= key_t ? cc * pi * (lp + hc_shift) : 0.0f;
            gb[j] = pi > 0.0f ? g * tr.dy_dz<SOFTCAP>(zb[j]) : 0.0f;
        }
        if (target >= off && target < off + len) {
            // The target's G (1 - pi_a) from phase A's sum over the other tokens, not from 1 - pi_a in fp32.
            float z = zb[target - off];
            float lp = (tr.y<SOFTCAP>(z) - m) - log_sum;
            float pi = fast_exp(lp);
            float g = c_logp * plan.other_mass + c_h * pi * (lp + h);
            if (CLAMPED && order_key(z) >= key_t) g += cc * pi * (lp + hc_shift);
            gb[target - off] = g * tr.dy_dz<SOFTCAP>(z);
        }
        store_block<DDT>(drow, off, len, gb);
    }
}

template <int DT, bool SOFTCAP, bool CLAMPED>
void phase_b_for(const pl_loss_params &p, const pl_loss_args &a, int64_t i, const RowPlan &plan) {
    if (a.dlogits_dtype == PL_F32)
        phase_b<DT, PL_F32, SOFTCAP, CLAMPED>(p, a, i, plan);
    else
        phase_b<DT, DT, SOFTCAP, CLAMPED>(p, a, i, plan);
}

template <bool SOFTCAP>
void phase_a_softcap(const pl_loss_params &p, const pl_loss_args &a, int64_t i, RowPlan &plan) {
    switch (a.logits_dtype) {
        case PL_F32: return phase_a<PL_F32, SOFTCAP>(p, a, i, plan);
        case PL_BF16: return phase_a<PL_BF16, SOFTCAP>(p, a, i, plan);
        default: return phase_a<PL_F16, SOFTCAP>(p, a, i, plan);
    }
}

template <bool SOFTCAP, bool CLAMPED>
void phase_b_softcap(const pl_loss_params &p, const pl_loss_args &a, int64_t i, const RowPlan &plan) {
    switch (a.logits_dtype) {
        case PL_F32: return phase_b_for<PL_F32, SOFTCAP, CLAMPED>(p, a, i, plan);
        case PL_BF16: return phase_b_for<PL_BF16, SOFTCAP, CLAMPED>(p, a, i, plan);
        default: return phase_b_for<PL_F16, SOFTCAP, CLAMPED>(p, a, i, plan);
    }
}

void phase_a_any(const pl_loss_params &p, const pl_loss_args &a, int64_t i, RowPlan &plan) {
    p.softcap > 0.0f ? phase_a_softcap<true>(p, a, i, plan) : phase_a_softcap<false>(p, a, i, plan);
}

void phase_b_any(const pl_loss_params &p, const pl_loss_args &a, int64_t i, const RowPlan &plan) {
    if (p.softcap > 0.0f)
        plan.clamped ? phase_b_softcap<true, true>(p, a, i, plan) : phase_b_softcap<true, false>(p, a, i, plan);
    else
        plan.clamped ? phase_b_softcap<false, true>(p, a, i, plan) : phase_b_softcap<false, false>(p, a, i, plan);
}

}  // namespace
}  // namespace pl::cpu::PL_ISA_NS
