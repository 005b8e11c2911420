// Appending the logits whose keys lie in a band [lo, hi] to a candidate array: the clamped-entropy selection's
// gather (phase A's sampled band and mass band, the threshold's bin in clamp_select).  About one column in twenty is
// taken, at random places, so a branch per column mispredicts; the portable loop stores every logit and advances by
// 0 or 1, and the AVX2 one packs eight at a time with a permutation looked up from their mask (benchmarks/RESULTS.md).
#pragma once
#include <cstdint>

#ifdef __AVX2__
#include <immintrin.h>
#endif

// Internal linkage, as in vec_math.hpp: each ISA's translation unit keeps its own copy.
namespace pl::cpu {
namespace {

#ifdef __AVX2__
// For each 8-bit mask, the positions of its set bits, lowest first, one per byte (the rest 0), and how many.
struct PackTable {
    uint64_t index[256];
    uint8_t count[256];
};

constexpr PackTable make_pack_table() {
    PackTable t{};
    for (int mask = 0; mask < 256; ++mask) {
        int n = 0;
        for (int bit = 0; bit < 8; ++bit)
            if (mask & (1 << bit)) t.index[mask] |= (uint64_t)bit << (8 * n++);
        t.count[mask] = (uint8_t)n;
    }
    return t;
}

constexpr PackTable kPackTable = make_pack_table();
#endif

// Appends z[j] for every j < len with lo <= key[j] <= hi to out[n...] in order and returns the new n.  Writes up
// to 8 floats past the new n (the taken ones first): out needs room for n + len.
inline int64_t append_in_key_band(const float *z, const uint32_t *key, int len, uint32_t lo, uint32_t hi, float *out,
                                  int64_t n) {
    int j = 0;
#ifdef __AVX2__
    const __m256i lo8 = _mm256_set1_epi32((int)lo), hi8 = _mm256_set1_epi32((int)hi);
    for (; j + 8 <= len; j += 8) {
        const __m256i k = _mm256_loadu_si256((const __m256i *)(key + j));
        // Unsigned lo <= k <= hi, as max(k, lo) == k and min(k, hi) == k.
        const __m256i in = _mm256_and_si256(_mm256_cmpeq_epi32(_mm256_max_epu32(k, lo8), k),
                                            _mm256_cmpeq_epi32(_mm256_min_epu32(k, hi8), k));
        const int mask = _mm256_movemask_ps(_mm256_castsi256_ps(in));
        const __m256i index = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)kPackTable.index[mask]));
        _mm256_storeu_ps(out + n, _mm256_permutevar8x32_ps(_mm256_loadu_ps(z + j), index));
        n += kPackTable.count[mask];
    }
#endif
    for (; j < len; ++j) {
        out[n] = z[j];
        n += (key[j] >= lo) & (key[j] <= hi);
    }
    return n;
}

}  // namespace
}  // namespace pl::cpu
