// The CUDA kernel on a GPU against the CPU kernel, through the C ABI, on the shared cases (kernel_cases.hpp); then
// determinism, rows past 2^31 elements, the asynchronous data check, the error contract on device buffers, and the
// scratch a call takes.
// Exits 77 (CTest: skipped) where the kernel cannot run on device 0 (no device, or one this build has no code for),
// or 1 where the GPU suite is required (no_device).
#include <cuda_runtime.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kernel_cases.hpp"
#include "policyloss.h"

#define CUDA_OK(call)                                                                           \
    do {                                                                                        \
        cudaError_t e_ = (call);                                                                \
        if (e_ != cudaSuccess) {                                                                \
            std::printf("CUDA error %s at %s:%d\n", cudaGetErrorString(e_), __FILE__, __LINE__); \
            std::exit(1);                                                                       \
        }                                                                                       \
    } while (0)

template <typename T>
struct DeviceBuf {
    T *ptr = nullptr;
    size_t n = 0;
    explicit DeviceBuf(const std::vector<T> &host) : n(host.size()) {
        CUDA_OK(cudaMalloc(&ptr, std::max<size_t>(n, 1) * sizeof(T)));
        if (n) CUDA_OK(cudaMemcpy(ptr, host.data(), n * sizeof(T), cudaMemcpyHostToDevice));
    }
    std::vector<T> get() const {
        std::vector<T> out(n);
        if (n) CUDA_OK(cudaMemcpy(out.data(), ptr, n * sizeof(T), cudaMemcpyDeviceToHost));
        return out;
    }
    ~DeviceBuf() { cudaFree(ptr); }
    DeviceBuf(const DeviceBuf &) = delete;
    DeviceBuf &operator=(const DeviceBuf &) = delete;
};

// asynchronous: pass a device data_error record and read the status from it.
static Outputs run_cuda(const Case &c, const Inputs &in, bool asynchronous, pl_status *async_status = nullptr,
                        const Relayout &relayout = nullptr) {
    pl_loss_args a;
    fill_args(c, a);
    Outputs o = poisoned_outputs(c);
    DeviceBuf<uint8_t> logits(in.logits), dlogits(o.dlogits);
    DeviceBuf<int64_t> t64(in.target64);
    DeviceBuf<int32_t> t32(in.target32);
    DeviceBuf<float> old_logp(in.old_logp), ref_logp(in.ref_logp), adv(in.adv), weight(in.weight), tau(in.tau);
    DeviceBuf<float> logp(o.logp), h(o.h), hc(o.hc), r(o.r), l(o.l), kl(o.kl);
    DeviceBuf<uint8_t> flags(o.flags);
    DeviceBuf<double> metrics(o.metrics);
    DeviceBuf<pl_data_error> record(std::vector<pl_data_error>(1, pl_data_error{-2, -2, 0, 0}));
    a.device = 0;
    point_at(c,
             Buffers{logits.ptr, dlogits.ptr, t64.ptr, t32.ptr, old_logp.ptr, ref_logp.ptr, adv.ptr, weight.ptr,
                     tau.ptr, logp.ptr, h.ptr, hc.ptr, r.ptr, l.ptr, kl.ptr, flags.ptr, metrics.ptr},
             a);
    if (relayout) relayout(a);
    a.data_error = asynchronous ? record.ptr : nullptr;
    o.status = pl_fused_loss(&c.p, &a);
    CUDA_OK(cudaDeviceSynchronize());
    if (asynchronous && async_status) {
        pl_data_error e = record.get()[0];
        *async_status = o.status != PL_OK ? o.status : pl_data_error_status(&e, c.v);
    }
    o.dlogits = c.in_place ? logits.get() : dlogits.get();
    o.logp = logp.get();
    o.h = h.get();
    o.hc = hc.get();
    o.r = r.get();
    o.l = l.get();
    o.kl = kl.get();
    o.flags = flags.get();
    o.metrics = metrics.get();
    return o;
}

// max_elements: skip the cases with more logits (the sanitizers' runs, which are slow).
static void test_against_cpu(int64_t max_elements) {
    for (const Case &c : cases()) {
        g_case = c.name;
        Inputs in = make_inputs(c, case_seed(c));
        if (c.n * c.v <= max_elements) compare(c, in, run_cpu(c, in), run_cuda(c, in, false));
    }
}

static void test_deterministic_and_async() {
    const Case c = determinism_case();
    g_case = c.name;
    Inputs in = make_inputs(c, 99);
    pl_status async_status = PL_ERR_INTERNAL;
    Outputs x = run_cuda(c, in, false), y = run_cuda(c, in, true, &async_status);
    CHECK(x.status == PL_OK && async_status == PL_OK, "statuses %d / %d", x.status, async_status);
    CHECK(x.dlogits == y.dlogits, "dlogits differ between two identical calls");
    CHECK(std::memcmp(x.metrics.data(), y.metrics.data(), PL_METRICS_LEN * sizeof(double)) == 0, "metrics differ");
    CHECK(x.h == y.h && x.hc == y.hc && x.logp == y.logp, "per-row outputs differ");
}

