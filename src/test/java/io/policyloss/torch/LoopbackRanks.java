package io.policyloss.torch;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.bytedeco.pytorch.FileStore;

/**
 * Data-parallel ranks for tests: each rank a thread of the test JVM on a fresh Gloo group over loopback, meeting
 * through a FileStore in a folder of the test's.
 */
public final class LoopbackRanks {
    public interface OnRank<T> {
        T run(Ranks ranks) throws Exception;
    }

    private LoopbackRanks() {}

    /** Runs body on each of {@code size} ranks, collectives timing out after a minute; results in rank order. */
    public static <T> List<T> run(Path dir, int size, OnRank<T> body) throws Exception {
        return run(dir, size, Duration.ofSeconds(60), body);
    }

    /** As {@link #run(Path, int, OnRank)}, collectives timing out after {@code timeout}. */
    public static <T> List<T> run(Path dir, int size, Duration timeout, OnRank<T> body) throws Exception {
        String store = Files.createTempFile(dir, "store", "").toString();
        Files.delete(Path.of(store));
        ExecutorService pool = Executors.newFixedThreadPool(size);
        try {
            List<Future<T>> futures = new ArrayList<>();
            // Every rank's group lives until all ranks are done, then closes: a group the garbage collector frees
            // closes its connections, and a rank still in a collective would read "Connection closed by peer" from a
            // rank that had merely returned (seen on CI).
            List<Ranks> groups = Collections.synchronizedList(new ArrayList<>());
            for (int r = 0; r < size; ++r) {
                int rank = r;
                futures.add(pool.submit(() -> {
                    Ranks ranks = Ranks.gloo(new FileStore(store, size), rank, size, "127.0.0.1", timeout);
                    groups.add(ranks);
                    return body.run(ranks);
                }));
            }
            List<T> out = new ArrayList<>();
            for (Future<T> f : futures) out.add(f.get(120, TimeUnit.SECONDS));
            for (Ranks ranks : groups) ranks.close();  // every rank is done: its connections and threads go now
            return out;
        } finally {
            pool.shutdownNow();
        }
    }
}
