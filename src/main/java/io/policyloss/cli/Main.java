package io.policyloss.cli;

import io.policyloss.rl.BaseModel;
import io.policyloss.rl.Checkpoints;
import io.policyloss.rl.EvalConfig;
import io.policyloss.rl.Evaluator;
import io.policyloss.rl.TrainConfig;
import io.policyloss.rl.TrainConfigs;
import io.policyloss.torch.LibtorchErrors;
import io.policyloss.torch.Ranks;
import io.policyloss.torch.TorchThreads;
import io.policyloss.torch.TransformerPolicy;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.bytedeco.javacpp.chrono.Milliseconds;
import org.bytedeco.pytorch.FileStore;
import org.bytedeco.pytorch.Store;
import org.bytedeco.pytorch.TCPStore;
import org.bytedeco.pytorch.TCPStoreOptions;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** The command line: train, compare, eval. */
@Command(name = "policyloss", mixinStandardHelpOptions = true, version = "policyloss 0.1.0",
        description = "Trains a small transformer with RL through the fused policy loss.",
        subcommands = {Main.Train.class, Main.Compare.class, Main.Eval.class})
public final class Main {
    /** How long a rank waits at a collective: the others wait there while rank 0 makes the base model. */
    private static final Duration RANK_TIMEOUT = Duration.ofMinutes(30);
    /** How long a rank that failed waits, before its process ends, for the others to meet its failure. */
    private static final Duration HEARD_WITHIN = Duration.ofMinutes(1);

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    static CommandLine commandLine() {
        return new CommandLine(new Main()).setExecutionExceptionHandler((e, cmd, parsed) -> {
            // A rank that told the others of its failure lets them meet it before its connections close (Ranks.heard).
            if (cmd.getCommand() instanceof RunOptions run && run.group != null) run.group.heard(HEARD_WITHIN);
            // Bad input, here or on the ranks that failed (exit code 2), or another rank failed or gone (1): the
            // message, not a stack trace.
            boolean badInput = e instanceof IllegalArgumentException
                    || e instanceof Ranks.RankFailedException failed && failed.refused();
            boolean otherRank = e instanceof Ranks.RankFailedException || e instanceof Ranks.CollectiveFailedException;
            // A file that could not be read or written (a full disk, a results folder changed under the run): the
            // message and the file system's reason, exit code 1, as for another rank.
            if (e instanceof UncheckedIOException io) {
                cmd.getErr().println("error: " + io.getMessage() + " (" + io.getCause().getClass().getSimpleName()
                        + ": " + io.getCause().getMessage() + ")");
                return 1;
            }
            if (!badInput && !otherRank) throw e;
            cmd.getErr().println("error: " + e.getMessage());
            return badInput ? 2 : 1;
        });
    }

    /** Options every command shares. */
    static class Common {
        @Option(names = "--threads", description = "libtorch intra-op threads (default: ${DEFAULT-VALUE})")
        int threads = 1;

        @Option(names = "--steps", description = "override the RL steps of every run")
        Integer steps;

        @Option(names = "--seed", description = "override the seed of every run (weights, problems, sampling)")
        Long seed;

        TrainConfig adjust(TrainConfig c) {
            TorchThreads.use(threads);
            if (steps != null) c = TrainConfigs.withOverrides(c, "{\"steps\": " + steps + "}");
            return seed == null ? c : TrainConfigs.withOverrides(c, "{\"seed\": " + seed + "}");
        }
    }

    /** Options of the commands that write a results folder. */
    static class RunOptions extends Common {
        @Option(names = "--out", description = "results folder (default: results/<run or comparison name>)")
        Path out;

        @Option(names = "--resume", description = "continue the folder's runs after their latest checkpoints")
        boolean resume;

        @Option(names = "--ranks", description = "data-parallel processes, each started with its --rank (default: "
                + "${DEFAULT-VALUE})")
        int ranks = 1;

        @Option(names = "--rank", description = "this process's rank, 0 to ranks - 1; rank 0 writes the results")
        int rank;

        @Option(names = "--store", description = "with --ranks > 1: a file the ranks meet through (libtorch's "
                + "FileStore), on a file system they all see, new for each start")
        Path store;

        @Option(names = "--master", description = "with --ranks > 1, in place of --store: HOST:PORT of a TCP store "
                + "(libtorch's TCPStore, torchrun's MASTER_ADDR:MASTER_PORT) that rank 0 serves on PORT and the "
                + "others reach at HOST, across machines")
        String master;

        @Option(names = "--hostname", description = "the address this rank's Gloo transport binds (default: "
                + "${DEFAULT-VALUE})")
        String hostname = "127.0.0.1";

        /** The group {@link #ranks()} made, for the exit after a failure. */
        Ranks group;

