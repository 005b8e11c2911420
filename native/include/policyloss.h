/*
 * policyloss.h -- the public C ABI of the fused entropy-controlled policy loss.
 *
 * One call, pl_fused_loss(), computes forward and backward of SPEC.md sections 1-5 over N rows of logits:
 * temperature-scaled log-softmax, token entropy H, clamped entropy Hc (AEnt), the clipped importance-ratio loss
 * with separate clip-low / clip-high, dual clip, KL to a reference (k1/k2/k3, optionally weighted by the ratio),
 * Entropy-Adv shaping, per-row outputs, batch metric sums and dlogits.  The same ABI serves Java (JavaCPP), the C++
 * tests and Python (ctypes).
 *
 * Conventions
 *  - Every struct starts with `size` = sizeof(struct) as the caller compiled it; fields are only ever appended, so a
 *    caller built against an older header keeps working.  Use pl_loss_params_init / pl_loss_args_init.
 *  - Every call returns a pl_status.  On failure, pl_last_error() (thread-local) holds a message that names the
 *    offending argument and, for data errors, the first bad row; pl_last_error_argument() / pl_last_error_row()
 *    return the same two facts separately.
 *  - Nothing is half-written on error: every argument and every row with weight != 0 is checked before the first
 *    output byte is written, so on a non-OK status all outputs (dlogits, in-place logits included) are untouched.
 *    Device calls check the arguments the same way, but the data (SPEC section 8: NaN logits, a bad target, ...)
 *    is only seen by the kernel as it streams the logits: a data error there leaves every output of the call
 *    invalid (rows already written stay written; in place, the logits too), and is reported as described at
 *    pl_data_error.
 *  - Rows with weight 0 are never read (padding may hold any target, e.g. -100, and any logits); their dlogits
 *    are written as 0, their per-row outputs as 0 and their flags as 0, and they count in no metric.
 *  - Thread safety: pl_fused_loss may be called from many threads at once; results do not depend on the number of
 *    threads, and two identical calls give bitwise identical results (fixed reduction order, no atomics in results).
 */
#ifndef POLICYLOSS_H
#define POLICYLOSS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define PL_API __declspec(dllexport)
#else
#define PL_API __attribute__((visibility("default")))
#endif

/* Bumped when a field is appended to a struct, a call is added, or a value is added to an enum. */
#define PL_ABI_VERSION 7

typedef enum pl_status {
    PL_OK = 0,
    PL_ERR_INVALID_ARGUMENT = 1, /* a parameter or pointer is wrong (names the argument) */
    PL_ERR_INVALID_DATA = 2,     /* a row's data is wrong (names the argument and the first bad row) */
    PL_ERR_UNSUPPORTED = 3,      /* dtype, feature or CUDA device not supported by this build */
    PL_ERR_NO_DEVICE = 4,        /* device buffers given, but no CUDA device or no CUDA in this build */
    PL_ERR_CUDA = 5,             /* a CUDA runtime error; the message carries CUDA's text */
    PL_ERR_INTERNAL = 6          /* out of memory or a bug */
} pl_status;

typedef enum pl_dtype {
    PL_F32 = 0,
    PL_BF16 = 1,
    PL_F16 = 2,
    PL_I32 = 3, /* targets only */
    PL_I64 = 4  /* targets only */
} pl_dtype;

typedef enum pl_clamp_mode {
    /* Keep the k = max(1, Vf - floor(p Vf)) largest finite logits (Vf = finite count); ties at the k-th all kept. */
    PL_CLAMP_TOKEN_FRACTION = 0,
    /* Keep the smallest set of most probable tokens whose probability sums to >= 1 - p; ties at the boundary kept. */
    PL_CLAMP_PROBABILITY_MASS = 1
} pl_clamp_mode;

