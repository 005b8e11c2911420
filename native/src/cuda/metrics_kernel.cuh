// The metrics kernel: one block that turns the row kernel's per-row records into the call's metric sums and its
// data check.  Compiled by nvcc into the library and by the host compiler into the emulated test.
#pragma once
#include <cstdint>

#include "../row_error.hpp"
#include "block_reduce.cuh"
#include "policyloss.h"
#include "row_record.hpp"

namespace pl::cuda {
namespace {

// Metric sums in row order (SPEC section 5; the CPU kernel's reduce_metrics), and the first bad row.  One block:
// each thread sums rows tid, tid + kThreads, ... and the block adds the threads' sums in a fixed order.
__global__ void __launch_bounds__(kThreads)
    reduce_rows(const RowRecord *records, const float *weight, const float *old_logp, const void *target, bool target64,
                int64_t n, double *metrics, pl_data_error *error) {
    __shared__ ReduceSmem<PL_METRICS_LEN> reduce;
    __shared__ int64_t min_slots[kWarps];
    double m[PL_METRICS_LEN] = {};
    int64_t first_bad = INT64_MAX;
    for (int64_t i = threadIdx.x; i < n; i += kThreads) {
        const RowRecord r = records[i];
        if (r.info >> kErrorShift) {
            first_bad = i < first_bad ? i : first_bad;
            continue;
        }
        if (!(r.info & kCounted)) continue;
        const double w = weight[i];
        m[PL_M_LOSS] += w * r.loss;
        m[PL_M_VALID_ROWS] += 1.0;
        m[PL_M_ENTROPY] += r.entropy;
        m[PL_M_CLAMPED_ENTROPY] += r.clamped_entropy;
        m[PL_M_CLIP_LOW] += (r.info & PL_FLAG_CLIP_LOW) ? 1.0 : 0.0;
        m[PL_M_CLIP_HIGH] += (r.info & PL_FLAG_CLIP_HIGH) ? 1.0 : 0.0;
        m[PL_M_DUAL_CLIP] += (r.info & PL_FLAG_DUAL_CLIP) ? 1.0 : 0.0;
        m[PL_M_RATIO_CLAMPED] += (r.info & PL_FLAG_RATIO_CLAMPED) ? 1.0 : 0.0;
        m[PL_M_RATIO] += r.ratio;
        m[PL_M_APPROX_KL] += (double)old_logp[i] - (double)r.logp;
        m[PL_M_KL] += r.kl;
        m[PL_M_WEIGHT] += w;
    }
    block_sum(m, reduce);
    first_bad = block_min(first_bad, min_slots);
    if (threadIdx.x != 0) return;
    const bool bad = first_bad != INT64_MAX;
    if (metrics)
        for (int k = 0; k < PL_METRICS_LEN; ++k) metrics[k] = bad ? NAN : m[k];  // an invalid call's metrics are NaN
    pl_data_error e{-1, ROW_OK, 0, 0};
    if (bad) {
        const RowRecord r = records[first_bad];
        e.row = first_bad;
        e.reason = (int32_t)(r.info >> kErrorShift);
        if (e.reason == ROW_TARGET_RANGE || e.reason == ROW_TARGET_MASKED)
            e.detail = target64 ? ((const int64_t *)target)[first_bad] : ((const int32_t *)target)[first_bad];
        else if (e.reason == ROW_LOGITS_NAN)
            e.detail = r.detail;
    }
    *error = e;
}

}  // namespace
}  // namespace pl::cuda
