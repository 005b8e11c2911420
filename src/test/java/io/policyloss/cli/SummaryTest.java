package io.policyloss.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.policyloss.rl.Evaluator;
import io.policyloss.rl.StepMetrics;
import io.policyloss.rl.TrainConfig;
import io.policyloss.rl.TrainConfigs;
import io.policyloss.rl.TrainingRun;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/**
 * The summary table: every row has the header's cells; the objective's counts get columns only when a run makes them,
 * empty on the runs that do not, each cell the mean of the last {@link Summary#LATE} steps.
 */
class SummaryTest {
    private static final int STEPS = Summary.LATE + 3;  // the first 3 steps are left out of the late means
    private static final Evaluator.EvalResult EVAL = new Evaluator.EvalResult(8, 4, 1,
            new TreeMap<>(Map.of(1, 0.25, 4, 0.5)));

    @Test
    void theObjectivesCountsHaveColumnsOnTheRunsThatMakeThem() {
        List<List<String>> table = cells(Summary.table(EVAL, List.of(run("grpo", 0), run("gspo", 1),
                run("clip-cov", 2))));
        List<String> header = table.get(0);
        assertEquals(List.of("run", "steps", "accuracy (last 10)", "entropy first -> last 10",
                "clamped entropy (last 10)", "clip-low", "clip-high", "sequences clipped low", "sequences clipped high",
                "Clip-Cov share", "pass@1", "pass@4", "seconds"), header);
        for (List<String> row : table) assertEquals(header.size(), row.size(), "cells of " + row);
        int low = header.indexOf("sequences clipped low"), high = low + 1, cov = low + 2;
        List<String> base = table.get(2), grpo = table.get(3), gspo = table.get(4), clipCov = table.get(5);
        assertEquals(List.of("", "", "", "0.250", "0.500"), base.subList(low, cov + 3));
        assertEquals(List.of("", "", ""), grpo.subList(low, cov + 1));
        assertEquals(List.of(lateMean(1, 0), lateMean(1, 1), ""), gspo.subList(low, cov + 1));
        assertEquals(List.of("", "", lateMean(2, 2)), clipCov.subList(low, cov + 1));
        assertEquals(List.of("gspo", Integer.toString(STEPS)), gspo.subList(0, 2));
    }

    @Test
    void runsWithoutThemHaveNoColumnsForThem() {
        List<List<String>> table = cells(Summary.table(EVAL, List.of(run("grpo", 0), run("dapo", 1))));
        assertEquals(List.of("run", "steps", "accuracy (last 10)", "entropy first -> last 10",
                "clamped entropy (last 10)", "clip-low", "clip-high", "pass@1", "pass@4", "seconds"), table.get(0));
        for (List<String> row : table) assertEquals(10, row.size(), "cells of " + row);
    }

    /** A run of no steps (--steps 0) has its pass@k alone, its metrics' cells empty, as the base model's row. */
    @Test
    void aRunOfNoStepsHasEmptyMetricCells() {
        TrainingRun.Result none = new TrainingRun.Result(TrainConfigs.preset("gspo"), List.of(), EVAL);
        List<List<String>> table = cells(Summary.table(EVAL, List.of(none, run("grpo", 0))));
        assertEquals(List.of("gspo", "0", "", "", "", "", "", "", "", "0.250", "0.500", "0.0"), table.get(3));
        assertEquals(table.get(2).subList(1, 9), table.get(3).subList(1, 9), "as the base model's");
    }

    /** The value a run's step takes for one of the three counts: distinct per run, count and step. */
    private static double value(int run, int count, int step) {
        return 0.001 * (100 * run + 10 * count + step);
    }

    /** Written out: the mean of steps STEPS - LATE .. STEPS - 1, as the table prints it. */
    private static String lateMean(int run, int count) {
        double mean = IntStream.range(STEPS - Summary.LATE, STEPS).mapToDouble(s -> value(run, count, s)).average()
                .orElseThrow();
        return String.format("%.4f", mean);
    }

    private static TrainingRun.Result run(String preset, int run) {
        TrainConfig c = TrainConfigs.preset(preset);
        List<StepMetrics> steps = new ArrayList<>();
        for (int s = 0; s < STEPS; ++s)
            steps.add(new StepMetrics(s, 0, 0.5, 1, 0.5, 0.01, 0.02, 0, value(run, 0, s), value(run, 1, s),
                    value(run, 2, s), 1, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0.1));
        return new TrainingRun.Result(c, steps, EVAL);
    }

    /** Each line's cells, trimmed, without the empty strings outside the first and last bars. */
    private static List<List<String>> cells(String markdown) {
        List<List<String>> out = new ArrayList<>();
        for (String line : markdown.split("\n")) {
            String[] parts = line.split("\\|", -1);
            out.add(Arrays.stream(parts, 1, parts.length - 1).map(String::trim).toList());
        }
        return out;
    }
}
