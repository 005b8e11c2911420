#include "validate.hpp"

#include <cmath>
#include <cstddef>
#include <cstring>

#include "errors.hpp"

namespace pl {

int dtype_size(int32_t dtype) {
    switch (dtype) {
        case PL_F32: return 4;
        case PL_BF16: return 2;
        case PL_F16: return 2;
        case PL_I32: return 4;
        case PL_I64: return 8;
        default: return 0;
    }
}

namespace {

// A caller's struct of `size` bytes over our defaults: older (smaller) structs keep the defaults of new fields.
template <typename T>
bool copy_sized(const T *from, T &to, const char *what) {
    uint32_t size = from->size;
    if (size < offsetof(T, size) + sizeof(uint32_t) + sizeof(float) || size > 65536) {
        fail(PL_ERR_INVALID_ARGUMENT, what, -1, "size %u is not sizeof the struct (%zu); call the *_init function first",
             size, sizeof(T));
        return false;
    }
    std::memcpy(&to, from, size < sizeof(T) ? size : sizeof(T));
    to.size = sizeof(T);
    return true;
}

pl_status bad(const char *argument, const char *fmt, double value) {
    return fail(PL_ERR_INVALID_ARGUMENT, argument, -1, fmt, value);
}

pl_status check_params(const pl_loss_params &p) {
    if (!(p.eps_low >= 0.0f && std::isfinite(p.eps_low))) return bad("eps_low", "must be finite and >= 0, got %g", p.eps_low);
    if (!(p.eps_high >= 0.0f)) return bad("eps_high", "must be >= 0 (+inf disables clip-high), got %g", p.eps_high);
    if (!(p.dual_clip_c == 0.0f || p.dual_clip_c > 1.0f))
        return bad("dual_clip_c", "must be > 1 when enabled (0 disables it), got %g", p.dual_clip_c);
    if (p.kl_estimator < PL_KL_K1 || p.kl_estimator > PL_KL_ABS)
        return fail(PL_ERR_INVALID_ARGUMENT, "kl_estimator", -1,
                    "must be 1 (k1), 2 (k2), 3 (k3), 4 (k1+), 5 (k3+) or 6 (abs), got %d", p.kl_estimator);
    if (!std::isfinite(p.kl_coef)) return bad("kl_coef", "must be finite, got %g", p.kl_coef);
    if (!std::isfinite(p.entropy_coef)) return bad("entropy_coef", "must be finite, got %g", p.entropy_coef);
    if (!std::isfinite(p.clamped_entropy_coef))
        return bad("clamped_entropy_coef", "must be finite, got %g", p.clamped_entropy_coef);
    if (!(p.clamp_p >= 0.0f && p.clamp_p < 1.0f)) return bad("clamp_p", "must be in [0, 1), got %g", p.clamp_p);
    if (p.clamp_mode != PL_CLAMP_TOKEN_FRACTION && p.clamp_mode != PL_CLAMP_PROBABILITY_MASS)
        return fail(PL_ERR_INVALID_ARGUMENT, "clamp_mode", -1, "must be 0 (TOKEN_FRACTION) or 1 (PROBABILITY_MASS), got %d",
                    p.clamp_mode);
    if (!(p.entropy_adv_beta >= 0.0f && std::isfinite(p.entropy_adv_beta)))
        return bad("entropy_adv_beta", "must be finite and >= 0, got %g", p.entropy_adv_beta);
    if (!(p.entropy_adv_kappa > 1.0f)) return bad("entropy_adv_kappa", "must be > 1, got %g", p.entropy_adv_kappa);
    if (!std::isfinite(p.grad_scale)) return bad("grad_scale", "must be finite, got %g", p.grad_scale);
    if (!(p.logit_scale > 0.0f && std::isfinite(p.logit_scale)))
        return bad("logit_scale", "must be finite and > 0, got %g", p.logit_scale);
    if (!(p.softcap == 0.0f || (p.softcap > 0.0f && std::isfinite(p.softcap))))
        return bad("softcap", "must be finite and > 0 when enabled (0 disables it), got %g", p.softcap);
    if (!(p.temperature > 0.0f && std::isfinite(p.temperature)))
        return bad("temperature", "must be finite and > 0, got %g", p.temperature);
    if (p.num_threads < 0)
        return fail(PL_ERR_INVALID_ARGUMENT, "num_threads", -1, "must be >= 0 (0 = all cores), got %d", p.num_threads);
    if (p.kl_bias_correction != 0 && p.kl_bias_correction != 1)
        return fail(PL_ERR_INVALID_ARGUMENT, "kl_bias_correction", -1, "must be 0 (off) or 1 (on), got %d",
                    p.kl_bias_correction);
    return PL_OK;
}

pl_status required(const void *ptr, const char *argument) {
    return ptr ? PL_OK : fail(PL_ERR_INVALID_ARGUMENT, argument, -1, "is NULL");
}

pl_status check_args(const pl_loss_params &p, const pl_loss_args &a) {
    if (a.n_rows < 0) return fail(PL_ERR_INVALID_ARGUMENT, "n_rows", -1, "must be >= 0, got %lld", (long long)a.n_rows);
    if (a.vocab < 1) return fail(PL_ERR_INVALID_ARGUMENT, "vocab", -1, "must be >= 1, got %lld", (long long)a.vocab);
    if (a.vocab > (int64_t(1) << 31) - 1)
        return fail(PL_ERR_UNSUPPORTED, "vocab", -1, "must be < 2^31, got %lld", (long long)a.vocab);
    // The CUDA kernel weighs PROBABILITY_MASS's tokens in 64-bit fixed point, up to 2^40 each (radix_select.cuh): a
    // row of 2^24 tokens at its max would overflow the sums, and the exponential's rounding may add a little to each.
    if (a.device >= 0 && p.clamp_p > 0.0f && p.clamp_mode == PL_CLAMP_PROBABILITY_MASS && a.vocab >= int64_t(1) << 23)
        return fail(PL_ERR_UNSUPPORTED, "vocab", -1,
                    "must be < 2^23 for PROBABILITY_MASS on a CUDA device (its fixed-point mass sums), got %lld",
                    (long long)a.vocab);
    if (a.ld < a.vocab)
        return fail(PL_ERR_INVALID_ARGUMENT, "ld", -1, "row stride %lld is smaller than vocab %lld", (long long)a.ld,
                    (long long)a.vocab);
    int esize = a.logits_dtype == PL_F32 || a.logits_dtype == PL_BF16 || a.logits_dtype == PL_F16 ? dtype_size(a.logits_dtype) : 0;
    if (!esize)
        return fail(PL_ERR_UNSUPPORTED, "logits_dtype", -1, "must be PL_F32, PL_BF16 or PL_F16, got %d", a.logits_dtype);
    if (a.target_dtype != PL_I32 && a.target_dtype != PL_I64)
        return fail(PL_ERR_UNSUPPORTED, "target_dtype", -1, "must be PL_I32 or PL_I64, got %d", a.target_dtype);
    if (a.n_rows > 0 && a.ld > INT64_MAX / 8 / a.n_rows)
        return fail(PL_ERR_INVALID_ARGUMENT, "n_rows", -1, "n_rows x ld overflows (%lld x %lld)", (long long)a.n_rows,
                    (long long)a.ld);
    if (a.device < -1) return fail(PL_ERR_INVALID_ARGUMENT, "device", -1, "must be -1 (host) or a CUDA ordinal, got %d", a.device);
    if (a.n_rows == 0) return PL_OK;  // nothing is read; metrics (if any) are written as zeros

    pl_status st;
    if ((st = required(a.logits, "logits")) || (st = required(a.target, "target")) ||
        (st = required(a.old_logp, "old_logp")) || (st = required(a.advantage, "advantage")) ||
        (st = required(a.weight, "weight")))
        return st;
    if (p.kl_coef != 0.0f && !a.ref_logp)
        return fail(PL_ERR_INVALID_ARGUMENT, "ref_logp", -1, "is NULL but kl_coef is %g", p.kl_coef);
    if (a.dlogits) {
        if (a.dlogits_dtype != PL_F32 && a.dlogits_dtype != a.logits_dtype)
            return fail(PL_ERR_UNSUPPORTED, "dlogits_dtype", -1, "must be PL_F32 or the logits dtype (%d), got %d",
                        a.logits_dtype, a.dlogits_dtype);
        if (a.ld_dlogits < a.vocab)
            return fail(PL_ERR_INVALID_ARGUMENT, "ld_dlogits", -1, "row stride %lld is smaller than vocab %lld",
                        (long long)a.ld_dlogits, (long long)a.vocab);
        if (a.n_rows > INT64_MAX / 8 / a.ld_dlogits)
            return fail(PL_ERR_INVALID_ARGUMENT, "ld_dlogits", -1, "n_rows x ld_dlogits overflows");
        // In place is allowed only as an exact alias; any other overlap would read gradient as logits.
        const char *lo = (const char *)a.logits, *lhi = lo + (a.n_rows - 1) * a.ld * esize + a.vocab * esize;
        int dsize = dtype_size(a.dlogits_dtype);
        const char *dlo = (const char *)a.dlogits, *dhi = dlo + (a.n_rows - 1) * a.ld_dlogits * dsize + a.vocab * dsize;
        if (dlo == lo) {
            if (a.dlogits_dtype != a.logits_dtype || a.ld_dlogits != a.ld)
                return fail(PL_ERR_INVALID_ARGUMENT, "dlogits", -1,
                            "in place (dlogits == logits) needs the logits dtype and ld_dlogits == ld");
        } else if (dlo < lhi && lo < dhi) {
            return fail(PL_ERR_INVALID_ARGUMENT, "dlogits", -1, "overlaps logits without being the same buffer");
        }
    }
    return PL_OK;
}

}  // namespace

pl_status validate_call(const pl_loss_params *params, const pl_loss_args *args, pl_loss_params &p, pl_loss_args &a) {
    pl_status st;
    if ((st = required(params, "params")) || (st = required(args, "args"))) return st;
    pl_loss_params_init(&p);
    pl_loss_args_init(&a);
    if (!copy_sized(params, p, "params.size") || !copy_sized(args, a, "args.size")) return PL_ERR_INVALID_ARGUMENT;
    if ((st = check_params(p)) || (st = check_args(p, a))) return st;
    return PL_OK;
}

}  // namespace pl

