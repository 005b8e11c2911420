// What the dispatcher needs to know about CUDA: how many devices, whether the kernels run on one, and where a
// pointer lives.  Implemented by cuda/device.cu in CUDA builds and by device_none.cpp otherwise.
#pragma once
#include <cstddef>

#include "policyloss.h"

namespace pl {

bool cuda_compiled();
// Visible devices, 0 without a driver or a device (computed once).
int cuda_devices();
// Why cuda_devices() is 0 ("" where it is not): no CUDA in this build, no driver, a driver too old, no device.
const char *cuda_unavailable_reason();
// PL_OK when ptr may be read by the side that runs the call (device = -1: the host), else the error naming it.
pl_status check_pointer_side(const void *ptr, int device, const char *argument);
// The CUDA kernel for device buffers (validated arguments, device >= 0).
pl_status fused_loss_cuda(const pl_loss_params &p, const pl_loss_args &a);
// pl_device_scratch for a visible device.
pl_status device_scratch(int device, bool reset_peak, uint64_t *reserved, uint64_t *peak);
// The CMake CUDA architectures of the kernels, "80-real, 90-real, 90-virtual", or "" without CUDA.
const char *cuda_archs();
// PL_OK where this build's kernels run on visible device `device` (cuda_arch_rules.hpp); else the status a call
// fails with (PL_ERR_UNSUPPORTED, or PL_ERR_CUDA where its properties cannot be read) and, in `why`, the reason.
pl_status cuda_kernels_run_on(int device, char *why, size_t len);

}  // namespace pl
