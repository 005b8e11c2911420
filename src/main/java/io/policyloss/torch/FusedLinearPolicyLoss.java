package io.policyloss.torch;

import io.policyloss.control.ObjectiveMetrics;
import io.policyloss.loss.LossConfig;
import io.policyloss.loss.LossMetrics;
import io.policyloss.loss.PolicyLossException;
import java.util.Objects;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * The fused loss behind a model's final linear layer, without the whole batch's logits: what Liger-Kernel's fused
 * linear losses ({@code LigerFusedLinearGRPOLoss}) do for PyTorch. The logits of N rows are N x V (at 8192 x 151,936
 * in bf16, 2.5 GB, and as much again for their gradient unless it is written over them); here one chunk of rows at a
 * time has any. For each chunk, {@code logits = h W^T + b} (a libtorch matmul), the kernel's loss and dL/dlogits
 * written over them, then {@code dL/dh = G W}, {@code dL/dW += G^T h} and {@code dL/db +=} G's column sums.
 *
 * <pre>{@code
 * FusedLinearPolicyLoss loss = new FusedLinearPolicyLoss(new TorchFusedLoss(config));
 * Tensor hidden = body.forward(ids);                          // [batch, time, width]: the head's input
 * LinearLossResult r = loss.compute(hidden, head.weight(), head.bias(), rows);   // bias may be null
 * r.backward();                                               // into the body, and into W and b
 * }</pre>
 *
 * The gradients are computed for those of hidden, weight and bias that require grad, each in its own dtype, as
 * autograd would; {@link LinearLossResult#backward()} hands them to autograd in one call, so a head tied to the input
 * embedding gets both contributions. The loss, metrics and gradients are those of {@link TorchFusedLoss} on the
 * whole logits, up to the matmuls' rounding (the chunks' sums of G^T h are added in another order). Rows are cut
 * into chunks of {@code chunkRows}; by default, as Liger-Kernel's fused linear cross-entropy cuts them, into chunks
 * whose logits are about the size of the hidden states (N / ceil(V / width) rows, rounded up to a power of 2).
 */
public final class FusedLinearPolicyLoss {
    private final TorchFusedLoss loss;
    private final long chunkRows;

    /** Chunks whose logits are about the size of the hidden states. */
    public FusedLinearPolicyLoss(TorchFusedLoss loss) {
        this.loss = Objects.requireNonNull(loss, "loss");
        this.chunkRows = 0;
    }

    /** Chunks of {@code chunkRows} rows (the last may have fewer). */
    public FusedLinearPolicyLoss(TorchFusedLoss loss, long chunkRows) {
        this.loss = Objects.requireNonNull(loss, "loss");
        if (chunkRows < 1) throw new IllegalArgumentException("chunkRows: must be >= 1, got " + chunkRows);
        this.chunkRows = chunkRows;
    }

    public LossConfig config() {
        return loss.config();
    }

    TorchFusedLoss kernel() {
        return loss;
    }

    /**
     * Loss, metrics and the gradients for hidden, weight and bias, through chunks of logits that are gone when it
     * returns; call {@link LinearLossResult#backward()} to feed the gradients to autograd.
     *
     * @param hidden the head's input, [rows..., width], fp32 / bf16 / fp16; its rows are the loss's rows
     * @param weight the head's weight, [vocab, width], of hidden's dtype and device
     * @param bias the head's bias, [vocab], or null
     */
    public LinearLossResult compute(Tensor hidden, Tensor weight, Tensor bias, PolicyRows rows) {
        return compute(hidden, weight, bias, rows, null);
    }

    /** Moves a chunk's rows from a first call on its logits, before the call with a gradient (CurrentPolicyLoss). */
    interface ChunkRows {
        MovedRows move(long first, PolicyRows chunk, TorchFusedLoss.RowOutputs firstCall);
    }

    /**
     * As {@link #compute(Tensor, Tensor, Tensor, PolicyRows)}; with {@code moving} (not null), each chunk's logits
     * take a first call without a gradient, whose outputs move that chunk's rows, and then the call with it.
     */
    LinearLossResult compute(Tensor hidden, Tensor weight, Tensor bias, PolicyRows rows, ChunkRows moving) {
        Head head = new Head(hidden, weight, bias, rows);
        Tensor gradHidden = hidden.requires_grad() ? torch.empty_like(head.flat) : null;
        Tensor gradWeight = weight.requires_grad() ? torch.zeros_like(head.weight) : null;
        Tensor gradBias = bias != null && bias.requires_grad() ? torch.zeros_like(head.bias) : null;
        double[] kernelLoss = {0};  // the loss tensor is the kernel's, as TorchFusedLoss's (CurrentPolicyLoss says why)
        LossMetrics metrics = head.forEachChunk((first, xc, logits, slice) -> {
            MovedRows m = moving == null ? MovedRows.unmoved(slice)
                    : moving.move(first, slice, loss.evaluate(logits, slice));
            TorchLossResult r = loss.computeInPlace(logits, m.rows());
            kernelLoss[0] += r.metrics().loss();
            Tensor g = r.dlogits();
            if (gradHidden != null) torch.matmul_out(gradHidden.narrow(0, first, xc.size(0)), g, head.weight);
            if (gradWeight != null) gradWeight.addmm_(g.t(), xc);
            if (gradBias != null) gradBias.add_(g.sum(0));
            return r.metrics().plus(m.metricsCorrection());
        });
        return new LinearLossResult(hidden, weight, bias,
                gradHidden == null ? null : gradHidden.view(hidden.sizes()), gradWeight, gradBias,
                TorchFusedLoss.lossValue(kernelLoss[0], head.flat), metrics, ObjectiveMetrics.ZERO);
    }

