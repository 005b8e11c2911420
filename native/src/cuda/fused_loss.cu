// The host side of a device call: choose the loss kernel's instance and grid, take scratch from the pool, queue the
// kernel on the caller's stream (one cooperative launch; two launches where it cannot be cooperative), and
// (synchronous calls) wait and report.  Also what the pool says of that scratch (pl_device_scratch).
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>

#include "../device.hpp"
#include "../errors.hpp"
#include "../row_error.hpp"
#include "../validate.hpp"
#include "kernel_plan.cuh"
#include "loss_kernel.cuh"
#include "pointers.hpp"
#include "scratch_pool.hpp"

namespace pl::cuda {
namespace {

pl_status cuda_fail(cudaError_t e, const char *what) {
    cudaGetLastError();  // clear a non-sticky error so the next call starts clean
    return fail(PL_ERR_CUDA, "device", -1, "%s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
}

// The share of L2, in percent, that the rows in flight may fill (block_reduce.cuh says how to set it): twice L2.
// Holding them to 3/4 of it kept the passes after the first in L2 (1.27 reads of the logits from HBM), but left an
// SM one block; two blocks read the rows again from HBM (1.88 reads) and still finish sooner, the kernel being bound
// by latency rather than by bytes (benchmarks/RESULTS.md: GPU, measured on an H200).  The limit still holds the grid
// under two blocks an SM where rows are longer than about 475 KB on an H200 (a bf16 vocabulary of 262,144, or
// 151,936 in fp32, each measured there at 1.7-1.8x the floor, as the shorter rows).
#ifndef PL_ROWS_L2_PERCENT
#define PL_ROWS_L2_PERCENT 200
#endif

// Rows in flight: enough blocks to fill every SM, no more than PL_ROWS_L2_PERCENT of L2 holds.
int grid_size(const DeviceFacts &f, int64_t n_rows, int64_t row_bytes, int blocks_per_sm) {
    const int64_t most = (int64_t)f.sms * std::max(blocks_per_sm, 1);
    const int64_t in_l2 = f.l2_bytes * PL_ROWS_L2_PERCENT / 100 / std::max<int64_t>(row_bytes, 1);
    return (int)std::min(n_rows, std::max<int64_t>(f.sms, std::min(most, in_l2)));
}

// Blocks per SM of this instance on the current device, `device`: registers and shared memory per SM differ by
// architecture, so it is asked once per device (it costs microseconds) and kept; 0 = not known (grid_size then
// takes 1).  Two threads that ask at once store the same answer.
template <int DT, int DDT, bool VEC, int CODE>
int occupancy(int device) {
    static std::atomic<int> known[kMaxDevices];
    int blocks = known[device].load(std::memory_order_relaxed);
    if (blocks > 0) return blocks;
    const auto kernel = fused_loss<DT, DDT, VEC, CODE>;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, kernel, kThreads, 0) != cudaSuccess) {
        cudaGetLastError();
        blocks = 0;
    }
    if (blocks > 0) known[device].store(blocks, std::memory_order_relaxed);
    return blocks;
}

// The configuration of a launch of `grid` blocks in clusters of `blocks`, with parts of `part_bytes` (dynamic
// shared memory); the configuration points at the attribute beside it, so it is neither copied nor moved.
struct ClusterLaunch {
    cudaLaunchAttribute cluster{};
    cudaLaunchConfig_t config{};

    ClusterLaunch(unsigned blocks, unsigned grid, size_t part_bytes, cudaStream_t stream) {
        cluster.id = cudaLaunchAttributeClusterDimension;
        cluster.val.clusterDim.x = blocks;
        cluster.val.clusterDim.y = cluster.val.clusterDim.z = 1;
        config.gridDim = dim3(grid);
        config.blockDim = dim3(kThreads);
        config.dynamicSmemBytes = part_bytes;
        config.stream = stream;
        config.attrs = &cluster;
        config.numAttrs = 1;
    }
    ClusterLaunch(const ClusterLaunch &) = delete;
    ClusterLaunch &operator=(const ClusterLaunch &) = delete;
};

// The clusters of `blocks` blocks, with parts of `part_bytes` (dynamic shared memory; 0 for parts read from L2),
// that the build's fused_loss_clustered<DT, DDT, CODE> keeps resident on the current device, `device`; 0 where it
// cannot run there (kClusterPartBytes of shared memory is more than the device allows a block), so the call takes
// the rows of one block instead.  The device's answer for the call's part size is kept, as asking costs
// microseconds: parts, blocks and clusters in one word.  Every call allows the kernel the same kClusterPartBytes, so
// that no thread lowers the limit under another's launch.
template <int DT, int DDT, int CODE>
int resident_clusters(unsigned blocks, size_t part_bytes, int device) {
    static std::atomic<uint64_t> known[kMaxDevices];
    const uint64_t key = (uint64_t)part_bytes << 24 | (uint64_t)blocks << 16;
    const uint64_t kept = known[device].load(std::memory_order_relaxed);
    if (kept >> 16 == key >> 16) return (int)(kept & 0xffff);
    const auto kernel = fused_loss_clustered<DT, DDT, CODE, kClusterHeld>;
    // Above 48 KB a kernel's dynamic shared memory must be allowed first.
    cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)kClusterPartBytes);
    int clusters = 0;
    if (e == cudaSuccess) {
        const ClusterLaunch one(blocks, blocks, part_bytes, nullptr);
        e = cudaOccupancyMaxActiveClusters(&clusters, kernel, &one.config);
    }
    if (e != cudaSuccess) {
        cudaGetLastError();
        clusters = 0;
    }
    clusters = std::min(clusters, 0xffff);
    known[device].store(key | (uint64_t)clusters, std::memory_order_relaxed);
    return clusters;
}

