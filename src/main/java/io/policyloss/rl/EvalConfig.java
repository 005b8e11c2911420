package io.policyloss.rl;

import java.util.List;

/**
 * Evaluation: pass@k by the unbiased estimator over a fixed set of problems.
 *
 * @param problems how many problems (drawn once from the run's seed)
 * @param samples responses per problem, n (k may go up to n)
 * @param ks the k of each pass@k reported
 * @param temperature the sampling temperature
 */
public record EvalConfig(int problems, int samples, List<Integer> ks, double temperature) {
    public EvalConfig {
        if (problems < 1) throw new IllegalArgumentException("eval.problems: must be >= 1, got " + problems);
        if (samples < 1 || samples > 1024)
            throw new IllegalArgumentException("eval.samples: must be in [1, 1024], got " + samples);
        if (ks == null || ks.isEmpty()) throw new IllegalArgumentException("eval.ks: must list at least one k");
        for (Integer k : ks)
            if (k == null || k < 1 || k > samples)
                throw new IllegalArgumentException("eval.ks: each k must be in [1, samples = " + samples + "], got "
                        + k);
        if (!(temperature > 0)) throw new IllegalArgumentException("eval.temperature: must be > 0, got " + temperature);
        ks = List.copyOf(ks);
    }
}
