package io.policyloss.torch;

import io.policyloss.loss.Dtype;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/** Small conversions between Java arrays and host libtorch tensors, and libtorch dtypes to the loss's. */
public final class Tensors {
    private Tensors() {}

    /** A new fp32 host tensor holding a copy of {@code data}, of the given shape. */
    public static Tensor floats(float[] data, long... shape) {
        Tensor t = torch.empty(shape, new TensorOptions(ScalarType.Float), null);
        checkNumel(t, data.length);
        if (data.length > 0) new FloatPointer(t.data_ptr()).put(data, 0, data.length);  // an empty one has no data
        return t;
    }

    /** A new int64 host tensor holding a copy of {@code data}, of the given shape. */
    public static Tensor longs(long[] data, long... shape) {
        Tensor t = torch.empty(shape, new TensorOptions(ScalarType.Long), null);
        checkNumel(t, data.length);
        if (data.length > 0) new LongPointer(t.data_ptr()).put(data, 0, data.length);
        return t;
    }

    /** The elements of a tensor as fp32, in row-major order (copied to the host when needed). */
    public static float[] toFloats(Tensor t) {
        Tensor c = t.detach().to(ScalarType.Float).contiguous();
        if (!c.is_cpu()) c = c.cpu();
        float[] out = new float[(int) c.numel()];
        if (out.length > 0) new FloatPointer(c.data_ptr()).get(out);
        return out;
    }

    /** The loss's dtype for a libtorch dtype, or an exception naming the argument. */
    static Dtype dtypeOf(Tensor t, String argument) {
        ScalarType s = t.scalar_type();
        if (is(t, ScalarType.Float)) return Dtype.F32;
        if (is(t, ScalarType.BFloat16)) return Dtype.BF16;
        if (is(t, ScalarType.Half)) return Dtype.F16;
        throw new IllegalArgumentException(argument + ": dtype " + s + " is not supported (float32, bfloat16 or float16)");
    }

    /** Refuses {@code t} where it is not on {@code like}'s device: "name: is on cuda:1, likeName on cpu". */
    static void checkSameDevice(Tensor t, String name, Tensor like, String likeName) {
        if (t.is_cuda() != like.is_cuda() || (t.is_cuda() && t.device().index() != like.device().index()))
            throw new IllegalArgumentException(name + ": is on " + t.device().str().getString() + ", " + likeName
                    + " on " + like.device().str().getString());
    }

    /** Compares by value: the JNI layer returns enum instances that are not the constants themselves. */
    static boolean is(Tensor t, ScalarType type) {
        return t.scalar_type().value == type.value;
    }

    private static void checkNumel(Tensor t, int length) {
        if (t.numel() != length)
            throw new IllegalArgumentException("data: " + length + " elements do not fill a tensor of " + t.numel());
    }
}
