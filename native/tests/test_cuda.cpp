// The CUDA kernel against the CPU kernel (itself checked against the Java oracle), through the C ABI, on fresh
// random inputs: every dtype, clamp mode and option, strides that break 16-byte alignment, -inf masks, ties,
// zero-weight rows, in place; then determinism, the asynchronous data check, and the error contract on device
// buffers.  Exits 77 (CTest: skipped) when no CUDA device is visible.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "policyloss.h"

static int g_passed = 0, g_failed = 0;
static std::string g_case;
#define CHECK(cond, ...)                                                                        \
    do {                                                                                        \
        if (cond) {                                                                             \
            ++g_passed;                                                                         \
        } else {                                                                                \
            ++g_failed;                                                                         \
            std::printf("FAIL [%s] %s:%d: %s ", g_case.c_str(), __FILE__, __LINE__, #cond);      \
            std::printf(__VA_ARGS__);                                                           \
            std::printf(" (last error: %s)\n", pl_last_error());                                \
        }                                                                                       \
    } while (0)

#define CUDA_OK(call)                                                                           \
    do {                                                                                        \
        cudaError_t e_ = (call);                                                                \
        if (e_ != cudaSuccess) {                                                                \
            std::printf("CUDA error %s at %s:%d\n", cudaGetErrorString(e_), __FILE__, __LINE__); \
            std::exit(1);                                                                       \
        }                                                                                       \
    } while (0)

static uint16_t to_bf16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}
static float from_bf16(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
static uint16_t to_f16(float f) { return __half_as_ushort(__float2half_rn(f)); }
static float from_f16(uint16_t h) { return __half2float(__ushort_as_half(h)); }

static int esize(int dtype) { return dtype == PL_F32 ? 4 : 2; }
static float decode(const std::vector<uint8_t> &buf, int dtype, size_t idx) {
    if (dtype == PL_F32) {
        float f;
        std::memcpy(&f, buf.data() + idx * 4, 4);
        return f;
    }
    uint16_t h;
    std::memcpy(&h, buf.data() + idx * 2, 2);
    return dtype == PL_BF16 ? from_bf16(h) : from_f16(h);
}
static void encode(std::vector<uint8_t> &buf, int dtype, size_t idx, float f) {
    if (dtype == PL_F32) {
        std::memcpy(buf.data() + idx * 4, &f, 4);
    } else {
        uint16_t h = dtype == PL_BF16 ? to_bf16(f) : to_f16(f);
        std::memcpy(buf.data() + idx * 2, &h, 2);
    }
}

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

struct Case {
    std::string name;
    int64_t n, v, ld = 0, ld_d = 0;
    int dtype = PL_F32, ddtype = -1;  // ddtype -1: the logits dtype
    bool in_place = false, int32_targets = false, per_row_tau = false, ref = false, gradient = true;
    double masked = 0, zero_weights = 0;
    int ties = 0;  // > 0: logits drawn from this many values, so the threshold ties
    pl_loss_params p;
};

static pl_loss_params base_params() {
    pl_loss_params p;
    pl_loss_params_init(&p);
    p.entropy_coef = 0.01f;
    p.clamped_entropy_coef = 0.02f;
    p.clamp_p = 0.33f;
    return p;
}

// Host inputs of a case; the CPU run and the device run read the same bytes.
struct Inputs {
    std::vector<uint8_t> logits;
    std::vector<int64_t> target64;
    std::vector<int32_t> target32;
    std::vector<float> old_logp, ref_logp, adv, weight, tau;
};

static Inputs make_inputs(const Case &c, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 2.5f);
    std::uniform_real_distribution<float> unit(0.0f, 1.0f);
    Inputs in;
    const int64_t ld = c.ld ? c.ld : c.v;
    in.logits.assign((size_t)((c.n - 1) * ld + c.v) * esize(c.dtype), 0);
    for (int64_t i = 0; i < c.n; ++i) {
        int64_t t = rng() % c.v;
        for (int64_t j = 0; j < c.v; ++j) {
            float z = c.ties ? (float)(rng() % c.ties) - 1.0f : normal(rng);
            if (c.ties && z == 0.0f && (rng() & 1)) z = -0.0f;
            if (j != t && c.masked > 0 && unit(rng) < c.masked) z = -INFINITY;
            encode(in.logits, c.dtype, (size_t)(i * ld + j), z);
        }
        bool zero = c.zero_weights > 0 && unit(rng) < c.zero_weights;
        in.target64.push_back(zero ? -100 : t);  // padding: a target no valid row may have
        in.target32.push_back((int32_t)in.target64.back());
        in.old_logp.push_back(-std::log((float)c.v) + 0.5f * normal(rng));
        in.ref_logp.push_back(-std::log((float)c.v) + 0.5f * normal(rng));
        in.adv.push_back(normal(rng) * 0.4f);
        in.weight.push_back(zero ? 0.0f : 1.0f / (float)c.n);
        in.tau.push_back(0.6f + unit(rng));
    }
    return in;
}

