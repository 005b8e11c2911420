// The row kernels built for AVX2 + FMA (compiled with -mavx2 -mfma); chosen at run time when the CPU has both.
#define PL_ISA_NS avx2
#include "row_kernels.inl"

namespace pl::cpu {
const RowKernels &row_kernels_avx2() {
    static const RowKernels k{"avx2+fma", avx2::phase_a_any, avx2::phase_b_any};
    return k;
}
}  // namespace pl::cpu