typedef enum pl_kl_estimator {
    PL_KL_K1 = 1, /* logp - ref_logp */
    PL_KL_K2 = 2, /* (ref_logp - logp)^2 / 2 */
    PL_KL_K3 = 3, /* clamp(exp(delta) - delta - 1, -10, 10), delta = ref_logp - logp */
    /* ABI 6: verl's "k1+" and "k3+", a straight-through estimator: k1's or k3's value, and k2's gradient with respect
     * to logp, logp - ref_logp (not 0 where k3 is clamped), the gradient of the KL itself in expectation. */
    PL_KL_K1_PLUS = 4,
    PL_KL_K3_PLUS = 5,
    /* ABI 7: verl's "abs", |logp - ref_logp|, whose gradient with respect to logp is its sign (0 where equal, as
     * torch's abs). */
    PL_KL_ABS = 6
} pl_kl_estimator;

/* The loss hyper-parameters (SPEC section 1).  Defaults from pl_loss_params_init are in brackets. */
typedef struct pl_loss_params {
    uint32_t size;                /* sizeof(pl_loss_params) */
    float eps_low;                /* >= 0 [0.2] */
    float eps_high;               /* >= 0, may be +INFINITY = no clip-high [0.2] */
    float dual_clip_c;            /* > 1 enables the dual clip; 0 disables it [0] */
    float kl_coef;                /* beta [0]; ref_logp is needed when != 0 */
    int32_t kl_estimator;         /* pl_kl_estimator [PL_KL_K3] */
    float entropy_coef;           /* lambda_H [0] */
    float clamped_entropy_coef;   /* lambda_C [0] */
    float clamp_p;                /* in [0, 1) [0]; p = 0 makes Hc = H without any selection */
    int32_t clamp_mode;           /* pl_clamp_mode [PL_CLAMP_TOKEN_FRACTION] */
    float entropy_adv_beta;       /* >= 0; 0 = Entropy-Adv off [0] */
    float entropy_adv_kappa;      /* > 1 [2] */
    float grad_scale;             /* g, the upstream gradient of L [1] */
    float logit_scale;            /* s > 0 [1] */
    float softcap;                /* c_s > 0 enables u = c_s tanh(u / c_s); 0 disables it [0] */
    float temperature;            /* the temperature of every row when args.temperature is NULL; > 0 [1] */
    int32_t num_threads;          /* CPU threads; 0 = all cores [0] */
    /* Appended in ABI 6.  1: the KL term is r kl, the estimator weighted by the row's ratio r = exp(logp - old_logp)
     * (the unbiased KL estimate of DeepSeek-V3.2, TRL's use_bias_correction_kl), whose gradient with respect to logp
     * is r (kl + dkl/dlogp): through r as well, but not where r is clamped (PL_FLAG_RATIO_CLAMPED).  out_kl and
     * PL_M_KL then hold r kl.  0: the estimator alone [0]. */
    int32_t kl_bias_correction;
} pl_loss_params;

/* Metric sums (SPEC section 5): pl_loss_args.metrics receives PL_METRICS_LEN doubles, overwritten (not added to).
 * Counts and sums over valid rows (weight != 0), not weighted by w, except PL_M_LOSS, which is L = sum w l.
 * Sums of two calls over halves of a batch add up to the sums of one call over the whole batch. */
enum {
    PL_M_LOSS = 0,           /* L = sum_i w_i l_i (not multiplied by grad_scale) */
    PL_M_VALID_ROWS = 1,     /* number of rows with w != 0 */
    PL_M_ENTROPY = 2,        /* sum H */
    PL_M_CLAMPED_ENTROPY = 3,/* sum Hc */
    PL_M_CLIP_LOW = 4,       /* rows with flag bit 0 */
    PL_M_CLIP_HIGH = 5,      /* rows with flag bit 1 */
    PL_M_DUAL_CLIP = 6,      /* rows with flag bit 2 */
    PL_M_RATIO_CLAMPED = 7,  /* rows with flag bit 3 */
    PL_M_RATIO = 8,          /* sum r */
    PL_M_APPROX_KL = 9,      /* sum (old_logp - logp), approx KL to the behaviour policy */
    PL_M_KL = 10,            /* sum kl (the chosen estimator against ref_logp, times r with kl_bias_correction; 0
                                without ref_logp) */
    PL_M_WEIGHT = 11,        /* sum w */
    PL_METRICS_LEN = 12
};

