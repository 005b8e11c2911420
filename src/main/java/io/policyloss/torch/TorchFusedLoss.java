package io.policyloss.torch;

import io.policyloss.loss.Dtype;
import io.policyloss.loss.FusedLoss;
import io.policyloss.loss.LossBuffers;
import io.policyloss.loss.LossConfig;
import io.policyloss.loss.LossMetrics;
import java.util.Objects;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorBase;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.bytedeco.pytorch.global.torch_cuda;

/**
 * The fused loss as a libtorch op, for anyone who brings their own model: logits in, a loss tensor out, and the
 * gradient fed back into autograd with {@code logits.backward(dlogits)} (these presets have no custom autograd
 * Function, and the kernel computes dL/dlogits anyway, so there is nothing left for autograd to derive).
 *
 * <pre>{@code
 * TorchFusedLoss loss = new TorchFusedLoss(LossConfig.builder().epsHigh(0.28).build());
 * Tensor logits = model.forward(ids);                    // [batch, time, vocab], fp32 / bf16 / fp16
 * TorchLossResult r = loss.compute(logits, PolicyRows.of(target, oldLogp, advantage, weight));
 * r.backward();                                          // gradients reach the model's parameters
 * optimizer.step();
 * }</pre>
 *
 * Zero copy: the kernel reads the logits and the per-row tensors through their data pointers and writes dlogits
 * into a tensor of the logits' dtype, or over the logits ({@link #computeInPlace}). Leading dimensions are flattened
 * into rows where a view can (otherwise, and where the last dimension's stride is not 1, the logits are copied
 * first). Host tensors run the CPU kernel; CUDA tensors run the CUDA kernel on the device's current libtorch stream.
 */
public final class TorchFusedLoss {
    private final FusedLoss loss;

    public TorchFusedLoss(LossConfig config) {
        this(new FusedLoss(config));
    }

    public TorchFusedLoss(FusedLoss loss) {
        this.loss = Objects.requireNonNull(loss, "loss");
    }

    public LossConfig config() {
        return loss.config();
    }

    /** Loss, metrics and dL/dlogits; call {@link TorchLossResult#backward()} to feed the gradient to autograd. */
    public TorchLossResult compute(Tensor logits, PolicyRows rows) {
        Call call = new Call(logits, rows);
        Tensor dlogits = torch.empty(new long[] {call.rows, call.vocab}, call.flat.options(), null);
        call.buffers.dlogits(dlogits.data_ptr(), call.dtype).dlogitsStride(call.vocab);
        return result(call, dlogits);
    }

    /**
     * As {@link #compute}, with dL/dlogits written over the logits (Liger-Kernel's {@code inplace}): no rows x vocab
     * tensor beside them (at 8192 x 151,936 bf16, 2.5 GB less) and none to fault in on the host. The logits' values
     * are gone afterwards, and {@link TorchLossResult#dlogits()} is the flattened logits.
     *
     * <p>As a libtorch in-place op does, this bumps the logits' version counter, so that a backward through an op
     * that saved them (tanh, as in a softcap, saves its output) fails with libtorch's "modified by an inplace
     * operation" instead of using the gradient as if it were the logits. A language model's final linear layer saves
     * its input and weight, not its output, so through it the backward runs. Logits that are, or are a view of, a
     * leaf that requires grad are refused, as libtorch refuses any in-place op on them. Logits the op has to copy
     * first (a last stride other than 1, or leading dimensions that no view flattens, as a slice of the time steps)
     * are overwritten in that copy, and the caller's stay as they were.
     */
    public TorchLossResult computeInPlace(Tensor logits, PolicyRows rows) {
        Call call = new Call(logits, rows);
        TensorBase owner = call.flat.is_view() ? call.flat._base() : call.flat;
        if (owner.is_leaf() && owner.requires_grad())
            throw new IllegalArgumentException("logits: a leaf that requires grad, or a view of one, cannot be "
                    + "overwritten by the gradient; use compute");
        call.buffers.dlogitsInPlace();
        TorchLossResult result = result(call, call.flat);
        call.flat.unsafeGetTensorImpl().bump_version();
        return result;
    }

