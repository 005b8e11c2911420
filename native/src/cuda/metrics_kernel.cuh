// The metric sums: the row records turned into the call's sums and its data check, by one block.  Run by block 0
// of the loss kernel after its grid barrier (loss_kernel.cuh), or as a kernel of its own after a launch that could
// not be cooperative.  Compiled by nvcc into the library and by the host compiler into the emulated test.
#pragma once
#include <cstdint>

#include "../row_error.hpp"
#include "block_reduce.cuh"
#include "kernel_args.cuh"
#include "policyloss.h"
#include "row_record.hpp"

namespace pl::cuda {

// Sums a pass over the records, in two passes: with all twelve live at once, the loss kernel, which runs the sums
// after its rows, needs more registers in every row (ptxas for sm_90: its fp32 packed instance spills 120 bytes
// instead of 52, the scalar instances take 73 registers instead of 64).
constexpr int kSumsPerPass = 6;
static_assert(PL_METRICS_LEN % kSumsPerPass == 0, "whole passes");

struct MetricsSmem {
    ReduceSmem<kSumsPerPass> reduce;
    int64_t min_slots[kWarps];
};

namespace {

// A counted row's term of metric k (PL_M_*).
__device__ __forceinline__ double metric_term(int k, const RowRecord &r, double w, float old_logp) {
    switch (k) {
        case PL_M_LOSS: return w * r.loss;
        case PL_M_VALID_ROWS: return 1.0;
        case PL_M_ENTROPY: return r.entropy;
        case PL_M_CLAMPED_ENTROPY: return r.clamped_entropy;
        case PL_M_CLIP_LOW: return (r.info & PL_FLAG_CLIP_LOW) ? 1.0 : 0.0;
        case PL_M_CLIP_HIGH: return (r.info & PL_FLAG_CLIP_HIGH) ? 1.0 : 0.0;
        case PL_M_DUAL_CLIP: return (r.info & PL_FLAG_DUAL_CLIP) ? 1.0 : 0.0;
        case PL_M_RATIO_CLAMPED: return (r.info & PL_FLAG_RATIO_CLAMPED) ? 1.0 : 0.0;
        case PL_M_RATIO: return r.ratio;
        case PL_M_APPROX_KL: return (double)old_logp - (double)r.logp;
        case PL_M_KL: return r.kl;
        default: return w;  // PL_M_WEIGHT
    }
}

// Metric sums in row order (SPEC section 5; the CPU kernel's reduce_metrics), and the first bad row.  Each thread
// sums rows tid, tid + kThreads, ... and the block adds the threads' sums in a fixed order.
__device__ void metric_sums(const MetricsArgs &a, MetricsSmem &s) {
    double m[PL_METRICS_LEN];
    int64_t first_bad = INT64_MAX;
#pragma unroll 1
    for (int k0 = 0; k0 < PL_METRICS_LEN; k0 += kSumsPerPass) {
        double sums[kSumsPerPass] = {};
        for (int64_t i = threadIdx.x; i < a.n_rows; i += kThreads) {
            const RowRecord r = a.records[i];
            if (r.info >> kErrorShift) {
                first_bad = i < first_bad ? i : first_bad;
                continue;
            }
            if (!(r.info & kCounted)) continue;
            const double w = a.weight[i];
            const float old_logp = a.old_logp[i];
#pragma unroll
            for (int k = 0; k < kSumsPerPass; ++k) sums[k] += metric_term(k0 + k, r, w, old_logp);
        }
        block_sum(sums, s.reduce);
        for (int k = 0; k < kSumsPerPass; ++k) m[k0 + k] = sums[k];
    }
    first_bad = block_min(first_bad, s.min_slots);
    if (threadIdx.x != 0) return;
    const bool bad = first_bad != INT64_MAX;
    if (a.metrics)
        for (int k = 0; k < PL_METRICS_LEN; ++k) a.metrics[k] = bad ? NAN : m[k];  // an invalid call's metrics are NaN
    pl_data_error e{-1, ROW_OK, 0, 0};
    if (bad) {
        const RowRecord r = a.records[first_bad];
        e.row = first_bad;
        e.reason = (int32_t)(r.info >> kErrorShift);
        if (e.reason == ROW_TARGET_RANGE || e.reason == ROW_TARGET_MASKED)
            e.detail = target_at(a.target, a.target64, first_bad);
        else if (e.reason == ROW_LOGITS_NAN)
            e.detail = r.detail;
    }
    *a.error = e;
}

// The metric sums as a kernel of one block.
__global__ void __launch_bounds__(kThreads) reduce_rows(const MetricsArgs a) {
    PL_BLOCK_SHARED(MetricsSmem, s);
    metric_sums(a, s);
}

}  // namespace
}  // namespace pl::cuda
