package io.policyloss.loss;

import static io.policyloss.nativeapi.PolicyLossNative.*;

import io.policyloss.nativeapi.PolicyLossNative.pl_data_error;
import io.policyloss.nativeapi.PolicyLossNative.pl_loss_params;
import java.nio.ByteBuffer;
import java.util.Objects;
import java.util.Optional;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.javacpp.ShortPointer;

/**
 * The fused policy loss of SPEC sections 1-5: forward and backward in one native call. Thread-safe: one instance
 * may serve many threads at once, and results do not depend on the number of threads.
 *
 * <pre>{@code
 * FusedLoss loss = new FusedLoss(LossConfig.builder().epsHigh(0.28).clampedEntropyCoef(0.01).clampP(0.2).build());
 * LossResult r = loss.compute(LossBatch.f32(logits, rows, vocab).target(t).oldLogp(o).advantage(a).weight(w));
 * }</pre>
 */
public final class FusedLoss {
    private final LossConfig config;
    /** The params struct's memory: Java's, so a PointerScope open when this is made cannot free it. */
    private final ByteBuffer paramsMemory = CallFrame.memoryFor(pl_loss_params.class);
    private final pl_loss_params params;

    /** All CPU cores. */
    public FusedLoss(LossConfig config) {
        this(config, 0);
    }

    /** numThreads: CPU threads per call, 0 = all cores. */
    public FusedLoss(LossConfig config, int numThreads) {
        this.config = Objects.requireNonNull(config, "config");
        if (numThreads < 0) throw new IllegalArgumentException("numThreads: must be >= 0 (0 = all cores), got " + numThreads);
        params = new pl_loss_params(new Pointer(paramsMemory));
        pl_loss_params_init(params);
        params.eps_low((float) config.epsLow())
                .eps_high((float) config.epsHigh())
                .dual_clip_c((float) config.dualClipC())
                .kl_coef((float) config.klCoef())
                .kl_estimator(config.klEstimator().code())
                .entropy_coef((float) config.entropyCoef())
                .clamped_entropy_coef((float) config.clampedEntropyCoef())
                .clamp_p((float) config.clampP())
                .clamp_mode(config.clampMode() == ClampMode.TOKEN_FRACTION ? PL_CLAMP_TOKEN_FRACTION
                        : PL_CLAMP_PROBABILITY_MASS)
                .entropy_adv_beta((float) config.entropyAdvBeta())
                .entropy_adv_kappa((float) config.entropyAdvKappa())
                .grad_scale((float) config.gradScale())
                .logit_scale((float) config.logitScale())
                .softcap((float) config.softcap())
                .temperature((float) config.temperature())
                .num_threads(numThreads)
                .kl_bias_correction(config.klBiasCorrection() ? 1 : 0);
    }

    public LossConfig config() {
        return config;
    }

    /**
     * Computes on native buffers; outputs land in the buffers given. Returns the metric sums. Device buffers
     * ({@link LossBuffers#device}) run the CUDA kernel on the buffers' stream and wait for it, so data errors are
     * thrown here as on the host; {@link #launch} is the asynchronous form.
     */
    public LossMetrics compute(LossBuffers b) {
        Objects.requireNonNull(b, "buffers");
        b.checkLengths();
        CallFrame frame = CallFrame.current();
        int status = pl_fused_loss(params, frame.args(b, frame.hostMetrics(), 0));
        if (status != PL_OK) throw lastError(status);
        return LossMetrics.fromSums(frame.metricSums());
    }

    /**
     * Queues the CUDA kernel on device buffers and returns without waiting. {@code deviceMetrics} (PL_METRICS_LEN
     * doubles, may be null) and {@code deviceDataError} (one pl_data_error record) are device memory the kernel
     * fills; copy the record to the host once the stream is done and pass it to {@link #checkDataError}.
     */
    public void launch(LossBuffers b, DoublePointer deviceMetrics, pl_data_error deviceDataError) {
        Objects.requireNonNull(b, "buffers");
        Objects.requireNonNull(deviceDataError, "deviceDataError");
        if (b.device < 0) throw new IllegalArgumentException("buffers: launch needs device buffers (device >= 0)");
        b.checkLengths();
        int status = pl_fused_loss(params,
                CallFrame.current().args(b, CallFrame.address(deviceMetrics), CallFrame.address(deviceDataError)));
        if (status != PL_OK) throw lastError(status);
    }

    /** Throws the data error a finished {@link #launch} recorded (a host copy of its record), as compute would have. */
    public static void checkDataError(pl_data_error hostRecord, long vocab) {
        int status = pl_data_error_status(Objects.requireNonNull(hostRecord, "hostRecord"), vocab);
        if (status != PL_OK) throw lastError(status);
    }

