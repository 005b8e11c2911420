// What the tests of the CUDA kernel share, whichever way it runs (test_cuda: on a GPU; test_cuda_emulated: its
// device code on the host): the cases, their random inputs, the CPU kernel's answer for them (itself checked
// against the Java oracle), and the comparison with it.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "policyloss.h"

extern int g_passed, g_failed;
extern std::string g_case;  // the case being checked, named in failures
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

int esize(int dtype);
float decode(const std::vector<uint8_t> &buf, int dtype, size_t idx);
void encode(std::vector<uint8_t> &buf, int dtype, size_t idx, float f);

struct Case {
    std::string name;
    int64_t n, v, ld = 0, ld_d = 0;
    int dtype = PL_F32, ddtype = -1;  // ddtype -1: the logits dtype
    bool in_place = false, int32_targets = false, per_row_tau = false, ref = false, gradient = true;
    double masked = 0, zero_weights = 0;
    int ties = 0;  // > 0: logits drawn from this many values, so the threshold ties
    pl_loss_params p;
    // Not empty: the 2048 columns j V / 2048 that both kernels sample for the bands hold these values in turn.  At 8,
    // far above the rest of their rows, TOKEN_FRACTION's band misses, and the radix select must take over.
    std::vector<float> sampled = {};
    // Not empty: the other columns hold these values, each as many times as it says, in column order, so that the
    // counts of tokens above, in and below a band are exact.
    std::vector<std::pair<float, int64_t>> unsampled = {};
    std::vector<float> values = {};  // not empty: logits drawn from these values (ties where the case needs them)
    float target_logit = NAN;  // finite: every target's logit (high: a confident row, its target's terms dominant)
};

pl_loss_params base_params();

// Every dtype, clamp mode and option, strides that break 16-byte alignment, -inf masks, ties, zero-weight rows,
// in place, V from 1 to 262,144, rows that take TOKEN_FRACTION's sampled band (across 0 too), miss it or give none,
// and rows that take the CPU kernel's PROBABILITY_MASS bands (near the maximum; sampled by mass) and the CUDA
// kernel's (sampled by mass; a confident model's, its target holding the mass), or miss the sampled one, a p too
// small for the CUDA radix select's cut, and a saturated softcap.
std::vector<Case> cases();

struct Inputs {
    std::vector<uint8_t> logits;
    std::vector<int64_t> target64;
    std::vector<int32_t> target32;
    std::vector<float> old_logp, ref_logp, adv, weight, tau;
};
// Host inputs of a case; the CPU run and the CUDA run read the same bytes.  A PROBABILITY_MASS row whose set S is
// a rounding choice (the mass to cover within 1e-6 of the row's mass at or above a value) is made padding, counted
// in g_mass_boundary_rows.
Inputs make_inputs(const Case &c, unsigned seed);
extern int64_t g_mass_boundary_rows;
// The seed of a case's inputs where a test runs every case: a hash of its name, so that a case keeps its inputs
// wherever it stands in cases() and whatever cases come and go around it.
unsigned case_seed(const Case &c);

struct Outputs {
    pl_status status;
    std::vector<uint8_t> dlogits;
    std::vector<float> logp, h, hc, r, l, kl;
    std::vector<uint8_t> flags;
    std::vector<double> metrics;
};

// Outputs filled with what no kernel writes (NaN, 0xff bytes), so that whatever the kernel leaves shows up.
Outputs poisoned_outputs(const Case &c);

// The call's arguments without buffers.
void fill_args(const Case &c, pl_loss_args &a);
size_t dlogits_elems(const pl_loss_args &a);

// A CUDA run's buffers, wherever they live: pointed at by the call.
struct Buffers {
    void *logits, *dlogits;
    const void *target64, *target32;
    const float *old_logp, *ref_logp, *adv, *weight, *tau;
    float *logp, *h, *hc, *r, *l, *kl;
    uint8_t *flags;
    double *metrics;
};
void point_at(const Case &c, const Buffers &b, pl_loss_args &a);
// Host memory: the inputs, `logits` (a copy of in.logits, which an in-place gradient overwrites) and the outputs.
Buffers host_buffers(const Inputs &in, std::vector<uint8_t> &logits, Outputs &o);