namespace {

pl_loss_params default_params() {
    pl_loss_params p;
    std::memset(&p, 0, sizeof p);
    p.size = sizeof p;
    p.eps_low = 0.2f;
    p.eps_high = 0.2f;
    p.kl_estimator = PL_KL_K3;
    p.clamp_mode = PL_CLAMP_TOKEN_FRACTION;
    p.entropy_adv_kappa = 2.0f;
    p.grad_scale = 1.0f;
    p.logit_scale = 1.0f;
    p.temperature = 1.0f;
    return p;
}

pl_loss_args default_args() {
    pl_loss_args a;
    std::memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.logits_dtype = PL_F32;
    a.target_dtype = PL_I64;
    a.dlogits_dtype = PL_F32;
    a.device = -1;
    return a;
}

// The first `size` bytes of the defaults, at most the whole struct, into the caller's struct, whose size says so.
template <typename T>
void fill_prefix(T *to, const T &defaults, uint32_t size) {
    if (!to || size < sizeof(uint32_t)) return;
    const uint32_t n = size < sizeof(T) ? size : (uint32_t)sizeof(T);
    std::memcpy((void *)to, &defaults, n);
    to->size = n;
}

}  // namespace

extern "C" {

void pl_loss_params_init_sized(pl_loss_params *p, uint32_t size) { fill_prefix(p, default_params(), size); }

void pl_loss_args_init_sized(pl_loss_args *a, uint32_t size) { fill_prefix(a, default_args(), size); }

// The exported unsized calls of ABI 5 and older, which the header now makes macros over the sized ones: a binary
// built against such a header passes a struct of that ABI, so they fill ABI 5's (pl_loss_params without
// kl_bias_correction; pl_loss_args is unchanged since ABI 2).
#undef pl_loss_params_init
#undef pl_loss_args_init
PL_API void pl_loss_params_init(pl_loss_params *p);
PL_API void pl_loss_args_init(pl_loss_args *a);

void pl_loss_params_init(pl_loss_params *p) {
    pl_loss_params_init_sized(p, (uint32_t)offsetof(pl_loss_params, kl_bias_correction));
}

void pl_loss_args_init(pl_loss_args *a) { pl_loss_args_init_sized(a, (uint32_t)sizeof *a); }
}
