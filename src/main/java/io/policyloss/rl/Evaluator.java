package io.policyloss.rl;

import io.policyloss.control.PassAtK;
import io.policyloss.torch.TransformerPolicy;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.TreeMap;

/** pass@k by the unbiased estimator (SPEC section 7) on a fixed set of problems drawn from the seed. */
public final class Evaluator {
    private static final long PROBLEMS = 11, SAMPLING = 12;
    /** Sequences per sampling batch: bounds memory for large samples x problems. */
    private static final int BATCH = 2048;

    private Evaluator() {}

    /**
     * @param passAtK pass@k for each k asked, in increasing k
     */
    public record EvalResult(int problems, int samples, double temperature, TreeMap<Integer, Double> passAtK) {
        public double passAt1() {
            return passAtK.getOrDefault(1, Double.NaN);
        }
    }

    public static EvalResult evaluate(TransformerPolicy policy, Task task, EvalConfig config, long seed) {
        SplittableRandom problemRandom = Seeds.random(seed, PROBLEMS, 0);
        List<Problem> problems = new ArrayList<>();
        for (int i = 0; i < config.problems(); ++i) problems.add(task.sample(problemRandom));
        int n = config.samples(), perBatch = Math.max(1, BATCH / n);
        int[] correct = new int[problems.size()];
        for (int from = 0; from < problems.size(); from += perBatch) {
            List<Problem> part = problems.subList(from, Math.min(problems.size(), from + perBatch));
            List<int[]> prompts = Rollouts.prompts(part, n);
            float[] temperatures = new float[prompts.size()];
            Arrays.fill(temperatures, (float) config.temperature());
            Sequences s = Rollouts.sample(policy, prompts, temperatures, task.maxResponseLength(),
                    Seeds.random(seed, SAMPLING, from));
            for (int b = 0; b < s.count(); ++b)
                if (task.reward(part.get(b / n), s.response(b), s.lengths()[b]) == 1f) ++correct[from + b / n];
        }
        TreeMap<Integer, Double> pass = new TreeMap<>();
        for (int k : config.ks()) pass.put(k, PassAtK.mean(n, correct, k));
        return new EvalResult(problems.size(), n, config.temperature(), pass);
    }
}