    /** Computes on Java arrays (copied to native memory and back). */
    public LossResult compute(LossBatch batch) {
        Objects.requireNonNull(batch, "batch");
        int n = batch.rows;
        try (PointerScope scope = new PointerScope()) {
            Pointer logits = batch.logitsF32 != null ? new FloatPointer(batch.logitsF32) : new ShortPointer(batch.logits16);
            LossBuffers b = LossBuffers.of(n, batch.vocab).logits(logits, batch.dtype).logitsStride(batch.stride);
            if (batch.target32 != null) b.target(new IntPointer(batch.target32));
            else if (batch.target64 != null) b.target(new LongPointer(batch.target64));
            b.oldLogp(floats(batch.oldLogp)).refLogp(floats(batch.refLogp)).advantage(floats(batch.advantage))
                    .weight(floats(batch.weight)).temperature(floats(batch.temperature));
            FloatPointer logp = new FloatPointer(n), h = new FloatPointer(n), hc = new FloatPointer(n),
                    r = new FloatPointer(n), l = new FloatPointer(n), kl = new FloatPointer(n);
            BytePointer flags = new BytePointer(n);
            b.outLogp(logp).outEntropy(h).outClampedEntropy(hc).outRatio(r).outLoss(l).outKl(kl).outFlags(flags);
            long elems = n == 0 ? 0 : (long) (n - 1) * batch.stride + batch.vocab;
            Pointer dlogits = null;
            if (batch.inPlace) {
                b.dlogitsInPlace();
                dlogits = logits;
            } else if (batch.gradient) {
                dlogits = batch.gradientDtype == Dtype.F32 ? new FloatPointer(elems) : new ShortPointer(elems);
                b.dlogits(dlogits, batch.gradientDtype);
            }
            LossMetrics metrics = compute(b);

            float[] dF32 = null;
            short[] d16 = null;
            if (dlogits != null) {
                // Untouched padding between rows keeps the caller's values (in place) or zeros.
                if (batch.gradientDtype == Dtype.F32) {
                    dF32 = batch.inPlace ? batch.logitsF32 : new float[(int) elems];
                    ((FloatPointer) dlogits).get(dF32, 0, (int) elems);
                } else {
                    d16 = batch.inPlace ? batch.logits16 : new short[(int) elems];
                    ((ShortPointer) dlogits).get(d16, 0, (int) elems);
                }
            }
            return new LossResult(metrics, get(logp, n), get(h, n), get(hc, n), get(r, n), get(l, n), get(kl, n),
                    getBytes(flags, n), batch.gradientDtype, dF32, d16);
        }
    }

    /** What the native library was built with, e.g. "policyloss 0.1.0; abi 1; backends: cpu (avx2+fma)". */
    public static String buildInfo() {
        return pl_build_info().getString();
    }

    /** Visible CUDA devices (0 without a driver, a device, or the CUDA backend). */
    public static int cudaDeviceCount() {
        return pl_cuda_device_count();
    }

    /**
     * Why {@link #cudaDeviceCount()} is 0, in words to show a user (no CUDA backend in this build, no NVIDIA driver,
     * a driver older than the CUDA runtime the library was built with, or CUDA's own message); empty when a device
     * is visible.
     */
    public static Optional<String> cudaUnavailableReason() {
        return nonEmpty(pl_cuda_unavailable_reason().getString());
    }

    /**
     * Why a call cannot run on CUDA device {@code device}: the message its {@link PolicyLossException} would carry
     * there (no device can be used, the device is not one of the visible ones, or this build has no kernels for
     * its compute capability, as on a T4 or V100 next to the default build); empty where it can. Asked before a
     * call, it lets a caller choose another backend instead of catching the failure.
     */
    public static Optional<String> cudaDeviceUnusableReason(int device) {
        return nonEmpty(pl_cuda_device_unusable_reason(device).getString());
    }

    private static Optional<String> nonEmpty(String reason) {
        return reason.isEmpty() ? Optional.empty() : Optional.of(reason);
    }

    /**
     * The device scratch of calls on {@code device} (32 bytes a row, from a pool the library keeps per device):
     * what the pool holds now, and the most its calls held at once since the device's first call or the last
     * reset. {@code resetPeak} then restarts the peak from what is held now. Throws naming "device" for a host
     * device (-1) or one that is not visible.
     */
    public static DeviceScratch deviceScratch(int device, boolean resetPeak) {
        try (LongPointer reserved = new LongPointer(1); LongPointer peak = new LongPointer(1)) {
            int status = pl_device_scratch(device, resetPeak ? 1 : 0, reserved, peak);
            if (status != PL_OK) throw lastError(status);
            return new DeviceScratch(reserved.get(), peak.get());
        }
    }

    private static PolicyLossException lastError(int status) {
        PolicyLossException.Status[] all = PolicyLossException.Status.values();
        PolicyLossException.Status s = status >= 0 && status < all.length ? all[status] : PolicyLossException.Status.INTERNAL;
        return new PolicyLossException(s, pl_last_error_argument().getString(), pl_last_error_row(),
                pl_last_error().getString());
    }

    private static FloatPointer floats(float[] a) {
        return a == null ? null : new FloatPointer(a);
    }

    private static float[] get(FloatPointer p, int n) {
        float[] out = new float[n];
        p.get(out);
        return out;
    }

    private static byte[] getBytes(BytePointer p, int n) {
        byte[] out = new byte[n];
        p.get(out);
        return out;
    }
}
