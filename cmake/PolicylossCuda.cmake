# Optional CUDA: enabled when nvcc is found (and PL_WITH_CUDA is ON), otherwise the build is CPU-only.
# Sets PL_HAS_CUDA.  The runtime is linked statically so the library loads on machines without a driver.
include(CheckLanguage)
option(PL_WITH_CUDA "Build the CUDA backend when a CUDA compiler is found" ON)
set(PL_CUDA_ARCHITECTURES "80-real;90-real;90-virtual" CACHE STRING "CUDA architectures (sm_80, sm_90, PTX for 90)")
set(PL_HAS_CUDA OFF)
if(PL_WITH_CUDA)
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    enable_language(CUDA)
    set(PL_HAS_CUDA ON)
  endif()
endif()

# Applies the CUDA settings to a target (the property must be set on the target itself, after add_library).
function(pl_configure_cuda target)
  set_target_properties(${target} PROPERTIES
    CUDA_ARCHITECTURES "${PL_CUDA_ARCHITECTURES}"
    CUDA_RUNTIME_LIBRARY Static
    CUDA_STANDARD 17)
  string(REPLACE ";" ", " archs "${PL_CUDA_ARCHITECTURES}")
  target_compile_definitions(${target} PRIVATE PL_CUDA_ARCHS="${archs}")
endfunction()
