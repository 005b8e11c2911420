package io.policyloss.loss;

import java.util.Objects;

/**
 * One loss call's inputs as Java arrays, for code that does not hold native buffers. The arrays are copied to
 * native memory for the call (use {@link LossBuffers} for zero copy). Logits are float[] (F32) or short[] holding
 * bf16 / fp16 bits ({@link HalfFloats} converts).
 */
public final class LossBatch {
    final int rows, vocab, stride;
    final Dtype dtype;
    final float[] logitsF32;
    final short[] logits16;
    int[] target32;
    long[] target64;
    float[] oldLogp, refLogp, advantage, weight, temperature;
    Dtype gradientDtype = Dtype.F32;
    boolean gradient = true, inPlace;

    private LossBatch(int rows, int vocab, int stride, Dtype dtype, float[] f32, short[] bits) {
        if (rows < 0) throw new IllegalArgumentException("rows: must be >= 0, got " + rows);
        if (vocab < 1) throw new IllegalArgumentException("vocab: must be >= 1, got " + vocab);
        if (stride < vocab)
            throw new IllegalArgumentException("stride: row stride " + stride + " is smaller than vocab " + vocab);
        long needed = rows == 0 ? 0 : (long) (rows - 1) * stride + vocab;
        int length = f32 != null ? f32.length : bits.length;
        if (length < needed)
            throw new IllegalArgumentException("logits: length " + length + ", needs at least " + needed + " ("
                    + rows + " rows, stride " + stride + ", vocab " + vocab + ")");
        this.rows = rows;
        this.vocab = vocab;
        this.stride = stride;
        this.dtype = dtype;
        this.logitsF32 = f32;
        this.logits16 = bits;
    }

    /** fp32 logits, row i at i * stride. */
    public static LossBatch f32(float[] logits, int rows, int vocab, int stride) {
        return new LossBatch(rows, vocab, stride, Dtype.F32, Objects.requireNonNull(logits, "logits"), null);
    }

    public static LossBatch f32(float[] logits, int rows, int vocab) {
        return f32(logits, rows, vocab, vocab);
    }

    /** bf16 or fp16 logits as raw bits, row i at i * stride. */
    public static LossBatch halves(Dtype dtype, short[] bits, int rows, int vocab, int stride) {
        if (dtype == Dtype.F32) throw new IllegalArgumentException("dtype: use f32(...) for F32 logits");
        return new LossBatch(rows, vocab, stride, dtype, null, Objects.requireNonNull(bits, "logits"));
    }

    public LossBatch target(int[] t) {
        target32 = rowArray(t, "target");
        target64 = null;
        return this;
    }

    public LossBatch target(long[] t) {
        if (t != null && t.length != rows) throw lengthError("target", t.length);
        target64 = t;
        target32 = null;
        return this;
    }

    public LossBatch oldLogp(float[] v) { oldLogp = rowArray(v, "oldLogp"); return this; }
    public LossBatch refLogp(float[] v) { refLogp = rowArray(v, "refLogp"); return this; }
    public LossBatch advantage(float[] v) { advantage = rowArray(v, "advantage"); return this; }
    public LossBatch weight(float[] v) { weight = rowArray(v, "weight"); return this; }
    /** Per-row temperatures; without them every row uses the config's temperature. */
    public LossBatch temperature(float[] v) { temperature = rowArray(v, "temperature"); return this; }

    /** The dtype of the returned gradient: F32 (default) or the logits dtype. */
    public LossBatch gradient(Dtype d) {
        gradientDtype = Objects.requireNonNull(d, "gradient dtype");
        gradient = true;
        inPlace = false;
        return this;
    }

    /** The gradient overwrites the logits array passed in (the logits dtype), as in-place kernels do. */
    public LossBatch gradientInPlace() {
        gradientDtype = dtype;
        gradient = true;
        inPlace = true;
        return this;
    }

    /** Loss, metrics and per-row outputs only. */
    public LossBatch noGradient() {
        gradient = false;
        inPlace = false;
        return this;
    }

    public int rows() { return rows; }
    public int vocab() { return vocab; }
    public int stride() { return stride; }
    public Dtype dtype() { return dtype; }

    private <T> T rowArray(T array, String name) {
        if (array != null && java.lang.reflect.Array.getLength(array) != rows)
            throw lengthError(name, java.lang.reflect.Array.getLength(array));
        return array;
    }

    private IllegalArgumentException lengthError(String name, int length) {
        return new IllegalArgumentException(name + ": length " + length + ", expected " + rows + " (one per row)");
    }
}