static void test_data_errors() {
    const Case c = data_error_case();
    for (const DataErrorCase &b : data_error_cases()) {
        g_case = std::string("data errors: ") + b.name;
        Inputs in = make_inputs(c, 5);
        b.spoil(in);
        Outputs cpu = run_cpu(c, in);
        std::string cpu_message = pl_last_error();
        Outputs sync = run_cuda(c, in, false);
        std::string sync_message = pl_last_error();
        int64_t sync_row = pl_last_error_row();
        std::string sync_argument = pl_last_error_argument();
        pl_status async_status = PL_OK;
        Outputs async = run_cuda(c, in, true, &async_status);
        std::string async_message = pl_last_error();
        CHECK(cpu.status == PL_ERR_INVALID_DATA && sync.status == PL_ERR_INVALID_DATA, "statuses %d / %d", cpu.status,
              sync.status);
        CHECK(async.status == PL_OK && async_status == PL_ERR_INVALID_DATA, "async %d, record %d", async.status,
              async_status);
        CHECK(sync_row == b.row && sync_argument == b.argument, "row %lld argument %s", (long long)sync_row,
              sync_argument.c_str());
        CHECK(sync_message == cpu_message && async_message == cpu_message, "messages: cpu '%s' sync '%s' async '%s'",
              cpu_message.c_str(), sync_message.c_str(), async_message.c_str());
        CHECK(sync_message.find(b.text) != std::string::npos, "message '%s' lacks '%s'", sync_message.c_str(), b.text);
        CHECK(std::isnan(async.metrics[PL_M_LOSS]), "an invalid call's metrics are NaN, got %g", async.metrics[PL_M_LOSS]);
    }
}

static void test_zero_weight_rows_are_never_read() {
    const Case c = nan_padding_case();
    g_case = c.name;
    Inputs in = nan_padding_inputs(c, 3);
    check_nan_padding(c, in, run_cuda(c, in, false));
}

// Rows far apart (kernel_cases.hpp), in device memory of which only the rows are written: read and written at
// offsets past 2^31 elements, with the results of the CPU kernel on the same rows laid out compact.
static void test_far_rows() {
    const Case c = far_rows_case();
    g_case = c.name;
    const Inputs in = make_inputs(c, 21);
    const auto copy = [](void *dst, const void *src, size_t bytes) {
        CUDA_OK(cudaMemcpy(dst, src, bytes, cudaMemcpyDefault));
    };
    const size_t logits_bytes = far_bytes(c, c.dtype, kFarLd), dlogits_bytes = far_bytes(c, c.dtype, kFarLdGradient);
    size_t free_bytes = 0, total_bytes = 0;
    CUDA_OK(cudaMemGetInfo(&free_bytes, &total_bytes));
    if (free_bytes < logits_bytes + dlogits_bytes + (256u << 20)) {  // a GPU of 8 GB, say: said, not failed
        std::printf("far rows: skipped, %.1f GB free of the %.1f GB needed\n", free_bytes / 1e9,
                    (logits_bytes + dlogits_bytes) / 1e9);
        return;
    }
    void *logits = nullptr, *dlogits = nullptr;
    CUDA_OK(cudaMalloc(&logits, logits_bytes));
    CUDA_OK(cudaMalloc(&dlogits, dlogits_bytes));
    const Outputs gpu =
        run_far(c, in, logits, dlogits, copy, [&](const Relayout &r) { return run_cuda(c, in, false, nullptr, r); });
    CUDA_OK(cudaFree(logits));
    CUDA_OK(cudaFree(dlogits));
    compare(c, in, run_cpu(c, in), gpu);
}

// The N = 65,536 rows, short ones: every block walks hundreds of rows, and the sums and the data check run
// over all their records.  Here only: the emulator would take minutes over so many blocks' worth of rows.
static void test_many_rows() {
    Case c = determinism_case();
    c.name = "65,536 rows";
    c.n = 65536;
    c.v = 8;
    g_case = c.name;
    const Inputs in = make_inputs(c, 4);
    compare(c, in, run_cpu(c, in), run_cuda(c, in, false));
}

// A CUDA failure inside a call: 2^40 rows need 32 TiB of row records, which the scratch pool cannot allocate (the
// allocation comes before any kernel, so the small buffers are never read).  The call fails with PL_ERR_CUDA and
// CUDA's own message, naming the device, and the next call runs: the error was not left sticky.
static void test_cuda_error_is_reported() {
    const Case c{"CUDA error", 4, 100, 0, 0, PL_F32, -1, false, false, false, false, false, 0, 0, 0, base_params()};
    g_case = c.name;
    const Inputs in = make_inputs(c, 6);
    const Outputs failed = run_cuda(c, in, false, nullptr, [](pl_loss_args &a) { a.n_rows = int64_t(1) << 40; });
    const std::string message = pl_last_error(), argument = pl_last_error_argument();
    CHECK(failed.status == PL_ERR_CUDA && argument == "device", "status %d, argument '%s'", failed.status,
          argument.c_str());
    CHECK(message.find("allocating scratch memory") != std::string::npos &&
              message.find("cudaError") != std::string::npos,
          "message '%s'", message.c_str());
    CHECK(std::isnan(failed.metrics[PL_M_LOSS]), "the failed call wrote its metrics: %g", failed.metrics[PL_M_LOSS]);
    const Outputs after = run_cuda(c, in, false);
    CHECK(after.status == PL_OK, "the call after: status %d (%s)", after.status, pl_last_error());
}

