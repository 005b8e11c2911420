package io.policyloss.rl;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.policyloss.loss.ConfigIO;
import io.policyloss.torch.Ranks;
import io.policyloss.torch.TransformerPolicy;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * One training run in its folder: config.json, metrics.jsonl (a line per step), checkpoints/, and at the end
 * model.pt and eval.json. With resume, a run continues after its latest checkpoint, dropping metric lines of
 * steps it will redo, and ends exactly as an uninterrupted run would.
 */
public final class TrainingRun {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The steps' metrics (all of them, those before a resume included) and the final evaluation. */
    public record Result(TrainConfig config, List<StepMetrics> steps, Evaluator.EvalResult eval) {}

    private TrainingRun() {}

    /**
     * @param baseModel the base model's weights (see {@link BaseModel}); also the KL reference
     * @param stopAfter stop once this many steps have run in this call (a stand-in for a kill), or -1 for none
     * @return the result, or null when stopped early
     */
    public static Result run(TrainConfig config, Path folder, Path baseModel, boolean resume, int stopAfter,
            Consumer<StepMetrics> listener) {
        return run(config, folder, baseModel, resume, stopAfter, listener, null);
    }

    /**
     * As {@link #run(TrainConfig, Path, Path, boolean, int, Consumer)}, on one of data-parallel {@code ranks} (null:
     * one process), every rank with the same arguments (checked first, {@link Ranks#requireSame}: where one rank's
     * differ, every rank throws an IllegalArgumentException): each trains the same weights ({@link Trainer}) and
     * returns the same result, and rank 0 alone checks and writes the folder (the others read its checkpoint when they
     * resume); where rank 0 refuses the folder, every rank throws ({@link Ranks#together}), and where one rank fails
     * later (a step, a write, the listener), the others throw at their next collective ({@link Ranks#guard}).
     */
    public static Result run(TrainConfig config, Path folder, Path baseModel, boolean resume, int stopAfter,
            Consumer<StepMetrics> listener, Ranks ranks) {
        return Ranks.guard(ranks, () -> runOnRank(config, folder, baseModel, resume, stopAfter, listener, ranks));
    }

    private static Result runOnRank(TrainConfig config, Path folder, Path baseModel, boolean resume, int stopAfter,
            Consumer<StepMetrics> listener, Ranks ranks) {
        boolean writes = ranks == null || ranks.rank() == 0;
        // Ranks given other arguments would train apart or call collectives out of step: every rank stops first.
        if (ranks != null)
            ranks.requireSame("config and arguments", ConfigIO.toJson(config) + ", resume " + resume + ", stopAfter "
                    + stopAfter);
        try {
            Path configFile = folder.resolve("config.json");
            Ranks.together(ranks, () -> {  // a refusal on rank 0 stops every rank
                if (!writes) return;
                if (resume && Files.exists(configFile))
                    checkSameRun(ConfigIO.read(configFile, TrainConfig.class), config);
                createDirectories(folder);
                ConfigIO.write(configFile, config);
            });
            // Every rank reads the base model: on a rank that does not see rank 0's folder, say so.
            if (ranks != null && !Files.isRegularFile(baseModel))
                throw new IllegalArgumentException("baseModel: no file " + baseModel + " on rank " + ranks.rank()
                        + ": every rank reads it, so it must be on a file system every rank sees (the command line's"
                        + " --out)");
            TransformerPolicy policy = BaseModel.newPolicy(config);
            Checkpoints.loadModule(policy, baseModel);
            TransformerPolicy reference = null;
            if (config.needsReference()) {
                reference = BaseModel.newPolicy(config);
                Checkpoints.loadModule(reference, baseModel);
            }
            Trainer trainer = new Trainer(config, policy, reference, ranks);
            Checkpoints checkpoints = new Checkpoints(folder);
            Path metricsFile = folder.resolve("metrics.jsonl");
            List<StepMetrics> steps = new ArrayList<>();
            int first = 0;
            Optional<Checkpoints.State> latest = resume ? checkpoints.latest() : Optional.empty();
            if (latest.isPresent()) {
                Checkpoints.State state = latest.get();
                checkpoints.restore(policy, trainer.optimizer());
                if (state.aentLambda() != null) trainer.aentLambda(state.aentLambda());
                if (state.adaptiveEntropy() != null) trainer.adaptiveEntropy(state.adaptiveEntropy());
                if (state.klInReward() != null) trainer.klInReward(state.klInReward());
                first = state.nextStep();
                steps.addAll(readMetrics(metricsFile, first));
            }
            if (writes) rewriteMetrics(metricsFile, steps);
            int ran = 0;
            for (int step = first; step < config.steps(); ++step) {
                if (ran++ == stopAfter) return null;
                StepMetrics m = trainer.step(step);
                steps.add(m);
                if (writes)
                    Files.writeString(metricsFile, JSON.writeValueAsString(m) + "\n", StandardOpenOption.APPEND);
                listener.accept(m);
                boolean last = step == config.steps() - 1;
                if (writes && (last || (config.checkpointEvery() > 0 && (step + 1) % config.checkpointEvery() == 0)))
                    checkpoints.save(new Checkpoints.State(step + 1,
                            trainer.aent() == null ? null : trainer.aent().lambda(), trainer.adaptiveEntropy(),
                            trainer.klInReward()), policy, trainer.optimizer());
            }
            if (writes) Checkpoints.saveModule(policy, folder.resolve("model.pt"));
            Evaluator.EvalResult eval = Evaluator.evaluate(policy, config.task().create(), config.eval(), config.seed());
            if (writes) ConfigIO.write(folder.resolve("eval.json"), eval);
            return new Result(config, steps, eval);
        } catch (IOException e) {
            throw new UncheckedIOException("run " + folder + ": " + e.getMessage(), e);
        }
    }

    private static void createDirectories(Path folder) {
        try {
            Files.createDirectories(folder);
        } catch (IOException e) {
            throw new UncheckedIOException("run " + folder + ": " + e.getMessage(), e);
        }
    }

    /** A run resumes with the config it started with; only its number of steps may grow or shrink. */
    private static void checkSameRun(TrainConfig before, TrainConfig now) {
        TrainConfig sameSteps = TrainConfigs.withOverrides(before, "{\"steps\": " + now.steps() + "}");
        if (!sameSteps.equals(now))
            throw new IllegalArgumentException("resume: the run in this folder started with another config than "
                    + "this one (only steps may differ); use another results folder");
    }

    /** The metrics of steps before {@code before} in a run's metrics.jsonl. */
    public static List<StepMetrics> readMetrics(Path file, int before) throws IOException {
        List<StepMetrics> out = new ArrayList<>();
        if (!Files.exists(file)) return out;
        for (String line : Files.readAllLines(file)) {
            if (line.isBlank()) continue;
            StepMetrics m = JSON.readValue(line, StepMetrics.class);
            if (m.step() < before) out.add(m);
        }
        return out;
    }

    private static void rewriteMetrics(Path file, List<StepMetrics> steps) throws IOException {
        StringBuilder text = new StringBuilder();
        for (StepMetrics m : steps) text.append(JSON.writeValueAsString(m)).append('\n');
        Checkpoints.atomicWrite(file, text.toString());
    }
}
