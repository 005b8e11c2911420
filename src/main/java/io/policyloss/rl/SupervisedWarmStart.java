package io.policyloss.rl;

import io.policyloss.torch.Tensors;
import io.policyloss.torch.TransformerPolicy;
import java.util.SplittableRandom;
import java.util.function.IntConsumer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.AdamW;
import org.bytedeco.pytorch.AdamWOptions;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;

/**
 * Makes the base model: teacher-forced cross-entropy on correct answers for a fixed number of steps, few enough
 * that the model is right only part of the time.
 */
public final class SupervisedWarmStart {
    private static final long SALT = 0x5F7A11L;
    private static final int IGNORED = -100;

    private SupervisedWarmStart() {}

    /** Trains {@code policy} in place; {@code progress} hears each finished step. */
    public static void train(TransformerPolicy policy, Task task, WarmStartConfig config, long seed,
            IntConsumer progress) {
        AdamWOptions options = new AdamWOptions(config.learningRate());
        options.weight_decay().put(0.0);
        AdamW optimizer = new AdamW(policy.parameters(), options);
        for (int step = 0; step < config.steps(); ++step) {
            try (PointerScope scope = new PointerScope()) { // frees each step's tensors now, not at some GC
                fit(policy, optimizer, answers(task, config.batchSize(), Seeds.random(seed, SALT, step)));
            }
            progress.accept(step);
        }
    }

    /** One step of teacher-forced cross-entropy on the answer tokens (end-of-sequence included). */
    private static void fit(TransformerPolicy policy, AdamW optimizer, Sequences batch) {
        long[] targets = batch.targets();
        float[] mask = batch.mask();
        for (int i = 0; i < targets.length; ++i) if (mask[i] == 0) targets[i] = IGNORED;
        Tensor logits = batch.responseLogits(policy).reshape(-1, policy.vocab());
        Tensor loss = torch.cross_entropy_loss(logits, Tensors.longs(targets, targets.length), new TensorOptional(),
                1 /* mean */, IGNORED, 0.0);
        optimizer.zero_grad();
        loss.backward();
        optimizer.step();
    }

    /** Problems with their correct responses filled in. */
    static Sequences answers(Task task, int count, SplittableRandom random) {
        int p = task.promptLength(), m = task.maxResponseLength();
        long[][] tokens = new long[count][p + m];
        int[] lengths = new int[count];
        for (int b = 0; b < count; ++b) {
            Problem problem = task.sample(random);
            int[] answer = Vocabulary.encode(problem.answer());
            for (int t = 0; t < p; ++t) tokens[b][t] = problem.prompt()[t];
            for (int t = 0; t < m; ++t) tokens[b][p + t] = t < answer.length ? answer[t] : Vocabulary.EOS;
            lengths[b] = answer.length + 1;
        }
        return new Sequences(p, m, tokens, lengths);
    }
}
