package io.policyloss.bench;

import io.policyloss.torch.Ranks;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.IntFunction;
import org.bytedeco.pytorch.FileStore;

/**
 * Two ranks of one Gloo group on loopback for a benchmark: rank 0 on the benchmark's thread, rank 1 on a second one,
 * meeting through a FileStore in a folder of their own.
 */
final class LoopbackPair implements AutoCloseable {
    private final Ranks[] ranks = new Ranks[2];
    private final ExecutorService second = Executors.newSingleThreadExecutor();
    private final Path folder;

    LoopbackPair() throws Exception {
        folder = Files.createTempDirectory("loopback-pair");
        String store = folder.resolve("store").toString();
        Future<Ranks> other = second.submit(() -> Ranks.gloo(new FileStore(store, 2), 1, 2, "127.0.0.1",
                Duration.ofMinutes(1)));
        ranks[0] = Ranks.gloo(new FileStore(store, 2), 0, 2, "127.0.0.1", Duration.ofMinutes(1));
        ranks[1] = other.get();
    }

    Ranks rank(int r) {
        return ranks[r];
    }

    /** A collective on both ranks, rank 1's on the second thread: rank 0's result, once both have returned. */
    <T> T both(IntFunction<T> onRank) throws Exception {
        Future<T> other = second.submit(() -> onRank.apply(1));
        T out = onRank.apply(0);
        other.get();
        return out;
    }

    @Override
    public void close() throws Exception {
        for (Ranks r : ranks) r.close();
        second.shutdown();
        try (var files = Files.walk(folder)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }
}
