// pl_fused_loss: validate, check that every pointer is on the side the call names, then run the backend.
#include <cstdio>
#include <algorithm>

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

// PL_ERR_NO_DEVICE unless `device` (>= 0) is a visible CUDA device.
pl_status check_device_visible(int device) {
    const int visible = cuda_devices();
    if (visible == 0)
        return fail(PL_ERR_NO_DEVICE, "device", -1, "CUDA device %d requested, but none can be used: %s", device,
                    cuda_unavailable_reason());
    if (device >= visible)
        return fail(PL_ERR_NO_DEVICE, "device", -1, "CUDA device %d requested, %d visible", device, visible);
    return PL_OK;
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
        if (pl_status st = pl::check_device_visible(a.device)) return st;
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
    if (device < 0) return pl::fail(PL_ERR_INVALID_ARGUMENT, "device", -1, "is %d; CUDA devices count from 0", device);
    if (pl_status st = pl::check_device_visible(device)) return st;
    if (pl_status st = pl::device_scratch(device, reset_peak != 0, &reserved, &peak)) return st;
    if (reserved_bytes) *reserved_bytes = reserved;
    if (peak_bytes) *peak_bytes = peak;
    return PL_OK;
}

int pl_has_cuda_backend(void) { return pl::cuda_compiled() ? 1 : 0; }
int pl_cuda_device_count(void) { return pl::cuda_devices(); }
const char *pl_cuda_unavailable_reason(void) { return pl::cuda_unavailable_reason(); }
int pl_abi_version(void) { return PL_ABI_VERSION; }
}
