# Warnings and optimisation for the project's C++ (not for nvcc, whose front end takes other flags).
# -fno-trapping-math lets GCC if-convert `cond ? fp_expr : 0` in the simd loops (nothing here reads FP exceptions);
# -fopenmp-simd honours `#pragma omp simd` without the OpenMP runtime.
function(pl_cxx_flags target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-unknown-pragmas -fopenmp-simd -fno-math-errno -fno-trapping-math>)
endfunction()
