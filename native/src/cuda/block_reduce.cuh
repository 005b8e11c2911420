// Block-wide reductions and the radix select's bin choice, in a fixed order: every thread reduces its own
// values, warps combine by a butterfly of shuffles, and every thread then adds the warp totals in warp order.
// No atomics touch a float result, so two identical calls give identical bits (policyloss.h, thread safety).
#pragma once
#include <cstdint>

namespace pl::cuda {

// Threads per row block.  This and the other shape constants of the row kernel (PL_ROW_SM_THREADS in
// loss_kernel.cuh, PL_ROW_UNROLL, PL_ROW_PREFETCH_GROUPS, PL_ROW_PREFETCH_NEXT_ROW, PL_ROW_LAST_PASS_BACKWARDS and
// PL_ROW_L2_KEEP_PERCENT in row_access.cuh, PL_ROWS_L2_PERCENT in fused_loss.cu, PL_ROW_CLUSTER_PART_KB and
// PL_ROW_CLUSTER_L2_PERCENT in kernel_plan.cuh) can be set
// when building, so that benchmarks/gpu/build_variants.sh can build other shapes of the same code and
// compare_variants.py time them side by side on one GPU; the defaults are the shipped shape.
#ifndef PL_ROW_THREADS
#define PL_ROW_THREADS 512
#endif
constexpr int kThreads = PL_ROW_THREADS;
static_assert(kThreads % 32 == 0 && kThreads <= 1024, "whole warps, at most a block's 1024 threads");
constexpr int kWarps = kThreads / 32;
constexpr unsigned kFullMask = 0xffffffffu;

// Declares `name`, the block's shared memory of type T.  The CUDA emulator defines it first
// (native/tests/emulator/cuda_emulator.hpp), to fill a block's shared memory with random bytes when the block starts,
// as the GPU leaves it holding whatever the last block there wrote: a read before a write then shows in the results.
#ifndef PL_BLOCK_SHARED
#define PL_BLOCK_SHARED(T, name) __shared__ T name
#endif
// Declares `name`, the block's dynamic shared memory as an array of T (the launch sets its size); the same macro of
// the emulator fills it with random bytes when the block starts.
#ifndef PL_DYNAMIC_SHARED
#define PL_DYNAMIC_SHARED(T, name) extern __shared__ T name[]
#endif

// Scratch of the reductions; `slots` holds one value per warp and per reduced quantity.
template <int K>
struct ReduceSmem {
    double slots[kWarps][K];
};

// Sums the first K doubles of v over the block (scratch for M >= K of them); every thread gets the totals.
// Contains two __syncthreads.
template <int K, int M>
__device__ __forceinline__ void block_sum_first(double *v, ReduceSmem<M> &s) {
    static_assert(K <= M, "the scratch holds K values per warp");
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
    for (int k = 0; k < K; ++k)
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) v[k] += __shfl_xor_sync(kFullMask, v[k], off);
    if (lane == 0)
#pragma unroll
        for (int k = 0; k < K; ++k) s.slots[warp][k] = v[k];
    __syncthreads();
#pragma unroll
    for (int k = 0; k < K; ++k) {
        double total = 0.0;
        for (int w = 0; w < kWarps; ++w) total += s.slots[w][k];
        v[k] = total;
    }
    __syncthreads();
}

// The same, of all K.
template <int K, int M>
__device__ __forceinline__ void block_sum(double (&v)[K], ReduceSmem<M> &s) {
    block_sum_first<K>(v, s);
}

// Sums an integer over the block (slots: one per warp); every thread gets it.  Contains two __syncthreads.
__device__ __forceinline__ unsigned long long block_sum_u64(unsigned long long v, unsigned long long *slots) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(kFullMask, v, off);
    if (lane == 0) slots[warp] = v;
    __syncthreads();
    v = 0;
    for (int w = 0; w < kWarps; ++w) v += slots[w];
    __syncthreads();
    return v;
}

// Max of a float over the block (NaN-free inputs); every thread gets it.
__device__ __forceinline__ float block_max(float v, float *slots) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(kFullMask, v, off));
    if (lane == 0) slots[warp] = v;
    __syncthreads();
    v = slots[0];
    for (int w = 1; w < kWarps; ++w) v = fmaxf(v, slots[w]);
    __syncthreads();
    // A zero max as +0: between -0 and +0 fmaxf may return either, so its sign was the compiled code's choice, and
    // 2^(y - max) then took ex2 of -0 or +0, which the unit may round apart (emulator/special_functions.hpp): two
    // instances of the row kernel gave other bits in the emulated fuzz (seed 777, case 1088).
    return v == 0.0f ? 0.0f : v;
}

// Min of an int64 over the block; every thread gets it.
__device__ __forceinline__ int64_t block_min(int64_t v, int64_t *slots) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) {
        int64_t o = __shfl_xor_sync(kFullMask, v, off);
        v = o < v ? o : v;
    }
    if (lane == 0) slots[warp] = v;
    __syncthreads();
    v = slots[0];
    for (int w = 1; w < kWarps; ++w) v = slots[w] < v ? slots[w] : v;
    __syncthreads();
    return v;
}

// The radix select's histogram: one level's bins, a token count per bin (TOKEN_FRACTION) or an exp-mass in fixed
// point (PROBABILITY_MASS).  Only 32-bit shared-memory atomics are the hardware's own (a 64-bit atomicAdd there is
// a compare-and-swap loop, which contending lanes retry), so counts are 32-bit (V < 2^31) and a mass is two 32-bit
// words.
constexpr int kBins = 2048;
constexpr int kBinsPerThread = kBins / kThreads;
static_assert(kBins % kThreads == 0, "each thread owns whole bins");
// The count bins: twice kBins, for an fp32 band's 22-bit prefixes (sampled_band.cuh), the radix select's levels and
// the bf16 / fp16 bands counting in the first kBins.
constexpr int kCountBins = 2 * kBins;

