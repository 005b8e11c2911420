// The shared cases and the CPU reference of the CUDA kernel's tests (kernel_cases.hpp).
#include "kernel_cases.hpp"

#include <cuda_fp16.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>

int g_passed = 0, g_failed = 0;
int64_t g_mass_boundary_rows = 0;
std::string g_case;

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

int esize(int dtype) { return dtype == PL_F32 ? 4 : 2; }
float decode(const std::vector<uint8_t> &buf, int dtype, size_t idx) {
    if (dtype == PL_F32) {
        float f;
        std::memcpy(&f, buf.data() + idx * 4, 4);
        return f;
    }
    uint16_t h;
    std::memcpy(&h, buf.data() + idx * 2, 2);
    return dtype == PL_BF16 ? from_bf16(h) : from_f16(h);
}
void encode(std::vector<uint8_t> &buf, int dtype, size_t idx, float f) {
    if (dtype == PL_F32) {
        std::memcpy(buf.data() + idx * 4, &f, 4);
    } else {
        uint16_t h = dtype == PL_BF16 ? to_bf16(f) : to_f16(f);
        std::memcpy(buf.data() + idx * 2, &h, 2);
    }
}

pl_loss_params base_params() {
    pl_loss_params p;
    pl_loss_params_init(&p);
    p.entropy_coef = 0.01f;
    p.clamped_entropy_coef = 0.02f;
    p.clamp_p = 0.33f;
    return p;
}

// Whether row i's PROBABILITY_MASS set S is a rounding choice: the mass to cover, (1 - p) of the row's, lies within
// 1e-6 of the row's mass at or above some value.  The kernels take each exp(y - m) with their own rounding (the CPU
// kernel's polynomial, CUDA's ex2.approx, float arguments that differ in their last bit) and sum in their own order,
// so near such a point they may keep one value more or fewer in S, and one token more moves the gradient well past
// the comparison's tolerance (fuzz seed 91, case 649: 3.5e-9 of the row's mass above the boundary, a token of 2,952
// more on the emulated CUDA side).  The sums are taken here in long double, from the values the kernels read.
static bool mass_boundary_within_rounding(const Case &c, const Inputs &in, int64_t i) {
    if (c.p.clamp_mode != PL_CLAMP_PROBABILITY_MASS || c.p.clamp_p == 0.0f) return false;  // p = 0: every token
    const int64_t ld = c.ld ? c.ld : c.v;
    const double tau = c.per_row_tau ? in.tau[(size_t)i] : c.p.temperature;
    std::vector<long double> y;
    for (int64_t j = 0; j < c.v; ++j) {
        const double z = decode(in.logits, c.dtype, (size_t)(i * ld + j));
        if (z == -INFINITY) continue;
        double u = (double)c.p.logit_scale * z;
        if (c.p.softcap > 0) u = c.p.softcap * std::tanh(u / c.p.softcap);
        y.push_back(u / tau);
    }
    if (y.empty()) return false;
    std::sort(y.begin(), y.end(), std::greater<long double>());
    long double total = 0;
    for (long double v : y) total += std::exp(v - y[0]);
    const long double need = (1.0L - c.p.clamp_p) * total, within = 1e-6L * total;
    long double above = 0;  // the mass at or above y[j]
    for (size_t j = 0; j < y.size(); ++j) {
        above += std::exp(y[j] - y[0]);
        if ((j + 1 == y.size() || y[j + 1] != y[j]) && std::fabs(above - need) <= within) return true;
    }
    return false;
}

// A row's sampled columns and the others, as `sampled` and `unsampled` say (kernel_cases.hpp).
static void place_sample(const Case &c, std::vector<uint8_t> &logits, int64_t start) {
    std::vector<int64_t> sample_index((size_t)c.v, -1);  // j for the column j V / 2048, -1 for the others
    for (int64_t j = 0; j < 2048; ++j) sample_index[(size_t)(j * c.v / 2048)] = j;
    std::vector<float> rest;
    for (const auto &[value, count] : c.unsampled) rest.insert(rest.end(), (size_t)count, value);
    if (!rest.empty() && (int64_t)rest.size() != c.v - 2048) {  // a mistake in cases(), not in a kernel
        std::fprintf(stderr, "case %s: %zu unsampled values for %lld columns\n", c.name.c_str(), rest.size(),
                     (long long)(c.v - 2048));
        std::abort();
    }
    size_t next = 0;
    for (int64_t j = 0; j < c.v; ++j) {
        const int64_t k = sample_index[(size_t)j];
        if (k >= 0 && !c.sampled.empty())
            encode(logits, c.dtype, (size_t)(start + j), c.sampled[(size_t)k % c.sampled.size()]);
        else if (k < 0 && !rest.empty())
            encode(logits, c.dtype, (size_t)(start + j), rest[next++]);
    }
}

