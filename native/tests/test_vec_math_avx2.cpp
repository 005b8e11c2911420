// vec_math_checks.inl compiled as the AVX2 kernel is (-mavx2 -mfma, tests/CMakeLists.txt).
#include "vec_math_checks.inl"

int vec_math_failures_avx2() { return vec_math_failures("avx2"); }
