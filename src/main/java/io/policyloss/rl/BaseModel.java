package io.policyloss.rl;

import io.policyloss.torch.TransformerPolicy;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.function.IntConsumer;

/**
 * The base model every run of a comparison starts from: the seeded initial transformer after the supervised warm
 * start, saved once and loaded after, so runs differ only by their algorithm.
 */
public final class BaseModel {
    private BaseModel() {}

    /** A fresh policy of the config's shape (seeded; weights to be loaded or trained). */
    public static TransformerPolicy newPolicy(TrainConfig config) {
        return new TransformerPolicy(config.model(), Vocabulary.SIZE, config.seed());
    }

    /**
     * Loads the base model from {@code file}, or makes it by the warm start and saves it there (atomically), with
     * its {@link #identity} beside it: a base model made for another task, shape, seed or warm start is refused.
     */
    public static TransformerPolicy obtain(TrainConfig config, Path file, IntConsumer progress) {
        TransformerPolicy policy = newPolicy(config);
        Path identityFile = file.resolveSibling(file.getFileName() + ".identity");
        if (Files.exists(file)) {
            try {
                String made = Files.exists(identityFile) ? Files.readString(identityFile) : "(unknown)";
                if (!made.equals(identity(config)))
                    throw new IllegalArgumentException("base model: " + file + " was made for " + made + ", this run"
                            + " needs " + identity(config) + "; use another results folder");
            } catch (IOException e) {
                throw new UncheckedIOException("base model " + identityFile + ": cannot read", e);
            }
            Checkpoints.loadModule(policy, file);
            return policy;
        }
        SupervisedWarmStart.train(policy, config.task().create(), config.warmStart(), config.seed(), progress);
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
            Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
            Checkpoints.saveModule(policy, tmp);
            Checkpoints.atomicWrite(identityFile, identity(config));
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new UncheckedIOException("base model " + file + ": cannot write", e);
        }
        return policy;
    }

    /** A base model's identity: runs may share one only when all of these agree. */
    public static String identity(TrainConfig c) {
        return c.task() + " " + c.model() + " seed " + c.seed() + " " + c.warmStart();
    }
}
