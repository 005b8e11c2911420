package io.policyloss.rl;

import io.policyloss.control.AdaptiveEntropyBonus;
import io.policyloss.control.KlInReward;
import io.policyloss.loss.ConfigIO;
import io.policyloss.torch.LibtorchErrors;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.Optional;
import java.util.stream.Stream;
import org.bytedeco.pytorch.InputArchive;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Optimizer;
import org.bytedeco.pytorch.OutputArchive;

/**
 * Atomic checkpoints: each is written whole into a temporary folder and renamed into place, then the
 * {@code latest} pointer is replaced by a rename, so a run killed at any instant leaves either the previous
 * checkpoint or the new one, never half of one.
 */
public final class Checkpoints {
    /**
     * What the trainer needs besides weights and optimizer state: the next step, AEnt's coefficient, TRL's adaptive
     * entropy bonus and the KL penalty in the reward, whose coefficient may adapt (null without them; a checkpoint from
     * before a field reads null).
     */
    public record State(int nextStep, Double aentLambda, AdaptiveEntropyBonus adaptiveEntropy,
            KlInReward klInReward) {}

    private final Path folder;

    public Checkpoints(Path runDirectory) {
        this.folder = runDirectory.resolve("checkpoints");
    }

    public void save(State state, Module model, Optimizer optimizer) {
        String name = String.format("step-%06d", state.nextStep());
        try {
            Files.createDirectories(folder);
            Path tmp = folder.resolve(name + ".tmp");
            deleteTree(tmp);
            Files.createDirectories(tmp);
            saveModule(model, tmp.resolve("model.pt"));
            OutputArchive archive = new OutputArchive();
            optimizer.save(archive);
            archive.save_to(tmp.resolve("optimizer.pt").toString());
            ConfigIO.write(tmp.resolve("state.json"), state);
            Path done = folder.resolve(name);
            deleteTree(done);
            Files.move(tmp, done, StandardCopyOption.ATOMIC_MOVE);
            atomicWrite(folder.resolve("latest"), name);
            try (Stream<Path> old = Files.list(folder)) { // earlier checkpoints are no longer needed
                for (Path p : old.filter(p -> p.getFileName().toString().startsWith("step-")
                        && !p.getFileName().toString().equals(name)).toList()) deleteTree(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("checkpoint " + folder.resolve(name) + ": cannot write", e);
        }
    }

    /** The latest complete checkpoint's state, or empty if there is none. */
    public Optional<State> latest() {
        Path pointer = folder.resolve("latest");
        if (!Files.exists(pointer)) return Optional.empty();
        return Optional.of(ConfigIO.read(latestFolder().resolve("state.json"), State.class));
    }

    /** Loads the latest checkpoint's weights and optimizer state into {@code model} and {@code optimizer}. */
    public void restore(Module model, Optimizer optimizer) {
        Path dir = latestFolder();
        loadModule(model, dir.resolve("model.pt"));
        InputArchive archive = new InputArchive();
        archive.load_from(dir.resolve("optimizer.pt").toString());
        optimizer.load(archive);
    }

    public static void saveModule(Module model, Path file) {
        OutputArchive archive = new OutputArchive();
        model.save(archive);
        archive.save_to(file.toString());
    }

    /**
     * {@code file}'s weights into {@code model}. A file that is not a saved module, or one saved from a module of
     * other tensors or shapes ({@link SavedShapes}), is the caller's input: an IllegalArgumentException, and the
     * model left as it was.
     */
    public static void loadModule(Module model, Path file) {
        if (!Files.isRegularFile(file)) throw new IllegalArgumentException("model: no file " + file);
        InputArchive archive = new InputArchive();
        try {
            archive.load_from(file.toString());
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("model: " + file + " is not a saved model ("
                    + LibtorchErrors.message(e) + ")", e);
        }
        String difference = SavedShapes.difference(archive, model);
        if (difference != null)
            throw new IllegalArgumentException("model: " + file + " holds another model than the config's ("
                    + difference + "); give the config it was trained with");
        model.load(archive);
    }

    /** Writes text to a temporary file and renames it over {@code file}. */
    public static void atomicWrite(Path file, String text) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.writeString(tmp, text);
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    private Path latestFolder() {
        try {
            return folder.resolve(Files.readString(folder.resolve("latest")).trim());
        } catch (IOException e) {
            throw new UncheckedIOException("checkpoint " + folder + ": cannot read latest", e);
        }
    }

    private static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (Stream<Path> all = Files.walk(p)) {
            for (Path q : all.sorted(Comparator.reverseOrder()).toList()) Files.delete(q);
        }
    }
}
