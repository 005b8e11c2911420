// The host cost of an asynchronous device call and of its parts, side by side in one run: what the 2 us budget of
// a launch from Java (benchmarks/jmh CudaLaunchBenchmark) is spent on below Java.  Each figure is a median over
// batches, timed on the host, with the stream drained between batches, outside the timing: in batches of 64 calls,
// as the JMH benchmark queues them, and of one call.  Should the two differ, calls queued behind the GPU's (a tiny
// kernel runs for microseconds) wait for room, and the batches of 64 time the GPU rather than the host.  Needs a GPU:
// benchmarks/gpu/run_device.sh bench runs it.
#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

#include "policyloss.h"

namespace {

#define CUDA_OK(call)                                                                                 \
    do {                                                                                              \
        const cudaError_t e_ = (call);                                                                \
        if (e_ != cudaSuccess) {                                                                      \
            std::fprintf(stderr, "%s: %s (%s:%d)\n", #call, cudaGetErrorString(e_), __FILE__, __LINE__); \
            std::exit(1);                                                                             \
        }                                                                                             \
    } while (0)

__global__ void empty_kernel() {}

// Median host nanoseconds of one `op`, timed in batches of `batch`.
template <typename Op>
double host_ns(cudaStream_t stream, int batch, Op op) {
    using clock = std::chrono::steady_clock;
    std::vector<double> per_op;
    const auto until = clock::now() + std::chrono::milliseconds(400);
    for (int round = 0; round < 30 || clock::now() < until; ++round) {
        const auto start = clock::now();
        for (int k = 0; k < batch; ++k) op();
        const auto end = clock::now();
        CUDA_OK(cudaStreamSynchronize(stream));
        if (round >= 5) per_op.push_back(std::chrono::duration<double, std::nano>(end - start).count() / batch);
    }
    std::nth_element(per_op.begin(), per_op.begin() + per_op.size() / 2, per_op.end());
    return per_op[per_op.size() / 2];
}

template <typename T>
T *device_array(size_t n, T value) {
    std::vector<T> host(n, value);
    T *p = nullptr;
    CUDA_OK(cudaMalloc(&p, n * sizeof(T)));
    CUDA_OK(cudaMemcpy(p, host.data(), n * sizeof(T), cudaMemcpyHostToDevice));
    return p;
}

}  // namespace

int main() {
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        std::printf("no CUDA device\n");
        return 77;
    }
    cudaStream_t stream;
    CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));

    // The JMH benchmark's call: 4 rows x 256, bf16 logits and gradient, entropy and clamped entropy on.
    const int64_t n = 4, v = 256;
    pl_loss_params p;
    pl_loss_params_init(&p);
    p.entropy_coef = 0.01f;
    p.clamped_entropy_coef = 0.02f;
    p.clamp_p = 0.33f;
    pl_loss_args a;
    pl_loss_args_init(&a);
    a.n_rows = n;
    a.vocab = a.ld = a.ld_dlogits = v;
    a.logits_dtype = a.dlogits_dtype = PL_BF16;
    a.logits = device_array<uint16_t>(n * v, 0);  // bf16 zeros: uniform rows
    a.dlogits = device_array<uint16_t>(n * v, 0);
    a.target_dtype = PL_I64;
    a.target = device_array<int64_t>(n, 3);
    a.old_logp = device_array<float>(n, -std::log(256.0f));
    a.advantage = device_array<float>(n, 1.0f);
    a.weight = device_array<float>(n, 1.0f);
    a.metrics = device_array<double>(PL_METRICS_LEN, 0.0);
    a.data_error = device_array<pl_data_error>(1, pl_data_error{-1, 0, 0, 0});
    a.device = 0;
    a.stream = stream;
    const pl_loss_args minimal = a;  // inputs, dlogits, metrics, the data check: 8 pointers
    a.out_logp = device_array<float>(n, 0.0f);
    a.out_entropy = device_array<float>(n, 0.0f);
    a.out_clamped_entropy = device_array<float>(n, 0.0f);
    a.out_ratio = device_array<float>(n, 0.0f);
    a.out_loss = device_array<float>(n, 0.0f);
    a.out_kl = device_array<float>(n, 0.0f);
    a.out_flags = device_array<uint8_t>(n, 0);
    const pl_loss_args every_output = a;  // 15 pointers

    cudaMemPool_t pool;
    cudaMemPoolProps props{};
    props.allocType = cudaMemAllocationTypePinned;
    props.location.type = cudaMemLocationTypeDevice;
    props.location.id = 0;
    CUDA_OK(cudaMemPoolCreate(&pool, &props));
    uint64_t keep = UINT64_MAX;
    CUDA_OK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));

    auto call = [&](const pl_loss_args &args) {
        if (pl_fused_loss(&p, &args) != PL_OK) {
            std::fprintf(stderr, "pl_fused_loss: %s\n", pl_last_error());
            std::exit(1);
        }
    };
    // The driver's query of only what the side check uses (memory type, managed, device), from the driver's entry
    // point (no link to libcuda), next to the runtime's query, which fills more: a candidate for the check's cost.
    PFN_cuPointerGetAttributes_v7000 driver_attributes = nullptr;
    cudaDriverEntryPointQueryResult found{};
    CUDA_OK(cudaGetDriverEntryPointByVersion("cuPointerGetAttributes", (void **)&driver_attributes, 12000,
                                             cudaEnableDefault, &found));
    if (found != cudaDriverEntryPointSuccess || !driver_attributes) {
        std::fprintf(stderr, "cuPointerGetAttributes: no driver entry point\n");
        return 1;
    }
    CUpointer_attribute which[] = {CU_POINTER_ATTRIBUTE_MEMORY_TYPE, CU_POINTER_ATTRIBUTE_IS_MANAGED,
                                   CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL};
    unsigned int memory_type = 0, managed = 0;
    int ordinal = -1;
    void *values[] = {&memory_type, &managed, &ordinal};
    auto query = [&](const void *ptr) {
        if (driver_attributes(3, which, values, (CUdeviceptr)ptr) != CUDA_SUCCESS) {
            std::fprintf(stderr, "cuPointerGetAttributes failed\n");
            std::exit(1);
        }
    };
    query(a.logits);
    std::printf("driver query of a device pointer: memory type %u (device: %d), managed %u, ordinal %d\n",
                memory_type, (int)CU_MEMORYTYPE_DEVICE, managed, ordinal);

    cudaLaunchAttribute cooperative{};
    cooperative.id = cudaLaunchAttributeCooperative;
    cooperative.val.cooperative = 1;
    cudaLaunchConfig_t config{};
    config.gridDim = dim3(1);
    config.blockDim = dim3(32);
    config.stream = stream;
    config.attrs = &cooperative;
    config.numAttrs = 1;

    // The side check's queries, of a call's 8 pointers in turn, as pl_fused_loss makes them: one pointer asked again
    // and again may be answered from a cache that distinct pointers miss.
    const void *call_pointers[] = {minimal.logits,   minimal.target, minimal.old_logp, minimal.advantage,
                                   minimal.weight,   minimal.dlogits, minimal.metrics, minimal.data_error};
    const struct {
        const char *what;
        std::function<void()> op;
    } ops[] = {
        {"empty kernel, <<<1, 32>>>", [&] { empty_kernel<<<1, 32, 0, stream>>>(); }},
        {"empty kernel, cooperative (cudaLaunchKernelEx)", [&] { CUDA_OK(cudaLaunchKernelEx(&config, empty_kernel)); }},
        {"cudaPointerGetAttributes, one device pointer",
         [&] {
             cudaPointerAttributes attr;
             CUDA_OK(cudaPointerGetAttributes(&attr, a.logits));
         }},
        {"cudaPointerGetAttributes, a call's 8 pointers in turn (all 8)",
         [&] {
             for (const void *ptr : call_pointers) {
                 cudaPointerAttributes attr;
                 CUDA_OK(cudaPointerGetAttributes(&attr, ptr));
             }
         }},
        {"cuPointerGetAttributes (driver), memory type + managed + ordinal", [&] { query(a.logits); }},
        {"cuPointerGetAttributes (driver), a call's 8 pointers in turn (all 8)",
         [&] {
             for (const void *ptr : call_pointers) query(ptr);
         }},
        {"cudaMallocFromPoolAsync + cudaFreeAsync, 256 bytes",
         [&] {
             void *scratch = nullptr;
             CUDA_OK(cudaMallocFromPoolAsync(&scratch, 256, pool, stream));
             CUDA_OK(cudaFreeAsync(scratch, stream));
         }},
        {"pl_fused_loss, asynchronous, 8 buffers", [&] { call(minimal); }},
        {"pl_fused_loss, asynchronous, 15 buffers", [&] { call(every_output); }},
    };
    std::printf("| host cost of | ns, 64 calls queued | x empty launch | ns, one call then drained | x empty launch |\n"
                "| --- | --- | --- | --- | --- |\n");
    double queued_empty = 0, alone_empty = 0;
    for (const auto &o : ops) {
        const double queued = host_ns(stream, 64, o.op), alone = host_ns(stream, 1, o.op);
        if (&o == ops) queued_empty = queued, alone_empty = alone;
        std::printf("| %s | %.0f | %.2f | %.0f | %.2f |\n", o.what, queued, queued / queued_empty, alone,
                    alone / alone_empty);
    }
    return 0;
}