// Moves a call's buffers after point_at: the far layout below (nullptr: none).
using Relayout = std::function<void(pl_loss_args &)>;

Outputs run_cpu(const Case &c, const Inputs &in, const Relayout &relayout = nullptr);
// CUDA's results against the CPU kernel's on inputs `in`, within the tolerances of a float kernel.
void compare(const Case &c, const Inputs &in, const Outputs &cpu, const Outputs &cuda);

// A data error planted in the inputs of data_error_case(), and what the call must then report.
struct DataErrorCase {
    const char *name;
    void (*spoil)(Inputs &);
    int64_t row;
    const char *argument, *text;
};
Case data_error_case();
std::vector<DataErrorCase> data_error_cases();

// Zero-weight rows whose logits are all NaN: a kernel that read them would fail.
Case nan_padding_case();
Inputs nan_padding_inputs(const Case &c, unsigned seed);
// CUDA's results on nan_padding_inputs: the CPU kernel's, with zero gradient and entropy on the padding rows.
void check_nan_padding(const Case &c, const Inputs &in, const Outputs &cuda);

// Far rows: far_rows_case()'s rows kFarLd elements apart in the logits and kFarLdGradient in the gradient (so that a
// kernel that swapped the two strides would write elsewhere).  Row 2 starts past 2^31 elements and 2^32 bytes, where
// the 65,536 rows of 262,144 reach 1.7e10 elements: offsets that 32-bit arithmetic would wrap.  Only the
// rows' pages are ever touched.
constexpr int64_t kFarLd = (int64_t(1) << 30) + 8, kFarLdGradient = kFarLd + 8;
Case far_rows_case();  // the rows, compact
// Bytes of a far buffer of `dtype` elements with row stride `ld`.
size_t far_bytes(const Case &c, int dtype, int64_t ld);
// Points a call at far logits and dlogits (as a Relayout does).
void use_far_layout(pl_loss_args &a, void *logits, void *dlogits);
// The case's n rows of v `dtype` elements from src (row stride src_ld) to dst (dst_ld), one copy(dst, src, bytes)
// a row: memcpy for host memory, cudaMemcpy for device memory.
template <typename Copy>
void copy_rows(const Case &c, int dtype, const void *src, int64_t src_ld, void *dst, int64_t dst_ld, Copy copy) {
    const size_t row = (size_t)c.v * esize(dtype);
    for (int64_t i = 0; i < c.n; ++i)
        copy((uint8_t *)dst + (size_t)(i * dst_ld) * esize(dtype),
             (const uint8_t *)src + (size_t)(i * src_ld) * esize(dtype), row);
}

// One call of far_rows_case() on far buffers (far_bytes of them, copied to with copy_rows's `copy`): the rows
// scattered into `logits`, the gradient's rows in `dlogits` poisoned, `run(relayout)` (a run_cpu, run_cuda or
// emulated run given that Relayout), and its outputs with the far gradient rows gathered back into o.dlogits, so a
// call that wrote elsewhere leaves poison there.
template <typename Copy, typename Run>
Outputs run_far(const Case &c, const Inputs &in, void *logits, void *dlogits, Copy copy, Run run) {
    copy_rows(c, c.dtype, in.logits.data(), c.v, logits, kFarLd, copy);
    copy_rows(c, c.dtype, poisoned_outputs(c).dlogits.data(), c.v, dlogits, kFarLdGradient, copy);
    Outputs o = run(Relayout([&](pl_loss_args &a) { use_far_layout(a, logits, dlogits); }));
    copy_rows(c, c.dtype, dlogits, kFarLdGradient, o.dlogits.data(), c.v, copy);
    return o;
}

// Host memory reserved and not committed: a page is backed when first touched (mmap, MAP_NORESERVE).  ptr is null
// where the system refuses (strict overcommit, vm.overcommit_memory = 2, ignores MAP_NORESERVE), said on stdout.
struct HostReservation {
    uint8_t *ptr;
    size_t bytes;
    explicit HostReservation(size_t bytes);
    ~HostReservation();
    HostReservation(const HostReservation &) = delete;
    HostReservation &operator=(const HostReservation &) = delete;
};

// Two runs of this case must agree bit for bit.
Case determinism_case();

// Prints the tally; the exit status.
int finish();