// Rows split over clusters of `blocks` (clustered_rows.cuh), `clusters` of them at once, then the sums in
// reduce_rows: a cooperative launch would need every cluster resident at once, which the row kernel's own launch
// does not ask of it.
template <int DT, int DDT, int CODE>
cudaError_t launch_clustered(const pl_loss_params &p, const KernelArgs &ka, const MetricsArgs &ma, unsigned blocks,
                             size_t part_bytes, int clusters, cudaStream_t stream) {
    const ClusterLaunch launch(blocks, (unsigned)std::min<int64_t>(ka.n_rows, clusters) * blocks, part_bytes, stream);
    const cudaError_t e = cudaLaunchKernelEx(&launch.config, fused_loss_clustered<DT, DDT, CODE, kClusterHeld>, p, ka);
    if (e != cudaSuccess) return e;
    reduce_rows<<<1, kThreads, 0, stream>>>(ma);
    return cudaGetLastError();
}

// The loss kernel on rows that need it, then the sums: in the same launch where it can be cooperative (grid_size
// keeps every block resident, as a cooperative launch needs), else in reduce_rows after it.  Rows in packs on sm_90
// and later are split over clusters where kernel_plan.cuh's cluster_blocks says so (a build option).
template <int DT, int DDT, bool VEC, int CODE>
cudaError_t launch_loss(const pl_loss_params &p, const KernelArgs &ka, const MetricsArgs &ma, const DeviceFacts &f,
                        int device, cudaStream_t stream) {
    const int blocks_per_sm = occupancy<DT, DDT, VEC, CODE>(device);
    const int64_t row_bytes = ka.vocab * dtype_size(DT);
    if constexpr (VEC && kClusterRows) {  // no clustered kernels in a build that takes none
        const int64_t packs = ka.vocab / kPack<DT>;
        const int64_t slots = (int64_t)f.sms * std::max(blocks_per_sm, 1);
        const unsigned blocks = f.major >= 9 ? cluster_blocks(packs, row_bytes, slots, f.l2_bytes) : 0;
        if (blocks > 0) {
            const size_t part_bytes = kClusterHeld ? (size_t)part_packs(packs, blocks) * sizeof(uint4) : 0;
            int clusters = resident_clusters<DT, DDT, CODE>(blocks, part_bytes, device);
            // Parts from L2: no more rows at once than kClusterL2Percent of L2 holds, which rows too long for it at
            // eight blocks a row (a few MB) leave fewer than the resident clusters.
            if (!kClusterHeld)
                clusters = (int)std::min<int64_t>(
                    clusters, std::max<int64_t>(1, f.l2_bytes * kClusterL2Percent / 100 / row_bytes));
            if (clusters > 0)
                return launch_clustered<DT, DDT, CODE>(p, ka, ma, blocks, part_bytes, clusters, stream);
        }
    }
    const unsigned grid = (unsigned)grid_size(f, ka.n_rows, row_bytes, blocks_per_sm);
    KernelArgs rows = ka;  // with pass 1's share of lines to keep in L2, where the build keeps some
    if constexpr (VEC && BuildWalk::kKeepsInL2)
        rows.l2_keep = l2_keep_share(row_bytes, grid, f.l2_bytes, PL_ROW_L2_KEEP_PERCENT, ka.dlogits != nullptr);
    if (f.cooperative) {
        cudaLaunchAttribute cooperative{};
        cooperative.id = cudaLaunchAttributeCooperative;
        cooperative.val.cooperative = 1;
        cudaLaunchConfig_t config{};
        config.gridDim = dim3(grid);
        config.blockDim = dim3(kThreads);
        config.stream = stream;
        config.attrs = &cooperative;
        config.numAttrs = 1;
        const cudaError_t e = cudaLaunchKernelEx(&config, fused_loss<DT, DDT, VEC, CODE>, p, rows, ma, true);
        // Too large: fewer SMs are ours than the device has (MPS, green contexts); the two launches need none.
        if (e != cudaErrorCooperativeLaunchTooLarge) return e;
        cudaGetLastError();
    }
    fused_loss<DT, DDT, VEC, CODE><<<grid, kThreads, 0, stream>>>(p, rows, ma, false);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return e;
    reduce_rows<<<1, kThreads, 0, stream>>>(ma);
    return cudaGetLastError();
}

