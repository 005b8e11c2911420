// CUDA facts for the dispatcher: device count and pointer location (the kernels are in fused_loss.cu), through the statically linked runtime, so
// the library loads on machines without a driver (the first call then fails and we report no device).
#include <cuda_runtime.h>

#include "../device.hpp"
#include "../errors.hpp"
#include "pointers.hpp"

#ifndef PL_CUDA_ARCHS
#define PL_CUDA_ARCHS "unknown"
#endif

namespace pl {

bool cuda_compiled() { return true; }

int cuda_devices() {
    static const int count = [] {
        int n = 0;
        if (cudaGetDeviceCount(&n) != cudaSuccess) {
            cudaGetLastError();  // clear the sticky "no driver" / "no device" error
            return 0;
        }
        return n;
    }();
    return count;
}

cudaPointerAttributes cuda::pointer_attributes(const void *ptr) {
    cudaPointerAttributes attr{};
    if (cudaPointerGetAttributes(&attr, ptr) != cudaSuccess) {
        cudaGetLastError();
        attr.type = cudaMemoryTypeUnregistered;
    }
    return attr;
}

pl_status check_pointer_side(const void *ptr, int device, const char *argument) {
    if (!ptr || cuda_devices() == 0) return PL_OK;  // without a device every pointer is a host pointer
    const cudaPointerAttributes attr = cuda::pointer_attributes(ptr);
    bool on_device = attr.type == cudaMemoryTypeDevice;
    bool host_readable = attr.type != cudaMemoryTypeDevice;  // unregistered, pinned host or managed
    if (device < 0 && !host_readable)
        return fail(PL_ERR_INVALID_ARGUMENT, argument, -1, "is a device pointer (device %d) where a host pointer is needed",
                    attr.device);
    if (device >= 0 && !on_device && attr.type != cudaMemoryTypeManaged)
        return fail(PL_ERR_INVALID_ARGUMENT, argument, -1, "is a host pointer where a pointer on device %d is needed",
                    device);
    if (device >= 0 && on_device && attr.device != device)
        return fail(PL_ERR_INVALID_ARGUMENT, argument, -1, "is on device %d, but the call is for device %d", attr.device,
                    device);
    return PL_OK;
}

const char *cuda_archs() { return PL_CUDA_ARCHS; }

}  // namespace pl