    /** As {@link TorchFusedLoss#evaluate} on the head's logits, with no gradient: per-row log-probs and entropies. */
    public TorchFusedLoss.RowOutputs evaluate(Tensor hidden, Tensor weight, Tensor bias, PolicyRows rows) {
        Head head = new Head(hidden, weight, bias, rows);
        Tensor logp = rowTensor(head.flat), entropy = rowTensor(head.flat), clamped = rowTensor(head.flat);
        LossMetrics metrics = head.forEachChunk((first, xc, logits, slice) -> {
            TorchFusedLoss.RowOutputs r = loss.evaluate(logits, slice);
            long n = xc.size(0);
            logp.narrow(0, first, n).copy_(r.logp());
            entropy.narrow(0, first, n).copy_(r.entropy());
            clamped.narrow(0, first, n).copy_(r.clampedEntropy());
            return r.metrics();
        });
        return new TorchFusedLoss.RowOutputs(logp, entropy, clamped, metrics);
    }

    /** Liger-Kernel's chunk: N / ceil(V / width) rows, whose logits are about the size of the hidden states. */
    static long defaultChunkRows(long rows, long vocab, long width) {
        long chunks = Math.max(1, (vocab + width - 1) / width);
        long n = Math.max(1, (rows + chunks - 1) / chunks);
        return Long.highestOneBit(n) == n ? n : Long.highestOneBit(n) << 1;
    }

    private static Tensor rowTensor(Tensor like) {
        return torch.zeros(new long[] {like.size(0)}, TorchFusedLoss.floatsOn(like));
    }

    /** What one chunk's logits are used for: its metrics are summed over the chunks. */
    private interface ChunkCall {
        LossMetrics call(long first, Tensor hidden, Tensor logits, PolicyRows rows);
    }

    /** The checked arguments of one call: hidden flattened to rows x width, the head's tensors detached. */
    private final class Head {
        final Tensor flat, weight, bias;
        final PolicyRows rows;

        Head(Tensor hidden, Tensor weight, Tensor bias, PolicyRows rows) {
            Objects.requireNonNull(hidden, "hidden");
            Objects.requireNonNull(weight, "weight");
            Objects.requireNonNull(rows, "rows");
            if (hidden.dim() < 2)
                throw new IllegalArgumentException("hidden: needs at least 2 dimensions (rows..., width), got "
                        + hidden.dim());
            long width = hidden.size(-1);
            Tensors.dtypeOf(hidden, "hidden");
            if (weight.dim() != 2 || weight.size(1) != width)
                throw new IllegalArgumentException("weight: must be [vocab, width = " + width + "], got "
                        + shape(weight));
            sameAsHidden(weight, "weight", hidden);
            if (bias != null) {
                if (bias.dim() != 1 || bias.size(0) != weight.size(0))
                    throw new IllegalArgumentException("bias: must be [vocab = " + weight.size(0) + "], got "
                            + shape(bias));
                sameAsHidden(bias, "bias", hidden);
            }
            flat = hidden.detach().reshape(-1, width);
            rows.checkRows(flat.size(0));
            this.weight = weight.detach();
            this.bias = bias == null ? null : bias.detach();
            this.rows = rows;
        }

        /**
         * Calls {@code call} on each chunk's logits and sums its metrics. Each chunk's tensors are freed as it
         * ends (a PointerScope), not at some garbage collection, so that one chunk's logits exist at a time. An
         * error that names a row names the batch's, not its chunk's.
         */
        LossMetrics forEachChunk(ChunkCall call) {
            long n = flat.size(0), vocab = weight.size(0);
            long chunk = chunkRows > 0 ? chunkRows : defaultChunkRows(n, vocab, flat.size(1));
            LossMetrics metrics = LossMetrics.ZERO;
            try (NoGradGuard guard = new NoGradGuard()) {
                Tensor wt = weight.t();
                for (long first = 0; first < n; first += chunk) {
                    try (PointerScope scope = new PointerScope()) {
                        long length = Math.min(chunk, n - first);
                        Tensor xc = flat.narrow(0, first, length);
                        Tensor logits = bias == null ? xc.mm(wt) : torch.addmm(bias, xc, wt);
                        metrics = metrics.plus(call.call(first, xc, logits, rows.slice(first, length)));
                    } catch (PolicyLossException e) {
                        throw ChunkErrors.inBatch(e, first);
                    } catch (IllegalArgumentException e) {  // a row check of CurrentPolicyLoss's moving
                        throw ChunkErrors.inBatch(e, first);
                    }
                }
            }
            return metrics;
        }
    }

    private static void sameAsHidden(Tensor t, String name, Tensor hidden) {
        if (!Tensors.is(t, hidden.scalar_type()))
            throw new IllegalArgumentException(name + ": dtype " + t.scalar_type() + ", hidden's is "
                    + hidden.scalar_type());
        Tensors.checkSameDevice(t, name, hidden, "hidden");
    }

    private static String shape(Tensor t) {
        StringBuilder s = new StringBuilder("[");
        for (int d = 0; d < t.dim(); ++d) s.append(d == 0 ? "" : ", ").append(t.size(d));
        return s.append(']').toString();
    }
}
