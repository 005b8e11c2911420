// C++ tests of the C ABI: the contract that does not need the Java oracle (properties of the math, the error
// contract, thread safety).  Numerical agreement with SPEC is tested against the double-precision Java oracle.
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "policyloss.h"

static int g_passed = 0, g_failed = 0;
#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (cond) {                                                                   \
            ++g_passed;                                                               \
        } else {                                                                      \
            ++g_failed;                                                               \
            std::printf("FAIL %s:%d: %s (last error: %s)\n", __FILE__, __LINE__, #cond, \
                        pl_last_error());                                             \
        }                                                                             \
    } while (0)

struct Batch {
    int64_t n, v;
    std::vector<float> logits, old_logp, adv, weight, dlogits;
    std::vector<int64_t> target;
    std::vector<double> metrics = std::vector<double>(PL_METRICS_LEN, -1.0);
    pl_loss_params p;
    pl_loss_args a;

    Batch(int64_t n_, int64_t v_, unsigned seed) : n(n_), v(v_) {
        std::mt19937 rng(seed);
        std::normal_distribution<float> normal(0.0f, 2.0f);
        logits.resize(n * v);
        for (auto &z : logits) z = normal(rng);
        for (int64_t i = 0; i < n; ++i) {
            target.push_back((int64_t)(rng() % v));
            old_logp.push_back(-std::log((float)v) + 0.3f * normal(rng));
            adv.push_back(normal(rng));
            weight.push_back(1.0f / n);
        }
        dlogits.assign(n * v, 12345.0f);
        pl_loss_params_init(&p);
        p.entropy_coef = 0.01f;
        p.clamped_entropy_coef = 0.02f;
        p.clamp_p = 0.3f;
        pl_loss_args_init(&a);
        a.n_rows = n;
        a.vocab = v;
        a.ld = v;
        a.logits = logits.data();
        a.target = target.data();
        a.old_logp = old_logp.data();
        a.advantage = adv.data();
        a.weight = weight.data();
        a.dlogits = dlogits.data();
        a.ld_dlogits = v;
        a.metrics = metrics.data();
    }
    pl_status run() { return pl_fused_loss(&p, &a); }
};

static void test_build_info() {
    CHECK(std::string(pl_build_info()).find("backends: cpu") != std::string::npos);
    CHECK(pl_abi_version() == PL_ABI_VERSION);
    std::printf("build: %s; cuda devices: %d%s%s\n", pl_build_info(), pl_cuda_device_count(),
                pl_cuda_device_count() == 0 ? ": " : "", pl_cuda_unavailable_reason());
}

// Where no device can be used, the library says why, and a call for device 0 carries that reason; where one can,
// there is no reason to give.  `expected`: a part of the reason the test's setting should give, or null.
static void test_cuda_unavailable_reason(const char *expected) {
    const std::string reason = pl_cuda_unavailable_reason();
    if (expected) CHECK(pl_cuda_device_count() == 0 && reason.find(expected) != std::string::npos);
    CHECK(reason.empty() == (pl_cuda_device_count() > 0));
    if (!pl_has_cuda_backend()) CHECK(reason.find("no CUDA backend") != std::string::npos);
    if (pl_cuda_device_count() > 0) return;
    Batch b(1, 4, 1);
    b.a.device = 0;
    CHECK(b.run() == PL_ERR_NO_DEVICE && std::string(pl_last_error_argument()) == "device");
    const std::string message = pl_last_error();
    CHECK(message.find("device: CUDA device 0 requested") == 0 && message.find(reason) != std::string::npos);
}

// pl_cuda_device_unusable_reason gives the message a call on that device fails with, and leaves the thread's last
// error alone; no device past the visible ones is usable, and a negative one is refused.
static void test_device_unusable_reason() {
    const int visible = pl_cuda_device_count();
    for (int device : {0, visible, visible + 3}) {
        const std::string reason = pl_cuda_device_unusable_reason(device);
        std::printf("device %d: %s\n", device, reason.empty() ? "usable" : reason.c_str());
        if (device >= visible) CHECK(reason.find("device: CUDA device") == 0);
        if (visible == 0) CHECK(reason.find(pl_cuda_unavailable_reason()) != std::string::npos);
        if (reason.empty()) continue;
        Batch b(1, 4, 1);
        b.a.device = device;
        CHECK(b.run() != PL_OK && std::string(pl_last_error_argument()) == "device" && pl_last_error() == reason);
    }
    CHECK(std::string(pl_cuda_device_unusable_reason(-1)) == "device: is -1; CUDA devices count from 0");
    Batch bad(1, 4, 1);
    bad.p.clamp_p = 2.0f;
    CHECK(bad.run() == PL_ERR_INVALID_ARGUMENT);
    const std::string before = pl_last_error();
    pl_cuda_device_unusable_reason(visible);
    CHECK(pl_last_error() == before && std::string(pl_last_error_argument()) == "clamp_p");
}