bool is_host_pointer(const void *ptr) {
    const cudaMemoryType type = pointer_attributes(ptr).type;
    return type != cudaMemoryTypeDevice && type != cudaMemoryTypeManaged;
}

// Makes `device` current for the call and restores the caller's device after.
struct DeviceScope {
    int previous = -1;
    explicit DeviceScope(int device) {
        if (cudaGetDevice(&previous) != cudaSuccess) previous = -1;
        if (previous != device) cudaSetDevice(device);
    }
    ~DeviceScope() {
        int now = -1;
        if (previous >= 0 && cudaGetDevice(&now) == cudaSuccess && now != previous) cudaSetDevice(previous);
    }
};

}  // namespace
}  // namespace pl::cuda

namespace pl {

pl_status fused_loss_cuda(const pl_loss_params &p, const pl_loss_args &a) {
    using namespace pl::cuda;
    DeviceScope scope(a.device);
    cudaStream_t stream = (cudaStream_t)a.stream;
    DeviceFacts facts{};
    cudaError_t e = device_facts(a.device, &facts);
    if (e != cudaSuccess) return cuda_fail(e, "reading the device's properties");
    cudaMemPool_t pool = scratch_pool(a.device, &e);
    if (!pool) return cuda_fail(e, "creating the scratch memory pool");

    // Scratch: the row records, then the metrics and the data check of synchronous calls.
    const bool synchronous = a.data_error == nullptr;
    const bool host_metrics = synchronous && a.metrics && is_host_pointer(a.metrics);
    const size_t records_bytes = (size_t)a.n_rows * sizeof(RowRecord);
    const size_t bytes = records_bytes + PL_METRICS_LEN * sizeof(double) + sizeof(pl_data_error);
    void *scratch = nullptr;
    if ((e = cudaMallocFromPoolAsync(&scratch, bytes, pool, stream)) != cudaSuccess)
        return cuda_fail(e, "allocating scratch memory");
    RowRecord *records = (RowRecord *)scratch;
    double *scratch_metrics = (double *)((char *)scratch + records_bytes);
    pl_data_error *scratch_error = (pl_data_error *)(scratch_metrics + PL_METRICS_LEN);

    const KernelArgs ka = kernel_args(a, records);
    const MetricsArgs ma = metrics_args(a, records, host_metrics ? scratch_metrics : a.metrics,
                                        synchronous ? scratch_error : a.data_error);
    if (a.n_rows > 0) {
        e = with_row_instance(p, a, [&](auto dt, auto ddt, auto vec, auto code) {
            return launch_loss<decltype(dt)::value, decltype(ddt)::value, decltype(vec)::value,
                               decltype(code)::value>(p, ka, ma, facts, a.device, stream);
        });
    } else {  // no rows: the sums alone, zeros
        reduce_rows<<<1, kThreads, 0, stream>>>(ma);
        e = cudaGetLastError();
    }
    pl_data_error found{-1, ROW_OK, 0, 0};
    if (e == cudaSuccess && synchronous) {
        e = cudaMemcpyAsync(&found, scratch_error, sizeof found, cudaMemcpyDeviceToHost, stream);
        if (e == cudaSuccess && host_metrics)
            e = cudaMemcpyAsync(a.metrics, scratch_metrics, PL_METRICS_LEN * sizeof(double), cudaMemcpyDeviceToHost,
                                stream);
    }
    cudaError_t freed = cudaFreeAsync(scratch, stream);
    if (e != cudaSuccess) return cuda_fail(e, "queueing the loss kernels");
    if (freed != cudaSuccess) return cuda_fail(freed, "releasing scratch memory");
    if (!synchronous) return PL_OK;
    if ((e = cudaStreamSynchronize(stream)) != cudaSuccess) return cuda_fail(e, "running the loss kernels");
    return found.row < 0 ? PL_OK : report_row_error(RowError{found.reason, found.detail}, found.row, a.vocab);
}

pl_status device_scratch(int device, bool reset_peak, uint64_t *reserved, uint64_t *peak) {
    const cudaError_t e = cuda::scratch_usage(device, reset_peak, reserved, peak);
    return e == cudaSuccess ? PL_OK : cuda::cuda_fail(e, "reading the scratch memory pool");
}

}  // namespace pl
