package io.policyloss.rl;

import io.policyloss.torch.Tensors;
import io.policyloss.torch.TransformerPolicy;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;

/**
 * Batched autoregressive sampling: every sequence advances one token per forward pass, each at its own
 * temperature (AEPO samples some rows hotter or colder than others). The whole prefix is re-read each step: the
 * built-in tasks' sequences are a dozen tokens, where a KV cache would save little. Sampling draws from a seeded
 * Java generator, so a rollout is a function of the weights and the seed alone.
 */
public final class Rollouts {
    private Rollouts() {}

    /**
     * One response per prompt; temperatures[b] is prompt b's temperature, &gt;= 0, where 0 is greedy decoding (the
     * most probable token, the first of a tie; verl's {@code do_sample=False}, ReMax's baseline), which draws nothing:
     * {@code random} may be null where every temperature is 0.
     */
    public static Sequences sample(TransformerPolicy policy, List<int[]> prompts, float[] temperatures,
            int maxResponse, SplittableRandom random) {
        int count = prompts.size(), promptLength = prompts.get(0).length;
        if (temperatures.length != count)
            throw new IllegalArgumentException("temperatures: length " + temperatures.length + ", expected " + count);
        if (promptLength + maxResponse - 1 > policy.config().context())
            throw new IllegalArgumentException("maxResponse: prompt " + promptLength + " + response " + maxResponse
                    + " exceeds the model's context " + policy.config().context());
        long[][] tokens = new long[count][promptLength + maxResponse];
        int[] lengths = new int[count];
        for (int b = 0; b < count; ++b) {
            if (prompts.get(b).length != promptLength)
                throw new IllegalArgumentException("prompts: prompt " + b + " has length " + prompts.get(b).length
                        + ", expected " + promptLength);
            if (!(temperatures[b] >= 0 && temperatures[b] < Float.POSITIVE_INFINITY))
                throw new IllegalArgumentException("temperatures: row " + b + ": must be finite and >= 0, got "
                        + temperatures[b]);
            for (int t = 0; t < promptLength; ++t) tokens[b][t] = prompts.get(b)[t];
        }
        int vocab = policy.vocab();
        boolean[] done = new boolean[count];
        try (NoGradGuard guard = new NoGradGuard()) {
            for (int step = 0, live = count; step < maxResponse && live > 0; ++step) {
                int time = promptLength + step;
                long[] ids = new long[count * time];
                for (int b = 0; b < count; ++b) System.arraycopy(tokens[b], 0, ids, b * time, time);
                float[] logits;
                try (PointerScope scope = new PointerScope()) {
                    logits = Tensors.toFloats(policy.forward(Tensors.longs(ids, count, time)).select(1, time - 1));
                }
                for (int b = 0; b < count; ++b) {
                    if (done[b]) continue;
                    int token = draw(logits, b * vocab, vocab, temperatures[b], random);
                    tokens[b][time] = token;
                    lengths[b] = step + 1;
                    if (token == Vocabulary.EOS) {
                        done[b] = true;
                        --live;
                    }
                }
            }
        }
        for (int b = 0; b < count; ++b) // padding after end-of-sequence, also where every row ended early
            for (int t = promptLength + lengths[b]; t < promptLength + maxResponse; ++t) tokens[b][t] = Vocabulary.EOS;
        return new Sequences(promptLength, maxResponse, tokens, lengths);
    }

    /** Each problem's prompt {@code repeat} times in a row: the G samples of a group are consecutive. */
    public static List<int[]> prompts(List<Problem> problems, int repeat) {
        List<int[]> out = new ArrayList<>(problems.size() * repeat);
        for (Problem problem : problems)
            for (int j = 0; j < repeat; ++j) out.add(problem.prompt());
        return out;
    }

    /** A token drawn from softmax(logits / temperature), computed in double; at temperature 0 the first argmax. */
    static int draw(float[] logits, int from, int vocab, double temperature, SplittableRandom random) {
        double max = Double.NEGATIVE_INFINITY;
        int argmax = 0;
        for (int v = 0; v < vocab; ++v) {
            if (logits[from + v] > max) argmax = v;
            max = Math.max(max, logits[from + v]);
        }
        if (temperature == 0) return argmax;
        double[] cumulative = new double[vocab];
        double sum = 0;
        for (int v = 0; v < vocab; ++v) {
            sum += Math.exp((logits[from + v] - max) / temperature);
            cumulative[v] = sum;
        }
        double u = random.nextDouble() * sum;
        for (int v = 0; v < vocab; ++v)
            if (u < cumulative[v]) return v;
        return vocab - 1;
    }
}