// Uniform logits: H = log V, logp = -log V, and every term of the gradient sums to zero over the row.
static void test_uniform_row_properties() {
    Batch b(3, 1000, 1);
    std::fill(b.logits.begin(), b.logits.end(), 0.5f);
    b.p.clamp_p = 0.0f;
    std::vector<float> h(3), logp(3);
    b.a.out_entropy = h.data();
    b.a.out_logp = logp.data();
    CHECK(b.run() == PL_OK);
    for (int i = 0; i < 3; ++i) {
        CHECK(std::fabs(h[i] - std::log(1000.0f)) < 1e-4f);
        CHECK(std::fabs(logp[i] + std::log(1000.0f)) < 1e-4f);
        double sum = 0.0;
        for (int64_t v = 0; v < b.v; ++v) sum += b.dlogits[i * b.v + v];
        CHECK(std::fabs(sum) < 1e-6);
    }
    CHECK(b.metrics[PL_M_VALID_ROWS] == 3.0);
}

// A data error leaves every output untouched, in place included, and names argument and row.
static void test_error_leaves_outputs_untouched() {
    Batch b(8, 50, 2);
    b.target[5] = 50;
    CHECK(b.run() == PL_ERR_INVALID_DATA);
    CHECK(std::string(pl_last_error_argument()) == "target");
    CHECK(pl_last_error_row() == 5);
    CHECK(std::string(pl_last_error()).find("row 5") != std::string::npos);
    bool untouched = true;
    for (float d : b.dlogits) untouched &= d == 12345.0f;
    CHECK(untouched);
    CHECK(b.metrics[0] == -1.0);

    Batch c(8, 50, 3);
    std::vector<float> before = c.logits;
    c.a.dlogits = c.logits.data();
    c.logits[7 * 50 + 3] = NAN;
    before[7 * 50 + 3] = NAN;
    CHECK(c.run() == PL_ERR_INVALID_DATA);
    CHECK(std::string(pl_last_error_argument()) == "logits" && pl_last_error_row() == 7);
    CHECK(std::memcmp(before.data(), c.logits.data(), before.size() * sizeof(float)) == 0);
}

// A host call given a data_error record fills it as a device call's kernel would, and pl_data_error_status turns
// the record back into the status, message, argument and row the call returned.
static void test_data_error_record() {
    Batch b(6, 40, 6);
    pl_data_error record{-7, -7, -7, -7};
    b.a.data_error = &record;
    CHECK(b.run() == PL_OK && record.row == -1);
    CHECK(pl_data_error_status(&record, 40) == PL_OK);
    b.logits[4 * 40 + 9] = NAN;
    CHECK(b.run() == PL_ERR_INVALID_DATA && record.row == 4 && record.detail == 9);
    std::string message = pl_last_error();
    CHECK(pl_data_error_status(&record, 40) == PL_ERR_INVALID_DATA);
    CHECK(message == pl_last_error() && pl_last_error_row() == 4 && std::string(pl_last_error_argument()) == "logits");
    CHECK(pl_data_error_status(nullptr, 40) == PL_ERR_INVALID_ARGUMENT &&
          std::string(pl_last_error_argument()) == "record");
    b.a.n_rows = 0;
    record.row = 3;
    CHECK(b.run() == PL_OK && record.row == -1);
}

// Padding rows (weight 0) are never read: a target of -100 and NaN logits there are fine, and their gradient is 0.
static void test_zero_weight_rows_never_read() {
    Batch b(4, 20, 4);
    b.weight[2] = 0.0f;
    b.target[2] = -100;
    for (int v = 0; v < 20; ++v) b.logits[2 * 20 + v] = NAN;
    CHECK(b.run() == PL_OK);
    bool zero = true;
    for (int v = 0; v < 20; ++v) zero &= b.dlogits[2 * 20 + v] == 0.0f;
    CHECK(zero);
    CHECK(b.metrics[PL_M_VALID_ROWS] == 3.0);
}