static void test_argument_errors_on_device() {
    g_case = "argument errors";
    Case c{"args", 4, 100, 0, 0, PL_F32, -1, false, false, false, false, true, 0, 0, 0, base_params()};
    Inputs in = make_inputs(c, 8);
    pl_loss_args a;
    fill_args(c, a);
    DeviceBuf<uint8_t> logits(in.logits);
    DeviceBuf<int64_t> target(in.target64);
    DeviceBuf<float> old_logp(in.old_logp), adv(in.adv), weight(in.weight);
    a.device = 0;
    a.logits = logits.ptr;
    a.target = target.ptr;
    a.old_logp = in.old_logp.data();  // a host pointer in a device call
    a.advantage = adv.ptr;
    a.weight = weight.ptr;
    CHECK(pl_fused_loss(&c.p, &a) == PL_ERR_INVALID_ARGUMENT && std::string(pl_last_error_argument()) == "old_logp",
          "host old_logp");
    a.old_logp = old_logp.ptr;
    a.device = pl_cuda_device_count();
    CHECK(pl_fused_loss(&c.p, &a) == PL_ERR_NO_DEVICE, "device out of range");
    a.device = 0;
    a.n_rows = 0;
    std::vector<double> metrics(PL_METRICS_LEN, -1.0);
    a.metrics = metrics.data();
    CHECK(pl_fused_loss(&c.p, &a) == PL_OK && metrics[PL_M_VALID_ROWS] == 0.0, "no rows: zero metrics, got %g",
          metrics[PL_M_VALID_ROWS]);
}

// A call's scratch, read from the pool's peak: 32 bytes a row (RowRecord) plus the metrics and the data check,
// within the 64 bytes a row; nothing held once the call is done.
static void test_scratch_per_row() {
    Case c = determinism_case();
    c.name = "scratch";
    c.n = 2048;  // 65,536 logits: in the sanitizers' --quick runs too
    c.v = 32;
    g_case = c.name;
    Inputs in = make_inputs(c, 5);
    uint64_t reserved = 0, peak = 0;
    CHECK(pl_device_scratch(0, 1, nullptr, nullptr) == PL_OK, "reset");
    CHECK(run_cuda(c, in, false).status == PL_OK, "call");
    CHECK(pl_device_scratch(0, 1, &reserved, &peak) == PL_OK, "read and reset");
    CHECK(peak >= 32u * c.n && peak <= 64u * c.n && reserved >= peak, "%llu bytes at peak, %llu reserved, %lld rows",
          (unsigned long long)peak, (unsigned long long)reserved, (long long)c.n);
    CHECK(pl_device_scratch(0, 0, nullptr, &peak) == PL_OK && peak == 0, "the peak after a reset between calls: %llu",
          (unsigned long long)peak);
}

// Without a device the kernel runs on (`reason`, the library's): skipped (77), unless the GPU suite is required
// here, as the Java suite decides it (src/test/java/io/policyloss/GpuSuite.java): POLICYLOSS_GPU=required, or unset
// / auto on a machine with a GPU.
static int no_device(const char *reason) {
    const char *setting = std::getenv("POLICYLOSS_GPU");
    const std::string mode = setting ? setting : "";
    if (mode != "" && mode != "auto" && mode != "required" && mode != "optional") {
        std::printf("POLICYLOSS_GPU: must be required, optional or auto, got \"%s\"\n", setting);
        return 2;
    }
    const bool required = mode == "required" || ((mode == "" || mode == "auto") && access("/dev/nvidiactl", F_OK) == 0);
    std::printf("the CUDA kernel cannot run here (%s; %s): %s\n", reason, pl_build_info(),
                required ? "FAILED, the GPU suite is required here (POLICYLOSS_GPU=optional lets it skip)" : "skipped");
    return required ? 1 : 77;
}

// --quick: only the cases of up to 65,536 logits, for compute-sanitizer (benchmarks/gpu/run_device.sh).
int main(int argc, char **argv) {
    if (const char *reason = pl_cuda_device_unusable_reason(0); reason[0]) return no_device(reason);
    const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
    std::printf("%s%s\n", pl_build_info(), quick ? "; quick: cases of up to 65,536 logits" : "");
    test_against_cpu(quick ? 65536 : INT64_MAX);
    if (!quick) {
        test_deterministic_and_async();
        test_far_rows();  // 8.6 GB of allocations, which the sanitizers' runs are spared
        test_many_rows();
    }
    test_data_errors();
    test_zero_weight_rows_are_never_read();
    test_argument_errors_on_device();
    test_scratch_per_row();
    if (!quick) test_cuda_error_is_reported();  // the sanitizers would count its refused allocation as an error
    return finish();
}
