// How a row block reads and writes one row: dtype conversion, 16-byte packs when the rows are aligned (scalars
// otherwise), the column order each thread visits, and the logit transform of SPEC section 2.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "block_reduce.cuh"
#include "policyloss.h"

namespace pl::cuda {

template <int DT>
struct Elem {
    using type = uint16_t;  // bf16 and fp16 are read as their bits
};
template <>
struct Elem<PL_F32> {
    using type = float;
};

template <int DT>
__device__ __forceinline__ float to_float(typename Elem<DT>::type v) {
    if constexpr (DT == PL_F32) return v;
    else if constexpr (DT == PL_BF16) return __uint_as_float((uint32_t)v << 16);
    else return __half2float(__ushort_as_half(v));
}

// Round to nearest even; fp16 overflows to inf, as the CPU kernel's conversions do.
template <int DT>
__device__ __forceinline__ typename Elem<DT>::type from_float(float f) {
    if constexpr (DT == PL_F32) return f;
    else if constexpr (DT == PL_BF16) return __bfloat16_as_ushort(__float2bfloat16_rn(f));
    else return __half_as_ushort(__float2half_rn(f));
}

// Elements per 16-byte pack.
template <int DT>
constexpr int kPack = 16 / (int)sizeof(typename Elem<DT>::type);

// A 16-byte pack and its elements: a union, so that both compilers (nvcc, and the host compiler of the emulated
// test) read the elements of the loaded bytes without type punning through pointers.
template <int DT>
union Pack {
    uint4 raw;
    typename Elem<DT>::type e[kPack<DT>];
};

template <int DT>
__device__ __forceinline__ void unpack(const Pack<DT> &pack, float (&z)[kPack<DT>]) {
    if constexpr (DT == PL_BF16) {
        // Two logits a 32-bit word, each a float's high half: one instruction each (a shift, a mask), where taken from
        // the 16-bit elements the high one's could cost two (sm_90: PRMT, then IMAD.U32 for the shift).
        const uint32_t w[4] = {pack.raw.x, pack.raw.y, pack.raw.z, pack.raw.w};
#pragma unroll
        for (int q = 0; q < 4; ++q) {
            z[2 * q] = __uint_as_float(w[q] << 16);
            z[2 * q + 1] = __uint_as_float(w[q] & 0xffff0000u);
        }
    } else {
#pragma unroll
        for (int j = 0; j < kPack<DT>; ++j) z[j] = to_float<DT>(pack.e[j]);
    }
}

// The last touch of a row's bytes: the gradient pass's loads (LAST) and every dlogits store, marked evict-first in L2
// (ld.global.cs, st.global.cs).  The passes after the first read a row again, from L2 where it is still there (an
// eighth of the gradient pass's bytes at 8192 x 151,936 bf16 on an H200, whose rows in flight are twice L2:
// fused_loss.cu); without the mark, the gradient's writes and the bytes no pass will read again would compete with
// those rows for L2 as equals.  The host compiler of the emulated test gets plain accesses.
template <bool LAST, typename T>
__device__ __forceinline__ T load_row_bytes(const T *p) {
#ifdef __CUDA_ARCH__
    if constexpr (LAST) return __ldcs(p);
#endif
    return *p;
}

template <typename T>
__device__ __forceinline__ void store_evict_first(T *p, T v) {
#ifdef __CUDA_ARCH__
    __stcs(p, v);
#else
    *p = v;
#endif
}

template <int DT>
__device__ __forceinline__ void store_pack(typename Elem<DT>::type *dst, const float (&g)[kPack<DT>]) {
    Pack<DT> pack;
#pragma unroll
    for (int j = 0; j < kPack<DT>; ++j) pack.e[j] = from_float<DT>(g[j]);
    store_evict_first(reinterpret_cast<uint4 *>(dst), pack.raw);
}

// The same pointer, through an instruction the compiler cannot see into, so that it keeps it in two registers: it
// can no longer compute it again from the row index and the kernel's arguments at each use, as ptxas chose to for
// the gradient pass's loads and stores (sm_90 at 2160d01, the bf16 instance without the clamp: 297 instruction slots
// a group of two packs in that loop, 267 with its two pointers kept).
template <typename T>
__device__ __forceinline__ T *opaque(T *p) {
#ifdef __CUDA_ARCH__
    asm("mov.b64 %0, %0;" : "+l"(p));
#endif
    return p;
}

// Packs a thread loads at once (a group).  By Little's law an H100 SM needs its share of the bandwidth times the
// latency under load in flight, about 3 TB/s / 132 x ~1 us = 23 KB; a 512-thread block has 8 KB in flight per
// 16-byte pack a thread.  So for_each_pack loads the next group before it uses the current one: the next group
// stays in flight while a warp computes, and while it waits for the current one both are.  Two packs: with the two
// blocks an SM holds (loss_kernel.cuh), up to 64 KB in flight, in the 64 registers a thread that allows.  Measured on
// an H200 (benchmarks/RESULTS.md: GPU) against one block's groups of 4, the second block's warps hid more latency
// than the longer groups did; in the code measured then, each warp waited for its next group before it used the
// current one (for_each_pack's two buffers, below, say why), so that its groups were in flight one at a time.
#ifndef PL_ROW_UNROLL
#define PL_ROW_UNROLL 2
#endif
constexpr int kUnroll = PL_ROW_UNROLL;

// Groups ahead of the one it loads that a thread also asks L2 to fetch, in rows of 16-byte packs
// (prefetch.global.L2: one instruction a pack, no register): more of the row in flight than a group's registers
// allow, for a kernel whose warps wait on memory most (benchmarks/RESULTS.md: long_scoreboard first; the call
// without a gradient, pass 1 alone, reads at two thirds of the copy's rate).  0, the default: none.  Not yet timed:
// benchmarks/gpu/build_variants.sh builds prefetch-2, -4 and -8.
#ifndef PL_ROW_PREFETCH_GROUPS
#define PL_ROW_PREFETCH_GROUPS 0
#endif

// With prefetches (PL_ROW_PREFETCH_GROUPS), the last pass over a row sends those that run past the row's end to the
// start of the block's next row, where the row is read (its weight finite and not 0: rows of weight 0 are never
// read): the next row's first groups are on their way to L2 while the last pass finishes, so that its pass 1 starts
// on them, and a block that holds a row alone on its SM (rows in flight within L2, the gradient pass reading from
// there) keeps HBM reads in flight across its rows.  1: on; 0, the default: off.  Not yet timed (build_variants.sh's
// next-* and threads-1024-* builds).
#ifndef PL_ROW_PREFETCH_NEXT_ROW
#define PL_ROW_PREFETCH_NEXT_ROW 0
#endif

// A hint, not a load: nothing waits for it.  The emulated test's host compiler hands it to the emulator, which
// shows it to the test that checks where prefetches go (emu::prefetch_l2).
template <typename T>
__device__ __forceinline__ void prefetch_l2(const T *p) {
#ifdef __CUDA_ARCH__
    asm volatile("prefetch.global.L2 [%0];" ::"l"(p));
#elif defined(__CUDACC__)
    (void)p;  // nvcc's host pass, which compiles device code that it never calls
#else
    emu::prefetch_l2(p);
#endif
}

// The last pass over a row walks each thread's groups backwards, from the row's end, where
// PL_ROW_LAST_PASS_BACKWARDS is 1.  The pass before it read the row's end last, so those bytes are the likeliest
// still in L2: walked forwards, every byte is read again a whole pass after it was read, and at 8192 x 151,936 bf16
// on an H200 (rows in flight twice L2: fused_loss.cu) the gradient pass found an eighth of its bytes in L2; walked
// backwards, a byte's distance between its two reads grows with its distance from the row's end, so the row's end
// is read again first and soonest.  Its results are the same bits either way (the pass sums nothing: each column's
// gradient alone).  0, the default: not yet timed (benchmarks/gpu/build_variants.sh builds `backwards`).
#ifndef PL_ROW_LAST_PASS_BACKWARDS
#define PL_ROW_LAST_PASS_BACKWARDS 0
#endif

// Pass 1 marks a share of each row's lines to stay in L2 until the gradient pass reads them, where
// PL_ROW_L2_KEEP_PERCENT is above 0: the share of L2, in percent, that the marked lines of the rows in flight may
// fill (kernel_plan.cuh's l2_keep_share).  With the rows in flight at twice L2 (fused_loss.cu), L2's
// least-recently-used order evicts each line of a row before the gradient pass comes back to it, as a cyclic walk a
// little longer than a cache hits it almost never: at 8192 x 151,936 bf16 on an H200 the gradient pass found an eighth
// of its bytes in L2.  Lines loaded evict-last stay while the others go, so that the gradient pass finds about that
// share of its row there, and marks each line evict-first as it reads it (row_policy); the passes between (the
// clamp's radix select) load unmarked (for_each_column).  0, the default: not yet timed (build_variants.sh's keep-*).
#ifndef PL_ROW_L2_KEEP_PERCENT
#define PL_ROW_L2_KEEP_PERCENT 0
#endif

// How a row block walks a row's memory, past the order of pass 1: the last pass's direction, the groups it
// prefetches ahead, whether the last pass prefetches the next row's start, and whether the passes mark lines to keep
// in L2.  None of them changes a result's bits (the last pass sums nothing; prefetches and marks are hints);
// BuildWalk is the build's, and the emulated test runs others.
template <bool BACKWARDS, int PREFETCH_GROUPS, bool PREFETCH_NEXT_ROW, bool KEEPS_IN_L2 = false>
struct RowWalk {
    static constexpr bool kLastPassBackwards = BACKWARDS;
    static constexpr int kPrefetchGroups = PREFETCH_GROUPS;
    static constexpr bool kPrefetchNextRow = PREFETCH_NEXT_ROW && PREFETCH_GROUPS > 0;
    static constexpr bool kKeepsInL2 = KEEPS_IN_L2;
};
using BuildWalk = RowWalk<PL_ROW_LAST_PASS_BACKWARDS != 0, PL_ROW_PREFETCH_GROUPS, PL_ROW_PREFETCH_NEXT_ROW != 0,
                          (PL_ROW_L2_KEEP_PERCENT > 0)>;

// The L2 eviction policy (createpolicy, sm_80 and later) of a pass's loads of a row's packs, where the walk keeps
// lines in L2: the last pass's marks each line evict-first, the last use of the row's bytes; pass 1's marks the share
// `keep` of its lines evict-last and leaves the others' marks unchanged, and where it keeps none (keep 0: a call
// without a gradient pass), every line's.  The emulated test's host compiler hands the policy to the emulator, which
// shows each load's to the test that checks them (emu::cache_hint).
template <bool LAST>
__device__ __forceinline__ uint64_t row_policy(float keep) {
    uint64_t policy;
#ifdef __CUDA_ARCH__
    if constexpr (LAST) asm("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(policy));
    else if (keep > 0.0f)
        asm("createpolicy.fractional.L2::evict_last.L2::evict_unchanged.b64 %0, %1;" : "=l"(policy) : "f"(keep));
    else asm("createpolicy.fractional.L2::evict_unchanged.b64 %0, 1.0;" : "=l"(policy));
#elif defined(__CUDACC__)
    policy = 0;  // nvcc's host pass, which compiles device code that it never calls
    (void)keep;
#else
    using emu::L2Priority;
    // Where the share is 1 (no secondary priority named in the PTX), the secondary applies to no line.
    const L2Priority primary = LAST ? L2Priority::evict_first
                               : keep > 0.0f ? L2Priority::evict_last
                                             : L2Priority::evict_unchanged;
    policy = emu::create_policy({primary, L2Priority::evict_unchanged, LAST || !(keep > 0.0f) ? 1.0f : keep});
#endif
    return policy;
}

// A pack loaded with that policy (ld.global.L2::cache_hint; the last pass's also .cs, as load_row_bytes's).
template <bool LAST>
__device__ __forceinline__ uint4 load_marked(const uint4 *p, uint64_t policy) {
#ifdef __CUDA_ARCH__
    uint4 v;
    if constexpr (LAST)
        asm volatile("ld.global.cs.L2::cache_hint.v4.u32 {%0, %1, %2, %3}, [%4], %5;"
                     : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                     : "l"(p), "l"(policy));
    else
        asm volatile("ld.global.L2::cache_hint.v4.u32 {%0, %1, %2, %3}, [%4], %5;"
                     : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                     : "l"(p), "l"(policy));
    return v;
#else
#ifndef __CUDACC__
    emu::cache_hint(p, policy);
#endif
    return *p;
#endif
}

// Calls f(first_column, z) over the columns of the row that this thread owns, z a float[P] of consecutive
// columns: packs tid, tid + kThreads, ... in increasing order (P = kPack with VEC, when rows are 16-byte aligned;
// 1 otherwise), then float[1] for each tail column past the last whole pack; the last pass of a Walk that walks it
// backwards, the tail columns first, then the thread's packs in decreasing order.  A thread always visits the same
// columns in the same order, which keeps its partial sums, and so the results, deterministic.  LAST: no pass reads
// the row after this one (load_row_bytes).  `next_row`: the block's next row, whose first groups the prefetches that
// run past this row's end fetch (Walk::kPrefetchNextRow); null where there is none to read.  `keep`: where the walk
// keeps lines in L2 (Walk::kKeepsInL2), the share of its packs' lines that this pass, pass 1, marks to keep (0:
// none); the tail columns' loads are not marked.
template <int DT, bool VEC, bool LAST = false, class Walk = BuildWalk, typename F>
__device__ __forceinline__ void for_each_pack(const typename Elem<DT>::type *row, int64_t vocab, F &&f,
                                              const typename Elem<DT>::type *next_row = nullptr, float keep = 0.0f) {
    constexpr bool BACKWARDS = LAST && Walk::kLastPassBackwards;
    // The last pass's row pointer kept in registers; pass 1's not, where the clamp's instances would spill it.
    if constexpr (LAST) row = opaque(row);
    // Prefetches in rows of 16-byte packs only: a prefetch a column would cost more instructions than it saves.
    constexpr int AHEAD = VEC ? Walk::kPrefetchGroups : 0;
    constexpr int P = VEC ? kPack<DT> : 1;
    // Pack indices in 32 bits, unsigned (vocab < 2^31: validate.cpp): a 64-bit index takes two registers and two
    // instructions for each add and compare, in loops that keep every register busy.  Forwards no index passes
    // packs + 2 groups; backwards, none passes packs + a group, and past the first group the bases wrap to above
    // 2^32 - 2 groups, so that base < packs + group ends the walk.
    const uint32_t packs = (uint32_t)(vocab / P), group = (uint32_t)kThreads * kUnroll;
    // The thread's first group, at `base`: its packs base + u kThreads, u < kUnroll; the walk steps by `step`.
    // Backwards, the last group that holds packs, and past the first the bases wrap: the one compare pk < packs
    // keeps a pack of the row in either direction.
    const uint32_t step = BACKWARDS ? 0u - group : group;
    const uint32_t first = (BACKWARDS && packs > 0 ? (packs - 1) / group * group : 0) + threadIdx.x;
    const auto in_row = [&](uint32_t pk) { return pk < packs; };
    // The loads in flight hold raw bytes, converted to float only when used: 4 registers a pack, where the
    // converted floats of a bf16 / fp16 pack would take 8.
    using Raw = std::conditional_t<VEC, Pack<DT>, typename Elem<DT>::type>;
    // Where the walk's groups end: forwards at `end`, backwards at 0.  Past it, with kPrefetchNextRow, a group is
    // the next row's: the first past the end is its group 0, the one after its group 1, and so on.
    const int64_t end = ((int64_t)packs + group - 1) / group * group;
    const auto prefetch = [&](uint32_t index) {  // the group at `index`, into L2
        int64_t base = BACKWARDS ? (int64_t)(int32_t)index : (int64_t)index;  // a wrapped base below 0 again
        const bool in_next = Walk::kPrefetchNextRow && (BACKWARDS ? base < 0 : base >= end);
        if (in_next) {
            if (!next_row) return;
            base = BACKWARDS ? 2 * (int64_t)threadIdx.x - base - group : base - end;  // its base in the next row
        }
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            const int64_t pk = base + (int64_t)u * kThreads;
            if ((uint64_t)pk < (uint64_t)packs) prefetch_l2((in_next ? next_row : row) + pk * P);
        }
    };
    constexpr bool MARKS = VEC && Walk::kKeepsInL2;
    uint64_t policy = 0;
    if constexpr (MARKS) policy = row_policy<LAST>(keep);
    const auto load = [&](Raw(&raw)[kUnroll], uint32_t base) {
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            const uint32_t pk = base + (uint32_t)u * kThreads;
            if (in_row(pk)) {
                if constexpr (MARKS) raw[u].raw = load_marked<LAST>(reinterpret_cast<const uint4 *>(row) + pk, policy);
                else if constexpr (VEC) raw[u].raw = load_row_bytes<LAST>(reinterpret_cast<const uint4 *>(row) + pk);
                else raw[u] = load_row_bytes<LAST>(row + pk);
            }
        }
        if constexpr (AHEAD > 0) prefetch(base + AHEAD * step);
    };
    const auto tail = [&] {  // none in scalars, every column a pack: said here, as the 32 bits hide it
        if constexpr (P > 1) {
            for (int64_t c = (int64_t)packs * P + threadIdx.x; c < vocab; c += kThreads) {
                float z[1] = {to_float<DT>(load_row_bytes<LAST>(row + c))};
                f(c, z);
            }
        }
    };
    const auto use = [&](const Raw(&raw)[kUnroll], uint32_t base) {
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            const uint32_t pk = base + (uint32_t)u * kThreads;
            if (in_row(pk)) {
                float z[P];
                if constexpr (VEC) unpack<DT>(raw[u], z);
                else z[0] = to_float<DT>(raw[u]);
                f((int64_t)pk * P, z);
            }
        }
    };
    if constexpr (BACKWARDS) tail();  // the row's end, read last by the pass before
    // The groups between the first and the first that a load's prefetch reaches.
    for (int d = 1; d < AHEAD; ++d) prefetch(first + d * step);
    // Two buffers taken in turn, each group loaded into the one the group before it is not in: the next group in
    // flight while this one is used, and no copy from one buffer to the other.  Written as `current = next` after
    // each group, the copy (sm_90: 8 to 16 moves a group of two packs, in every pass's loop) went just after the
    // next group's loads, where the warp waited for them before it used the current group: one group in flight at a
    // time, none while it computed (sass_offline.py's "pack used after": 4 to 18 slots from a pack's load to its
    // first use then, half the loop now).
    Raw even[kUnroll], odd[kUnroll];
    const uint32_t end_base = BACKWARDS ? packs + group : packs;
    load(even, first);
    for (uint32_t base = first; base < end_base; base += 2 * step) {
        load(odd, base + step);
        use(even, base);
        if (!(base + step < end_base)) break;
        load(even, base + 2 * step);
        use(odd, base + step);
    }
    if constexpr (!BACKWARDS) tail();
}

