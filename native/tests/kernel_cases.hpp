// What the tests of the CUDA kernel share, whichever way it runs (test_cuda: on a GPU; test_cuda_emulated: its
// device code on the host): the cases, their random inputs, the CPU kernel's answer for them (itself checked
// against the Java oracle), and the comparison with it.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
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
};

pl_loss_params base_params();

// Every dtype, clamp mode and option, strides that break 16-byte alignment, -inf masks, ties, zero-weight rows,
// in place, V from 1 to 262,144.
std::vector<Case> cases();

// Host inputs of a case; the CPU run and the CUDA run read the same bytes.
struct Inputs {
    std::vector<uint8_t> logits;
    std::vector<int64_t> target64;
    std::vector<int32_t> target32;
    std::vector<float> old_logp, ref_logp, adv, weight, tau;
};
Inputs make_inputs(const Case &c, unsigned seed);

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

Outputs run_cpu(const Case &c, const Inputs &in);
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

// Two runs of this case must agree bit for bit.
Case determinism_case();

// Prints the tally; the exit status.
int finish();
