// The CPU kernel's scalar math against independent references (vec_math_checks.inl), as each ISA's kernel
// compiles it: the baseline here, AVX2 with FMA in test_vec_math_avx2.cpp, run where the CPU has them.
#include "vec_math_checks.inl"

int vec_math_failures_avx2();

int main() {
    int failed = vec_math_failures("baseline");
    __builtin_cpu_init();
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (avx2) failed += vec_math_failures_avx2();
    std::printf("vec_math: %s%s\n", failed ? "FAILED" : "passed", avx2 ? " (baseline and AVX2)" : " (baseline only)");
    return failed ? 1 : 0;
}
