// CUDA facts for the dispatcher: device count (or why there is none) and pointer location (the kernels are in
// fused_loss.cu), through the statically linked runtime, so the library loads on machines without a driver (the
// first call then fails and we report no device, and why).
#include <cuda_runtime.h>

#include <cstdio>

#include "../device.hpp"
#include "../errors.hpp"
#include "pointers.hpp"
#include "scratch_pool.hpp"

#ifndef PL_CUDA_ARCHS
#define PL_CUDA_ARCHS "unknown"
#endif

namespace pl {

bool cuda_compiled() { return true; }

namespace {

// What cudaGetDeviceCount said, asked once: the devices, and where there are none, why, in words a user can act on
// (the runtime's own text for a missing driver is "CUDA driver version is insufficient for CUDA runtime version").
struct Visibility {
    int count = 0;
    char reason[256] = "";
};

const Visibility &visibility() {
    static const Visibility v = [] {
        Visibility v;
        const cudaError_t e = cudaGetDeviceCount(&v.count);
        if (e == cudaSuccess && v.count > 0) return v;
        cudaGetLastError();  // clear the sticky "no driver" / "no device" error
        v.count = 0;
        int driver = 0, runtime = 0;
        cudaDriverGetVersion(&driver);  // 0 where no driver loads
        cudaRuntimeGetVersion(&runtime);
        if (e == cudaSuccess)
            std::snprintf(v.reason, sizeof v.reason, "the CUDA driver lists no device");
        else if (driver == 0)
            std::snprintf(v.reason, sizeof v.reason, "no NVIDIA driver is installed (cudaGetDeviceCount: %s)",
                          cudaGetErrorName(e));
        else if (driver < runtime)
            std::snprintf(v.reason, sizeof v.reason,
                          "the NVIDIA driver supports CUDA %d.%d, older than the CUDA %d.%d runtime this library was "
                          "built with; a newer driver is needed (cudaGetDeviceCount: %s)",
                          driver / 1000, driver % 1000 / 10, runtime / 1000, runtime % 1000 / 10, cudaGetErrorName(e));
        else
            std::snprintf(v.reason, sizeof v.reason, "cudaGetDeviceCount: %s (%s)", cudaGetErrorString(e),
                          cudaGetErrorName(e));
        return v;
    }();
    return v;
}

}  // namespace

int cuda_devices() { return visibility().count; }

const char *cuda_unavailable_reason() { return visibility().reason; }

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

pl_status cuda_kernels_run_on(int device, char *why, size_t len) {
    cuda::DeviceFacts facts{};
    const cudaError_t e = cuda::device_facts(device, &facts);
    if (e != cudaSuccess) {
        cudaGetLastError();
        std::snprintf(why, len, "reading the properties of CUDA device %d: %s (%s)", device, cudaGetErrorString(e),
                      cudaGetErrorName(e));
        return PL_ERR_CUDA;
    }
    if (facts.has_kernels) return PL_OK;
    cudaDeviceProp prop{};  // for the device's name: only here, as it takes longer than the attributes
    const bool named = cudaGetDeviceProperties(&prop, device) == cudaSuccess;
    if (!named) cudaGetLastError();
    std::snprintf(why, len,
                  "CUDA device %d (%s) has compute capability %d.%d, which this build's kernels do not run on: they "
                  "were built for %s (PL_CUDA_ARCHITECTURES)",
                  device, named ? prop.name : "name unknown", facts.major, facts.minor, cuda_archs());
    return PL_ERR_UNSUPPORTED;
}

}  // namespace pl