// A shared-memory address as a shared-memory atomic takes it: on the GPU the 32-bit offset in the block's window,
// so that a bin's address is one multiply-add from a base computed once a row; in the emulator the host address.
#ifdef __CUDA_ARCH__
using SharedAddress = uint32_t;
#else
using SharedAddress = uintptr_t;
#endif

__device__ __forceinline__ SharedAddress shared_address(const void *p) {
#ifdef __CUDA_ARCH__
    return (SharedAddress)__cvta_generic_to_shared(p);
#else
    return (SharedAddress)p;
#endif
}

// Adds 1 to the counter at `a` (red.shared: ATOMS.POPC.INC).
__device__ __forceinline__ void count_at(SharedAddress a) {
#ifdef __CUDA_ARCH__
    asm volatile("red.shared.add.u32 [%0], 1;" ::"r"(a) : "memory");
#else
    atomicAdd((unsigned *)a, 1u);
#endif
}

struct SelectSmem {
    unsigned count[kCountBins];
    unsigned mass_lo[kBins], mass_hi[kBins];  // a mass's low and high 32 bits
    // One counter per lane of a warp, never read: where a warp counts each lane's token in a bin or in none, every
    // lane takes the same atomic, the ones in no bin on their own word (their own bank), and no branch surrounds it
    // (row_kernel.cuh's bin_in_band).
    unsigned uncounted[32];
    unsigned long long suffix[kWarps];        // per warp: what its bins hold
    int chosen_bin;
    unsigned long long chosen_need;

    // This thread's lane's word of `uncounted`, where it counts a token that goes in no bin.
    __device__ __forceinline__ SharedAddress lane_uncounted() const {
        return shared_address(&uncounted[threadIdx.x % 32]);
    }

    // Empties the bins for the next level; the block may add to them after this returns.
    __device__ __forceinline__ void clear_bins() {
        for (int b = threadIdx.x; b < kBins; b += kThreads) count[b] = 0, mass_lo[b] = 0, mass_hi[b] = 0;
        for (int b = kBins + threadIdx.x; b < kCountBins; b += kThreads) count[b] = 0;
        __syncthreads();
    }

    // Adds q to bin b's mass.  An add wraps the low word around 2^32 exactly when old + lo (mod 2^32) < old, and
    // the thread whose add wrapped it carries the one into the high word.  Integer sums commute, so the bin is
    // exact whatever order the adds land in (it is read after a barrier).
    __device__ __forceinline__ void add_mass(int b, unsigned long long q) {
        const unsigned lo = (unsigned)q, old = atomicAdd(&mass_lo[b], lo);
        const unsigned hi = (unsigned)(q >> 32) + (old + lo < old ? 1u : 0u);
        if (hi != 0) atomicAdd(&mass_hi[b], hi);
    }

    // What bin b holds: its mass, or its count.
    __device__ __forceinline__ unsigned long long held(int b, bool by_mass) const {
        return by_mass ? (unsigned long long)mass_hi[b] << 32 | mass_lo[b] : count[b];
    }

    // What this thread's own bins of the first BINS hold together (BINS above kBins: counts): thread t owns bins
    // [t * BINS / kThreads, (t + 1) * BINS / kThreads).
    template <int BINS = kBins>
    __device__ __forceinline__ unsigned long long held_by_this_thread(bool by_mass) const {
        constexpr int per_thread = BINS / kThreads;
        unsigned long long total = 0;
#pragma unroll
        for (int j = 0; j < per_thread; ++j) total += held(threadIdx.x * per_thread + j, by_mass);
        return total;
    }
};

// The bin holding the threshold, scanning from the largest keys: the highest bin b whose bins b and above hold at
// least `need` (tokens still to keep, or exp-mass still to cover, 1 <= need <= what the bins hold).  Returns it,
// and lowers `need` by what the bins above it hold; every thread gets both.  The CPU kernel's choose_bin as a
// block-wide suffix scan in integers (exact, so the bin always exists), over the bins each thread owns, of the first
// BINS (above kBins: counts).
template <int BINS = kBins>
__device__ __forceinline__ int choose_bin(SelectSmem &s, bool by_mass, unsigned long long &need) {
    static_assert(BINS % kThreads == 0 && BINS <= kCountBins, "each thread owns whole bins");
    constexpr int per_thread = BINS / kThreads;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int first = threadIdx.x * per_thread;
    const unsigned long long mine = s.held_by_this_thread<BINS>(by_mass);
    // Inclusive suffix sum over the lanes of the warp (higher lanes own higher bins).
    unsigned long long incl = mine;
#pragma unroll
    for (int off = 1; off < 32; off <<= 1) {
        unsigned long long o = __shfl_down_sync(kFullMask, incl, off);
        if (lane + off < 32) incl += o;
    }
    if (lane == 0) s.suffix[warp] = incl;  // lane 0's suffix is the whole warp
    __syncthreads();
    unsigned long long cum = incl - mine;  // the bins of the higher lanes of this warp
    for (int w = warp + 1; w < kWarps; ++w) cum += s.suffix[w];
    for (int j = per_thread - 1; j >= 0; --j) {
        unsigned long long amount = s.held(first + j, by_mass);
        if (cum < need && cum + amount >= need) {  // exactly one bin of the block passes
            s.chosen_bin = first + j;
            s.chosen_need = need - cum;
        }
        cum += amount;
    }
    __syncthreads();
    const int bin = s.chosen_bin;
    need = s.chosen_need;
    __syncthreads();
    return bin;
}

}  // namespace pl::cuda
