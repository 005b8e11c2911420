// The CPU-only build: no CUDA device can be used, and every pointer is taken for a host pointer.
#include <cstdio>

#include "device.hpp"
#include "errors.hpp"

namespace pl {

bool cuda_compiled() { return false; }
int cuda_devices() { return 0; }
const char *cuda_unavailable_reason() { return "this build of policyloss has no CUDA backend (built without nvcc)"; }
pl_status check_pointer_side(const void *, int, const char *) { return PL_OK; }
static pl_status no_cuda_backend() {
    return fail(PL_ERR_NO_DEVICE, "device", -1, "%s", cuda_unavailable_reason());
}
pl_status fused_loss_cuda(const pl_loss_params &, const pl_loss_args &) { return no_cuda_backend(); }
pl_status device_scratch(int, bool, uint64_t *, uint64_t *) { return no_cuda_backend(); }
const char *cuda_archs() { return ""; }
pl_status cuda_kernels_run_on(int, char *why, size_t len) {
    std::snprintf(why, len, "%s", cuda_unavailable_reason());
    return PL_ERR_NO_DEVICE;
}

}  // namespace pl
