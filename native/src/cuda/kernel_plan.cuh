// What a device call runs, decided on the host from its validated arguments: the kernels' view of the buffers
// and the loss kernel's instance (logits dtype, dlogits dtype, 16-byte packs or scalars).  Shared by the launcher
// (fused_loss.cu) and the emulated test, so both run the instance that a call would.
#pragma once
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "clustered_rows.cuh"
#include "kernel_args.cuh"
#include "policyloss.h"
#include "row_access.cuh"

namespace pl::cuda {

// `records`: n_rows of scratch.
inline KernelArgs kernel_args(const pl_loss_args &a, RowRecord *records) {
    return KernelArgs{a.n_rows,      a.vocab,         a.ld,          a.ld_dlogits,       a.logits,
                      a.target,      a.target_dtype == PL_I64,       a.old_logp,         a.ref_logp,
                      a.advantage,   a.weight,        a.temperature, a.dlogits,          a.out_logp,
                      a.out_entropy, a.out_clamped_entropy, a.out_ratio, a.out_loss,     a.out_kl,
                      a.out_flags,   records,         0.0f};
}

// The records that kernel_args gave the rows; `metrics` and `error`: where the sums and the data check go.
inline MetricsArgs metrics_args(const pl_loss_args &a, const RowRecord *records, double *metrics,
                                pl_data_error *error) {
    return MetricsArgs{a.n_rows, records, a.weight, a.old_logp, a.target, a.target_dtype == PL_I64, metrics, error};
}

// Rows of `esize`-byte elements at `ptr` with stride `ld` all start on 16 bytes.
inline bool aligned16(const void *ptr, int64_t ld, int esize) {
    return ((uintptr_t)ptr % 16 == 0) && (ld * esize) % 16 == 0;
}

// The most of a row, in KB, that a block of a cluster holds in shared memory where rows are split over clusters
// (clustered_rows.cuh: rows in 16-byte packs, on sm_90 and later); 0, the default: they are not.  Off because no
// faster on an H200 at any part size timed (build_variants.sh's clustered-*; benchmarks/RESULTS.md): with entropy as
// fast at best, the clamp's modes 1.6 to 2.7x slower.  A part takes the shared memory a second block an SM would
// need, and HBM's second read, which it saves, costs less than the warps it loses.
#ifndef PL_ROW_CLUSTER_PART_KB
#define PL_ROW_CLUSTER_PART_KB 0
#endif
constexpr int64_t kClusterPartBytes = (int64_t)PL_ROW_CLUSTER_PART_KB * 1024;

// The share of L2, in percent, that the rows in flight may fill where rows are split over clusters whose blocks read
// their parts from global memory (clustered_rows.cuh without HELD; rows in 16-byte packs, on sm_90 and later), with
// as few blocks a row as keep them within it (l2_cluster_blocks); 0, the default: rows are not.  The row kernel's two
// blocks an SM, each on a row of its own, keep twice L2 of rows in flight at 8192 x 151,936 bf16 on an H200 and read
// the logits from HBM 1.88 times; one block an SM with the rows within L2 read them 1.27 times, but left the SM
// without reads in flight while its block worked on a row's sums (RESULTS.md).  Two blocks a row keep both: two blocks
// an SM, each on its own cluster's row, and the rows in flight within L2 (132 of 304 KB, 40 MB: 80% of an H100's
// 50 MB).  Not yet timed (build_variants.sh's cluster-l2 builds).  Not with PL_ROW_CLUSTER_PART_KB.
#ifndef PL_ROW_CLUSTER_L2_PERCENT
#define PL_ROW_CLUSTER_L2_PERCENT 0
#endif
static_assert(!(PL_ROW_CLUSTER_L2_PERCENT > 0 && PL_ROW_CLUSTER_PART_KB > 0),
              "parts held in shared memory or read from L2, not both");
constexpr bool kClusterHeld = kClusterPartBytes > 0;
constexpr int64_t kClusterL2Percent = PL_ROW_CLUSTER_L2_PERCENT;
constexpr bool kClusterRows = kClusterHeld || kClusterL2Percent > 0;

// The blocks of a cluster (2, 4 or 8) whose parts, read from L2, keep the rows in flight within `percent` of
// `l2_bytes` where `block_slots` blocks are resident (every SM's): as few as do, 8 where fewer do not; 0 where the row
// kernel's rows, one a block, already fit (it takes them then).
inline unsigned l2_cluster_blocks(int64_t row_bytes, int64_t block_slots, int64_t l2_bytes, int64_t percent) {
    const auto fits = [&](unsigned blocks) { return block_slots / blocks * row_bytes * 100 <= l2_bytes * percent; };
    if (fits(1)) return 0;
    for (unsigned blocks = 2; blocks < 8; blocks *= 2)
        if (fits(blocks)) return blocks;
    return 8;
}

// The blocks of a cluster (1, 2, 4 or 8: at most the portable cluster size) that take a row of `packs` 16-byte packs
// of `row_bytes`, as the build splits rows; 0: the row kernel takes it, a row a block.  Parts held in shared memory:
// as few as hold it in parts of at most kClusterPartBytes, 0 where eight do not.  Parts from L2: l2_cluster_blocks.
inline unsigned cluster_blocks(int64_t packs, int64_t row_bytes, int64_t block_slots, int64_t l2_bytes) {
    if (packs == 0) return 0;  // a row shorter than a pack: no part to split
    if constexpr (kClusterHeld) {
        for (unsigned blocks = 1; blocks <= 8; blocks *= 2)
            if (part_packs(packs, blocks) * (int64_t)sizeof(uint4) <= kClusterPartBytes) return blocks;
        return 0;
    } else {
        return kClusterRows ? l2_cluster_blocks(row_bytes, block_slots, l2_bytes, kClusterL2Percent) : 0;
    }
}

// The share of each row's lines that pass 1 marks to keep in L2 (row_access.cuh's PL_ROW_L2_KEEP_PERCENT): the
// marked lines of `rows` rows in flight, of `row_bytes`, within `percent` of `l2_bytes`, at most every line; none
// where no gradient pass reads the row again (`gradient` false), as no pass would then mark them evict-first after.
// The GPU takes the share in sixteenths, rounded down (createpolicy.fractional; ptxas, sm_90).
inline float l2_keep_share(int64_t row_bytes, int64_t rows, int64_t l2_bytes, int64_t percent, bool gradient) {
    if (!gradient || percent <= 0 || rows <= 0 || row_bytes <= 0) return 0.0f;
    return (float)std::min(1.0, (double)l2_bytes * (double)percent / 100.0 / ((double)rows * (double)row_bytes));
}

// The code of the row kernel instance that a call runs (row_kernel.cuh's CODE): the code of what the call has of the
// clamp and the softcap.  A call with the clamp and without the softcap ran the instance with both until 2026-12-05,
// whose loops carried the softcap's tanh and slope: ptxas, sm_90, the bf16 instance of the clamp's code alone has a
// pass-1 loop of 1,830 slots and a gradient loop of 440 where the one with both has 2,177 and 940, and no local memory
// in either where that one has a spill in pass 1 (benchmarks/RESULTS.md: not yet timed).
inline int row_code(const pl_loss_params &p) {
    return (p.clamp_p > 0.0f ? kClampCode : 0) | (p.softcap > 0.0f ? kSoftcapCode : 0);
}

template <int CODE>
using Code = std::integral_constant<int, CODE>;

template <typename F, typename... Chosen>
auto with_code_instance(const pl_loss_params &p, F &&f, Chosen... chosen) {
    switch (row_code(p)) {
        case kPlainCode: return f(chosen..., Code<kPlainCode>{});
        case kSoftcapCode: return f(chosen..., Code<kSoftcapCode>{});
        case kClampCode: return f(chosen..., Code<kClampCode>{});
        default: return f(chosen..., Code<kFullCode>{});
    }
}

template <int DT, typename F>
auto with_gradient_instance(const pl_loss_params &p, const pl_loss_args &a, F &&f) {
    using Logits = std::integral_constant<int, DT>;
    const bool f32_gradient = a.dlogits && a.dlogits_dtype == PL_F32 && DT != PL_F32;
    const int esize = (int)sizeof(typename Elem<DT>::type);
    const bool vec = aligned16(a.logits, a.ld, esize) &&
                     (!a.dlogits || aligned16(a.dlogits, a.ld_dlogits, f32_gradient ? 4 : esize));
    if (f32_gradient) {
        using Gradient = std::integral_constant<int, PL_F32>;
        return vec ? with_code_instance(p, f, Logits{}, Gradient{}, std::true_type{})
                   : with_code_instance(p, f, Logits{}, Gradient{}, std::false_type{});
    }
    return vec ? with_code_instance(p, f, Logits{}, Logits{}, std::true_type{})
               : with_code_instance(p, f, Logits{}, Logits{}, std::false_type{});
}

// Calls f(DT, DDT, VEC, CODE), each a std::integral_constant, with the row kernel instance for the call's
// arguments: dlogits in fp32 or in the logits' dtype, 16-byte packs when every row of logits and dlogits is
// aligned, and the code of the clamp and of the softcap that the call needs (row_code).
template <typename F>
auto with_row_instance(const pl_loss_params &p, const pl_loss_args &a, F &&f) {
    switch (a.logits_dtype) {
        case PL_F32: return with_gradient_instance<PL_F32>(p, a, f);
        case PL_BF16: return with_gradient_instance<PL_BF16>(p, a, f);
        default: return with_gradient_instance<PL_F16>(p, a, f);
    }
}

}  // namespace pl::cuda