        /** This process's rank of the group, or null for one process. */
        Ranks ranks() {
            if (ranks < 1) throw new IllegalArgumentException("ranks: must be >= 1, got " + ranks);
            if (ranks == 1) return null;
            // Before any wait: a client rank's TCP store retries its connection until the timeout.
            if (rank < 0 || rank >= ranks)
                throw new IllegalArgumentException("rank: must be in [0, " + ranks + "), got " + rank);
            if ((store == null) == (master == null))
                throw new IllegalArgumentException("store: give one of --store FILE and --master HOST:PORT with "
                        + "--ranks " + ranks);
            // libtorch's FileStore retries a file it cannot create until the timeout, without a word.
            if (store != null && !Files.isDirectory(store.toAbsolutePath().getParent()))
                throw new IllegalArgumentException("store: no folder " + store.toAbsolutePath().getParent()
                        + " for the file the ranks meet through");
            // Said before the wait, which lasts until every rank has started (up to the timeout), silent otherwise.
            System.err.printf("rank %d of %d: waiting for the others at %s (up to %d minutes)%n", rank, ranks,
                    store != null ? store : master, RANK_TIMEOUT.toMinutes());
            Store meeting = store != null ? new FileStore(store.toString(), ranks) : tcpStore(master, rank == 0);
            group = Ranks.gloo(meeting, rank, ranks, hostname, RANK_TIMEOUT);
            return group;
        }

        /**
         * The store at HOST:PORT: rank 0 serves it (on every address of its machine), the others connect, retrying
         * for as long as a rank waits at a collective, so that the processes may start in any order.
         */
        private static Store tcpStore(String master, boolean serve) {
            int colon = master.lastIndexOf(':');
            int port = colon > 0 && master.substring(colon + 1).matches("[0-9]{1,5}")
                    ? Integer.parseInt(master.substring(colon + 1)) : 0;
            if (port < 1 || port > 65535)
                throw new IllegalArgumentException("master: HOST:PORT with a port in [1, 65535], got \"" + master
                        + "\"");
            TCPStoreOptions options = new TCPStoreOptions().port((short) port).isServer(serve).waitWorkers(false)
                    .timeout(new Milliseconds(RANK_TIMEOUT.toMillis()));
            try {
                return new TCPStore(master.substring(0, colon), options);
            } catch (RuntimeException e) {  // the port taken, the host unknown or out of reach: the option's fault
                throw new IllegalArgumentException("master: " + master + ": " + LibtorchErrors.message(e), e);
            }
        }
    }

    @Command(name = "train", mixinStandardHelpOptions = true, description = "One run, from a config file or a preset.")
    static final class Train extends RunOptions implements Callable<Integer> {
        @Option(names = "--config", description = "a JSON or YAML config (may name a preset to start from)")
        Path config;

        @Option(names = "--preset", description = "a named preset: ${COMPLETION-CANDIDATES}",
                completionCandidates = PresetNames.class)
        String preset;

        @Override
        public Integer call() {
            if ((config == null) == (preset == null))
                throw new IllegalArgumentException("train: give exactly one of --config and --preset");
            TrainConfig c = adjust(config != null ? TrainConfigs.read(config) : TrainConfigs.preset(preset));
            Experiment.run(List.of(c), out != null ? out : Path.of("results", c.name()), resume, ranks());
            return 0;
        }
    }

    @Command(name = "compare", mixinStandardHelpOptions = true,
            description = "Several algorithms from one base model on one seed; plots and a summary table.")
    static final class Compare extends RunOptions implements Callable<Integer> {
        @Option(names = "--comparison", description = "a named comparison: ${COMPLETION-CANDIDATES} (default: "
                + "${DEFAULT-VALUE})", completionCandidates = ComparisonNames.class)
        String comparison = "default";

        @Option(names = "--runs", split = ",", description = "presets to compare instead of a named comparison")
        List<String> runs;

        @Override
        public Integer call() {
            List<TrainConfig> configs = new ArrayList<>();
            for (TrainConfig c : runs != null ? runs.stream().map(TrainConfigs::preset).toList()
                    : Comparisons.named(comparison)) configs.add(adjust(c));
            Experiment.run(configs, out != null ? out : Path.of("results", runs != null ? "custom" : comparison),
                    resume, ranks());
            return 0;
        }
    }

    @Command(name = "eval", mixinStandardHelpOptions = true, description = "pass@k of saved weights.")
    static final class Eval extends Common implements Callable<Integer> {
        @Option(names = "--model", required = true, description = "weights: a run's model.pt or base/model.pt")
        Path model;

        @Option(names = "--preset", description = "the weights' preset (default: ${DEFAULT-VALUE})")
        String preset = "grpo";

        @Option(names = "--config", description = "or the config file they were trained with")
        Path config;

        @Option(names = "--samples", description = "responses per problem, n (default: ${DEFAULT-VALUE})")
        int samples = 64;

        @Option(names = "--k", split = ",", description = "the k of pass@k (default: 1,8,64)")
        List<Integer> ks = List.of(1, 8, 64);

        @Option(names = "--problems", description = "problems (default: ${DEFAULT-VALUE})")
        int problems = 64;

        @Override
        public Integer call() {
            TrainConfig c = adjust(config != null ? TrainConfigs.read(config) : TrainConfigs.preset(preset));
            TransformerPolicy policy = BaseModel.newPolicy(c);
            Checkpoints.loadModule(policy, model);
            EvalConfig e = new EvalConfig(problems, samples, ks, c.eval().temperature());
            Evaluator.EvalResult r = Evaluator.evaluate(policy, c.task().create(), e, c.seed());
            r.passAtK().forEach((k, p) -> System.out.printf("pass@%d %.4f%n", k, p));
            return 0;
        }
    }

    static final class PresetNames extends ArrayList<String> {
        PresetNames() {
            super(TrainConfigs.presetNames());
        }
    }

    static final class ComparisonNames extends ArrayList<String> {
        ComparisonNames() {
            super(Comparisons.names());
        }
    }
}