struct Outputs {
    pl_status status;
    std::vector<uint8_t> dlogits;
    std::vector<float> logp, h, hc, r, l, kl;
    std::vector<uint8_t> flags;
    std::vector<double> metrics;
};

static void fill_args(const Case &c, pl_loss_args &a) {
    pl_loss_args_init(&a);
    a.n_rows = c.n;
    a.vocab = c.v;
    a.ld = c.ld ? c.ld : c.v;
    a.logits_dtype = c.dtype;
    a.target_dtype = c.int32_targets ? PL_I32 : PL_I64;
    a.dlogits_dtype = c.ddtype < 0 ? c.dtype : c.ddtype;
    a.ld_dlogits = c.in_place ? a.ld : (c.ld_d ? c.ld_d : c.v);
}

static size_t dlogits_elems(const pl_loss_args &a) { return (size_t)((a.n_rows - 1) * a.ld_dlogits + a.vocab); }

static Outputs run_cpu(const Case &c, const Inputs &in) {
    pl_loss_args a;
    fill_args(c, a);
    Outputs o;
    std::vector<uint8_t> logits = in.logits;
    o.dlogits.assign(dlogits_elems(a) * esize(a.dlogits_dtype), 0);
    a.logits = logits.data();
    a.target = c.int32_targets ? (const void *)in.target32.data() : (const void *)in.target64.data();
    a.old_logp = in.old_logp.data();
    a.ref_logp = c.ref ? in.ref_logp.data() : nullptr;
    a.advantage = in.adv.data();
    a.weight = in.weight.data();
    a.temperature = c.per_row_tau ? in.tau.data() : nullptr;
    a.dlogits = c.gradient ? (c.in_place ? (void *)logits.data() : (void *)o.dlogits.data()) : nullptr;
    for (auto *v : {&o.logp, &o.h, &o.hc, &o.r, &o.l, &o.kl}) v->assign(c.n, 0.0f);
    o.flags.assign(c.n, 0);
    o.metrics.assign(PL_METRICS_LEN, 0.0);
    a.out_logp = o.logp.data();
    a.out_entropy = o.h.data();
    a.out_clamped_entropy = o.hc.data();
    a.out_ratio = o.r.data();
    a.out_loss = o.l.data();
    a.out_kl = o.kl.data();
    a.out_flags = o.flags.data();
    a.metrics = o.metrics.data();
    o.status = pl_fused_loss(&c.p, &a);
    if (c.in_place) o.dlogits = logits;
    return o;
}

