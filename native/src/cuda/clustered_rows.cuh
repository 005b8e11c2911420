// Rows split over the blocks of a thread-block cluster (sm_90 and later).  Where each block holds its part of the row
// in shared memory (HELD), pass 1 copies the part there from global memory as it reads it, and the radix select's
// passes and the gradient pass read it there, so a row is read from HBM once and written once, the copy's floor,
// whatever L2 holds.  Otherwise every pass reads the part from global memory, and the split keeps the rows in flight
// few enough for L2 to hold them between pass 1 and the passes after it, with the blocks an SM that parts in shared
// memory would take away.  The blocks combine their partial results and their histograms through distributed shared
// memory, in rank order (deterministic); a thread visits the same packs in the same order either way, so both give
// the same bits.  The row kernel (row_kernel.cuh) runs unchanged on this span of a row.  fused_loss.cu launches it
// where PL_ROW_CLUSTER_PART_KB or PL_ROW_CLUSTER_L2_PERCENT asks for it (kernel_plan.cuh).
#pragma once
#ifdef __CUDACC__
#include <cooperative_groups.h>
#include <cuda_pipeline_primitives.h>
#endif

#include <cstdint>

#include "loss_kernel.cuh"
#include "row_kernel.cuh"

namespace pl::cuda {

// Asynchronous copies (cp.async) a thread keeps in flight in pass 1: 8 packs of 16 bytes, 64 KB a block of 512
// threads, in no registers, where for_each_pack's groups hold theirs in registers.
#ifndef PL_CLUSTER_COPY_DEPTH
#define PL_CLUSTER_COPY_DEPTH 8
#endif
constexpr int kCopyDepth = PL_CLUSTER_COPY_DEPTH;

// A block's part of one exchange between the blocks of a cluster.
struct ClusterSlot {
    double sums[7];
    unsigned long long count;
    int64_t first_bad;
    float max, target_logit;
};

struct ClusteredSmem {
    RowSmem rows;
    ClusterSlot slots[2];  // exchanges take them in turn (ClusterSpan::exchange)
};

// The packs of a row's part: ceil(packs / blocks) a block, the last part shorter or empty.
__host__ __device__ __forceinline__ int64_t part_packs(int64_t packs, unsigned blocks) {
    return (packs + blocks - 1) / blocks;
}

// This block's part of the row: packs [first, first + count) of the row's 16-byte packs, and, in the last block,
// the columns from `tail` on, past the last whole pack (read from global memory at each pass: fewer than a pack).
// HELD: the part's packs are in `part` after pass 1; else each pass reads them from the row.
template <int DT, bool HELD>
struct ClusterSpan {
    using T = typename Elem<DT>::type;
    static constexpr int P = kPack<DT>;
    uint4 *part;         // the part's packs, in this block's dynamic shared memory (HELD)
    ClusterSlot *slots;  // this block's
    unsigned rank, blocks;
    int64_t first, count;
    int64_t tail;  // the first column past the row's whole packs, in the last block; vocab (none) in the others
    unsigned exchanges = 0;

    __device__ __forceinline__ ClusterSpan(int64_t vocab, unsigned rank_, unsigned blocks_, uint4 *part_,
                                           ClusterSlot *slots_)
        : part(part_), slots(slots_), rank(rank_), blocks(blocks_) {
        const int64_t packs = vocab / P, per = part_packs(packs, blocks);
        first = per * rank < packs ? per * rank : packs;
        count = packs - first < per ? packs - first : per;
        tail = rank + 1 == blocks ? packs * P : vocab;
    }

    __device__ __forceinline__ bool leader() const { return threadIdx.x == 0 && rank == 0; }
    // The next row's part is copied when its pass 1 reads it, not prefetched.
    static constexpr bool kPrefetchesNextRow = false;

    // This thread's packs of the part: threadIdx.x, threadIdx.x + kThreads, ...
    __device__ __forceinline__ int64_t own_packs() const {
        return count > (int64_t)threadIdx.x ? (count - 1 - threadIdx.x) / kThreads + 1 : 0;
    }

    // Pack k of the part, read from shared memory, to f(first_column, z) as for_each_pack's.
    template <typename F>
    __device__ __forceinline__ void use_pack(int64_t k, F &&f) const {
        Pack<DT> pack;
        pack.raw = part[k];
        float z[P];
        unpack<DT>(pack, z);
        f((first + k) * P, z);
    }

    // The columns past the part's packs, in the last block, read from global memory.  LAST: no pass reads them
    // after this one (load_row_bytes).
    template <bool LAST, typename F>
    __device__ __forceinline__ void use_tail(const T *row, int64_t vocab, F &&f) const {
        for (int64_t c = tail + threadIdx.x; c < vocab; c += kThreads) {
            float z[1] = {to_float<DT>(load_row_bytes<LAST>(row + c))};
            f(c, z);
        }
    }

