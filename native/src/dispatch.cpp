// pl_fused_loss: validate, check that the kernels run on the device the call names and that every pointer is on that
// side, then run the backend.
#include <algorithm>
#include <cstdio>

#include "cpu/fused_loss_cpu.hpp"
#include "device.hpp"
#include "errors.hpp"
#include "validate.hpp"

namespace pl {
namespace {

pl_status check_sides(const pl_loss_args &a) {
    const struct {
        const void *ptr;
        const char *name;
    } buffers[] = {{a.logits, "logits"},       {a.target, "target"},           {a.old_logp, "old_logp"},
                   {a.ref_logp, "ref_logp"},   {a.advantage, "advantage"},     {a.weight, "weight"},
                   {a.temperature, "temperature"}, {a.dlogits, "dlogits"},     {a.out_logp, "out_logp"},
                   {a.out_entropy, "out_entropy"}, {a.out_clamped_entropy, "out_clamped_entropy"},
                   {a.out_ratio, "out_ratio"}, {a.out_loss, "out_loss"},       {a.out_kl, "out_kl"},
                   {a.out_flags, "out_flags"}, {a.data_error, "data_error"},
                   // A synchronous device call copies the metrics back, so they may be on either side.
                   {a.device >= 0 && !a.data_error ? nullptr : a.metrics, "metrics"}};
    for (const auto &b : buffers)
        if (pl_status st = check_pointer_side(b.ptr, a.device, b.name)) return st;
    return PL_OK;
}

// Whether calls can use CUDA device `device`: PL_OK, or the status they fail with and, in `why`, their message after
// the argument's name ("device: ").  `kernels`: the call runs the loss kernels, so this build must have code for the
// device's compute capability (pl_device_scratch needs none).
pl_status device_usable(int device, bool kernels, char *why, size_t len) {
    const int visible = cuda_devices();
    if (device < 0) {
        std::snprintf(why, len, "is %d; CUDA devices count from 0", device);
        return PL_ERR_INVALID_ARGUMENT;
    }
    if (visible == 0) {
        std::snprintf(why, len, "CUDA device %d requested, but none can be used: %s", device,
                      cuda_unavailable_reason());
        return PL_ERR_NO_DEVICE;
    }
    if (device >= visible) {
        std::snprintf(why, len, "CUDA device %d requested, %d visible", device, visible);
        return PL_ERR_NO_DEVICE;
    }
    return kernels ? cuda_kernels_run_on(device, why, len) : PL_OK;
}

pl_status check_device_usable(int device, bool kernels) {
    char why[400];
    const pl_status st = device_usable(device, kernels, why, sizeof why);
    return st == PL_OK ? PL_OK : fail(st, "device", -1, "%s", why);
}

}  // namespace
}  // namespace pl

extern "C" {

pl_status pl_fused_loss(const pl_loss_params *params, const pl_loss_args *args) {
    pl::clear_error();
    pl_loss_params p;
    pl_loss_args a;
    if (pl_status st = pl::validate_call(params, args, p, a)) return st;
    if (a.device >= 0)
        if (pl_status st = pl::check_device_usable(a.device, true)) return st;
    if (pl_status st = pl::check_sides(a)) return st;
    if (a.device >= 0) return pl::fused_loss_cuda(p, a);
    if (a.n_rows == 0) {
        if (a.metrics) std::fill(a.metrics, a.metrics + PL_METRICS_LEN, 0.0);
        if (a.data_error) *a.data_error = pl_data_error{-1, 0, 0, 0};
        return PL_OK;
    }
    return pl::cpu::fused_loss(p, a);
}

const char *pl_build_info(void) {
    static char info[256];
    static const bool once = [] {
        std::snprintf(info, sizeof info, "policyloss %s; abi %d; backends: cpu (%s)%s%s%s", PL_VERSION, PL_ABI_VERSION,
                      pl::cpu::active_isa(), pl::cuda_compiled() ? ", cuda (" : "", pl::cuda_archs(),
                      pl::cuda_compiled() ? ")" : "");
        return true;
    }();
    (void)once;
    return info;
}

pl_status pl_device_scratch(int32_t device, int32_t reset_peak, uint64_t *reserved_bytes, uint64_t *peak_bytes) {
    pl::clear_error();
    uint64_t reserved = 0, peak = 0;
    if (pl_status st = pl::check_device_usable(device, false)) return st;
    if (pl_status st = pl::device_scratch(device, reset_peak != 0, &reserved, &peak)) return st;
    if (reserved_bytes) *reserved_bytes = reserved;
    if (peak_bytes) *peak_bytes = peak;
    return PL_OK;
}

int pl_has_cuda_backend(void) { return pl::cuda_compiled() ? 1 : 0; }
int pl_cuda_device_count(void) { return pl::cuda_devices(); }
const char *pl_cuda_unavailable_reason(void) { return pl::cuda_unavailable_reason(); }

const char *pl_cuda_device_unusable_reason(int32_t device) {
    static thread_local char reason[512];
    char why[400];
    if (pl::device_usable(device, true, why, sizeof why) == PL_OK) reason[0] = '\0';
    else std::snprintf(reason, sizeof reason, "device: %s", why);
    return reason;
}

int pl_abi_version(void) { return PL_ABI_VERSION; }
}
