package io.policyloss.cli;

import io.policyloss.control.ClipCov;
import io.policyloss.rl.Evaluator;
import io.policyloss.rl.StepMetrics;
import io.policyloss.rl.TrainConfig;
import io.policyloss.rl.TrainingRun;
import java.util.List;
import java.util.function.Predicate;
import java.util.function.ToDoubleFunction;

/**
 * The end-of-comparison table, as Markdown: evaluation and the last steps' means of each run. The counts that only
 * some objectives make (GSPO's clipped sequences, Clip-Cov's chosen tokens) get a column when a run makes them, left
 * empty for the others: a 0 there would read as "nothing clipped".
 */
final class Summary {
    /** Steps averaged for the "late" columns: one step's batch is noisy. */
    static final int LATE = 10;

    /** A late column of the runs whose config {@code counts} it. */
    private record Column(String header, Predicate<TrainConfig> counts, ToDoubleFunction<StepMetrics> metric) {}

    private static final List<Column> OBJECTIVE_COLUMNS = List.of(
            new Column("sequences clipped low", c -> c.objective().sequenceRatio(),
                    StepMetrics::sequenceClipLowFraction),
            new Column("sequences clipped high", c -> c.objective().sequenceRatio(),
                    StepMetrics::sequenceClipHighFraction),
            new Column("Clip-Cov share", c -> c.objective().surrogate() instanceof ClipCov,
                    StepMetrics::clipCovFraction));

    private Summary() {}

    static String table(Evaluator.EvalResult base, List<TrainingRun.Result> runs) {
        List<Column> objective = OBJECTIVE_COLUMNS.stream()
                .filter(col -> runs.stream().anyMatch(r -> col.counts().test(r.config()))).toList();
        StringBuilder s = new StringBuilder();
        s.append("| run | steps | accuracy (last ").append(LATE).append(") | entropy first -> last ").append(LATE)
                .append(" | clamped entropy (last ").append(LATE).append(") | clip-low | clip-high |");
        for (Column col : objective) s.append(' ').append(col.header()).append(" |");
        for (int k : base.passAtK().keySet()) s.append(" pass@").append(k).append(" |");
        s.append(" seconds |\n|---|---|---|---|---|---|---|");
        s.append("---|".repeat(objective.size() + base.passAtK().size())).append("---|\n");
        s.append("| base model | 0 | | | | | |").append(" |".repeat(objective.size()));
        for (double p : base.passAtK().values()) s.append(String.format(" %.3f |", p));
        s.append(" |\n");
        for (TrainingRun.Result r : runs) {
            List<StepMetrics> steps = r.steps();
            if (steps.isEmpty()) {  // --steps 0: the run's pass@k alone, as the base model's row
                s.append("| ").append(r.config().name()).append(" | 0 | | | | | |").append(" |".repeat(
                        objective.size()));
            } else {
                s.append(String.format("| %s | %d | %.3f | %.3f -> %.3f | %.3f | %.4f | %.4f |", r.config().name(),
                        steps.size(), late(steps, StepMetrics::accuracy), steps.get(0).entropy(),
                        late(steps, StepMetrics::entropy), late(steps, StepMetrics::clampedEntropy),
                        late(steps, StepMetrics::clipLowFraction), late(steps, StepMetrics::clipHighFraction)));
                for (Column col : objective)
                    s.append(col.counts().test(r.config()) ? String.format(" %.4f |", late(steps, col.metric()))
                            : " |");
            }
            for (double p : r.eval().passAtK().values()) s.append(String.format(" %.3f |", p));
            double seconds = 0;
            for (StepMetrics m : steps) seconds += m.seconds();
            s.append(String.format(" %.1f |\n", seconds));
        }
        return s.toString();
    }

    /** The mean of a metric over the last {@link #LATE} steps (of at least one). */
    static double late(List<StepMetrics> steps, ToDoubleFunction<StepMetrics> metric) {
        int from = Math.max(0, steps.size() - LATE);
        double sum = 0;
        for (int i = from; i < steps.size(); ++i) sum += metric.applyAsDouble(steps.get(i));
        return sum / (steps.size() - from);
    }
}