    // The part's packs from the row in global memory, as for_each_pack walks a row (its groups, its prefetches and
    // its last pass's direction), f given the row's columns: a thread's packs are threadIdx.x, threadIdx.x +
    // kThreads, ... of the part, in increasing order, as use_pack's.  LAST as load_row_bytes's.
    template <bool LAST, typename F>
    __device__ __forceinline__ void walk_part(const T *row, F &&f) const {
        const int64_t c0 = first * P;
        for_each_pack<DT, true, LAST>(row + c0, count * P, [&](int64_t c, const auto &z) { f(c0 + c, z); });
    }

    // HELD: each thread copies its packs into the part and reads them there once they land: a thread reads only what
    // it copied, so no barrier orders the copies, and kCopyDepth of them are in flight while it computes.
    template <typename F>
    __device__ __forceinline__ void first_pass(const T *row, int64_t vocab, F &&f, const T *) {
        if constexpr (!HELD) {
            walk_part<false>(row, f);
            use_tail<false>(row, vocab, f);
            return;
        }
        const uint4 *from = reinterpret_cast<const uint4 *>(row) + first;
        const int64_t own = own_packs();
        const auto copy = [&](int64_t j) {  // the thread's j-th pack, as one group, empty past its last
            if (j < own) {
                const int64_t k = threadIdx.x + j * kThreads;
                __pipeline_memcpy_async(part + k, from + k, sizeof(uint4));
            }
            __pipeline_commit();
        };
        for (int j = 0; j < kCopyDepth; ++j) copy(j);
        for (int64_t j = 0; j < own; ++j) {
            __pipeline_wait_prior(kCopyDepth - 1);  // group j has landed
            copy(j + kCopyDepth);                   // into another pack of the part
            use_pack(threadIdx.x + j * kThreads, f);
        }
        __pipeline_wait_prior(0);  // the empty groups past the last pack
        use_tail<false>(row, vocab, f);
    }

    // The part from shared memory (HELD) or from the row, then the tail from global memory.
    template <bool LAST, typename F>
    __device__ __forceinline__ void read_part(const T *row, int64_t vocab, F &&f) const {
        if constexpr (HELD) {
            const int64_t own = own_packs();
            for (int64_t j = 0; j < own; ++j) use_pack(threadIdx.x + j * kThreads, f);
        } else {
            walk_part<LAST>(row, f);
        }
        use_tail<LAST>(row, vocab, f);
    }

    // The radix select's passes: f(column, z), one column at a time.
    template <typename F>
    __device__ __forceinline__ void each_column(const T *row, int64_t vocab, F &&f) {
        read_part<false>(row, vocab, [&](int64_t c0, const auto &z) {
            constexpr int n = sizeof(z) / sizeof(float);
#pragma unroll
            for (int j = 0; j < n; ++j) f(c0 + j, z[j]);
        });
    }

    template <typename F>
    __device__ __forceinline__ void last_pass(const T *row, int64_t vocab, F &&f, const T *) {
        read_part<true>(row, vocab, f);
    }

    // Each block's part of a value, written by its thread 0 into its slot, and every block's read in rank order
    // once the cluster's barrier has ordered the writes first.  Successive exchanges take the two slots in turn: a
    // block writes a slot again two exchanges later, past the barrier of the exchange between, which every block
    // reaches only once it has read the slot.  The blocks of a cluster take the same branches (each decides on the
    // combined values), so their exchanges pair up.
    template <typename Write, typename Read>
    __device__ __forceinline__ void exchange(Write write, Read read) {
        ClusterSlot &mine = slots[exchanges++ & 1];
        if (threadIdx.x == 0) write(mine);
        const auto cluster = cooperative_groups::this_cluster();
        cluster.sync();
        for (unsigned r = 0; r < blocks; ++r) read(*cluster.map_shared_rank(&mine, r));
    }

    __device__ __forceinline__ FirstPassTotals totals(int64_t bad, float m, int64_t target, RowSmem &s) {
        const int64_t first_bad = block_min(bad, s.min_slots);
        const float max = block_max(m, s.max_slots);
        // s.target_logit holds the target's logit in the block whose part has the target's column.
        const bool has_target = (target >= first * P && target < (first + count) * P) || target >= tail;
        const float target_logit = has_target ? s.target_logit : -INFINITY;
        FirstPassTotals t{INT64_MAX, -INFINITY, -INFINITY};
        exchange(
            [&](ClusterSlot &o) {
                o.first_bad = first_bad;
                o.max = max;
                o.target_logit = target_logit;
            },
            [&](const ClusterSlot &o) {
                t.first_bad = o.first_bad < t.first_bad ? o.first_bad : t.first_bad;
                t.row_max = fmaxf(t.row_max, o.max);
                t.target_logit = fmaxf(t.target_logit, o.target_logit);  // -inf but in one block
            });
        return t;
    }

