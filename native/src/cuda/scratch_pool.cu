#include "scratch_pool.hpp"

#include <atomic>
#include <cstdint>
#include <mutex>

#include "../cuda_arch_rules.hpp"
#include "../device.hpp"

namespace pl::cuda {
namespace {

std::mutex g_mutex;
cudaMemPool_t g_pools[kMaxDevices];
DeviceFacts g_facts[kMaxDevices];
// Set once a device's facts are written, which they are once: every device call reads them (twice: the dispatcher's
// check of the kernels, then the launch), so after the first they are read without the lock.
std::atomic<bool> g_have_facts[kMaxDevices];

}  // namespace

cudaMemPool_t scratch_pool(int device, cudaError_t *err) {
    *err = cudaSuccess;
    if (device < 0 || device >= kMaxDevices) {
        *err = cudaErrorInvalidDevice;
        return nullptr;
    }
    std::lock_guard<std::mutex> lock(g_mutex);
    if (g_pools[device]) return g_pools[device];
    cudaMemPoolProps props{};
    props.allocType = cudaMemAllocationTypePinned;
    props.location.type = cudaMemLocationTypeDevice;
    props.location.id = device;
    cudaMemPool_t pool = nullptr;
    if ((*err = cudaMemPoolCreate(&pool, &props)) != cudaSuccess) return nullptr;
    uint64_t keep = UINT64_MAX;
    if ((*err = cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep)) != cudaSuccess) {
        cudaMemPoolDestroy(pool);
        return nullptr;
    }
    g_pools[device] = pool;
    return pool;
}

cudaError_t scratch_usage(int device, bool reset_peak, uint64_t *reserved, uint64_t *peak) {
    *reserved = *peak = 0;
    if (device < 0 || device >= kMaxDevices) return cudaErrorInvalidDevice;
    std::lock_guard<std::mutex> lock(g_mutex);
    cudaMemPool_t pool = g_pools[device];
    if (!pool) return cudaSuccess;
    cudaError_t e;
    if ((e = cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReservedMemCurrent, reserved)) != cudaSuccess) return e;
    if ((e = cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemHigh, peak)) != cudaSuccess) return e;
    uint64_t zero = 0;  // the only value the attribute takes: it then restarts from the bytes in use
    if (reset_peak && (e = cudaMemPoolSetAttribute(pool, cudaMemPoolAttrUsedMemHigh, &zero)) != cudaSuccess) return e;
    return cudaSuccess;
}

cudaError_t device_facts(int device, DeviceFacts *facts) {
    if (device < 0 || device >= kMaxDevices) return cudaErrorInvalidDevice;
    if (g_have_facts[device].load(std::memory_order_acquire)) {
        *facts = g_facts[device];
        return cudaSuccess;
    }
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!g_have_facts[device].load(std::memory_order_relaxed)) {
        int major = 0, minor = 0, sms = 0, l2 = 0, cooperative = 0;
        cudaError_t e;
        if ((e = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device)) != cudaSuccess) return e;
        if ((e = cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device)) != cudaSuccess) return e;
        if ((e = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device)) != cudaSuccess) return e;
        if ((e = cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, device)) != cudaSuccess) return e;
        if ((e = cudaDeviceGetAttribute(&cooperative, cudaDevAttrCooperativeLaunch, device)) != cudaSuccess) return e;
        const bool has_kernels = archs_run_on(cuda_archs(), major, minor);
        g_facts[device] = DeviceFacts{major, minor, has_kernels, sms, l2, cooperative != 0};
        g_have_facts[device].store(true, std::memory_order_release);
    }
    *facts = g_facts[device];
    return cudaSuccess;
}

}  // namespace pl::cuda
