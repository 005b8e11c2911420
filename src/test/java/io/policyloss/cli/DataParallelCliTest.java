package io.policyloss.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.policyloss.rl.StepMetrics;
import io.policyloss.rl.TrainConfig;
import io.policyloss.rl.TrainConfigs;
import io.policyloss.rl.TrainingRun;
import io.policyloss.torch.LoopbackRanks;
import io.policyloss.torch.TorchThreads;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two training processes of one data-parallel group (`train --ranks 2 --rank R --store FILE`): rank 0 writes the
 * results folder, and its metrics are those of the same group run as threads of one JVM on the base model it made;
 * where rank 0 refuses the folder, both stop with exit code 2.
 */
class DataParallelCliTest {
    @TempDir
    Path dir;

    @Test
    void twoProcessesTrainAsTwoThreadRanksDo() throws Exception {
        Path config = dir.resolve("run.yaml");
        Files.writeString(config, """
                preset: entropy-mask
                name: ranks
                task: {name: digit-sum, size: 2}
                model: {layers: 1, width: 16, heads: 2, context: 8}
                warmStart: {steps: 10, batchSize: 16}
                steps: 4
                promptsPerStep: 4
                groupSize: 4
                miniBatches: 2
                eval: {problems: 4, samples: 4, ks: [1, 4]}
                """);
        Path out = dir.resolve("out"), store = dir.resolve("store");
        Process[] ranks = new Process[2];
        for (int r = 0; r < 2; ++r)
            ranks[r] = CliProcess.start(dir.resolve("rank" + r + ".log"), "train", "--config", config.toString(),
                    "--out", out.toString(), "--ranks", "2", "--rank", String.valueOf(r), "--store", store.toString());
        for (int r = 0; r < 2; ++r) {
            assertTrue(ranks[r].waitFor(240, TimeUnit.SECONDS), "rank " + r + " finishes");
            assertEquals(0, ranks[r].exitValue(), "rank " + r + ": " + Files.readString(dir.resolve("rank" + r
                    + ".log")));
        }
        for (String f : new String[] {"summary.md", "entropy.png", "base/model.pt", "ranks/model.pt",
                "ranks/eval.json"})
            assertTrue(Files.size(out.resolve(f)) > 0, f);

        TrainConfig c = TrainConfigs.read(config);
        TorchThreads.use(1);  // as the command line's default
        Path base = out.resolve("base").resolve("model.pt");
        TrainingRun.Result threads = LoopbackRanks.run(dir, 2, r -> TrainingRun.run(c, dir.resolve("threads"), base,
                false, -1, m -> {}, r)).get(0);
        assertEquals(threads.steps().stream().map(StepMetrics::withoutSeconds).toList(),
                TrainingRun.readMetrics(out.resolve("ranks").resolve("metrics.jsonl"), c.steps()).stream()
                        .map(StepMetrics::withoutSeconds).toList());

        // Resumed with another config: rank 0 alone reads the folder's, refuses it, and both processes stop at once.
        Path changed = dir.resolve("changed.yaml");
        Files.writeString(changed, Files.readString(config).replace("groupSize: 4", "groupSize: 2"));
        Path again = dir.resolve("store-again");
        for (int r = 0; r < 2; ++r)
            ranks[r] = CliProcess.start(dir.resolve("again" + r + ".log"), "train", "--config", changed.toString(),
                    "--out", out.toString(), "--resume", "--ranks", "2", "--rank", String.valueOf(r), "--store",
                    again.toString());
        for (int r = 0; r < 2; ++r) {
            assertTrue(ranks[r].waitFor(120, TimeUnit.SECONDS), "rank " + r + " stops");
            assertEquals(2, ranks[r].exitValue(), "rank " + r);
        }
        assertTrue(Files.readString(dir.resolve("again0.log")).contains("started with another config"));
        assertTrue(Files.readString(dir.resolve("again1.log")).contains("error: rank 0 failed (its output says why)"),
                Files.readString(dir.resolve("again1.log")));
    }
}
