// What a device call runs, decided on the host from its validated arguments: the kernels' view of the buffers
// and the loss kernel's instance (logits dtype, dlogits dtype, 16-byte packs or scalars).  Shared by the launcher
// (fused_loss.cu) and the emulated test, so both run the instance that a call would.
#pragma once
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
                      a.out_flags,   records};
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

// The blocks of a cluster (1, 2, 4 or 8: at most the portable cluster size) that hold a row of `packs` 16-byte
// packs in parts of at most kClusterPartBytes; 0 where eight do not.
inline unsigned cluster_blocks(int64_t packs) {
    for (unsigned blocks = 1; kClusterPartBytes > 0 && blocks <= 8; blocks *= 2)
        if (part_packs(packs, blocks) * (int64_t)sizeof(uint4) <= kClusterPartBytes) return blocks;
    return 0;
}

// The code of the row kernel instance that a call runs (row_kernel.cuh's CODE): the softcap's alone where it has the
// softcap and not the clamp, neither where it has neither, both where it has the clamp.  An instance with the clamp's
// code alone compiles (ptxas, sm_90: a fifth fewer instructions than the one with both, the softcap's paths out of its
// loops) but keeps a value of its gradient loop in local memory, two stores and two loads an iteration, where the
// one with both keeps none there; the calls with the clamp keep the instance that was timed (benchmarks/RESULTS.md).
inline int row_code(const pl_loss_params &p) {
    if (p.clamp_p > 0.0f) return kFullCode;
    return p.softcap > 0.0f ? kSoftcapCode : kPlainCode;
}

template <int CODE>
using Code = std::integral_constant<int, CODE>;

template <typename F, typename... Chosen>
auto with_code_instance(const pl_loss_params &p, F &&f, Chosen... chosen) {
    switch (row_code(p)) {
        case kPlainCode: return f(chosen..., Code<kPlainCode>{});
        case kSoftcapCode: return f(chosen..., Code<kSoftcapCode>{});
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