/* Per-row flag bits (pl_loss_args.out_flags). */
enum {
    PL_FLAG_CLIP_LOW = 1,      /* A' < 0 and r < 1 - eps_low */
    PL_FLAG_CLIP_HIGH = 2,     /* A' > 0 and r > 1 + eps_high */
    PL_FLAG_DUAL_CLIP = 4,     /* the dual-clip bound -A' c is the selected branch */
    PL_FLAG_RATIO_CLAMPED = 8  /* logp - old_logp was outside [-20, 20] */
};

/* The data check of a device call (SPEC section 8), written by the kernel.  A device call is synchronous when
 * pl_loss_args.data_error is NULL: it waits for its stream and returns a data error as a host call does (status,
 * message, row).  With data_error set (device memory) the call is asynchronous: it returns once the work is queued,
 * and the kernel fills the record; copy it to the host when convenient and pass it to pl_data_error_status. */
typedef struct pl_data_error {
    int64_t row;      /* the first bad row, or -1 when every row passed */
    int32_t reason;   /* why (an internal code; pl_data_error_status turns it into the message) */
    int32_t reserved;
    int64_t detail;   /* the target value or the logits column that the message names */
} pl_data_error;

/* The buffers of one call.  Row i of the logits starts at element i * ld.  Pointers marked optional may be NULL. */
typedef struct pl_loss_args {
    uint32_t size;            /* sizeof(pl_loss_args) */
    int64_t n_rows;           /* N >= 0 */
    int64_t vocab;            /* 1 <= V < 2^31; < 2^23 for PROBABILITY_MASS on a CUDA device (PL_ERR_UNSUPPORTED) */
    int64_t ld;               /* row stride of logits in elements, >= V */
    int32_t logits_dtype;     /* PL_F32, PL_BF16 or PL_F16 */
    const void *logits;       /* N x ld; -inf marks masked vocabulary entries */
    int32_t target_dtype;     /* PL_I32 or PL_I64 */
    const void *target;       /* N sampled tokens, each in [0, V) on a finite logit */
    const float *old_logp;    /* N, behaviour-policy log-prob of the target at the row's temperature */
    const float *ref_logp;    /* N, optional; required when kl_coef != 0 */
    const float *advantage;   /* N */
    const float *weight;      /* N, aggregation weights; 0 = padding, never read */
    const float *temperature; /* N, optional per-row temperature (> 0); NULL = params.temperature for all rows */

    /* Outputs, all optional. */
    void *dlogits;            /* N x ld_dlogits gradient of grad_scale * L; may equal logits (in place) */
    int32_t dlogits_dtype;    /* PL_F32, or the logits dtype */
    int64_t ld_dlogits;       /* row stride of dlogits, >= V; must equal ld when in place */
    float *out_logp;          /* N: log-prob of the target */
    float *out_entropy;       /* N: H */
    float *out_clamped_entropy; /* N: Hc */
    float *out_ratio;         /* N: r */
    float *out_loss;          /* N: l (unweighted) */
    float *out_kl;            /* N: kl (r kl with kl_bias_correction; 0 without ref_logp) */
    uint8_t *out_flags;       /* N: PL_FLAG_* bits */
    double *metrics;          /* PL_METRICS_LEN metric sums; device memory in asynchronous device calls, host memory
                                 (copied back) or device memory in synchronous ones */

    /* Where the buffers live: -1 = host memory (the CPU kernel); >= 0 = this CUDA device (the CUDA kernel). */
    int32_t device;
    void *stream;             /* cudaStream_t for device calls; NULL = the default stream; ignored on the host */

    /* Appended in ABI 2.  Device calls: NULL = synchronous; device memory = asynchronous, the kernel writes the data
     * check here (see pl_data_error).  Host calls: NULL, or host memory that receives the same record. */
    pl_data_error *data_error;
} pl_loss_args;

/* Fill the structs with their defaults (and their size).  Always call these first.  They are macros over the sized
 * calls below, so that a library newer than the caller's header writes no more than the caller's struct holds (the
 * fields the caller's struct lacks keep their defaults in pl_fused_loss).  The library also exports functions of
 * these two names, for binaries built against ABI 5 or older: they fill the ABI 5 structs. */