unsigned case_seed(const Case &c) {
    uint32_t h = 2166136261u;  // FNV-1a
    for (const char ch : c.name) h = (h ^ (uint8_t)ch) * 16777619u;
    return h;
}

Inputs make_inputs(const Case &c, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 2.5f);
    std::uniform_real_distribution<float> unit(0.0f, 1.0f);
    Inputs in;
    const int64_t ld = c.ld ? c.ld : c.v;
    in.logits.assign((size_t)((c.n - 1) * ld + c.v) * esize(c.dtype), 0);
    for (int64_t i = 0; i < c.n; ++i) {
        int64_t t = rng() % c.v;
        for (int64_t j = 0; j < c.v; ++j) {
            float z = !c.values.empty() ? c.values[rng() % c.values.size()]
                      : c.ties              ? (float)(rng() % c.ties) - 1.0f
                                            : normal(rng);
            if (c.ties && z == 0.0f && (rng() & 1)) z = -0.0f;
            if (j != t && c.masked > 0 && unit(rng) < c.masked) z = -INFINITY;
            encode(in.logits, c.dtype, (size_t)(i * ld + j), z);
        }
        if (std::isfinite(c.target_logit)) encode(in.logits, c.dtype, (size_t)(i * ld + t), c.target_logit);
        if (!c.sampled.empty() || !c.unsampled.empty()) place_sample(c, in.logits, i * ld);
        bool zero = c.zero_weights > 0 && unit(rng) < c.zero_weights;
        in.target64.push_back(zero ? -100 : t);  // padding: a target no valid row may have
        in.target32.push_back((int32_t)in.target64.back());
        in.old_logp.push_back(-std::log((float)c.v) + 0.5f * normal(rng));
        in.ref_logp.push_back(-std::log((float)c.v) + 0.5f * normal(rng));
        in.adv.push_back(normal(rng) * 0.4f);
        in.weight.push_back(zero ? 0.0f : 1.0f / (float)c.n);
        in.tau.push_back(0.6f + unit(rng));
        // A row whose S the kernels may round either way becomes padding, which no kernel reads.
        if (mass_boundary_within_rounding(c, in, i)) {
            in.weight.back() = 0.0f;
            in.target64.back() = in.target32.back() = -100;
            ++g_mass_boundary_rows;
        }
    }
    return in;
}

void fill_args(const Case &c, pl_loss_args &a) {
    pl_loss_args_init(&a);
    a.n_rows = c.n;
    a.vocab = c.v;
    a.ld = c.ld ? c.ld : c.v;
    a.logits_dtype = c.dtype;
    a.target_dtype = c.int32_targets ? PL_I32 : PL_I64;
    a.dlogits_dtype = c.ddtype < 0 ? c.dtype : c.ddtype;
    a.ld_dlogits = c.in_place ? a.ld : (c.ld_d ? c.ld_d : c.v);
}

size_t dlogits_elems(const pl_loss_args &a) { return (size_t)((a.n_rows - 1) * a.ld_dlogits + a.vocab); }

Outputs poisoned_outputs(const Case &c) {
    pl_loss_args a;
    fill_args(c, a);
    Outputs o;
    o.status = PL_ERR_INTERNAL;
    o.dlogits.assign(dlogits_elems(a) * esize(a.dlogits_dtype), 0xff);
    for (auto *v : {&o.logp, &o.h, &o.hc, &o.r, &o.l, &o.kl}) v->assign(c.n, NAN);
    o.flags.assign(c.n, 0xff);
    o.metrics.assign(PL_METRICS_LEN, NAN);
    return o;
}

void point_at(const Case &c, const Buffers &b, pl_loss_args &a) {
    a.logits = b.logits;
    a.target = c.int32_targets ? b.target32 : b.target64;
    a.old_logp = b.old_logp;
    a.ref_logp = c.ref ? b.ref_logp : nullptr;
    a.advantage = b.adv;
    a.weight = b.weight;
    a.temperature = c.per_row_tau ? b.tau : nullptr;
    a.dlogits = c.gradient ? (c.in_place ? b.logits : b.dlogits) : nullptr;
    a.out_logp = b.logp;
    a.out_entropy = b.h;
    a.out_clamped_entropy = b.hc;
    a.out_ratio = b.r;
    a.out_loss = b.l;
    a.out_kl = b.kl;
    a.out_flags = b.flags;
    a.metrics = b.metrics;
}

Buffers host_buffers(const Inputs &in, std::vector<uint8_t> &logits, Outputs &o) {
    return Buffers{logits.data(),      o.dlogits.data(),    in.target64.data(), in.target32.data(),
                   in.old_logp.data(), in.ref_logp.data(),  in.adv.data(),      in.weight.data(),
                   in.tau.data(),      o.logp.data(),       o.h.data(),         o.hc.data(),
                   o.r.data(),         o.l.data(),          o.kl.data(),        o.flags.data(),
                   o.metrics.data()};
}

