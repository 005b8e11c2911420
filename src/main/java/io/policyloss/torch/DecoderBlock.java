package io.policyloss.torch;

import org.bytedeco.pytorch.LayerNormImpl;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.LongVector;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/** One pre-norm decoder block: x + attention(norm(x)), then x + mlp(norm(x)), GELU MLP of 4x width. */
final class DecoderBlock extends Module {
    private final int heads;
    private final LayerNormImpl norm1, norm2;
    private final LinearImpl qkv, projection, expand, contract;

    DecoderBlock(int width, int heads) {
        this.heads = heads;
        norm1 = register_module("norm1", new LayerNormImpl(normalizedShape(width)));
        qkv = register_module("qkv", new LinearImpl(width, 3L * width));
        projection = register_module("projection", new LinearImpl(width, width));
        norm2 = register_module("norm2", new LayerNormImpl(normalizedShape(width)));
        expand = register_module("expand", new LinearImpl(width, 4L * width));
        contract = register_module("contract", new LinearImpl(4L * width, width));
    }

    /** LayerNorm over the last dimension; new LongVector(width) would be a vector of width zeros. */
    static LongVector normalizedShape(long width) {
        return new LongVector(new long[] {width});
    }

    /** x: [batch, time, width]; causalMask: [time, time], 0 on and below the diagonal, -inf above. */
    Tensor forward(Tensor x, Tensor causalMask) {
        long b = x.size(0), t = x.size(1), width = x.size(2), d = width / heads;
        // [3, batch, heads, time, d]: queries, keys and values per head.
        Tensor parts = qkv.forward(norm1.forward(x)).view(b, t, 3, heads, d).permute(2, 0, 3, 1, 4);
        Tensor scores = parts.select(0, 0).matmul(parts.select(0, 1).transpose(-2, -1))
                .div(new Scalar(Math.sqrt(d))).add(causalMask);
        Tensor attended = scores.softmax(-1).matmul(parts.select(0, 2)).transpose(1, 2).reshape(b, t, width);
        x = x.add(projection.forward(attended));
        return x.add(contract.forward(torch.gelu(expand.forward(norm2.forward(x)))));
    }
}
