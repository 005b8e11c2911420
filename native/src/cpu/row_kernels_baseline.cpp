// The row kernels built for the baseline ISA of the target (SSE2 on x86-64), for CPUs without AVX2.
#define PL_ISA_NS baseline
#include "row_kernels.inl"

namespace pl::cpu {
const RowKernels &row_kernels_baseline() {
    static const RowKernels k{"baseline", baseline::phase_a_any, baseline::phase_b_any};
    return k;
}
}  // namespace pl::cpu
