package io.policyloss.loss;

import static io.policyloss.nativeapi.PolicyLossNative.PL_I32;
import static io.policyloss.nativeapi.PolicyLossNative.PL_I64;
import static io.policyloss.nativeapi.PolicyLossNative.PL_METRICS_LEN;
import static io.policyloss.nativeapi.PolicyLossNative.pl_loss_args_init;

import io.policyloss.nativeapi.PolicyLossNative;
import io.policyloss.nativeapi.PolicyLossNative.pl_loss_args;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.Pointer;

/**
 * One thread's argument block for {@code pl_fused_loss}, reused by every call the thread makes: the
 * {@code pl_loss_args} struct and a host buffer for the metric sums, in direct buffers that Java owns, the struct
 * written through a ByteBuffer at the offsets JavaCPP reports.
 *
 * <p>Why not a JavaCPP struct per call with its setters: allocating one costs about 2.5 us (the registration of its
 * deallocator), and each setter is a JNI call; the call through {@link FusedLoss} took 6 us that way, three times
 * the budget of an asynchronous device launch (benchmarks/RESULTS.md). Memory that direct buffers own also belongs
 * to no {@code PointerScope}, so a scope the caller has open cannot free it.
 */
final class CallFrame {
    static {
        Loader.load(PolicyLossNative.class);  // first: loading the library registers the offsets read below
    }

    private static final ThreadLocal<CallFrame> FRAMES = ThreadLocal.withInitial(CallFrame::new);

    // Where each field of pl_loss_args lies (policyloss.h documents them).
    private static final int N_ROWS = offset("n_rows"), VOCAB = offset("vocab"), LD = offset("ld"),
            LOGITS_DTYPE = offset("logits_dtype"), LOGITS = offset("logits"), TARGET_DTYPE = offset("target_dtype"),
            TARGET = offset("target"), OLD_LOGP = offset("old_logp"), REF_LOGP = offset("ref_logp"),
            ADVANTAGE = offset("advantage"), WEIGHT = offset("weight"), TEMPERATURE = offset("temperature"),
            DLOGITS = offset("dlogits"), DLOGITS_DTYPE = offset("dlogits_dtype"), LD_DLOGITS = offset("ld_dlogits"),
            OUT_LOGP = offset("out_logp"), OUT_ENTROPY = offset("out_entropy"),
            OUT_CLAMPED_ENTROPY = offset("out_clamped_entropy"), OUT_RATIO = offset("out_ratio"),
            OUT_LOSS = offset("out_loss"), OUT_KL = offset("out_kl"), OUT_FLAGS = offset("out_flags"),
            METRICS = offset("metrics"), DEVICE = offset("device"), STREAM = offset("stream"),
            DATA_ERROR = offset("data_error");

    private final ByteBuffer argsMemory = memoryFor(pl_loss_args.class);
    private final ByteBuffer metricsMemory = direct(8 * PL_METRICS_LEN);
    /** The struct, holding pl_loss_args_init's defaults until the first {@link #args}. */
    private final pl_loss_args args = new pl_loss_args(new Pointer(argsMemory));
    private final long metricsAddress = new Pointer(metricsMemory).address();

    private CallFrame() {
        pl_loss_args_init(args);
    }

    /** The calling thread's frame. */
    static CallFrame current() {
        return FRAMES.get();
    }

    /**
     * The struct for a call on {@code b}, every field written (nothing of an earlier call is left). {@code metrics}
     * and {@code dataError} are addresses, 0 for none; {@link #hostMetrics} is this frame's own buffer.
     */
    pl_loss_args args(LossBuffers b, long metrics, long dataError) {
        ByteBuffer m = argsMemory;
        m.putLong(N_ROWS, b.rows).putLong(VOCAB, b.vocab).putLong(LD, b.logitsStride);
        m.putInt(LOGITS_DTYPE, b.logitsDtype.code()).putLong(LOGITS, address(b.logits));
        m.putInt(TARGET_DTYPE, b.target64 ? PL_I64 : PL_I32).putLong(TARGET, address(b.target));
        m.putLong(OLD_LOGP, address(b.oldLogp)).putLong(REF_LOGP, address(b.refLogp));
        m.putLong(ADVANTAGE, address(b.advantage)).putLong(WEIGHT, address(b.weight));
        m.putLong(TEMPERATURE, address(b.temperature));
        m.putLong(DLOGITS, address(b.dlogits)).putInt(DLOGITS_DTYPE, b.dlogitsDtype.code());
        m.putLong(LD_DLOGITS, b.dlogitsStride);
        m.putLong(OUT_LOGP, address(b.outLogp)).putLong(OUT_ENTROPY, address(b.outEntropy));
        m.putLong(OUT_CLAMPED_ENTROPY, address(b.outClampedEntropy)).putLong(OUT_RATIO, address(b.outRatio));
        m.putLong(OUT_LOSS, address(b.outLoss)).putLong(OUT_KL, address(b.outKl));
        m.putLong(OUT_FLAGS, address(b.outFlags));
        m.putLong(METRICS, metrics).putInt(DEVICE, b.device).putLong(STREAM, address(b.stream));
        m.putLong(DATA_ERROR, dataError);
        return args;
    }

    /** The address of this frame's host buffer of PL_METRICS_LEN doubles. */
    long hostMetrics() {
        return metricsAddress;
    }

    /** The sums a synchronous call wrote to {@link #hostMetrics}. */
    double[] metricSums() {
        double[] sums = new double[PL_METRICS_LEN];
        for (int k = 0; k < sums.length; ++k) sums[k] = metricsMemory.getDouble(8 * k);
        return sums;
    }

    /**
     * Where element {@code position()} of {@code p} lies; 0 for null. JavaCPP's own setters add a
     * {@code void*} field's position in bytes whatever the element size, so a positioned ShortPointer given as
     * logits would land between elements; this is the element's address, as the capacity checks assume.
     */
    static long address(Pointer p) {
        return p == null ? 0 : p.address() + p.position() * p.sizeof();
    }

    /** Zeroed memory for one {@code struct}, which Java owns (freed with the buffer), 8-byte aligned. */
    static ByteBuffer memoryFor(Class<? extends Pointer> struct) {
        return direct(Loader.sizeof(struct));
    }

    private static ByteBuffer direct(long bytes) {
        return ByteBuffer.allocateDirect(Math.toIntExact(bytes) + 8).alignedSlice(8).order(ByteOrder.nativeOrder());
    }

    private static int offset(String field) {
        return Loader.offsetof(pl_loss_args.class, field);
    }
}