// The same, one column at a time: f(column, z).
template <int DT, bool VEC, class Walk = BuildWalk, typename F>
__device__ __forceinline__ void for_each_column(const typename Elem<DT>::type *row, int64_t vocab, F &&f) {
    // Its loads unmarked (sm_90: a policy for them, made once or at each load, costs the clamp's instances spill
    // loads and stores in pass 1's loop): should an unmarked load set its line's mark to evict-normal, as PTX's
    // default priority, a row that takes the radix select's passes loses pass 1's marks before the gradient pass.
    using Unmarked = RowWalk<Walk::kLastPassBackwards, Walk::kPrefetchGroups, Walk::kPrefetchNextRow, false>;
    for_each_pack<DT, VEC, false, Unmarked>(row, vocab, [&](int64_t c0, const auto &z) {
        constexpr int n = sizeof(z) / sizeof(float);
#pragma unroll
        for (int j = 0; j < n; ++j) f(c0 + j, z[j]);
    });
}

// Writes n consecutive values at column c0 of a dlogits row: as 16-byte packs when n is a whole number of them
// (for_each_pack's packs, with aligned rows), one by one otherwise.
template <int DDT, int N>
__device__ __forceinline__ void store_columns(typename Elem<DDT>::type *drow, int64_t c0, const float (&g)[N]) {
    constexpr int Q = kPack<DDT>;
    if constexpr (N % Q == 0) {
#pragma unroll
        for (int q = 0; q < N / Q; ++q) {
            float part[Q];
#pragma unroll
            for (int j = 0; j < Q; ++j) part[j] = g[q * Q + j];
            store_pack<DDT>(drow + c0 + q * Q, part);
        }
    } else {
#pragma unroll
        for (int j = 0; j < N; ++j) store_evict_first(drow + c0 + j, from_float<DDT>(g[j]));
    }
}