Outputs run_cpu(const Case &c, const Inputs &in, const Relayout &relayout) {
    pl_loss_args a;
    fill_args(c, a);
    Outputs o = poisoned_outputs(c);
    std::vector<uint8_t> logits = in.logits;
    point_at(c, host_buffers(in, logits, o), a);
    if (relayout) relayout(a);
    o.status = pl_fused_loss(&c.p, &a);
    if (c.in_place) o.dlogits = logits;
    return o;
}

static bool close(double x, double y, double rel, double abs_tol) {
    return std::fabs(x - y) <= abs_tol + rel * std::max(std::fabs(x), std::fabs(y));
}

void compare(const Case &c, const Inputs &in, const Outputs &cpu, const Outputs &gpu) {
    CHECK(cpu.status == PL_OK && gpu.status == PL_OK, "statuses %d / %d", cpu.status, gpu.status);
    if (cpu.status != PL_OK || gpu.status != PL_OK) return;
    const double rel = 2e-4;
    // A row's entropies carry the exponentials' relative error (on a GPU the special function unit's 2^-22) as an
    // absolute one, through log s: up to 1e-6, with no scale of their own where they are near 0 (S one token).  The
    // loss carries it times their coefficients (the clamped entropy's is 1000 in some cases).
    const double entropy_error = 1e-6, coefficients = (double)c.p.entropy_coef + (double)c.p.clamped_entropy_coef;
    int row_failures = 0;
    for (int64_t i = 0; i < c.n && row_failures < 5; ++i) {
        bool ok = close(cpu.logp[i], gpu.logp[i], rel, 1e-4) && close(cpu.h[i], gpu.h[i], rel, 1e-4) &&
                  close(cpu.hc[i], gpu.hc[i], rel, 1e-4) && close(cpu.r[i], gpu.r[i], rel, 1e-5) &&
                  close(cpu.l[i], gpu.l[i], rel, 1e-5 + entropy_error * coefficients) &&
                  close(cpu.kl[i], gpu.kl[i], rel, 1e-5) &&
                  cpu.flags[i] == gpu.flags[i];
        if (!ok) ++row_failures;
        CHECK(ok, "row %lld: logp %g/%g H %g/%g Hc %g/%g r %g/%g l %g/%g kl %g/%g flags %d/%d", (long long)i,
              cpu.logp[i], gpu.logp[i], cpu.h[i], gpu.h[i], cpu.hc[i], gpu.hc[i], cpu.r[i], gpu.r[i], cpu.l[i],
              gpu.l[i], cpu.kl[i], gpu.kl[i], cpu.flags[i], gpu.flags[i]);
    }
    // The sums' absolute tolerance is the entropies' error a row (the loss's L = sum w l, with weights summing to
    // at most 1, the loss's error of a row).  The approximate KL sums old_logp - logp, terms that mostly cancel: its
    // tolerance is float's precision of the log-probs summed, not of the result.
    double logp_mass = 0;
    for (int64_t i = 0; i < c.n; ++i) logp_mass += std::fabs(cpu.logp[i]);
    const double per_row = entropy_error * (double)std::max<int64_t>(c.n, 1);
    for (int k = 0; k < PL_METRICS_LEN; ++k) {
        const double abs_tol = k == PL_M_APPROX_KL ? 1e-6 + 1e-6 * logp_mass
                               : k == PL_M_LOSS    ? per_row + entropy_error * coefficients
                                                   : per_row;
        CHECK(close(cpu.metrics[k], gpu.metrics[k], 1e-4, abs_tol), "metric %d: %.9g / %.9g", k, cpu.metrics[k],
              gpu.metrics[k]);
    }
    if (!c.gradient) return;
    pl_loss_args a;
    fill_args(c, a);
    // Per row: every column within 1e-3 of the row's largest |gradient| (bf16 / fp16 outputs round to ~4e-3
    // relative, so there: one rounding step of that size), plus 1e-6 of the row's gradient weight g w (make_inputs
    // gives valid rows w = 1 / n) times 1 + lambda_H + lambda_C times the column's dy/dz: a near-certain row's
    // entropy terms, and the clamped entropy's in a row whose S is one tie group, cancel to rounding noise with no
    // scale of their own, that of the entropy's error (up to 1e-6, the exponentials' relative error through log s)
    // times its coefficient, and dy/dz multiplies every term after (a saturated softcap's, 1e-5 and less).  fp16
    // outputs below 2^-14 are subnormal, with a fixed step of 2^-24: one step is allowed there.
    const double tol = a.dlogits_dtype == PL_F32 ? 1e-3 : 8e-3;
    const double noise = entropy_error * (double)c.p.grad_scale / (double)c.n * (1.0 + coefficients);
    const double step = a.dlogits_dtype == PL_F16 ? std::ldexp(1.0, -24) : 0.0;
    const auto dy_dz = [&](int64_t i, double z) {  // SPEC section 2, the softcap's 1 - tanh^2 as 4 e / (1 + e)^2
        const double tau = c.per_row_tau ? (double)in.tau[(size_t)i] : (double)c.p.temperature;
        if (c.p.softcap <= 0.0f) return (double)c.p.logit_scale / tau;
        const double e = std::exp(-2.0 * std::fabs((double)c.p.logit_scale * z / (double)c.p.softcap));
        return (double)c.p.logit_scale / tau * 4.0 * e / ((1.0 + e) * (1.0 + e));
    };
    for (int64_t i = 0; i < c.n; ++i) {
        double scale = 0;
        for (int64_t j = 0; j < c.v; ++j)
            scale = std::max(scale, (double)std::fabs(decode(cpu.dlogits, a.dlogits_dtype, i * a.ld_dlogits + j)));
        int64_t worst = -1;
        double worst_excess = -INFINITY;  // the error less what the column allows
        for (int64_t j = 0; j < c.v; ++j) {
            size_t idx = (size_t)(i * a.ld_dlogits + j);
            double x = decode(cpu.dlogits, a.dlogits_dtype, idx), y = decode(gpu.dlogits, a.dlogits_dtype, idx);
            const double z = decode(in.logits, c.dtype, (size_t)(i * a.ld + j));
            const double allowed = tol * scale + (std::isfinite(z) ? noise * dy_dz(i, z) : 0.0) + step + 1e-30;
            const double excess = (std::isfinite(y) ? std::fabs(x - y) : INFINITY) - allowed;
            if (excess > worst_excess) worst_excess = excess, worst = j;
        }
        const bool ok = worst_excess <= 0.0;
        CHECK(ok, "row %lld dlogits column %lld: cpu %g gpu %g (row scale %g)", (long long)i, (long long)worst,
              worst >= 0 ? decode(cpu.dlogits, a.dlogits_dtype, i * a.ld_dlogits + worst) : 0.0,
              worst >= 0 ? decode(gpu.dlogits, a.dlogits_dtype, i * a.ld_dlogits + worst) : 0.0, scale);
        if (!ok) break;
    }
    // A masked (-inf) column's gradient is +0 from both kernels, bit for bit: not -0 (0 times a negative term).
    int64_t masked_wrong = 0;
    const auto plus_zero = [](double g) { return g == 0.0 && !std::signbit(g); };
    for (int64_t i = 0; i < c.n; ++i)
        for (int64_t j = 0; j < c.v; ++j) {
            if (decode(in.logits, c.dtype, (size_t)(i * a.ld + j)) != -INFINITY) continue;
            const size_t idx = (size_t)(i * a.ld_dlogits + j);
            masked_wrong += !plus_zero(decode(cpu.dlogits, a.dlogits_dtype, idx)) ||
                            !plus_zero(decode(gpu.dlogits, a.dlogits_dtype, idx));
        }
    CHECK(masked_wrong == 0, "%lld masked columns with a gradient other than +0", (long long)masked_wrong);
}

