// The validated buffers of a device call as the kernels see them (device pointers): the rows' view, and the metric
// sums' view of the row records that the rows leave in scratch.
#pragma once
#include <cstdint>

#include "policyloss.h"
#include "row_record.hpp"

namespace pl::cuda {

struct KernelArgs {
    int64_t n_rows, vocab, ld, ld_dlogits;
    const void *logits;
    const void *target;
    bool target64;
    const float *old_logp, *ref_logp, *advantage, *weight, *temperature;
    void *dlogits;
    float *out_logp, *out_entropy, *out_clamped_entropy, *out_ratio, *out_loss, *out_kl;
    uint8_t *out_flags;
    RowRecord *records;
    // The share of each row's lines that pass 1 marks to keep in L2 for the gradient pass (row_access.cuh's
    // PL_ROW_L2_KEEP_PERCENT; kernel_plan.cuh's l2_keep_share): 0, none, in a build that keeps none.
    float l2_keep;
};

// What the metric sums read and write: the rows' records and the few inputs the sums weigh them with.
struct MetricsArgs {
    int64_t n_rows;
    const RowRecord *records;
    const float *weight, *old_logp;
    const void *target;
    bool target64;
    double *metrics;       // PL_METRICS_LEN sums, or NULL
    pl_data_error *error;  // the call's data check
};

__device__ __forceinline__ int64_t target_at(const void *target, bool target64, int64_t i) {
    return target64 ? ((const int64_t *)target)[i] : (int64_t)((const int32_t *)target)[i];
}

}  // namespace pl::cuda