static void test_argument_errors() {
    Batch b(2, 10, 5);
    b.p.clamp_p = 1.0f;
    CHECK(b.run() == PL_ERR_INVALID_ARGUMENT && std::string(pl_last_error_argument()) == "clamp_p");
    b.p.clamp_p = 0.5f;
    b.p.kl_bias_correction = 2;
    CHECK(b.run() == PL_ERR_INVALID_ARGUMENT && std::string(pl_last_error_argument()) == "kl_bias_correction");
    // A caller built against ABI 5's header has no kl_bias_correction in its struct: the default (0) stands, whatever
    // lies past the struct it passed.
    b.p.size = offsetof(pl_loss_params, kl_bias_correction);
    CHECK(b.run() == PL_OK);
    b.p.size = sizeof(pl_loss_params);
    b.p.kl_bias_correction = 0;
    b.a.ld = 5;
    CHECK(b.run() == PL_ERR_INVALID_ARGUMENT && std::string(pl_last_error_argument()) == "ld");
    b.a.ld = 10;
    b.a.logits_dtype = PL_I32;
    CHECK(b.run() == PL_ERR_UNSUPPORTED && std::string(pl_last_error_argument()) == "logits_dtype");
    b.a.logits_dtype = PL_F32;
    b.a.dlogits = b.logits.data() + 1;
    CHECK(b.run() == PL_ERR_INVALID_ARGUMENT && std::string(pl_last_error_argument()) == "dlogits");
    b.a.dlogits = b.dlogits.data();
    b.a.size = 3;
    CHECK(b.run() == PL_ERR_INVALID_ARGUMENT && std::string(pl_last_error_argument()) == "args.size");
    b.a.size = sizeof(pl_loss_args);
    CHECK(pl_fused_loss(nullptr, &b.a) == PL_ERR_INVALID_ARGUMENT && std::string(pl_last_error_argument()) == "params");
    CHECK(b.run() == PL_OK && std::string(pl_last_error()).empty());
}

// The initializers write no more than the caller's struct holds.  A struct of ABI 5's size, from a binary built
// against that header (the exported unsized call) or this one's sized call: the bytes past it keep their canary, the
// size says ABI 5, and a call with it runs, kl_bias_correction at its default.  The header's macro fills the whole.
extern "C" void (pl_loss_params_init)(pl_loss_params *);  // the export for ABI 5 binaries: the macro is hidden
static void test_initializers_write_within_the_struct() {
    const size_t abi5 = offsetof(pl_loss_params, kl_bias_correction);
    for (int sized = 0; sized < 2; ++sized) {
        unsigned char memory[sizeof(pl_loss_params) + 16];
        std::memset(memory, 0xAB, sizeof memory);
        pl_loss_params *p = reinterpret_cast<pl_loss_params *>(memory);
        if (sized) pl_loss_params_init_sized(p, (uint32_t)abi5);
        else (pl_loss_params_init)(p);
        bool canary = true;
        for (size_t k = abi5; k < sizeof memory; ++k) canary &= memory[k] == 0xAB;
        CHECK(canary && p->size == abi5 && p->eps_low == 0.2f && p->temperature == 1.0f);
        Batch b(2, 10, 5);
        CHECK(pl_fused_loss(p, &b.a) == PL_OK);
    }
    pl_loss_params whole;
    std::memset(&whole, 0xAB, sizeof whole);
    pl_loss_params_init(&whole);
    CHECK(whole.size == sizeof whole && whole.kl_bias_correction == 0);
    unsigned char tiny[8];
    std::memset(tiny, 0xAB, sizeof tiny);
    pl_loss_args_init_sized(reinterpret_cast<pl_loss_args *>(tiny), 2);  // too small for its size: left as it is
    CHECK(tiny[0] == 0xAB && tiny[1] == 0xAB && tiny[2] == 0xAB);
    pl_loss_params_init_sized(nullptr, sizeof whole);  // NULL: nothing to fill
}