constexpr float kLog2e = 1.44269504088896341f;
constexpr double kLn2 = 0.69314718055994530942;

// 2^x by the special function unit's ex2.approx.ftz: relative error about 2^-22, 0 for x = -inf and for results
// under 2^-126.  One instruction, where __expf adds a multiply by log2(e) and a subnormal fix-up: the row kernel
// works in base-2 units (Transform::y2) so that every exponential is this one.
__device__ __forceinline__ float exp2_approx(float x) {
#ifdef __CUDA_ARCH__
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
#elif defined(__CUDACC__)
    return exp2f(x);  // nvcc's host pass, which compiles device code that it never calls
#else
    return emu::ex2_approx(x, true);  // the emulated test (native/tests/emulator/special_functions.hpp)
#endif
}

// log2 x by the special function unit's lg2.approx.ftz (absolute error about 2^-22), for estimates that leave a
// margin: one instruction, where log2f's exact code costs registers.
__device__ __forceinline__ float log2_approx(float x) {
#ifdef __CUDA_ARCH__
    float y;
    asm("lg2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
#elif defined(__CUDACC__)
    return log2f(x);  // as exp2_approx
#else
    return emu::lg2_approx_ftz(x);
#endif
}

// SPEC section 2's logit transform: u = s z; softcap: u = c tanh(u / c) (a -inf logit stays -inf, NaN stays NaN);
// y = u / tau.  The kernel uses y in base-2 units, y2 = y log2(e), so exp(y - m) = 2^(y2 - m2); sums of
// e (y - m) taken in those units are turned back into nats once per row, times ln 2.  The one difference this
// makes: a finite |y| above FLT_MAX ln 2 (2.4e38) overflows in these units, so such a logit reads as +inf (an
// error) or -inf (masked), where the CPU kernel keeps it.
struct Transform {
    float scale, softcap, inv_softcap;
    float out;     // log2(e) / tau
    float direct;  // s log2(e) / tau: y2 = z direct without the softcap

    __device__ __forceinline__ static Transform make(float scale, float softcap, float tau) {
        const float out = kLog2e / tau;
        return Transform{scale, softcap, softcap > 0.0f ? 1.0f / softcap : 0.0f, out, scale * out};
    }

    __device__ __forceinline__ float y2(float z) const {
        float slope;  // unused here: the compiler drops its arithmetic
        return y2(z, slope);
    }

    // y2 and the slope dy/dz / (s / tau) of one logit (1 without the softcap), for the gradient pass.
    __device__ __forceinline__ float y2(float z, float &slope) const {
        slope = 1.0f;
        return softcap <= 0.0f ? z * direct : softcapped(z, slope) * out;
    }

  private:
    // u = c tanh x, x = s z / c, and the slope 1 - tanh^2 x, from one e = exp(-2|x|) and one r = 1 / (1 + e):
    // tanh |x| = (1 - e) r (the CPU kernel's fast_tanh with its division as a reciprocal: absolute error about
    // 1e-7) and the slope 4 e r^2.  On the GPU __fdividef(a, b) is a times rcp(b) (div.approx), so (1 - e) r is the
    // bits of __fdividef(1 - e, 1 + e), and the gradient pass, which needs both, takes the special function unit
    // twice for them, not four times (RESULTS.md: with a softcap, that unit is predicted to bound the kernel).  The
    // slope is not taken as 1 - th^2: that cancels to th's error where th nears 1 (__fdividef's 2 ulps are a percent
    // of the slope at |x| = 6, and more than all of it from |x| = 9).
    __device__ __forceinline__ float softcapped(float z, float &slope) const {
        const float x = z * scale * inv_softcap;
        const float e = __expf(-2.0f * fabsf(x)), r = __fdividef(1.0f, 1.0f + e);
        slope = 4.0f * e * r * r;
        const float t = (1.0f - e) * r;
        float u = softcap * (x < 0.0f ? -t : t);
        u = z == -INFINITY ? -INFINITY : u;
        return z != z ? z : u;
    }
};

}  // namespace pl::cuda
