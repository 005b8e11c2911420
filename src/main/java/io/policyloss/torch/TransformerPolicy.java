package io.policyloss.torch;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.bytedeco.pytorch.EmbeddingImpl;
import org.bytedeco.pytorch.LayerNormImpl;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * A small decoder-only transformer defined in Java over libtorch modules: token and learned position embeddings,
 * pre-norm decoder blocks with causal self-attention, a final norm and a linear head to the vocabulary.
 * Initialisation is seeded, so two policies built with the same arguments have identical weights (on any threads).
 */
public final class TransformerPolicy extends Module {
    private final ModelConfig config;
    private final int vocab;
    private final EmbeddingImpl tokens, positions;
    private final List<DecoderBlock> blocks = new ArrayList<>();
    private final LayerNormImpl norm;
    private final LinearImpl head;
    private final Map<Long, Tensor> causalMasks = new HashMap<>();

    public TransformerPolicy(ModelConfig config, int vocab, long seed) {
        this.config = Objects.requireNonNull(config, "config");
        if (vocab < 2) throw new IllegalArgumentException("vocab: must be >= 2, got " + vocab);
        this.vocab = vocab;
        // Module initialisers draw from libtorch's global generator, one per process: policies built at once on two
        // threads (data-parallel ranks in one JVM) would interleave its draws.
        synchronized (TransformerPolicy.class) {
            torch.manual_seed(seed);
            tokens = register_module("tokens", new EmbeddingImpl(vocab, config.width()));
            positions = register_module("positions", new EmbeddingImpl(config.context(), config.width()));
            for (int i = 0; i < config.layers(); ++i)
                blocks.add(register_module("block" + i, new DecoderBlock(config.width(), config.heads())));
            norm = register_module("norm", new LayerNormImpl(DecoderBlock.normalizedShape(config.width())));
            head = register_module("head", new LinearImpl(config.width(), vocab));
        }
    }

    public ModelConfig config() {
        return config;
    }

    public int vocab() {
        return vocab;
    }

    /** ids: [batch, time] int64 token ids; returns fp32 logits [batch, time, vocab]. */
    public Tensor forward(Tensor ids) {
        return head.forward(hidden(ids));
    }

    /**
     * What the head reads: the final norm's output [batch, time, width] for [batch, time] token ids. With
     * {@link #head()}, the input of {@link FusedLinearPolicyLoss}, which never makes the whole batch's logits.
     */
    public Tensor hidden(Tensor ids) {
        if (ids.dim() != 2)
            throw new IllegalArgumentException("ids: must be [batch, time], got " + ids.dim() + "-D");
        long time = ids.size(1);
        if (time < 1 || time > config.context())
            throw new IllegalArgumentException("ids: length " + time + " is outside [1, context = "
                    + config.context() + "]");
        long[] steps = new long[(int) time];
        for (int t = 0; t < time; ++t) steps[t] = t;
        Tensor x = tokens.forward(ids).add(positions.forward(Tensors.longs(steps, time).to(ids.device(),
                torch.ScalarType.Long)));
        Tensor mask = causalMask(time).to(ids.device(), torch.ScalarType.Float);
        for (DecoderBlock block : blocks) x = block.forward(x, mask);
        return norm.forward(x);
    }

    /** The linear head from width to the vocabulary, with a bias. */
    public LinearImpl head() {
        return head;
    }

    /** Overwrites this policy's weights with those of a policy of the same shape. */
    public void copyWeightsFrom(TransformerPolicy other) {
        if (!other.config.equals(config) || other.vocab != vocab)
            throw new IllegalArgumentException("other: shape " + other.config + " / vocab " + other.vocab
                    + " differs from " + config + " / vocab " + vocab);
        TensorVector to = parameters(), from = other.parameters();
        try (NoGradGuard guard = new NoGradGuard()) {
            for (long i = 0; i < to.size(); ++i) to.get(i).copy_(from.get(i));
        }
    }

    private Tensor causalMask(long time) {
        return causalMasks.computeIfAbsent(time, t -> {
            float[] m = new float[(int) (t * t)];
            for (int i = 0; i < t; ++i)
                for (int j = i + 1; j < t; ++j) m[(int) (i * t + j)] = Float.NEGATIVE_INFINITY;
            // Kept for the policy's lifetime, also when first made inside a caller's PointerScope.
            return Tensors.floats(m, t, t).retainReference();
        });
    }
}