#define pl_loss_params_init(params) pl_loss_params_init_sized((params), (uint32_t)sizeof *(params))
#define pl_loss_args_init(args) pl_loss_args_init_sized((args), (uint32_t)sizeof *(args))

/* ABI 6.  Fill the first `size` bytes of the struct (at most the library's own struct) with the defaults, and set
 * its size to that. */
PL_API void pl_loss_params_init_sized(pl_loss_params *params, uint32_t size);
PL_API void pl_loss_args_init_sized(pl_loss_args *args, uint32_t size);

/* Forward and backward of the fused loss.  Host calls return when the results are written; device calls are
 * queued on args->stream and are asynchronous when args->data_error is set (see pl_data_error).  A device call
 * fails with PL_ERR_UNSUPPORTED, naming the device and its compute capability, where this build's kernels do not
 * run on that device (the default build: compute capability 8.0 and newer; pl_build_info lists the targets);
 * pl_cuda_device_unusable_reason says so beforehand. */
PL_API pl_status pl_fused_loss(const pl_loss_params *params, const pl_loss_args *args);

/* The status of a finished asynchronous device call, from a host copy of its data_error record: PL_OK, or
 * PL_ERR_INVALID_DATA with the message, argument and row that a host call would have given.  vocab: the call's V. */
PL_API pl_status pl_data_error_status(const pl_data_error *record, int64_t vocab);

/* The message of this thread's last failed call ("" if none). */
PL_API const char *pl_last_error(void);
/* The argument named by this thread's last failed call ("" if none), e.g. "target". */
PL_API const char *pl_last_error_argument(void);
/* The first bad row of this thread's last data error, or -1. */
PL_API int64_t pl_last_error_row(void);

/* The device scratch of pl_fused_loss on `device`: 32 bytes a row plus the metrics and the data check, taken on
 * the call's stream from a memory pool that policyloss keeps per device and never shrinks (so repeated calls
 * reuse it).  *reserved_bytes: the device memory the pool holds now; *peak_bytes: the most its calls held at once
 * since the device's first call or the last reset.  reset_peak != 0 then restarts the peak from what is held now,
 * so a reset between calls, a call and a read give that call's scratch.  Either pointer may be NULL; zeros before
 * the device's first call.  PL_ERR_INVALID_ARGUMENT for device < 0, PL_ERR_NO_DEVICE without that device.
 * Added in ABI 3. */
PL_API pl_status pl_device_scratch(int32_t device, int32_t reset_peak, uint64_t *reserved_bytes,
                                   uint64_t *peak_bytes);

/* "policyloss <version>; abi <n>; backends: cpu[, cuda (archs)]; cpu isa: <...>" */
PL_API const char *pl_build_info(void);
/* 1 if the CUDA backend was compiled in, else 0. */
PL_API int pl_has_cuda_backend(void);
/* Number of visible CUDA devices; 0 without a driver, without a device, or without CUDA in this build. */
PL_API int pl_cuda_device_count(void);
/* Why pl_cuda_device_count() is 0, in words to show a user: "this build of policyloss has no CUDA backend (built
 * without nvcc)", "no NVIDIA driver is installed (...)", "the NVIDIA driver supports CUDA 12.4, older than the CUDA
 * 13.0 runtime this library was built with; ...", or CUDA's own message.  "" when a device is visible.  Static
 * storage, valid for the life of the library.  Added in ABI 4. */
PL_API const char *pl_cuda_unavailable_reason(void);
/* Why pl_fused_loss cannot run on CUDA device `device`: the message its call there would fail with ("device: CUDA
 * device 0 requested, but none can be used: ...", "device: CUDA device 0 (Tesla T4) has compute capability 7.5,
 * which this build's kernels do not run on: ..."), or "" where it can.  A query: the thread's last error is left
 * as it was.  Thread-local storage, valid until this thread calls it again.  Added in ABI 5. */
PL_API const char *pl_cuda_device_unusable_reason(int32_t device);
PL_API int pl_abi_version(void);

#ifdef __cplusplus
}
#endif

#endif /* POLICYLOSS_H */
