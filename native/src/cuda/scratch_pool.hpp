// Device scratch of a call (32 bytes a row, plus the metrics and the data check), taken from a memory pool that
// policyloss owns on each device: stream-ordered, so a call allocates and frees on its own stream without a
// synchronisation, and kept (release threshold: never) so repeated calls reuse the same memory.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace pl::cuda {

// Device ordinals this library keeps per-device state for (pools, facts, occupancy); larger ones are refused.
constexpr int kMaxDevices = 64;

// The pool of `device` (created on first use); nullptr with the CUDA error in *err if it cannot be made.
cudaMemPool_t scratch_pool(int device, cudaError_t *err);
// The bytes the pool of `device` reserves and the most it has held in use (zeros while it has no pool);
// reset_peak restarts that peak from what is in use now.
cudaError_t scratch_usage(int device, bool reset_peak, uint64_t *reserved, uint64_t *peak);

// What a call needs to know about a device (read once per device): whether the kernels run on it, and what
// sizing the grid needs.
struct DeviceFacts {
    int major, minor;  // compute capability
    bool has_kernels;  // this build's kernels run on it (archs_run_on)
    int sms;
    long long l2_bytes;
    bool cooperative;  // cooperative launches (sm_60 on, where the driver mode allows them)
};
cudaError_t device_facts(int device, DeviceFacts *facts);

}  // namespace pl::cuda
