package io.policyloss.nativeapi;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Const;
import org.bytedeco.javacpp.annotation.Name;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * The JavaCPP mapping of {@code native/include/policyloss.h}, one to one (same names, same fields); the header
 * documents every field. Nothing else lives here: the Java API is in {@code io.policyloss.loss}.
 */
@Platform(include = "policyloss.h", link = "policyloss")
public final class PolicyLossNative {
    static {
        Loader.load();
    }

    private PolicyLossNative() {}

    public static final int PL_OK = 0, PL_ERR_INVALID_ARGUMENT = 1, PL_ERR_INVALID_DATA = 2, PL_ERR_UNSUPPORTED = 3,
            PL_ERR_NO_DEVICE = 4, PL_ERR_CUDA = 5, PL_ERR_INTERNAL = 6;
    public static final int PL_F32 = 0, PL_BF16 = 1, PL_F16 = 2, PL_I32 = 3, PL_I64 = 4;
    public static final int PL_CLAMP_TOKEN_FRACTION = 0, PL_CLAMP_PROBABILITY_MASS = 1;
    public static final int PL_KL_K1 = 1, PL_KL_K2 = 2, PL_KL_K3 = 3, PL_KL_K1_PLUS = 4, PL_KL_K3_PLUS = 5,
            PL_KL_ABS = 6;
    public static final int PL_M_LOSS = 0, PL_M_VALID_ROWS = 1, PL_M_ENTROPY = 2, PL_M_CLAMPED_ENTROPY = 3,
            PL_M_CLIP_LOW = 4, PL_M_CLIP_HIGH = 5, PL_M_DUAL_CLIP = 6, PL_M_RATIO_CLAMPED = 7, PL_M_RATIO = 8,
            PL_M_APPROX_KL = 9, PL_M_KL = 10, PL_M_WEIGHT = 11, PL_METRICS_LEN = 12;
    public static final int PL_FLAG_CLIP_LOW = 1, PL_FLAG_CLIP_HIGH = 2, PL_FLAG_DUAL_CLIP = 4,
            PL_FLAG_RATIO_CLAMPED = 8;

    @Name("pl_loss_params")
    public static class pl_loss_params extends Pointer {
        static {
            Loader.load();
        }

        /** A new struct holding the defaults of {@code pl_loss_params_init}. */
        public pl_loss_params() {
            super((Pointer) null);
            allocate();
            pl_loss_params_init(this);
        }

        /** The struct at this address (memory the caller owns, e.g. a direct buffer). */
        public pl_loss_params(Pointer p) {
            super(p);
        }

        private native void allocate();

        public native @Cast("uint32_t") int size();
        public native pl_loss_params size(int v);
        public native float eps_low();
        public native pl_loss_params eps_low(float v);
        public native float eps_high();
        public native pl_loss_params eps_high(float v);
        public native float dual_clip_c();
        public native pl_loss_params dual_clip_c(float v);
        public native float kl_coef();
        public native pl_loss_params kl_coef(float v);
        public native int kl_estimator();
        public native pl_loss_params kl_estimator(int v);
        public native float entropy_coef();
        public native pl_loss_params entropy_coef(float v);
        public native float clamped_entropy_coef();
        public native pl_loss_params clamped_entropy_coef(float v);
        public native float clamp_p();
        public native pl_loss_params clamp_p(float v);
        public native int clamp_mode();
        public native pl_loss_params clamp_mode(int v);
        public native float entropy_adv_beta();
        public native pl_loss_params entropy_adv_beta(float v);
        public native float entropy_adv_kappa();
        public native pl_loss_params entropy_adv_kappa(float v);
        public native float grad_scale();
        public native pl_loss_params grad_scale(float v);
        public native float logit_scale();
        public native pl_loss_params logit_scale(float v);
        public native float softcap();
        public native pl_loss_params softcap(float v);
        public native float temperature();
        public native pl_loss_params temperature(float v);
        public native int num_threads();
        public native pl_loss_params num_threads(int v);
        public native int kl_bias_correction();
        public native pl_loss_params kl_bias_correction(int v);
    }

    @Name("pl_data_error")
    public static class pl_data_error extends Pointer {
        static {
            Loader.load();
        }

        /** A new record in host memory, row -1 (no error). */
        public pl_data_error() {
            super((Pointer) null);
            allocate();
            row(-1);
        }

        /** The record at this address (e.g. pinned host memory a device record was copied to). */
        public pl_data_error(Pointer p) {
            super(p);
        }

        private native void allocate();

