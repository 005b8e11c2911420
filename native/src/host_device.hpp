// What lets one definition serve the CPU kernel (g++) and the CUDA kernel (nvcc): the function qualifiers and
// the float <-> bits casts.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define PL_HD __host__ __device__ __forceinline__
#else
#define PL_HD inline __attribute__((always_inline))
#endif

namespace pl {
namespace {

PL_HD uint32_t float_bits(float f) {
#if defined(__CUDA_ARCH__)
    return __float_as_uint(f);
#else
    return __builtin_bit_cast(uint32_t, f);
#endif
}

PL_HD float bits_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
    return __uint_as_float(u);
#else
    return __builtin_bit_cast(float, u);
#endif
}

}  // namespace
}  // namespace pl
