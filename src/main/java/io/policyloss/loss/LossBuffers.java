package io.policyloss.loss;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;

/**
 * The buffers of one loss call as JavaCPP pointers: zero copy, host memory (device = -1) or, with the CUDA
 * backend, device memory. Row i of the logits starts at element i * logitsStride. Required: logits, target,
 * oldLogp, advantage, weight (and refLogp when the config's klCoef != 0); everything else is optional.
 * Lengths are checked against each pointer's capacity where JavaCPP knows it (capacity &gt; 0).
 */
public final class LossBuffers {
    final long rows, vocab;
    Pointer logits;
    Dtype logitsDtype = Dtype.F32;
    long logitsStride;
    Pointer target;
    boolean target64;
    FloatPointer oldLogp, refLogp, advantage, weight, temperature;
    Pointer dlogits;
    Dtype dlogitsDtype = Dtype.F32;
    long dlogitsStride;
    FloatPointer outLogp, outEntropy, outClampedEntropy, outRatio, outLoss, outKl;
    BytePointer outFlags;
    int device = -1;
    Pointer stream;

    private LossBuffers(long rows, long vocab) {
        if (rows < 0) throw new IllegalArgumentException("rows: must be >= 0, got " + rows);
        if (vocab < 1) throw new IllegalArgumentException("vocab: must be >= 1, got " + vocab);
        this.rows = rows;
        this.vocab = vocab;
        this.logitsStride = vocab;
        this.dlogitsStride = vocab;
    }

    /** Buffers for {@code rows} rows over a vocabulary of {@code vocab} tokens. */
    public static LossBuffers of(long rows, long vocab) {
        return new LossBuffers(rows, vocab);
    }

    public long rows() {
        return rows;
    }

    public long vocab() {
        return vocab;
    }

    public LossBuffers logits(Pointer data, Dtype dtype) {
        logits = data;
        logitsDtype = dtype;
        return this;
    }

    /** Row stride in elements (default: vocab). Also the dlogits stride, unless set after. */
    public LossBuffers logitsStride(long stride) {
        logitsStride = stride;
        dlogitsStride = stride;
        return this;
    }

    public LossBuffers target(IntPointer t) {
        target = t;
        target64 = false;
        return this;
    }

    public LossBuffers target(LongPointer t) {
        target = t;
        target64 = true;
        return this;
    }

    public LossBuffers oldLogp(FloatPointer p) { oldLogp = p; return this; }
    public LossBuffers refLogp(FloatPointer p) { refLogp = p; return this; }
    public LossBuffers advantage(FloatPointer p) { advantage = p; return this; }
    public LossBuffers weight(FloatPointer p) { weight = p; return this; }
    /** Per-row temperatures; without them every row uses the config's temperature. */
    public LossBuffers temperature(FloatPointer p) { temperature = p; return this; }

    /** Where to write the gradient of gradScale * L, in F32 or the logits dtype. */
    public LossBuffers dlogits(Pointer data, Dtype dtype) {
        dlogits = data;
        dlogitsDtype = dtype;
        return this;
    }

    public LossBuffers dlogitsStride(long stride) {
        dlogitsStride = stride;
        return this;
    }

    /** The gradient overwrites the logits (same dtype and stride); no extra memory. */
    public LossBuffers dlogitsInPlace() {
        return dlogits(logits, logitsDtype).dlogitsStride(logitsStride);
    }

    public LossBuffers outLogp(FloatPointer p) { outLogp = p; return this; }
    public LossBuffers outEntropy(FloatPointer p) { outEntropy = p; return this; }
    public LossBuffers outClampedEntropy(FloatPointer p) { outClampedEntropy = p; return this; }
    public LossBuffers outRatio(FloatPointer p) { outRatio = p; return this; }
    public LossBuffers outLoss(FloatPointer p) { outLoss = p; return this; }
    public LossBuffers outKl(FloatPointer p) { outKl = p; return this; }
    /** PL_FLAG_* bits per row (clip-low, clip-high, dual clip, ratio clamped). */
    public LossBuffers outFlags(BytePointer p) { outFlags = p; return this; }

    /** -1 = host memory (default); otherwise the CUDA device the buffers live on. */
    public LossBuffers device(int d) { device = d; return this; }
    /** The cudaStream_t of a device call (null = default stream). */
    public LossBuffers stream(Pointer s) { stream = s; return this; }

    /** Checks each buffer whose capacity is known against what the call will touch. */
    void checkLengths() {
        long logitsElems = rows == 0 ? 0 : (rows - 1) * logitsStride + vocab;
        checkBytes(logits, "logits", logitsElems * logitsDtype.bytes());
        checkBytes(target, "target", rows * (target64 ? 8 : 4));
        // One call per buffer, not a loop over a table: this runs on every call, and a table is garbage each time.
        long floats = rows * 4L;
        checkBytes(oldLogp, "oldLogp", floats);
        checkBytes(refLogp, "refLogp", floats);
        checkBytes(advantage, "advantage", floats);
        checkBytes(weight, "weight", floats);
        checkBytes(temperature, "temperature", floats);
        checkBytes(outLogp, "outLogp", floats);
        checkBytes(outEntropy, "outEntropy", floats);
        checkBytes(outClampedEntropy, "outClampedEntropy", floats);
        checkBytes(outRatio, "outRatio", floats);
        checkBytes(outLoss, "outLoss", floats);
        checkBytes(outKl, "outKl", floats);
        checkBytes(outFlags, "outFlags", rows);
        long dElems = rows == 0 ? 0 : (rows - 1) * dlogitsStride + vocab;
        checkBytes(dlogits, "dlogits", dElems * dlogitsDtype.bytes());
    }

    private static void checkBytes(Pointer p, String name, long needed) {
        if (p == null || p.capacity() <= 0) return;
        long have = (p.capacity() - p.position()) * p.sizeof();
        if (have < needed)
            throw new IllegalArgumentException(name + ": holds " + have + " bytes, the call needs " + needed);
    }
}
