package io.policyloss.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.policyloss.loss.ConfigIO;
import io.policyloss.rl.TrainConfigs;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The command line end to end on a tiny config: the files a person looks at, and errors as messages. */
class MainTest {
    @TempDir
    Path dir;

    private record Outcome(int code, String err) {}

    private static Outcome run(String... args) {
        CommandLine cli = Main.commandLine();
        StringWriter err = new StringWriter();
        cli.setErr(new PrintWriter(err));
        return new Outcome(cli.execute(args), err.toString());
    }

    @Test
    void trainLeavesMetricsPlotsAndASummary() throws Exception {
        Path config = dir.resolve("tiny.yaml");
        Files.writeString(config, """
                preset: grpo
                name: tiny
                task: {name: addition, size: 1}
                model: {layers: 1, width: 16, heads: 2, context: 8}
                warmStart: {steps: 5, batchSize: 8}
                steps: 3
                promptsPerStep: 2
                groupSize: 4
                miniBatches: 1
                eval: {problems: 4, samples: 4, ks: [1, 2]}
                """);
        Path out = dir.resolve("out");
        assertEquals(0, run("train", "--config", config.toString(), "--out", out.toString()).code());
        assertEquals(3, Files.readAllLines(out.resolve("tiny").resolve("metrics.jsonl")).size());
        for (String f : new String[] {"summary.md", "entropy.png", "clamped-entropy.png", "accuracy.png",
                "base/model.pt", "base/eval.json", "tiny/model.pt", "tiny/eval.json", "tiny/config.json"})
            assertTrue(Files.size(out.resolve(f)) > 0, f);
        assertEquals(TrainConfigs.read(config), ConfigIO.read(out.resolve("tiny").resolve("config.json"),
                io.policyloss.rl.TrainConfig.class), "the run records the config it ran");
        assertTrue(Files.readString(out.resolve("summary.md")).contains("| tiny | 3 |"));

        Outcome again = run("train", "--config", config.toString(), "--out", out.toString());
        assertEquals(2, again.code());
        assertTrue(again.err().contains("already holds results; pass --resume"), again.err());
        assertEquals(0, run("train", "--config", config.toString(), "--out", out.toString(), "--resume").code());

        Path changed = dir.resolve("changed.yaml");
        Files.writeString(changed, Files.readString(config).replace("groupSize: 4", "groupSize: 2"));
        Outcome changedRun = run("train", "--config", changed.toString(), "--out", out.toString(), "--resume");
        assertEquals(2, changedRun.code());
        assertTrue(changedRun.err().contains("started with another config"), changedRun.err());
        assertEquals(0, run("train", "--config", config.toString(), "--out", out.toString(), "--resume", "--steps",
                "4").code(), "a finished run may be extended");
        assertEquals(4, Files.readAllLines(out.resolve("tiny").resolve("metrics.jsonl")).size());

        Path other = dir.resolve("other.yaml");
        Files.writeString(other, Files.readString(config).replace("seed: 1", "") + "seed: 2\n");
        Outcome otherBase = run("train", "--config", other.toString(), "--out", out.toString(), "--resume");
        assertEquals(2, otherBase.code());
        assertTrue(otherBase.err().contains("was made for"), otherBase.err());

        String model = out.resolve("tiny").resolve("model.pt").toString();
        assertEquals(0, run("eval", "--model", model, "--config", config.toString(), "--samples", "8", "--k", "1,8",
                "--problems", "4").code());
        Outcome badK = run("eval", "--model", model, "--config", config.toString(), "--samples", "4", "--k", "8");
        assertEquals(2, badK.code());
        assertTrue(badK.err().contains("eval.ks: each k must be in [1, samples = 4], got 8"), badK.err());

        // The run's folder changed under it: a line with the file system's reason, not a stack trace.
        Path latest = out.resolve("tiny").resolve("checkpoints").resolve("latest");
        Files.delete(latest);
        Files.createDirectory(latest);
        Outcome unreadable = run("train", "--config", config.toString(), "--out", out.toString(), "--resume");
        assertEquals(1, unreadable.code());
        assertEquals("error: checkpoint " + latest.getParent() + ": cannot read latest (IOException: Is a directory)",
                unreadable.err().strip());
    }

