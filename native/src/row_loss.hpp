// The per-row part of the loss (SPEC sections 3-5): everything after the softmax statistics of a row are known.
// Plain scalar code, host and device, so the CPU and CUDA kernels share one definition of the clipping rules.
#pragma once
#include <cmath>
#include <cstdint>

#include "host_device.hpp"
#include "policyloss.h"

namespace pl {

// What the loss needs from a row's logits.
struct RowStats {
    float logp;     // y_a - lse
    float entropy;  // H
    float clamped_entropy;  // Hc (= H when p = 0)
};

// The per-row loss, its derivative with respect to logp, and what the metrics count.
struct RowLoss {
    float loss;        // l = pg + beta kl - lambda_H H - lambda_C Hc
    float dloss_dlogp; // G_logp: pg part (0 when clipped, dual-clipped or ratio-clamped) + kl part
    float ratio;       // r
    float kl;          // the chosen estimator, times r with kl_bias_correction (0 without ref_logp)
    uint8_t flags;     // PL_FLAG_* bits
};

// ref_logp is NaN-free and only used when has_ref; advantage is the row's A before Entropy-Adv shaping.
PL_HD RowLoss row_loss(const pl_loss_params &p, const RowStats &s, float old_logp, bool has_ref, float ref_logp,
                       float advantage) {
    RowLoss out{};
    // Entropy-Adv (AEPO Sec. 3.2): A' = A + min(beta H, |A| / kappa), H detached.
    float a = advantage;
    if (p.entropy_adv_beta > 0.0f) a += fminf(p.entropy_adv_beta * s.entropy, fabsf(advantage) / p.entropy_adv_kappa);

    float d = s.logp - old_logp;
    bool ratio_clamped = !(d >= -20.0f && d <= 20.0f);
    d = fminf(fmaxf(d, -20.0f), 20.0f);
    float r = expf(d);
    float r_clipped = fminf(fmaxf(r, 1.0f - p.eps_low), 1.0f + p.eps_high);  // eps_high = +inf: no clip-high
    float pg1 = -a * r, pg2 = -a * r_clipped;
    bool unclipped = pg1 >= pg2;  // a tie counts as unclipped
    float pg = unclipped ? pg1 : pg2;
    bool dual = false;
    if (p.dual_clip_c > 0.0f && a < 0.0f) {
        float bound = -a * p.dual_clip_c;
        if (bound < pg) { pg = bound; dual = true; }
    }
    float g_pg = (unclipped && !dual && !ratio_clamped) ? -a * r : 0.0f;

    float kl = 0.0f, g_kl = 0.0f;
    if (has_ref) {
        float delta = ref_logp - s.logp;
        float kl_plus_g;  // kl + dkl/dlogp, the gradient of r kl over r, formed without cancellation
        switch (p.kl_estimator) {
            case PL_KL_K1:
            case PL_KL_K1_PLUS: kl = s.logp - ref_logp; g_kl = 1.0f; kl_plus_g = kl + 1.0f; break;
            case PL_KL_K2: kl = 0.5f * delta * delta; g_kl = -delta; kl_plus_g = kl - delta; break;
            case PL_KL_ABS: {
                float sign = (float)((delta < 0.0f) - (delta > 0.0f));  // of logp - ref_logp; 0 where equal
                kl = fabsf(delta); g_kl = sign; kl_plus_g = kl + sign; break;
            }
            default: {  // k3, clamped to [-10, 10]; the gradient is 0 where the clamp is active
                // e^d - 1 by expm1, in double: in floats e^d - d - 1 cancels to a relative error of about 2e-7 / d^2,
                // 0.1% at d = 0.014, which r up to e^20 brings into the loss; one double exp a row costs nothing.
                double em1 = expm1((double)delta), raw = em1 - (double)delta;
                kl = (float)fmin(fmax(raw, -10.0), 10.0);
                bool inside = raw >= -10.0 && raw <= 10.0;
                g_kl = inside ? (float)-em1 : 0.0f;
                // (e^d - d - 1) + (1 - e^d) = -d exactly; summed in floats it would lose -d's digits for small d.
                kl_plus_g = inside ? -delta : kl;
            }
        }
        // verl's "k1+" / "k3+": k2's gradient, logp - ref_logp, under k1's or k3's value (its clamp unseen).
        if (p.kl_estimator == PL_KL_K1_PLUS || p.kl_estimator == PL_KL_K3_PLUS) {
            g_kl = -delta;
            kl_plus_g = kl - delta;
        }
        // DeepSeek-V3.2's unbiased KL estimate (TRL's use_bias_correction_kl): r kl, with r not held constant, so its
        // gradient is r (kl + dkl/dlogp); r's own part is 0 where r is clamped, as the pg term's is.
        if (p.kl_bias_correction) {
            g_kl = r * (ratio_clamped ? g_kl : kl_plus_g);
            kl *= r;
        }
    }
    out.loss = pg + p.kl_coef * kl - p.entropy_coef * s.entropy - p.clamped_entropy_coef * s.clamped_entropy;
    out.dloss_dlogp = g_pg + p.kl_coef * g_kl;
    out.ratio = r;
    out.kl = kl;
    out.flags = (uint8_t)(((a < 0.0f && r < 1.0f - p.eps_low) ? PL_FLAG_CLIP_LOW : 0) |
                          ((a > 0.0f && r > 1.0f + p.eps_high) ? PL_FLAG_CLIP_HIGH : 0) |
                          (dual ? PL_FLAG_DUAL_CLIP : 0) | (ratio_clamped ? PL_FLAG_RATIO_CLAMPED : 0));
    return out;
}

}  // namespace pl
