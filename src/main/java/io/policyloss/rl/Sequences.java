package io.policyloss.rl;

import io.policyloss.torch.Tensors;
import io.policyloss.torch.TransformerPolicy;
import java.util.Arrays;
import org.bytedeco.pytorch.Tensor;

/**
 * A batch of sampled sequences, prompt then response, all of the same padded length. Response j of sequence b
 * is token tokens[b][promptLength + j]; it counts while j &lt; lengths[b] (the end-of-sequence token included).
 * One loss row per response position: row b * responseLength + j, predicted by the logits at position
 * promptLength - 1 + j.
 */
public record Sequences(int promptLength, int responseLength, long[][] tokens, int[] lengths) {
    public int count() {
        return tokens.length;
    }

    public int rows() {
        return count() * responseLength;
    }

    /** The response of sequence b as token ids (its first lengths[b] count). */
    public int[] response(int b) {
        int[] r = new int[responseLength];
        for (int j = 0; j < responseLength; ++j) r[j] = (int) tokens[b][promptLength + j];
        return r;
    }

    /** Logits for every response position: [count, responseLength, vocab], on the policy's graph. */
    public Tensor responseLogits(TransformerPolicy policy) {
        int inputs = promptLength + responseLength - 1;
        long[] ids = new long[count() * inputs];
        for (int b = 0; b < count(); ++b) System.arraycopy(tokens[b], 0, ids, b * inputs, inputs);
        return policy.forward(Tensors.longs(ids, count(), inputs)).narrow(1, promptLength - 1, responseLength);
    }

    /** The token each row predicts. */
    public long[] targets() {
        long[] t = new long[rows()];
        for (int b = 0; b < count(); ++b)
            System.arraycopy(tokens[b], promptLength, t, b * responseLength, responseLength);
        return t;
    }

    /** 1 for rows that count, 0 for padding after end-of-sequence. */
    public float[] mask() {
        float[] m = new float[rows()];
        for (int b = 0; b < count(); ++b)
            for (int j = 0; j < lengths[b]; ++j) m[b * responseLength + j] = 1f;
        return m;
    }

    /**
     * Whether response b was cut at the response length before its end-of-sequence token: verl's and TRL's clipped
     * (truncated) completions.
     */
    public boolean truncated(int b) {
        return lengths[b] == responseLength && tokens[b][promptLength + responseLength - 1] != Vocabulary.EOS;
    }

    /**
     * {@link #mask}, less every row of a truncated response (TRL's {@code mask_truncated_completions}, DAPO's overlong
     * filtering): a response cut before its end leaves no loss, and no token in a denominator.
     */
    public float[] maskWithoutTruncated() {
        float[] m = mask();
        for (int b = 0; b < count(); ++b)
            if (truncated(b)) Arrays.fill(m, b * responseLength, (b + 1) * responseLength, 0f);
        return m;
    }

    /** The sequence of each row. */
    public int[] sequenceOf() {
        int[] s = new int[rows()];
        for (int i = 0; i < s.length; ++i) s[i] = i / responseLength;
        return s;
    }

    /** A per-sequence value repeated over the sequence's rows. */
    public float[] perRow(float[] perSequence) {
        float[] out = new float[rows()];
        for (int i = 0; i < out.length; ++i) out[i] = perSequence[i / responseLength];
        return out;
    }

    public Sequences select(int[] which) {
        long[][] t = new long[which.length][];
        int[] l = new int[which.length];
        for (int i = 0; i < which.length; ++i) {
            t[i] = tokens[which[i]];
            l[i] = lengths[which[i]];
        }
        return new Sequences(promptLength, responseLength, t, l);
    }

    public Sequences concat(Sequences o) {
        if (o.promptLength != promptLength || o.responseLength != responseLength)
            throw new IllegalArgumentException("o: sequences of another shape");
        long[][] t = new long[count() + o.count()][];
        int[] l = new int[t.length];
        System.arraycopy(tokens, 0, t, 0, count());
        System.arraycopy(o.tokens, 0, t, count(), o.count());
        System.arraycopy(lengths, 0, l, 0, count());
        System.arraycopy(o.lengths, 0, l, count(), o.count());
        return new Sequences(promptLength, responseLength, t, l);
    }
}
