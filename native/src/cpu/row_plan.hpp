// What phase A of the CPU kernel learns about a row and phase B needs to write its gradient and outputs.
#pragma once
#include <cstdint>

#include "../row_error.hpp"
#include "../row_loss.hpp"
#include "policyloss.h"

namespace pl::cpu {

struct RowPlan {
    RowError err;       // first data error of the row, if any
    bool skipped;       // weight 0: never read, gradient 0
    float max;          // m = max_v y_v
    float log_sum;      // log sum exp(y - m): lse = m + log_sum, kept apart so log pi = (y - m) - log_sum is exact
                        // near the maximum (a rounded lse would cost ulp(lse) there)
    float other_mass;   // 1 - pi_a, summed over the other tokens
    float log_c;        // log(sum_all e / sum_S e): log pt = log pi + log_c on S
    uint32_t key_threshold;  // order_key of the smallest raw logit in S (0 = every finite logit)
    bool clamped;       // S is a strict selection (p > 0)
    RowStats stats;
    RowLoss loss;
};

// The two phases for one ISA; the kernel picks the best table the CPU supports at run time.
struct RowKernels {
    const char *isa;
    // Validates row i and fills plan (stats, loss); reads the row's logits once from memory.
    void (*phase_a)(const pl_loss_params &p, const pl_loss_args &a, int64_t i, RowPlan &plan);
    // Writes row i of dlogits from the plan (zeros for skipped rows).
    void (*phase_b)(const pl_loss_params &p, const pl_loss_args &a, int64_t i, const RowPlan &plan);
};

const RowKernels &row_kernels_avx2();
const RowKernels &row_kernels_baseline();

}  // namespace pl::cpu
