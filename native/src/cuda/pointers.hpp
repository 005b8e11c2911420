// Where a pointer lives, as the CUDA runtime says (device.cu): the dispatcher's side checks and the device call's
// choice of where to put the metrics both ask here.
#pragma once
#include <cuda_runtime.h>

namespace pl::cuda {

// The pointer's attributes; a pointer the runtime does not know (plain host memory) reads as unregistered.
cudaPointerAttributes pointer_attributes(const void *ptr);

}  // namespace pl::cuda