    private TorchLossResult result(Call call, Tensor dlogits) {
        LossMetrics metrics = loss.compute(call.buffers);
        return new TorchLossResult(call.flat, dlogits, lossValue(metrics.loss(), call.flat), metrics);
    }

    /** L as a 0-dim fp32 tensor on the device of {@code like}. */
    static Tensor lossValue(double loss, Tensor like) {
        return torch.scalar_tensor(new Scalar(loss), floatsOn(like));
    }

    /** fp32 on the device of {@code like}. */
    static TensorOptions floatsOn(Tensor like) {
        return new TensorOptions(ScalarType.Float).device(new DeviceOptional(like.device()));
    }

    /** Per-row log-probs and entropies with no gradient: the old-policy or reference pass of a trainer. */
    public RowOutputs evaluate(Tensor logits, PolicyRows rows) {
        Call call = new Call(logits, rows);
        TensorOptions f32 = floatsOn(call.flat);
        Tensor logp = torch.zeros(new long[] {call.rows}, f32), entropy = torch.zeros(new long[] {call.rows}, f32),
                clamped = torch.zeros(new long[] {call.rows}, f32);
        call.buffers.outLogp(new FloatPointer(logp.data_ptr())).outEntropy(new FloatPointer(entropy.data_ptr()))
                .outClampedEntropy(new FloatPointer(clamped.data_ptr()));
        return new RowOutputs(logp, entropy, clamped, loss.compute(call.buffers));
    }

    /** Per-row outputs of {@link #evaluate}: 0 on rows of weight 0. */
    public record RowOutputs(Tensor logp, Tensor entropy, Tensor clampedEntropy, LossMetrics metrics) {}

    /** The checked, flattened arguments of one call, as kernel buffers. */
    private static final class Call {
        final Tensor flat;
        final long rows, vocab;
        final Dtype dtype;
        final LossBuffers buffers;

        Call(Tensor logits, PolicyRows r) {
            Objects.requireNonNull(logits, "logits");
            Objects.requireNonNull(r, "rows");
            if (logits.dim() < 2)
                throw new IllegalArgumentException("logits: needs at least 2 dimensions (rows..., vocab), got "
                        + logits.dim());
            vocab = logits.size(-1);
            Tensor f = logits.dim() == 2 ? logits : logits.reshape(-1, vocab);
            if (f.stride(1) != 1 || f.stride(0) < vocab) f = f.contiguous();
            flat = f;
            rows = flat.size(0);
            dtype = Tensors.dtypeOf(flat, "logits");
            buffers = LossBuffers.of(rows, vocab).logits(flat.data_ptr(), dtype).logitsStride(flat.stride(0));
            if (Tensors.is(r.target(), ScalarType.Long))
                buffers.target(new LongPointer(checked(r.target(), "target", null).data_ptr()));
            else
                buffers.target(new IntPointer(checked(r.target(), "target", ScalarType.Int).data_ptr()));
            buffers.oldLogp(floats(r.oldLogp(), "oldLogp")).advantage(floats(r.advantage(), "advantage"))
                    .weight(floats(r.weight(), "weight")).temperature(floats(r.temperature(), "temperature"))
                    .refLogp(floats(r.refLogp(), "refLogp"));
            if (flat.is_cuda()) {
                byte device = flat.device().index();
                buffers.device(device).stream(torch_cuda.getCurrentCUDAStream(device).stream());
            }
        }

        private FloatPointer floats(Tensor t, String name) {
            return t == null ? null : new FloatPointer(checked(t, name, ScalarType.Float).data_ptr());
        }

        /** A 1-D contiguous tensor of one element per row, on the logits' device, of the dtype asked (if any). */
        private Tensor checked(Tensor t, String name, ScalarType dtype) {
            PolicyRows.checkOnePerRow(t, name, rows);
            if (dtype != null && !Tensors.is(t, dtype))
                throw new IllegalArgumentException(name + ": dtype " + t.scalar_type() + ", expected " + dtype
                        + (name.equals("target") ? " or Long" : ""));
            if (!t.is_contiguous()) throw new IllegalArgumentException(name + ": must be contiguous");
            Tensors.checkSameDevice(t, name, flat, "the logits");
            return t;
        }
    }
}
