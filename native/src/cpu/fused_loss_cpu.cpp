#include "fused_loss_cpu.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "../errors.hpp"
#include "row_plan.hpp"
#include "thread_pool.hpp"

namespace pl::cpu {
namespace {

// The best ISA this CPU has; POLICYLOSS_CPU_ISA=baseline forces the portable build (so tests can cover it on
// machines that have AVX2).  Chosen once.
const RowKernels &kernels() {
    static const RowKernels &k = [] () -> const RowKernels & {
        const char *forced = std::getenv("POLICYLOSS_CPU_ISA");
        if (forced && std::strcmp(forced, "baseline") == 0) return row_kernels_baseline();
#if defined(__x86_64__)
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return row_kernels_avx2();
#endif
        return row_kernels_baseline();
    }();
    return k;
}

// Rows per task: enough logits per task (about 64k) that small vocabularies do not drown in scheduling.
int64_t rows_per_chunk(int64_t vocab) { return std::max<int64_t>(1, 65536 / vocab); }

// Metric sums in row order, so they do not depend on the thread schedule.
void reduce_metrics(const pl_loss_args &a, const std::vector<RowPlan> &plans, double *m) {
    std::fill(m, m + PL_METRICS_LEN, 0.0);
    for (int64_t i = 0; i < a.n_rows; ++i) {
        const RowPlan &r = plans[i];
        if (r.skipped) continue;
        m[PL_M_LOSS] += (double)a.weight[i] * r.loss.loss;
        m[PL_M_VALID_ROWS] += 1.0;
        m[PL_M_ENTROPY] += r.stats.entropy;
        m[PL_M_CLAMPED_ENTROPY] += r.stats.clamped_entropy;
        m[PL_M_CLIP_LOW] += (r.loss.flags & PL_FLAG_CLIP_LOW) ? 1.0 : 0.0;
        m[PL_M_CLIP_HIGH] += (r.loss.flags & PL_FLAG_CLIP_HIGH) ? 1.0 : 0.0;
        m[PL_M_DUAL_CLIP] += (r.loss.flags & PL_FLAG_DUAL_CLIP) ? 1.0 : 0.0;
        m[PL_M_RATIO_CLAMPED] += (r.loss.flags & PL_FLAG_RATIO_CLAMPED) ? 1.0 : 0.0;
        m[PL_M_RATIO] += r.loss.ratio;
        m[PL_M_APPROX_KL] += (double)a.old_logp[i] - (double)r.stats.logp;
        m[PL_M_KL] += r.loss.kl;
        m[PL_M_WEIGHT] += a.weight[i];
    }
}

void write_row_outputs(const pl_loss_args &a, int64_t i, const RowPlan &r) {
    // Skipped rows hold zeros (RowPlan{}), as the header promises.
    if (a.out_logp) a.out_logp[i] = r.stats.logp;
    if (a.out_entropy) a.out_entropy[i] = r.stats.entropy;
    if (a.out_clamped_entropy) a.out_clamped_entropy[i] = r.stats.clamped_entropy;
    if (a.out_ratio) a.out_ratio[i] = r.loss.ratio;
    if (a.out_loss) a.out_loss[i] = r.loss.loss;
    if (a.out_kl) a.out_kl[i] = r.loss.kl;
    if (a.out_flags) a.out_flags[i] = r.loss.flags;
}

}  // namespace

const char *active_isa() { return kernels().isa; }

pl_status fused_loss(const pl_loss_params &p, const pl_loss_args &a) {
    const int64_t n = a.n_rows;
    std::vector<RowPlan> plans;
    try {
        plans.resize(n);
    } catch (const std::bad_alloc &) {
        return fail(PL_ERR_INTERNAL, "n_rows", -1, "out of memory for %lld row plans", (long long)n);
    }
    const RowKernels &k = kernels();
    const int64_t chunk = rows_per_chunk(a.vocab);

    // Phase A: statistics, loss and validation of every row.  Nothing is written before all rows pass.
    parallel_for(n, chunk, p.num_threads, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) k.phase_a(p, a, i, plans[i]);
    });
    for (int64_t i = 0; i < n; ++i) {
        if (plans[i].err.code == ROW_OK) continue;
        if (a.data_error) *a.data_error = pl_data_error{i, plans[i].err.code, 0, plans[i].err.detail};
        return report_row_error(plans[i].err, i, a.vocab);
    }
    if (a.data_error) *a.data_error = pl_data_error{-1, ROW_OK, 0, 0};

    // Phase B: the gradient, row by row, then the per-row outputs and the metric sums.
    if (a.dlogits) {
        parallel_for(n, chunk, p.num_threads, [&](int64_t begin, int64_t end) {
            for (int64_t i = begin; i < end; ++i) k.phase_b(p, a, i, plans[i]);
        });
    }
    for (int64_t i = 0; i < n; ++i) write_row_outputs(a, i, plans[i]);
    if (a.metrics) reduce_metrics(a, plans, a.metrics);
    return PL_OK;
}

}  // namespace pl::cpu