std::vector<Case> cases() {
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
    // No clamp, so no barrier between the first pass and the in-place writes (the target's logit must be read
    // before them).
    add({"bf16 p = 0 in place", 30, 500, 0, 0, PL_BF16, -1, true, false, false, false, true, 0, 0, 0, zero_p});
    add({"f32 per-row temperature", 50, 700, 0, 0, PL_F32, -1, false, false, true, false, true, 0, 0, 0, base});
    add({"f32 everything, KL", 300, 50, 0, 0, PL_F32, -1, false, false, false, true, true, 0, 0, 0, all});
    // r kl (kl_bias_correction), its gradient through r as well, of verl's k3+ (k2's gradient)
    pl_loss_params weighted_kl = all;
    weighted_kl.kl_bias_correction = 1;
    weighted_kl.kl_estimator = PL_KL_K3_PLUS;
    add({"f32 everything, k3+ weighted by the ratio", 300, 50, 0, 0, PL_F32, -1, false, false, false, true, true, 0, 0,
         0, weighted_kl});
    // verl's abs, |logp - ref_logp|, weighted too: both signs, and r's product rule
    pl_loss_params weighted_abs = weighted_kl;
    weighted_abs.kl_estimator = PL_KL_ABS;
    add({"f32 everything, abs weighted by the ratio", 300, 50, 0, 0, PL_F32, -1, false, false, false, true, true, 0, 0,
         0, weighted_abs});
    add({"f32 softcap, scale, temperature", 40, 1000, 0, 0, PL_F32, -1, false, false, false, false, true, 0.1, 0, 0, cap});
    // The softcap without the clamp (Gemma 2's entropy calls): the CUDA instance with the softcap's code alone, in
    // 16-byte packs (an fp32 gradient) and in scalars (a stride of odd length), in place, with masked logits.
    pl_loss_params cap_only = cap;
    cap_only.clamp_p = 0.0f;
    add({"bf16 softcap without the clamp", 20, 1000, 0, 0, PL_BF16, PL_F32, false, false, false, false, true, 0, 0, 0,
         cap_only});
    add({"f16 softcap without the clamp, in place", 20, 999, 1001, 0, PL_F16, -1, true, false, true, false, true, 0.2,
         0, 0, cap_only});
    add({"bf16 zero weights in place", 100, 300, 0, 0, PL_BF16, -1, true, false, false, false, true, 0, 0.3, 0, base});
    add({"f32 no gradient", 30, 1000, 0, 0, PL_F32, -1, false, false, false, false, false, 0, 0, 0, base});
    add({"bf16 V=151936 everything, in place", 3, 151936, 0, 0, PL_BF16, -1, true, false, true, true, true, 0.05, 0.2, 0, all});
    // TOKEN_FRACTION's sampled band (both kernels, bf16 / fp16 rows of 16,384 logits or more): taken with ties at
    // the threshold, at 0 of both signs (one key) and near the bottom of the row; missed; none for mostly masked rows
    // and a threshold near the top.  Four rows of 20,000 logits each, but for the in-place miss.
    const auto long_rows = [](const char *name, int dtype, const pl_loss_params &params) {
        return Case{name, 4, 20000, 0, 0, dtype, -1, false, false, false, false, true, 0, 0, 0, params};
    };
    pl_loss_params near_top = base_params(), near_bottom = base_params(), clamped_only = base_params(),
                   median = base_params();
    near_top.clamp_p = 0.999f;
    median.clamp_p = 0.5f;
    near_bottom.clamp_p = 0.02f;
    // A gradient dominated by the clamped entropy's terms, so that one tie group's wrong membership of S shows.
    clamped_only.entropy_coef = 0.0f;
    clamped_only.clamped_entropy_coef = 1000.0f;
    Case c = long_rows("bf16 band: ties at the threshold", PL_BF16, clamped_only);
    c.ddtype = PL_F32;
    c.ties = 5;
    add(c);
    add(long_rows("bf16 band: near the bottom", PL_BF16, near_bottom));
    // A fifth of the tokens at the threshold, the top bf16 value of its first-level bin [1.75, 2): the band's own
    // top value, which the band, not the tokens above it, must count.
    c = long_rows("bf16 band: ties at its top value", PL_BF16, base);
    c.values = {4.0f, 3.0f, 2.5f, 1.9921875f, -1.0f};
    add(c);
    c = long_rows("bf16 band: confident targets", PL_BF16, base);
    c.target_logit = 12.0f;
    add(c);
    c = long_rows("bf16 band: missed", PL_BF16, base);
    c.sampled = {8.0f};
    add(c);
    c = {"f16 band: missed, in place", 3, 30016, 0, 0, PL_F16, -1, true, false, false, false, true, 0, 0, 0, base};
    c.sampled = {8.0f};
    add(c);
    // The band's edges at the threshold: a sample all at 1, the rest at 3 or -1, so that the band (1's first-level
    // bin on CUDA, 1 alone on the CPU; fp32's, CUDA's only, 1's 22-bit prefix) holds the sample alone.  With k tokens
    // at 3 the threshold is 3, just above the band, which missed; with k - 2048 at 3 it is 1, the band's lowest value,
    // which holds it.
    const int64_t k = 20000 - (int64_t)std::floor((double)base.clamp_p * 20000.0);  // SPEC section 2's k
    for (const auto &[dtype, prefix] : {std::pair{PL_BF16, "bf16"}, std::pair{PL_F32, "f32"}})
        for (const auto &[name, above] : {std::pair{" band: k tokens above it", k},
                                          std::pair{" band: k tokens from its lowest value up", k - 2048}}) {
            c = long_rows((prefix + std::string(name)).c_str(), dtype, base);
            c.sampled = {1.0f};
            c.unsampled = {{3.0f, above}, {-1.0f, 20000 - 2048 - above}};
            add(c);
        }
    c = long_rows("bf16 band: ties at 0 of both signs", PL_BF16, median);  // -1, -0, 0, 1: the threshold 0
    c.ties = 3;
    add(c);
    c = long_rows("bf16 no band: mostly masked", PL_BF16, base);
    c.masked = 0.8;
    add(c);
    add(long_rows("f16 no band: near the top", PL_F16, near_top));
    // fp32's band (CUDA's, of 22-bit prefixes; the CPU kernel samples none for fp32), missed under a sample far
    // above the rows.
    c = long_rows("f32 band: missed", PL_F32, base);
    c.sampled = {8.0f};
    add(c);
    // A band of two values 512 prefixes apart, 1.0625 and 1 (the sample 1,366 : 682, its ranks r -+ w on either side),
    // 10,000 tokens above it at 3: the k-th largest token is 1.0625's last, or 1's first, so that one token more or
    // less to keep moves the threshold to the other value, and S by a thousand tokens or more.
    for (const auto &[name, at_top] : {std::pair{"f32 band: the k-th token its top value's last", k - 10000 - 1366},
                                       std::pair{"f32 band: the k-th token its lower value's first",
                                                 k - 10000 - 1366 - 1}}) {
        c = long_rows(name, PL_F32, base);
        c.sampled = {1.0625f, 1.0625f, 1.0f};
        c.unsampled = {{3.0f, 10000}, {1.0625f, at_top}, {1.0f, 1000}, {-1.0f, 20000 - 2048 - 10000 - at_top - 1000}};
        add(c);
    }
    // f32 logits a few ulps apart, around 1, between far ones: the threshold's candidates share the top 22 bits of
    // their keys and differ in the lowest 10, so a select that skips the digits they share must still take the last
    // one (the CPU kernel's band by count; its radix select by mass).
    std::vector<float> ulps_apart = {6.0f, 4.5f, -2.0f, -7.0f};
    for (int k = 0; k < 600; ++k) ulps_apart.push_back(1.0f + (float)k * 0x1p-23f);
    c = long_rows("f32: candidates apart in their lowest bits", PL_F32, base);
    c.values = ulps_apart;
    add(c);
    c = {"f32: candidates apart in their lowest bits, mass", 20, 3000, 0, 0, PL_F32, -1, false, false, false, false,
         true, 0, 0, 0, mass};
    c.values = ulps_apart;
    add(c);
    // PROBABILITY_MASS's band (the CPU kernel's; the CUDA kernel's radix select checks it here): long rows whose
    // mass sits on a few tokens, so that the candidates within ln(V / p) + 2 of the maximum are few.  The threshold
    // in a tie group of 7s under 9s, over a bulk at -8 that the band leaves out, and -inf masks; and a nucleus
    // spread over 100 values in [5, 10) over a bulk at -10.
    pl_loss_params mass_ties = clamped_only;
    mass_ties.clamp_mode = PL_CLAMP_PROBABILITY_MASS;
    mass_ties.clamp_p = 0.1f;
    std::vector<float> peaked = {9.0f, 7.0f};
    peaked.resize(100, -8.0f);
    c = long_rows("bf16 mass band: the threshold in a tie group", PL_BF16, mass_ties);
    c.values = peaked;
    c.masked = 0.2;
    add(c);
    std::vector<float> spread(2000, -10.0f);
    for (int k = 0; k < 100; ++k) spread[k] = 5.0f + 0.05f * (float)k;
    c = long_rows("f32 mass band: a spread nucleus", PL_F32, mass);
    c.values = spread;
    add(c);
    // PROBABILITY_MASS's sampled band (the CPU kernel's, once its mass band gives up on rows whose tokens all lie
    // within ln(V / p) + 2 of the maximum): taken with the threshold in a tie group; missed from above, by 10 tokens
    // at 12 and 11 off the sampled columns that hold 98% of the mass while the sample is all 0 (two values: S of
    // equal logits would have a clamped-entropy gradient of 0 up to rounding); and from below, by the 80% to cover
    // lying in the tokens at 0.5 under a sample all at 1.  With 1500 tokens at 3 over that sample, the
    // threshold is 1, which is all the band holds.
    pl_loss_params mass_clamped = clamped_only;
    mass_clamped.clamp_mode = PL_CLAMP_PROBABILITY_MASS;
    mass_clamped.clamp_p = 0.2f;
    c = long_rows("bf16 sampled mass band: ties at the threshold", PL_BF16, mass_clamped);
    c.ties = 7;
    add(c);
    c = long_rows("bf16 sampled mass band: missed, the mass above it", PL_BF16, mass_clamped);
    c.sampled = {0.0f};
    c.unsampled = {{12.0f, 5}, {11.0f, 5}, {0.0f, 20000 - 2048 - 10}};
    add(c);
    c = long_rows("bf16 sampled mass band: missed, the mass below it", PL_BF16, mass_clamped);
    c.sampled = {1.0f};
    c.unsampled = {{0.5f, 20000 - 2048}};
    add(c);
    c = long_rows("bf16 sampled mass band: the threshold its one value", PL_BF16, mass_clamped);
    c.sampled = {1.0f};
    c.unsampled = {{3.0f, 1500}, {-1.0f, 20000 - 2048 - 1500}};
    add(c);
    // The CUDA kernel's band by mass on normal rows (its hit counted by test_cuda_emulated), as the benchmark's; and
    // with targets at 12, about a quarter of each row's mass, which the mass to cover must count although pass 1
    // sums the target apart.
    c = long_rows("bf16 sampled mass band: confident targets", PL_BF16, mass_clamped);
    c.target_logit = 12.0f;
    add(c);
    add({"bf16 V=151936 probability mass", 3, 151936, 0, 0, PL_BF16, -1, false, false, false, false, true, 0, 0, 0, mass});
    add({"f16 V=32768 probability mass, in place", 3, 32768, 0, 0, PL_F16, -1, true, false, false, false, true, 0, 0, 0, mass});
    // p under the CUDA radix select's kMassCutMinP, where it weighs every finite token, the tokens at -20 included,
    // which a cut would skip (more than 11 nats under the top), and covers 1 - p of their fixed-point total: S is
    // then the tokens at 0 and above, the -20s holding far less than p.  With -inf masks, which it must not weigh.
    // Few values, so that S is no rounding choice: on normal rows p's boundary lies among tokens lighter than 1e-6
    // of the row's mass (mass_boundary_within_rounding).
    pl_loss_params tiny_p = mass;
    tiny_p.clamp_p = 1e-4f;
    c = {"f32 probability mass, p under the cut's", 8, 3000, 0, 0, PL_F32, -1, false, false, false, false, true, 0.1,
         0, 0, tiny_p};
    c.values = {3.0f, 2.0f, 1.0f, 0.0f, -20.0f};
    add(c);
    // A confident model's rows, the commonest in RL on reasoning (most tokens' entropy is near 0): the sampled token
    // holds nearly all the mass, with its logit at 30 over the normal bulk, so that S is the target alone; or about
    // half of it at 13.25, so that S reaches into the bulk, by the share of the mass the target leaves.  The CUDA
    // kernel's sampled band by mass takes the target's weight from its logit, as the sample cannot see it; at 30,
    // 30 bits above the sample's largest, the weights must be taken relative to the target, or its fixed-point
    // weight would pass 2^64.
    for (const auto &[name, target] : {std::pair{"bf16 sampled mass band: the target holding the mass", 30.0f},
                                       std::pair{"bf16 sampled mass band: the target holding half the mass", 13.25f}}) {
        c = long_rows(name, PL_BF16, mass_clamped);
        c.target_logit = target;
        add(c);
    }
    // TOKEN_FRACTION's band across 0, narrowed to the values on the sample's side of it (the CUDA kernel's; the CPU
    // kernel's band holds candidates, not bins of values): normal rows whose threshold lies at about -0.19, p = 0.47,
    // where the sample's rank reaches to about +0.03; and rows built on a sample whose ranks r - w and r + w lie at
    // 0.125 and -1 (p = 0.33: k = 13,400 of 20,000), its estimate, rank r, at -0.125 (1, 0.125, -0.125 and -1 in
    // 12 : 1 : 1 : 6) or at 0.125 (24 : 3 : 1 : 12).  The band spans 16 binades on the estimate's side, up from -1
    // toward 0 or down from 0.125; the other tokens (12,232 at 1 with the sample's) put the threshold on that side,
    // or, for the first sample, at 0.125, on the other, which the band misses.
    pl_loss_params below_median = base_params();
    below_median.clamp_p = 0.47f;
    add(long_rows("bf16 band across 0: normal rows", PL_BF16, below_median));
    add(long_rows("f16 band across 0: normal rows", PL_F16, below_median));
    const auto sample_of = [](int ones, int eighths, int minus_eighths, int minus_ones) {
        std::vector<float> s((size_t)ones, 1.0f);
        s.insert(s.end(), (size_t)eighths, 0.125f);
        s.insert(s.end(), (size_t)minus_eighths, -0.125f);
        s.insert(s.end(), (size_t)minus_ones, -1.0f);
        return s;
    };
    const int64_t others = 20000 - 2048 - 11000;  // the unsampled tokens not at 1
    const struct {
        const char *name;
        std::vector<float> sampled;
        std::vector<std::pair<float, int64_t>> unsampled;
    } across_0[] = {
        {"bf16 band across 0: the threshold on the estimate's side, below 0", sample_of(12, 1, 1, 6),
         {{1.0f, 11000}, {0.125f, 1000}, {-0.125f, 1000}, {-1.0f, others - 2000}}},
        {"bf16 band across 0: the threshold on the estimate's side, above 0", sample_of(24, 3, 1, 12),
         {{1.0f, 11000}, {0.125f, 1100}, {-1.0f, others - 1100}}},
        {"bf16 band across 0: the threshold on the other side", sample_of(12, 1, 1, 6),
         {{1.0f, 11000}, {0.125f, 2000}, {-1.0f, others - 2000}}},
    };
    for (const auto &built : across_0) {
        c = long_rows(built.name, PL_BF16, base);
        c.sampled = built.sampled;
        c.unsampled = built.unsampled;
        add(c);
    }
    // The softcap saturated: every logit 6.6 to 7.6 softcaps up, where tanh lies within 4e-6 of 1, so that the
    // gradient's slope 1 - tanh^2 taken from tanh would be mostly its rounding (Transform::softcapped, dy_dz).
    pl_loss_params saturated = base_params();
    saturated.softcap = 5.0f;
    c = {"bf16 softcap, saturated", 8, 2000, 0, 0, PL_BF16, PL_F32, false, false, false, false, true, 0, 0, 0,
         saturated};
    for (int k = 33; k <= 38; ++k) c.values.push_back((float)k);
    add(c);
    return cs;
}