    @Test
    void badInputIsAMessageAndExitCode2() throws Exception {
        Outcome unknown = run("train", "--preset", "nope");
        assertEquals(2, unknown.code());
        assertTrue(unknown.err().startsWith("error: preset: unknown \"nope\""), unknown.err());
        Outcome both = run("train");
        assertEquals(2, both.code());
        assertTrue(both.err().contains("give exactly one of --config and --preset"), both.err());
        Outcome noStore = run("train", "--preset", "grpo", "--ranks", "2");
        assertEquals(2, noStore.code());
        assertTrue(noStore.err().contains("store: give one of --store FILE and --master HOST:PORT with --ranks 2"),
                noStore.err());
        int processors = Runtime.getRuntime().availableProcessors();
        for (int threads : new int[] {0, processors + 1}) {
            Outcome badThreads = run("train", "--preset", "grpo", "--threads", String.valueOf(threads));
            assertEquals(2, badThreads.code(), badThreads.err());
            assertEquals("error: threads: must be in [1, " + processors + "] (this machine's processors), got "
                    + threads, badThreads.err().strip());
        }
        Outcome badRank = run("train", "--preset", "grpo", "--ranks", "2", "--rank", "2", "--master", "127.0.0.1:1");
        assertEquals("error: rank: must be in [0, 2), got 2", badRank.err().strip(), "before any wait");
        Path nowhere = dir.resolve("none").resolve("store");
        Outcome noFolder = run("train", "--preset", "grpo", "--ranks", "2", "--store", nowhere.toString());
        assertEquals(2, noFolder.code(), noFolder.err());
        assertEquals("error: store: no folder " + nowhere.getParent() + " for the file the ranks meet through",
                noFolder.err().strip());
        Outcome both2 = run("train", "--preset", "grpo", "--ranks", "2", "--store", "s", "--master", "h:1");
        assertTrue(both2.err().contains("store: give one of --store FILE and --master HOST:PORT"), both2.err());
        for (String master : new String[] {"127.0.0.1", "127.0.0.1:x", ":29500", "h:0", "h:65536"}) {
            Outcome badMaster = run("train", "--preset", "grpo", "--ranks", "2", "--master", master);
            assertEquals(2, badMaster.code(), master);
            assertTrue(badMaster.err().contains("master: HOST:PORT with a port in [1, 65535], got \"" + master
                    + "\""), badMaster.err());
        }
        try (ServerSocket taken = new ServerSocket(0)) {  // rank 0 cannot serve the store on a port in use
            String master = "127.0.0.1:" + taken.getLocalPort();
            Outcome busy = run("train", "--preset", "grpo", "--ranks", "2", "--rank", "0", "--master", master);
            assertEquals(2, busy.code());
            assertTrue(busy.err().startsWith("error: master: " + master + ": ") && busy.err().contains("in use")
                    && !busy.err().contains("frame #"), busy.err());
        }
        Path missing = dir.resolve("missing.yaml");
        Outcome noFile = run("train", "--config", missing.toString());
        assertEquals(2, noFile.code());
        assertEquals("error: config: no file " + missing, noFile.err().strip());
        Path file = Files.writeString(dir.resolve("a-file"), "");
        Outcome underAFile = run("train", "--preset", "grpo", "--out", file.resolve("out").toString());
        assertEquals(2, underAFile.code(), underAFile.err());
        assertEquals("error: out: cannot make the folder " + file.resolve("out") + " (FileSystemException: "
                + file.resolve("out") + ": Not a directory)", underAFile.err().strip());
        Outcome comparison = run("compare", "--comparison", "nope");
        assertTrue(comparison.err().contains("comparison: unknown \"nope\""), comparison.err());
    }
}
