// The host side of a device call: choose the row kernel's instance and grid, take scratch from the pool, queue
// the row kernel and the metrics kernel on the caller's stream, and (synchronous calls) wait and report.
#include <cuda_runtime.h>

#include <algorithm>

#include "../device.hpp"
#include "../errors.hpp"
#include "../row_error.hpp"
#include "../validate.hpp"
#include "pointers.hpp"
#include "row_kernel.cuh"
#include "scratch_pool.hpp"

namespace pl::cuda {
namespace {

// Metric sums in row order (SPEC section 5; the CPU kernel's reduce_metrics), and the first bad row.  One block:
// each thread sums rows tid, tid + kThreads, ... and the block adds the threads' sums in a fixed order.
__global__ void __launch_bounds__(kThreads)
    reduce_rows(const RowRecord *records, const float *weight, const float *old_logp, const void *target, bool target64,
                int64_t n, double *metrics, pl_data_error *error) {
    __shared__ ReduceSmem<PL_METRICS_LEN> reduce;
    __shared__ int64_t min_slots[kWarps];
    double m[PL_METRICS_LEN] = {};
    int64_t first_bad = INT64_MAX;
    for (int64_t i = threadIdx.x; i < n; i += kThreads) {
        const RowRecord r = records[i];
        if (r.info >> kErrorShift) {
            first_bad = i < first_bad ? i : first_bad;
            continue;
        }
        if (!(r.info & kCounted)) continue;
        const double w = weight[i];
        m[PL_M_LOSS] += w * r.loss;
        m[PL_M_VALID_ROWS] += 1.0;
        m[PL_M_ENTROPY] += r.entropy;
        m[PL_M_CLAMPED_ENTROPY] += r.clamped_entropy;
        m[PL_M_CLIP_LOW] += (r.info & PL_FLAG_CLIP_LOW) ? 1.0 : 0.0;
        m[PL_M_CLIP_HIGH] += (r.info & PL_FLAG_CLIP_HIGH) ? 1.0 : 0.0;
        m[PL_M_DUAL_CLIP] += (r.info & PL_FLAG_DUAL_CLIP) ? 1.0 : 0.0;
        m[PL_M_RATIO_CLAMPED] += (r.info & PL_FLAG_RATIO_CLAMPED) ? 1.0 : 0.0;
        m[PL_M_RATIO] += r.ratio;
        m[PL_M_APPROX_KL] += (double)old_logp[i] - (double)r.logp;
        m[PL_M_KL] += r.kl;
        m[PL_M_WEIGHT] += w;
    }
    block_sum(m, reduce);
    first_bad = block_min(first_bad, min_slots);
    if (threadIdx.x != 0) return;
    const bool bad = first_bad != INT64_MAX;
    if (metrics)
        for (int k = 0; k < PL_METRICS_LEN; ++k) metrics[k] = bad ? NAN : m[k];  // an invalid call's metrics are NaN
    pl_data_error e{-1, ROW_OK, 0, 0};
    if (bad) {
        const RowRecord r = records[first_bad];
        e.row = first_bad;
        e.reason = (int32_t)(r.info >> kErrorShift);
        if (e.reason == ROW_TARGET_RANGE || e.reason == ROW_TARGET_MASKED)
            e.detail = target64 ? ((const int64_t *)target)[first_bad] : ((const int32_t *)target)[first_bad];
        else if (e.reason == ROW_LOGITS_NAN)
            e.detail = r.detail;
    }
    *error = e;
}

bool aligned16(const void *ptr, int64_t ld, int esize) {
    return ((uintptr_t)ptr % 16 == 0) && (ld * esize) % 16 == 0;
}

pl_status cuda_fail(cudaError_t e, const char *what) {
    cudaGetLastError();  // clear a non-sticky error so the next call starts clean
    return fail(PL_ERR_CUDA, "device", -1, "%s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
}

// Rows in flight: enough blocks to fill every SM, few enough that their rows stay in L2 between the passes.
int grid_size(const DeviceFacts &f, int64_t n_rows, int64_t row_bytes, int blocks_per_sm) {
    const int64_t most = (int64_t)f.sms * std::max(blocks_per_sm, 1);
    const int64_t in_l2 = f.l2_bytes * 3 / 4 / std::max<int64_t>(row_bytes, 1);
    return (int)std::min(n_rows, std::max<int64_t>(f.sms, std::min(most, in_l2)));
}

template <int DT, int DDT, bool VEC>
cudaError_t launch_rows(const pl_loss_params &p, const KernelArgs &ka, const DeviceFacts &f, cudaStream_t stream) {
    // Blocks per SM of this instance: a property of the compiled kernel, asked once (it costs microseconds).
    static const int occupancy = [] {
        int blocks = 0;
        if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, fused_loss_rows<DT, DDT, VEC>, kThreads, 0) !=
            cudaSuccess) {
            cudaGetLastError();
            blocks = 1;
        }
        return blocks;
    }();
    const int grid = grid_size(f, ka.n_rows, ka.vocab * dtype_size(DT), occupancy);
    fused_loss_rows<DT, DDT, VEC><<<grid, kThreads, 0, stream>>>(p, ka);
    return cudaGetLastError();
}

template <int DT>
cudaError_t launch_rows_for(const pl_loss_params &p, const pl_loss_args &a, const KernelArgs &ka,
                            const DeviceFacts &f, cudaStream_t stream) {
    const bool f32_gradient = a.dlogits && a.dlogits_dtype == PL_F32 && DT != PL_F32;
    const bool vec = aligned16(a.logits, a.ld, dtype_size(DT)) &&
                     (!a.dlogits || aligned16(a.dlogits, a.ld_dlogits, dtype_size(a.dlogits_dtype)));
    if (f32_gradient)
        return vec ? launch_rows<DT, PL_F32, true>(p, ka, f, stream) : launch_rows<DT, PL_F32, false>(p, ka, f, stream);
    return vec ? launch_rows<DT, DT, true>(p, ka, f, stream) : launch_rows<DT, DT, false>(p, ka, f, stream);
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
    if (a.device >= cuda_devices())
        return fail(PL_ERR_NO_DEVICE, "device", -1, "CUDA device %d requested, %d visible", a.device, cuda_devices());
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

    const KernelArgs ka{a.n_rows,     a.vocab,        a.ld,          a.ld_dlogits,       a.logits,
                        a.target,     a.target_dtype == PL_I64,      a.old_logp,         a.ref_logp,
                        a.advantage,  a.weight,       a.temperature, a.dlogits,          a.out_logp,
                        a.out_entropy, a.out_clamped_entropy, a.out_ratio, a.out_loss,   a.out_kl,
                        a.out_flags,  records};
    switch (a.n_rows == 0 ? -1 : a.logits_dtype) {
        case -1: break;  // no rows: the metrics kernel alone writes zeros
        case PL_F32: e = launch_rows_for<PL_F32>(p, a, ka, facts, stream); break;
        case PL_BF16: e = launch_rows_for<PL_BF16>(p, a, ka, facts, stream); break;
        default: e = launch_rows_for<PL_F16>(p, a, ka, facts, stream); break;
    }
    double *metrics = host_metrics ? scratch_metrics : a.metrics;
    pl_data_error *error = synchronous ? scratch_error : a.data_error;
    if (e == cudaSuccess) {
        reduce_rows<<<1, kThreads, 0, stream>>>(records, a.weight, a.old_logp, a.target, a.target_dtype == PL_I64,
                                                a.n_rows, metrics, error);
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

}  // namespace pl