// asynchronous: pass a device data_error record and read the status from it.
static Outputs run_cuda(const Case &c, const Inputs &in, bool asynchronous, pl_status *async_status = nullptr) {
    pl_loss_args a;
    fill_args(c, a);
    DeviceBuf<uint8_t> logits(in.logits);
    DeviceBuf<int64_t> t64(in.target64);
    DeviceBuf<int32_t> t32(in.target32);
    DeviceBuf<float> old_logp(in.old_logp), ref_logp(in.ref_logp), adv(in.adv), weight(in.weight), tau(in.tau);
    // Poisoned outputs: whatever the kernel does not write shows up.
    std::vector<uint8_t> poison(dlogits_elems(a) * esize(a.dlogits_dtype), 0xff);
    DeviceBuf<uint8_t> dlogits(poison);
    std::vector<float> nan_rows(c.n, NAN);
    DeviceBuf<float> logp(nan_rows), h(nan_rows), hc(nan_rows), r(nan_rows), l(nan_rows), kl(nan_rows);
    DeviceBuf<uint8_t> flags(std::vector<uint8_t>(c.n, 0xff));
    DeviceBuf<double> metrics(std::vector<double>(PL_METRICS_LEN, NAN));
    DeviceBuf<pl_data_error> record(std::vector<pl_data_error>(1, pl_data_error{-2, -2, 0, 0}));
    a.device = 0;
    a.logits = logits.ptr;
    a.target = c.int32_targets ? (const void *)t32.ptr : (const void *)t64.ptr;
    a.old_logp = old_logp.ptr;
    a.ref_logp = c.ref ? ref_logp.ptr : nullptr;
    a.advantage = adv.ptr;
    a.weight = weight.ptr;
    a.temperature = c.per_row_tau ? tau.ptr : nullptr;
    a.dlogits = c.gradient ? (c.in_place ? (void *)logits.ptr : (void *)dlogits.ptr) : nullptr;
    a.out_logp = logp.ptr;
    a.out_entropy = h.ptr;
    a.out_clamped_entropy = hc.ptr;
    a.out_ratio = r.ptr;
    a.out_loss = l.ptr;
    a.out_kl = kl.ptr;
    a.out_flags = flags.ptr;
    a.metrics = metrics.ptr;
    a.data_error = asynchronous ? record.ptr : nullptr;
    Outputs o;
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

static bool close(double x, double y, double rel, double abs_tol) {
    return std::fabs(x - y) <= abs_tol + rel * std::max(std::fabs(x), std::fabs(y));
}

static void compare(const Case &c, const Outputs &cpu, const Outputs &gpu) {
    CHECK(cpu.status == PL_OK && gpu.status == PL_OK, "statuses %d / %d", cpu.status, gpu.status);
    if (cpu.status != PL_OK || gpu.status != PL_OK) return;
    const double rel = 2e-4;
    int row_failures = 0;
    for (int64_t i = 0; i < c.n && row_failures < 5; ++i) {
        bool ok = close(cpu.logp[i], gpu.logp[i], rel, 1e-4) && close(cpu.h[i], gpu.h[i], rel, 1e-4) &&
                  close(cpu.hc[i], gpu.hc[i], rel, 1e-4) && close(cpu.r[i], gpu.r[i], rel, 1e-5) &&
                  close(cpu.l[i], gpu.l[i], rel, 1e-5) && close(cpu.kl[i], gpu.kl[i], rel, 1e-5) &&
                  cpu.flags[i] == gpu.flags[i];
        if (!ok) ++row_failures;
        CHECK(ok, "row %lld: logp %g/%g H %g/%g Hc %g/%g r %g/%g l %g/%g kl %g/%g flags %d/%d", (long long)i,
              cpu.logp[i], gpu.logp[i], cpu.h[i], gpu.h[i], cpu.hc[i], gpu.hc[i], cpu.r[i], gpu.r[i], cpu.l[i],
              gpu.l[i], cpu.kl[i], gpu.kl[i], cpu.flags[i], gpu.flags[i]);
    }
    for (int k = 0; k < PL_METRICS_LEN; ++k)
        CHECK(close(cpu.metrics[k], gpu.metrics[k], 1e-4, 1e-6), "metric %d: %.9g / %.9g", k, cpu.metrics[k],
              gpu.metrics[k]);
    if (!c.gradient) return;
    pl_loss_args a;
    fill_args(c, a);
    // Per row: every column within 1e-3 of the row's largest |gradient| (bf16 / fp16 outputs round to ~4e-3
    // relative, so there: one rounding step of that size).
    const double tol = a.dlogits_dtype == PL_F32 ? 1e-3 : 8e-3;
    for (int64_t i = 0; i < c.n; ++i) {
        double scale = 0;
        for (int64_t j = 0; j < c.v; ++j)
            scale = std::max(scale, (double)std::fabs(decode(cpu.dlogits, a.dlogits_dtype, i * a.ld_dlogits + j)));
        int64_t worst = -1;
        double worst_err = 0;
        for (int64_t j = 0; j < c.v; ++j) {
            size_t idx = (size_t)(i * a.ld_dlogits + j);
            double x = decode(cpu.dlogits, a.dlogits_dtype, idx), y = decode(gpu.dlogits, a.dlogits_dtype, idx);
            double err = std::isfinite(y) ? std::fabs(x - y) : INFINITY;
            if (err > worst_err) worst_err = err, worst = j;
        }
        bool ok = worst_err <= tol * scale + 1e-30;
        CHECK(ok, "row %lld dlogits column %lld: cpu %g gpu %g (row scale %g)", (long long)i, (long long)worst,
              worst >= 0 ? decode(cpu.dlogits, a.dlogits_dtype, i * a.ld_dlogits + worst) : 0.0,
              worst >= 0 ? decode(gpu.dlogits, a.dlogits_dtype, i * a.ld_dlogits + worst) : 0.0, scale);
        if (!ok) break;
    }
}

static std::vector<Case> cases() {
    pl_loss_params base = base_params(), mass = base_params(), all = base_params(), cap = base_params(),
                   zero_p = base_params();
    mass.clamp_mode = PL_CLAMP_PROBABILITY_MASS;
    mass.clamp_p = 0.2f;
    all.eps_high = 0.28f;
    all.dual_clip_c = 3.0f;
    all.kl_coef = 0.05f;
    all.entropy_adv_beta = 0.4f;
    all.grad_scale = 0.5f;
    cap.softcap = 30.0f;
    cap.logit_scale = 0.5f;
    cap.temperature = 0.7f;
    zero_p.clamp_p = 0.0f;
    std::vector<Case> cs;
    auto add = [&](Case c) { cs.push_back(c); return &cs.back(); };
    add({"f32 V=1", 5, 1, 0, 0, PL_F32, -1, false, false, false, false, true, 0, 0, 0, base});
    add({"f32 V=2", 64, 2, 0, 0, PL_F32, -1, false, false, false, false, true, 0, 0, 0, base});
    add({"bf16 V=7", 200, 7, 0, 0, PL_BF16, -1, false, false, false, false, true, 0, 0, 0, base});
    add({"f16 V=1000", 50, 1000, 0, 0, PL_F16, -1, false, true, false, false, true, 0, 0, 0, base});
    add({"f32 V=32000", 8, 32000, 0, 0, PL_F32, -1, false, false, false, false, true, 0, 0, 0, base});
    add({"bf16 V=151936", 6, 151936, 0, 0, PL_BF16, -1, false, false, false, false, true, 0, 0, 0, base});
    add({"bf16 V=151936 f32 gradient", 4, 151936, 0, 0, PL_BF16, PL_F32, false, false, false, false, true, 0, 0, 0, base});
    add({"f16 V=262144", 3, 262144, 0, 0, PL_F16, -1, false, false, false, false, true, 0, 0, 0, base});
    add({"f32 V=151936 probability mass", 3, 151936, 0, 0, PL_F32, -1, false, false, false, false, true, 0, 0, 0, mass});
    add({"f32 stride > V (unaligned)", 20, 1000, 1037, 1001, PL_F32, -1, false, false, false, false, true, 0, 0, 0, base});
    add({"bf16 stride > V in place", 20, 999, 1024, 0, PL_BF16, -1, true, false, false, false, true, 0, 0, 0, base});
    add({"f32 -inf masked", 40, 1000, 0, 0, PL_F32, -1, false, false, false, false, true, 0.3, 0, 0, base});
    add({"f16 -inf masked probability mass", 40, 1000, 0, 0, PL_F16, -1, false, false, false, false, true, 0.5, 0, 0, mass});
    add({"f32 ties, token fraction", 60, 200, 0, 0, PL_F32, -1, false, false, false, false, true, 0, 0, 5, base});
    add({"bf16 ties, probability mass", 60, 200, 0, 0, PL_BF16, -1, false, false, false, false, true, 0, 0, 5, mass});
    add({"f32 ties V=32000", 4, 32000, 0, 0, PL_F32, -1, false, false, false, false, true, 0, 0, 3, base});
    add({"f32 p = 0", 30, 500, 0, 0, PL_F32, -1, false, false, false, false, true, 0, 0, 0, zero_p});
    add({"f32 per-row temperature", 50, 700, 0, 0, PL_F32, -1, false, false, true, false, true, 0, 0, 0, base});
    add({"f32 everything, KL", 300, 50, 0, 0, PL_F32, -1, false, false, false, true, true, 0, 0, 0, all});
    add({"f32 softcap, scale, temperature", 40, 1000, 0, 0, PL_F32, -1, false, false, false, false, true, 0.1, 0, 0, cap});
    add({"bf16 zero weights in place", 100, 300, 0, 0, PL_BF16, -1, true, false, false, false, true, 0, 0.3, 0, base});
    add({"f32 no gradient", 30, 1000, 0, 0, PL_F32, -1, false, false, false, false, false, 0, 0, 0, base});
    add({"bf16 V=151936 everything, in place", 3, 151936, 0, 0, PL_BF16, -1, true, false, true, true, true, 0.05, 0.2, 0, all});
    return cs;
}

static void test_against_cpu() {
    unsigned seed = 1;
    for (const Case &c : cases()) {
        g_case = c.name;
        Inputs in = make_inputs(c, seed++);
        compare(c, run_cpu(c, in), run_cuda(c, in, false));
    }
}

static void test_deterministic_and_async() {
    Case c{"determinism", 64, 32000, 0, 0, PL_BF16, -1, false, false, false, false, true, 0.01, 0.1, 0, base_params()};
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
    Case c{"data errors", 12, 500, 0, 0, PL_F32, -1, false, false, false, false, true, 0, 0, 0, base_params()};
    struct Bad {
        const char *name;
        void (*spoil)(Inputs &);
        int64_t row;
        const char *argument, *text;
    };
    const Bad bads[] = {
        {"NaN logit", [](Inputs &in) { float f = NAN; std::memcpy(in.logits.data() + (7 * 500 + 123) * 4, &f, 4); },
         7, "logits", "column 123"},
        {"two bad rows: the first is named",
         [](Inputs &in) {
             float f = INFINITY;
             std::memcpy(in.logits.data() + (9 * 500 + 3) * 4, &f, 4);
             in.target64[4] = 500;
         },
         4, "target", "token 500"},
        {"masked target", [](Inputs &in) { float f = -INFINITY; std::memcpy(in.logits.data() + (2 * 500 + in.target64[2]) * 4, &f, 4); },
         2, "target", "masked"},
        {"no finite logit",
         [](Inputs &in) {
             float f = -INFINITY;
             for (int j = 0; j < 500; ++j) std::memcpy(in.logits.data() + (5 * 500 + j) * 4, &f, 4);
         },
         5, "logits", "no finite"},
        {"NaN old_logp", [](Inputs &in) { in.old_logp[11] = NAN; }, 11, "old_logp", "NaN"},
        {"infinite weight", [](Inputs &in) { in.weight[1] = INFINITY; }, 1, "weight", "infinite"},
    };
    for (const Bad &b : bads) {
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
    Case c{"NaN padding", 16, 700, 0, 0, PL_BF16, -1, false, false, false, false, true, 0, 0.5, 0, base_params()};
    g_case = c.name;
    Inputs in = make_inputs(c, 3);
    for (int64_t i = 0; i < c.n; ++i)
        if (in.weight[i] == 0.0f)
            for (int64_t j = 0; j < c.v; ++j) encode(in.logits, c.dtype, (size_t)(i * c.v + j), NAN);
    Outputs cpu = run_cpu(c, in), gpu = run_cuda(c, in, false);
    compare(c, cpu, gpu);
    for (int64_t i = 0; i < c.n; ++i)
        if (in.weight[i] == 0.0f)
            CHECK(decode(gpu.dlogits, c.dtype, (size_t)(i * c.v)) == 0.0f && gpu.h[i] == 0.0f, "row %lld", (long long)i);
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

int main() {
    if (pl_cuda_device_count() == 0) {
        std::printf("no CUDA device (%s): skipped\n", pl_build_info());
        return 77;
    }
    std::printf("%s\n", pl_build_info());
    test_against_cpu();
    test_deterministic_and_async();
    test_data_errors();
    test_zero_weight_rows_are_never_read();
    test_argument_errors_on_device();
    std::printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed ? 1 : 0;
}
