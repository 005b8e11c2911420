// The row kernels built for AVX2 + FMA + F16C (compiled with -mavx2 -mfma -mf16c); chosen at run time.
#define PL_ISA_NS avx2
#include "row_kernels.inl"

namespace pl::cpu {
const RowKernels &row_kernels_avx2() {
    static const RowKernels k{"avx2+fma", avx2::phase_a_any, avx2::phase_b_any};
    return k;
}
}  // namespace pl::cpu