        public native @Cast("int64_t") long row();
        public native pl_data_error row(long v);
        public native int reason();
        public native pl_data_error reason(int v);
        public native @Cast("int64_t") long detail();
        public native pl_data_error detail(long v);
    }

    @Name("pl_loss_args")
    public static class pl_loss_args extends Pointer {
        static {
            Loader.load();
        }

        /** A new struct holding the defaults of {@code pl_loss_args_init}. */
        public pl_loss_args() {
            super((Pointer) null);
            allocate();
            pl_loss_args_init(this);
        }

        /** The struct at this address (memory the caller owns, e.g. a direct buffer). */
        public pl_loss_args(Pointer p) {
            super(p);
        }

        private native void allocate();

        public native @Cast("uint32_t") int size();
        public native pl_loss_args size(int v);
        public native @Cast("int64_t") long n_rows();
        public native pl_loss_args n_rows(long v);
        public native @Cast("int64_t") long vocab();
        public native pl_loss_args vocab(long v);
        public native @Cast("int64_t") long ld();
        public native pl_loss_args ld(long v);
        public native int logits_dtype();
        public native pl_loss_args logits_dtype(int v);
        public native @Cast("const void*") Pointer logits();
        public native pl_loss_args logits(@Cast("const void*") Pointer v);
        public native int target_dtype();
        public native pl_loss_args target_dtype(int v);
        public native @Cast("const void*") Pointer target();
        public native pl_loss_args target(@Cast("const void*") Pointer v);
        public native @Cast("const float*") FloatPointer old_logp();
        public native pl_loss_args old_logp(@Cast("const float*") FloatPointer v);
        public native @Cast("const float*") FloatPointer ref_logp();
        public native pl_loss_args ref_logp(@Cast("const float*") FloatPointer v);
        public native @Cast("const float*") FloatPointer advantage();
        public native pl_loss_args advantage(@Cast("const float*") FloatPointer v);
        public native @Cast("const float*") FloatPointer weight();
        public native pl_loss_args weight(@Cast("const float*") FloatPointer v);
        public native @Cast("const float*") FloatPointer temperature();
        public native pl_loss_args temperature(@Cast("const float*") FloatPointer v);
        public native Pointer dlogits();
        public native pl_loss_args dlogits(Pointer v);
        public native int dlogits_dtype();
        public native pl_loss_args dlogits_dtype(int v);
        public native @Cast("int64_t") long ld_dlogits();
        public native pl_loss_args ld_dlogits(long v);
        public native FloatPointer out_logp();
        public native pl_loss_args out_logp(FloatPointer v);
        public native FloatPointer out_entropy();
        public native pl_loss_args out_entropy(FloatPointer v);
        public native FloatPointer out_clamped_entropy();
        public native pl_loss_args out_clamped_entropy(FloatPointer v);
        public native FloatPointer out_ratio();
        public native pl_loss_args out_ratio(FloatPointer v);
        public native FloatPointer out_loss();
        public native pl_loss_args out_loss(FloatPointer v);
        public native FloatPointer out_kl();
        public native pl_loss_args out_kl(FloatPointer v);
        public native @Cast("uint8_t*") BytePointer out_flags();
        public native pl_loss_args out_flags(@Cast("uint8_t*") BytePointer v);
        public native DoublePointer metrics();
        public native pl_loss_args metrics(DoublePointer v);
        public native int device();
        public native pl_loss_args device(int v);
        public native Pointer stream();
        public native pl_loss_args stream(Pointer v);
        public native pl_data_error data_error();
        public native pl_loss_args data_error(pl_data_error v);
    }

    public static native void pl_loss_params_init(pl_loss_params params);
    public static native void pl_loss_args_init(pl_loss_args args);
    public static native @Cast("int") int pl_fused_loss(@Const pl_loss_params params, @Const pl_loss_args args);
    public static native @Cast("int") int pl_data_error_status(@Const pl_data_error record, @Cast("int64_t") long vocab);
    public static native @Cast("const char*") BytePointer pl_last_error();
    public static native @Cast("const char*") BytePointer pl_last_error_argument();
    public static native @Cast("int64_t") long pl_last_error_row();
    public static native @Cast("int") int pl_device_scratch(int device, int reset_peak,
            @Cast("uint64_t*") LongPointer reserved_bytes, @Cast("uint64_t*") LongPointer peak_bytes);
    public static native @Cast("const char*") BytePointer pl_build_info();
    public static native int pl_has_cuda_backend();
    public static native int pl_cuda_device_count();
    public static native @Cast("const char*") BytePointer pl_cuda_unavailable_reason();
    public static native @Cast("const char*") BytePointer pl_cuda_device_unusable_reason(int device);
    public static native int pl_abi_version();
}