// Per-row temperatures and ref_logp, so that every per-row input has its check.
Case data_error_case() {
    return Case{"data errors", 12, 500, 0, 0, PL_F32, -1, false, false, true, true, true, 0, 0, 0, base_params()};
}

std::vector<DataErrorCase> data_error_cases() {
    return {
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
        {"zero temperature", [](Inputs &in) { in.tau[3] = 0.0f; }, 3, "temperature", "> 0"},
        {"infinite advantage", [](Inputs &in) { in.adv[6] = -INFINITY; }, 6, "advantage", "infinite"},
        {"NaN ref_logp", [](Inputs &in) { in.ref_logp[8] = NAN; }, 8, "ref_logp", "NaN"},
        {"three bad scalars in a row: SPEC's order names old_logp",
         [](Inputs &in) {
             in.ref_logp[10] = NAN;
             in.adv[10] = INFINITY;
             in.old_logp[10] = NAN;
         },
         10, "old_logp", "NaN"},
        {"a bad weight comes before the other scalars",
         [](Inputs &in) {
             in.old_logp[9] = NAN;
             in.weight[9] = NAN;
         },
         9, "weight", "NaN"},
    };
}

Case nan_padding_case() {
    return Case{"NaN padding", 16, 700, 0, 0, PL_BF16, -1, false, false, false, false, true, 0, 0.5, 0, base_params()};
}

