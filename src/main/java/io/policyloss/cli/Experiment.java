package io.policyloss.cli;

import io.policyloss.loss.ConfigIO;
import io.policyloss.rl.BaseModel;
import io.policyloss.rl.Evaluator;
import io.policyloss.rl.StepMetrics;
import io.policyloss.rl.TrainConfig;
import io.policyloss.rl.TrainingRun;
import io.policyloss.torch.Ranks;
import io.policyloss.torch.TransformerPolicy;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * Runs a list of configs from one base model into one results folder: base/ (model.pt, eval.json), a folder per
 * run, the plots (entropy.png, clamped-entropy.png, accuracy.png) and summary.md. Over data-parallel ranks, every
 * rank runs the same list: rank 0 makes the base model while the others wait, and writes every file.
 */
final class Experiment {
    private Experiment() {}

    /** @param ranks this process's rank of a data-parallel group, or null for one process */
    static List<TrainingRun.Result> run(List<TrainConfig> configs, Path out, boolean resume, Ranks ranks) {
        Path baseFile = out.resolve("base").resolve("model.pt");
        boolean writes = ranks == null || ranks.rank() == 0;
        // Ranks started with other configs or options (a file edited between starts, --steps on one) would train
        // apart or call collectives out of step: every rank stops first.
        if (ranks != null) ranks.requireSame("configs and options", ConfigIO.toJson(configs) + ", resume " + resume);
        // Every rank checks before rank 0 writes, and the others wait for rank 0's base model, which each run loads;
        // a rank that refuses makes every rank stop.
        Ranks.together(ranks, () -> check(configs, out, resume, writes));
        Evaluator.EvalResult[] baseEval = new Evaluator.EvalResult[1];
        Ranks.together(ranks, () -> {
            if (!writes) return;
            TrainConfig first = configs.get(0);
            ProgressBar warm = new ProgressBar("warm start (base model)", first.warmStart().steps());
            TransformerPolicy base = BaseModel.obtain(first, baseFile, s -> warm.update(s + 1, ""));
            baseEval[0] = Evaluator.evaluate(base, first.task().create(), first.eval(), first.seed());
            ConfigIO.write(out.resolve("base").resolve("eval.json"), baseEval[0]);
            System.err.printf("base model: pass@1 %.3f%n", baseEval[0].passAt1());
        });

        List<TrainingRun.Result> results = new ArrayList<>();
        for (TrainConfig c : configs) {
            ProgressBar bar = new ProgressBar(c.name(), c.steps());
            Consumer<StepMetrics> progress = writes ? m -> bar.update(m.step() + 1, detail(m)) : m -> {};
            results.add(TrainingRun.run(c, out.resolve(c.name()), baseFile, resume, -1, progress, ranks));
        }
        if (!writes) return results;
        List<Plots.Reference> aepoTargets = new ArrayList<>(), bands = new ArrayList<>();
        for (TrainConfig c : configs) {
            if (c.aepo() != null) aepoTargets.add(new Plots.Reference(c.name() + " target", c.aepo().targetEntropy()));
            if (c.aent() != null) {
                bands.add(new Plots.Reference(c.name() + " band low", c.aent().low()));
                bands.add(new Plots.Reference(c.name() + " band high", c.aent().high()));
            }
        }
        Plots.lines(out.resolve("entropy.png"), "Token entropy of the policy", "entropy (nats / token)", results,
                StepMetrics::entropy, aepoTargets);
        Plots.lines(out.resolve("clamped-entropy.png"), "Clamped entropy (AEnt)", "clamped entropy (nats / token)",
                results, StepMetrics::clampedEntropy, bands);
        Plots.lines(out.resolve("accuracy.png"), "Accuracy of the rollouts", "fraction correct", results,
                StepMetrics::accuracy, List.of());
        String table = Summary.table(baseEval[0], results);
        try {
            Files.writeString(out.resolve("summary.md"), table);
        } catch (IOException e) {
            throw new UncheckedIOException("summary: cannot write " + out.resolve("summary.md"), e);
        }
        System.out.println(table);
        System.out.println("results: " + out.toAbsolutePath()
                + " (summary.md, entropy.png, clamped-entropy.png, accuracy.png, <run>/metrics.jsonl)");
        return results;
    }

    /** The configs agree on one base model, and the folder takes the results: before any warm start or training. */
    private static void check(List<TrainConfig> configs, Path out, boolean resume, boolean writes) {
        TrainConfig first = configs.get(0);
        for (TrainConfig c : configs) {
            if (!BaseModel.identity(c).equals(BaseModel.identity(first)))
                throw new IllegalArgumentException("configs: \"" + c.name() + "\" needs another base model than \""
                        + first.name() + "\" (task, model, seed and warm start must agree)");
            if (configs.stream().filter(o -> o.name().equals(c.name())).count() > 1)
                throw new IllegalArgumentException("configs: two runs are named \"" + c.name() + "\"");
        }
        if (!resume && Files.exists(out.resolve("base")))
            throw new IllegalArgumentException("out: " + out + " already holds results; pass --resume to continue"
                    + " them, or choose another folder");
        if (!writes) return;
        try {
            Files.createDirectories(out);
        } catch (IOException e) {  // under a file, or where this user may not write
            throw new IllegalArgumentException("out: cannot make the folder " + out + " ("
                    + e.getClass().getSimpleName() + ": " + e.getMessage() + ")", e);
        }
    }

    /** The progress bar's step: accuracy, entropy, clamped entropy, temperature, and the tokens clipped low / high. */
    static String detail(StepMetrics m) {
        return String.format("acc %.2f  H %.3f  Hc %.3f  T %.2f  clip %.3f / %.3f", m.accuracy(), m.entropy(),
                m.clampedEntropy(), m.temperature(), m.clipLowFraction(), m.clipHighFraction());
    }
}