// PROBABILITY_MASS on a CUDA device takes rows of fewer than 2^23 logits (the kernel's fixed-point mass sums), a
// limit checked with the arguments, before the device: such a call names the vocab with or without a GPU, and
// leaves its outputs untouched.  Just under it, with TOKEN_FRACTION, with no clamp, or on the host, the same call
// fails on something else before anything is read (no device here; host buffers on a GPU machine; on the host,
// dlogits' row stride, 10).
static void test_device_mass_vocab_limit() {
    Batch b(1, 10, 7);
    b.a.device = 0;
    b.p.clamp_mode = PL_CLAMP_PROBABILITY_MASS;
    const auto fails_on = [&](int64_t vocab) {
        b.a.vocab = b.a.ld = vocab;
        const pl_status st = b.run();
        return st == PL_OK ? std::string("nothing") : std::string(pl_last_error_argument());
    };
    CHECK(fails_on(int64_t(1) << 23) == "vocab" && pl_last_error_row() == -1);
    CHECK(std::string(pl_last_error()).find("2^23") != std::string::npos);
    CHECK(b.dlogits[0] == 12345.0f && b.metrics[PL_M_LOSS] == -1.0);
    CHECK(fails_on((int64_t(1) << 23) - 1) != "vocab");
    b.p.clamp_mode = PL_CLAMP_TOKEN_FRACTION;
    CHECK(fails_on(int64_t(1) << 23) != "vocab");
    b.p.clamp_mode = PL_CLAMP_PROBABILITY_MASS;
    b.p.clamp_p = 0.0f;
    CHECK(fails_on(int64_t(1) << 23) != "vocab");
    b.p.clamp_p = 0.3f;
    b.a.device = -1;
    CHECK(fails_on(int64_t(1) << 23) == "ld_dlogits");
}

// pl_device_scratch names a device it cannot read (a host "device", one past the visible ones) and leaves its
// outputs untouched.
static void test_device_scratch_errors() {
    uint64_t reserved = 7, peak = 7;
    CHECK(pl_device_scratch(-1, 0, &reserved, &peak) == PL_ERR_INVALID_ARGUMENT &&
          std::string(pl_last_error_argument()) == "device");
    CHECK(pl_device_scratch(pl_cuda_device_count(), 1, &reserved, &peak) == PL_ERR_NO_DEVICE &&
          std::string(pl_last_error_argument()) == "device");
    CHECK(reserved == 7 && peak == 7);
}

// Four threads calling at once get bitwise the result of one call.
static void test_concurrent_calls_are_deterministic() {
    Batch ref(64, 3000, 6);
    CHECK(ref.run() == PL_OK);
    std::vector<Batch> batches;
    for (int t = 0; t < 4; ++t) batches.emplace_back(64, 3000, 6);
    std::vector<std::thread> threads;
    std::vector<pl_status> status(4);
    for (int t = 0; t < 4; ++t) {
        batches[t].a.logits = batches[t].logits.data();  // re-point after the vector moved the batches
        batches[t].a.target = batches[t].target.data();
        batches[t].a.old_logp = batches[t].old_logp.data();
        batches[t].a.advantage = batches[t].adv.data();
        batches[t].a.weight = batches[t].weight.data();
        batches[t].a.dlogits = batches[t].dlogits.data();
        batches[t].a.metrics = batches[t].metrics.data();
        threads.emplace_back([&, t] { status[t] = batches[t].run(); });
    }
    for (auto &th : threads) th.join();
    for (int t = 0; t < 4; ++t) {
        CHECK(status[t] == PL_OK);
        CHECK(std::memcmp(ref.dlogits.data(), batches[t].dlogits.data(), ref.dlogits.size() * 4) == 0);
        CHECK(std::memcmp(ref.metrics.data(), batches[t].metrics.data(), PL_METRICS_LEN * 8) == 0);
    }
}

// --reason TEXT: no device may be usable, and the library's reason must contain TEXT (CTest's abi_old_driver).
int main(int argc, char **argv) {
    const char *expected_reason = argc > 2 && std::strcmp(argv[1], "--reason") == 0 ? argv[2] : nullptr;
    test_build_info();
    test_uniform_row_properties();
    test_error_leaves_outputs_untouched();
    test_zero_weight_rows_never_read();
    test_data_error_record();
    test_argument_errors();
    test_initializers_write_within_the_struct();
    test_device_mass_vocab_limit();
    test_device_scratch_errors();
    test_cuda_unavailable_reason(expected_reason);
    test_device_unusable_reason();
    test_concurrent_calls_are_deterministic();
    std::printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed == 0 ? 0 : 1;
}
