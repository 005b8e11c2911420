package io.policyloss.loss;

import java.util.function.Supplier;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.javacpp.ShortPointer;

/**
 * A kernel as a {@link LossBackend}, called on {@link LossBuffers} in memory of one kind: host memory for the CPU
 * kernel, device 0's for the CUDA kernel. The batch is copied in, the synchronous call runs (so data errors throw),
 * and every output is copied back into a {@link LossResult} laid out as {@link FusedLoss#compute(LossBatch)} lays it
 * out. Every output starts poisoned (see {@link #upload}), which the array call's fresh buffers would not be.
 */
public final class BuffersBackend implements LossBackend {
    public static final BuffersBackend CPU = new BuffersBackend("cpu", HostMemory::new, () -> null);
    public static final BuffersBackend CUDA = new BuffersBackend("cuda", CudaMemory::new,
            () -> FusedLoss.cudaDeviceUnusableReason(0).map(reason -> reason + " (" + FusedLoss.buildInfo() + ")")
                    .orElse(null));

    private final String name;
    private final Supplier<CallMemory> memory;
    private final Supplier<String> unavailableReason;

    private BuffersBackend(String name, Supplier<CallMemory> memory, Supplier<String> unavailableReason) {
        this.name = name;
        this.memory = memory;
        this.unavailableReason = unavailableReason;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String unavailableReason() {
        return unavailableReason.get();
    }

    @Override
    public LossResult run(LossConfig config, LossBatch batch) {
        int n = batch.rows;
        try (PointerScope scope = new PointerScope(); CallMemory mem = memory.get()) {
            LossBuffers b = upload(mem, batch);
            LossMetrics metrics = new FusedLoss(config).compute(b);
            FloatPointer[] outs = {b.outLogp, b.outEntropy, b.outClampedEntropy, b.outRatio, b.outLoss, b.outKl};
            float[][] rowOut = new float[outs.length][n];
            for (int k = 0; k < outs.length; ++k) {
                FloatPointer host = new FloatPointer(Math.max(n, 1));
                mem.toHost(host, outs[k], 4L * n);
                host.get(rowOut[k], 0, n);
            }
            byte[] flags = new byte[n];
            BytePointer hostFlags = new BytePointer(Math.max(n, 1));
            mem.toHost(hostFlags, b.outFlags, n);
            hostFlags.get(flags, 0, n);
            float[] dF32 = null;
            short[] d16 = null;
            if (b.dlogits != null) {
                long elems = elements(batch), bytes = elems * batch.gradientDtype.bytes();
                if (batch.gradientDtype == Dtype.F32) {
                    FloatPointer host = new FloatPointer(Math.max(elems, 1));
                    mem.toHost(host, b.dlogits, bytes);
                    dF32 = batch.inPlace ? batch.logitsF32 : new float[(int) elems];
                    host.get(dF32, 0, (int) elems);
                } else {
                    ShortPointer host = new ShortPointer(Math.max(elems, 1));
                    mem.toHost(host, b.dlogits, bytes);
                    d16 = batch.inPlace ? batch.logits16 : new short[(int) elems];
                    host.get(d16, 0, (int) elems);
                }
            }
            return new LossResult(metrics, rowOut[0], rowOut[1], rowOut[2], rowOut[3], rowOut[4], rowOut[5], flags,
                    batch.gradientDtype, dF32, d16);
        }
    }

    /**
     * Buffers in {@code mem} holding the batch, with every per-row output and the gradient the batch asks for
     * (unless in place, over the logits) filled with 0xff bytes, a NaN in every dtype, so that what the kernel leaves
     * unwritten shows: zeros would hide a gradient left unwritten where it should be 0 (rows of weight 0, masked
     * columns). The comparison reads each row's V columns, not the stride's gap after them.
     */
    public static LossBuffers upload(CallMemory mem, LossBatch batch) {
        int n = batch.rows;
        long elems = elements(batch);
        Pointer hostLogits = batch.logitsF32 != null ? new FloatPointer(batch.logitsF32) : new ShortPointer(batch.logits16);
        Pointer logits = mem.copyOf(hostLogits, elems * batch.dtype.bytes());
        LossBuffers b = LossBuffers.of(n, batch.vocab).logits(logits, batch.dtype).logitsStride(batch.stride)
                .device(mem.device());
        if (batch.target32 != null) b.target(new IntPointer(mem.copyOf(new IntPointer(batch.target32), 4L * n)));
        else b.target(new LongPointer(mem.copyOf(new LongPointer(batch.target64), 8L * n)));
        b.oldLogp(rows(mem, batch.oldLogp)).refLogp(rows(mem, batch.refLogp)).advantage(rows(mem, batch.advantage))
                .weight(rows(mem, batch.weight)).temperature(rows(mem, batch.temperature));
        b.outLogp(filled(mem, n)).outEntropy(filled(mem, n)).outClampedEntropy(filled(mem, n))
                .outRatio(filled(mem, n)).outLoss(filled(mem, n)).outKl(filled(mem, n))
                .outFlags(new BytePointer(mem.filled(n, 0xff)));
        if (batch.inPlace) b.dlogitsInPlace();
        else if (batch.gradient) b.dlogits(mem.filled(elems * batch.gradientDtype.bytes(), 0xff), batch.gradientDtype);
        return b;
    }

    private static long elements(LossBatch batch) {
        return batch.rows == 0 ? 0 : (long) (batch.rows - 1) * batch.stride + batch.vocab;
    }

    private static FloatPointer filled(CallMemory mem, int n) {
        return new FloatPointer(mem.filled(4L * n, 0xff));
    }

    private static FloatPointer rows(CallMemory mem, float[] values) {
        return values == null ? null : new FloatPointer(mem.copyOf(new FloatPointer(values), 4L * values.length));
    }
}
