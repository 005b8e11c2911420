package io.policyloss.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.policyloss.rl.StepMetrics;
import io.policyloss.rl.TrainConfig;
import io.policyloss.rl.TrainConfigs;
import io.policyloss.rl.TrainingRun;
import io.policyloss.torch.LoopbackRanks;
import io.policyloss.torch.TorchThreads;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two training processes of one data-parallel group (`train --ranks 2 --rank R --store FILE`): rank 0 writes the
 * results folder, and its metrics are those of the same group run as threads of one JVM on the base model it made;
 * where rank 0 refuses the folder, both stop with exit code 2, as where rank 1 does not see it; where one is killed,
 * the other stops at once.
 */
class DataParallelCliTest {
    private static final String CONFIG = """
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
            """;

    @TempDir
    Path dir;

    @Test
    void twoProcessesTrainAsTwoThreadRanksDo() throws Exception {
        Path config = dir.resolve("run.yaml");
        Files.writeString(config, CONFIG);
        Path out = dir.resolve("out");
        Process[] ranks = start("rank", config, out, "--store", dir.resolve("store").toString());
        for (int r = 0; r < 2; ++r) {
            assertTrue(ranks[r].waitFor(240, TimeUnit.SECONDS), "rank " + r + " finishes");
            String log = Files.readString(dir.resolve("rank" + r + ".log"));
            assertEquals(0, ranks[r].exitValue(), "rank " + r + ": " + log);
            assertTrue(log.contains("rank " + r + " of 2: waiting for the others at " + dir.resolve("store")
                    + " (up to 30 minutes)"), log);
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
        ranks = start("again", changed, out, "--store", dir.resolve("store-again").toString(), "--resume");
        for (int r = 0; r < 2; ++r) {
            assertTrue(ranks[r].waitFor(120, TimeUnit.SECONDS), "rank " + r + " stops");
            assertEquals(2, ranks[r].exitValue(), "rank " + r);
        }
        assertTrue(Files.readString(dir.resolve("again0.log")).contains("started with another config"));
        assertTrue(Files.readString(dir.resolve("again1.log")).contains("error: rank 0 failed (its output says why)"),
                Files.readString(dir.resolve("again1.log")));
    }

    /**
     * Ranks meeting through a TCP store (`--master`), which rank 0 serves: a rank whose process ends during training
     * (killed here) stops the other at its next collective, as Gloo sees the connection reset at once, and the command
     * line says so in a line, exit code 1, instead of a stack trace.
     */
    @Test
    void aRankKilledDuringTrainingStopsTheOther() throws Exception {
        Path config = dir.resolve("long.yaml");
        Files.writeString(config, CONFIG.replace("steps: 4", "steps: 100000"));
        Path out = dir.resolve("out"), metrics = out.resolve("ranks").resolve("metrics.jsonl");
        int port;
        try (ServerSocket free = new ServerSocket(0)) {
            port = free.getLocalPort();
        }
        Process[] ranks = start("long", config, out, "--master", "127.0.0.1:" + port);
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(240);
            while (!Files.exists(metrics) || Files.size(metrics) == 0) {  // rank 0 has written a step: both train
                assertTrue(ranks[0].isAlive() && System.nanoTime() < deadline, Files.readString(dir.resolve(
                        "long0.log")));
                Thread.sleep(50);
            }
            ranks[1].destroyForcibly().waitFor();
            assertTrue(ranks[0].waitFor(60, TimeUnit.SECONDS), "rank 0 stops, long before the 30-minute timeout");
            String log = Files.readString(dir.resolve("long0.log"));
            assertEquals(1, ranks[0].exitValue(), log);
            assertTrue(log.contains("error: rank 0: a collective failed, another rank stopped or is out of step"), log);
            assertFalse(log.contains("\tat "), "no stack trace: " + log);
        } finally {
            for (Process p : ranks) p.destroyForcibly();
        }
    }

    /**
     * Ranks that do not share one results folder (each given its own --out, as on machines without a shared file
     * system): rank 1 refuses as its run starts, while rank 0 is still sampling its first step, and both stop with
     * exit code 2, rank 0 with "rank 1 failed". That takes rank 1's process waiting for rank 0 to meet its failure
     * before it ends ({@code Ranks.heard}): without the wait, rank 0 found the connection closed here (exit code 1).
     */
    @Test
    void ranksApartStopWithTheReason() throws Exception {
        // Wide, and warmed for 2 steps only, so that rank 0 samples to the full context for a while before it meets.
        Path config = dir.resolve("wider.yaml");
        Files.writeString(config, CONFIG.replace("layers: 1, width: 16, heads: 2, context: 8",
                "layers: 4, width: 128, heads: 2, context: 32").replace("promptsPerStep: 4", "promptsPerStep: 16")
                .replace("groupSize: 4", "groupSize: 16").replace("steps: 10", "steps: 2"));
        Process[] ranks = new Process[2];
        for (int r = 0; r < 2; ++r)
            ranks[r] = CliProcess.start(dir.resolve("apart" + r + ".log"), "train", "--config", config.toString(),
                    "--out", dir.resolve("out" + r).toString(), "--ranks", "2", "--rank", String.valueOf(r),
                    "--store", dir.resolve("store").toString());
        try {
            String[] logs = new String[2];
            for (int r = 0; r < 2; ++r) {
                assertTrue(ranks[r].waitFor(120, TimeUnit.SECONDS), "rank " + r + " stops");
                logs[r] = Files.readString(dir.resolve("apart" + r + ".log"));
                assertEquals(2, ranks[r].exitValue(), logs[r]);
            }
            assertTrue(logs[1].contains("error: baseModel: no file " + dir.resolve("out1").resolve("base")
                    .resolve("model.pt") + " on rank 1: every rank reads it, so it must be on a file system every rank"
                    + " sees (the command line's --out)"), logs[1]);
            assertTrue(logs[0].contains("error: rank 1 failed (its output says why)"), logs[0]);
        } finally {
            for (Process p : ranks) p.destroyForcibly();
        }
    }

    /** Both ranks' processes of `train --config config --out out --ranks 2 --rank R` and more, logs in {name}R.log. */
    private Process[] start(String name, Path config, Path out, String... more) throws Exception {
        Process[] ranks = new Process[2];
        for (int r = 0; r < 2; ++r) {
            List<String> args = new ArrayList<>(List.of("train", "--config", config.toString(), "--out",
                    out.toString(), "--ranks", "2", "--rank", String.valueOf(r)));
            args.addAll(List.of(more));
            ranks[r] = CliProcess.start(dir.resolve(name + r + ".log"), args.toArray(String[]::new));
        }
        return ranks;
    }
}