    template <int K, int M>
    __device__ __forceinline__ void sum_first(double *v, ReduceSmem<M> &reduce) {
        block_sum_first<K>(v, reduce);
        double total[K] = {};
        exchange(
            [&](ClusterSlot &o) {
#pragma unroll
                for (int k = 0; k < K; ++k) o.sums[k] = v[k];
            },
            [&](const ClusterSlot &o) {
#pragma unroll
                for (int k = 0; k < K; ++k) total[k] += o.sums[k];
            });
#pragma unroll
        for (int k = 0; k < K; ++k) v[k] = total[k];
    }

    __device__ __forceinline__ unsigned long long sum_u64(unsigned long long v, unsigned long long *slots) {
        const unsigned long long mine = block_sum_u64(v, slots);
        unsigned long long total = 0;
        exchange([&](ClusterSlot &o) { o.count = mine; }, [&](const ClusterSlot &o) { total += o.count; });
        return total;
    }

    // Every block's bins (counts, as many as a band of DT's fills, or masses) summed into each block's own, so that
    // every block chooses the same bin from the row's histogram.  The first barrier waits for every block's histogram,
    // the second for every block's reads of it before any block writes its own; integer sums, exact in any order.
    __device__ __forceinline__ void merge_bins(SelectSmem &sel, bool by_mass) {
        if (by_mass) merge_bins<kBins, true>(sel);
        else merge_bins<kBandCountBins<DT>, false>(sel);
    }
    template <int BINS, bool BY_MASS>
    __device__ __forceinline__ void merge_bins(SelectSmem &sel) {
        constexpr int per_thread = BINS / kThreads;
        const auto cluster = cooperative_groups::this_cluster();
        cluster.sync();
        unsigned long long total[per_thread] = {};
        for (unsigned r = 0; r < blocks; ++r) {
            const SelectSmem &theirs = *cluster.map_shared_rank(&sel, r);
#pragma unroll
            for (int j = 0; j < per_thread; ++j) total[j] += theirs.held(threadIdx.x + j * kThreads, BY_MASS);
        }
        cluster.sync();
#pragma unroll
        for (int j = 0; j < per_thread; ++j) {
            const int b = threadIdx.x + j * kThreads;
            if (BY_MASS) {
                sel.mass_lo[b] = (unsigned)total[j];
                sel.mass_hi[b] = (unsigned)(total[j] >> 32);
            } else {
                sel.count[b] = (unsigned)total[j];  // under V, below 2^31
            }
        }
        __syncthreads();
    }

    // Whether this block adds what the merged bins hold to sums over the row: the first, as every block holds them.
    __device__ __forceinline__ bool adds_row_bins() const { return rank == 0; }

    template <int DDT>
    __device__ __forceinline__ void zero_gradient(typename Elem<DDT>::type *drow, int64_t vocab) {
        const float zeros[P] = {};
        for (int64_t k = threadIdx.x; k < count; k += kThreads) store_columns<DDT>(drow, (first + k) * P, zeros);
        for (int64_t c = tail + threadIdx.x; c < vocab; c += kThreads)
            store_evict_first(drow + c, from_float<DDT>(0.0f));
    }
};

// The rows of a call split over clusters: cluster c (blocks c * blocks ... c * blocks + blocks - 1) takes rows c,
// c + clusters, ...; HELD: the blocks' parts are the dynamic shared memory, part_packs 16-byte packs each (else it
// is none).  The metric sums follow in reduce_rows.  Launched only on sm_90 and later (fused_loss.cu); the kernel of
// the other architectures traps.  Held to the registers of the row kernel's 16-byte-pack instances, so that two
// blocks fit an SM where their parts do.  CODE as the row kernel's.
template <int DT, int DDT, int CODE, bool HELD>
__global__ void __launch_bounds__(kThreads, kVecBlocksPerSm)
    fused_loss_clustered(const pl_loss_params p, const KernelArgs a) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
    __trap();
#else
    PL_BLOCK_SHARED(ClusteredSmem, s);
    uint4 *part = nullptr;  // parts read from L2: no dynamic shared memory
    if constexpr (HELD) {
        PL_DYNAMIC_SHARED(uint4, held);
        part = held;
    }
    const auto cluster = cooperative_groups::this_cluster();
    const unsigned blocks = cluster.num_blocks();
    ClusterSpan<DT, HELD> span(a.vocab, cluster.block_rank(), blocks, part, s.slots);
    for (int64_t i = blockIdx.x / blocks; i < a.n_rows; i += gridDim.x / blocks) {
        fused_loss_row<DT, DDT, true, CODE>(p, a, i, s.rows, span);
        __syncthreads();  // the next row reuses s.rows
    }
    cluster.sync();  // no block leaves while another may still read its slots
#endif
}

}  // namespace pl::cuda
