package io.policyloss.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.policyloss.rl.BaseModel;
import io.policyloss.rl.Checkpoints;
import io.policyloss.rl.StepMetrics;
import io.policyloss.rl.TrainConfig;
import io.policyloss.rl.TrainConfigs;
import io.policyloss.rl.TrainingRun;
import io.policyloss.torch.Tensors;
import io.policyloss.torch.TorchThreads;
import io.policyloss.torch.TransformerPolicy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.bytedeco.pytorch.TensorVector;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A training process killed with SIGKILL in the middle of its run (possibly while writing a checkpoint), then
 * resumed by a new process, ends with the weights and metrics of an uninterrupted run.
 */
class KillAndResumeTest {
    @TempDir
    Path dir;

    @Test
    void aRunKilledMidwayAndResumedEndsLikeAnUninterruptedOne() throws Exception {
        Path config = dir.resolve("run.yaml");
        Files.writeString(config, """
                preset: aent
                name: killed
                task: {name: digit-sum, size: 2}
                model: {layers: 1, width: 16, heads: 2, context: 8}
                warmStart: {steps: 10, batchSize: 16}
                steps: 40
                promptsPerStep: 4
                groupSize: 4
                miniBatches: 2
                checkpointEvery: 3
                eval: {problems: 4, samples: 4, ks: [1, 4]}
                """);
        Path killed = dir.resolve("killed");
        Process p = trainProcess(config, killed, false);
        Path metrics = killed.resolve("killed").resolve("metrics.jsonl");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (lines(metrics) < 8 && p.isAlive() && System.nanoTime() < deadline) Thread.sleep(5);
        p.destroyForcibly().waitFor(); // SIGKILL: no shutdown hooks, no cleanup
        int linesAtKill = lines(metrics);
        assertTrue(linesAtKill >= 8 && linesAtKill < 40, "killed after " + linesAtKill + " of 40 steps");

        Process resumed = trainProcess(config, killed, true);
        assertTrue(resumed.waitFor(180, TimeUnit.SECONDS), "the resumed run finishes");
        assertEquals(0, resumed.exitValue());

        TrainConfig c = TrainConfigs.read(config);
        TorchThreads.use(1); // as the command line's default: libtorch's sums depend on its thread count
        TrainingRun.Result whole = TrainingRun.run(c, dir.resolve("whole"),
                killed.resolve("base").resolve("model.pt"), false, -1, m -> {});
        assertEquals(whole.steps().stream().map(StepMetrics::withoutSeconds).toList(),
                TrainingRun.readMetrics(metrics, 40).stream().map(StepMetrics::withoutSeconds).toList());
        TransformerPolicy a = BaseModel.newPolicy(c), b = BaseModel.newPolicy(c);
        Checkpoints.loadModule(a, dir.resolve("whole").resolve("model.pt"));
        Checkpoints.loadModule(b, killed.resolve("killed").resolve("model.pt"));
        TensorVector pa = a.parameters(), pb = b.parameters();
        for (long i = 0; i < pa.size(); ++i)
            assertArrayEquals(Tensors.toFloats(pa.get(i)), Tensors.toFloats(pb.get(i)), "parameter " + i);
    }

    private static Process trainProcess(Path config, Path out, boolean resume) throws Exception {
        List<String> args = new ArrayList<>(List.of("train", "--config", config.toString(), "--out", out.toString()));
        if (resume) args.add("--resume");
        return CliProcess.start(out.resolveSibling(resume ? "resumed.log" : "killed.log"), args.toArray(String[]::new));
    }

    private static int lines(Path file) throws Exception {
        return Files.exists(file) ? (int) Files.readAllLines(file).stream().filter(l -> !l.isBlank()).count() : 0;
    }
}