// Past two rounds of a block's double-buffered packs (2 x 16,384 bf16), with a tail of 3 columns past the last pack.
Case far_rows_case() {
    return Case{"far rows", 3, 40003, 0, 0, PL_BF16, -1, false, false, true, false, true, 0.01, 0, 0, base_params()};
}

size_t far_bytes(const Case &c, int dtype, int64_t ld) { return (size_t)((c.n - 1) * ld + c.v) * esize(dtype); }

void use_far_layout(pl_loss_args &a, void *logits, void *dlogits) {
    a.logits = logits;
    a.ld = kFarLd;
    a.dlogits = dlogits;
    a.ld_dlogits = kFarLdGradient;
}

HostReservation::HostReservation(size_t n) : bytes(n) {
    void *p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        std::printf("cannot reserve %zu bytes of address space: %s\n", n, std::strerror(errno));
        p = nullptr;
    }
    ptr = (uint8_t *)p;
}

HostReservation::~HostReservation() {
    if (ptr) munmap(ptr, bytes);
}

Case determinism_case() {
    return Case{"determinism", 64, 32000, 0, 0, PL_BF16, -1, false, false, false, false, true, 0.01, 0.1, 0,
                base_params()};
}

Inputs nan_padding_inputs(const Case &c, unsigned seed) {
    Inputs in = make_inputs(c, seed);
    for (int64_t i = 0; i < c.n; ++i)
        if (in.weight[i] == 0.0f)
            for (int64_t j = 0; j < c.v; ++j) encode(in.logits, c.dtype, (size_t)(i * c.v + j), NAN);
    return in;
}

void check_nan_padding(const Case &c, const Inputs &in, const Outputs &cuda) {
    compare(c, in, run_cpu(c, in), cuda);
    for (int64_t i = 0; i < c.n; ++i)
        if (in.weight[i] == 0.0f)
            CHECK(decode(cuda.dlogits, c.dtype, (size_t)(i * c.v)) == 0.0f && cuda.h[i] == 0.0f, "row %lld",
                  (long long)i);
}

int finish() {
    if (g_mass_boundary_rows)
        std::printf("%lld probability-mass rows made padding: their S is a rounding choice\n",
                    (long long)g_mass_boundary_rows);
    std::printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed ? 1 : 0;
}
