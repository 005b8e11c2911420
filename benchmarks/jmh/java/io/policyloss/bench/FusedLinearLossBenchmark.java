package io.policyloss.bench;

import io.policyloss.torch.TorchThreads;
import java.util.concurrent.TimeUnit;
import org.bytedeco.javacpp.PointerScope;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The loss behind a linear head (N = 512, D = 512, V = 32,000, host fp32), forward and backward down to the hidden
 * states, W and b: FusedLinearPolicyLoss's chunks against the whole logits by libtorch's linear and the kernel over
 * them, in place or into a new gradient tensor; and CISPO through CurrentPolicyLoss behind the head, in one pass over
 * the chunks or two. {@code threads} sets the kernel's and libtorch's. Peak memory: FusedLinearPeakMemory. See
 * benchmarks/RESULTS.md.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgs = {"-Xmx2g"})
@Warmup(iterations = 1, time = 5)
@Measurement(iterations = 3, time = 5)
public class FusedLinearLossBenchmark {
    static final int ROWS = 512, WIDTH = 512, VOCAB = 32_000;

    @Param({"1", "2"})
    public int threads;

    private LinearHeadBatch batch;

    @Setup
    public void setUp() {
        TorchThreads.use(threads);
        batch = new LinearHeadBatch(ROWS, WIDTH, VOCAB, threads);
    }

    /** The chunks' rows: 0 is FusedLinearPolicyLoss's default (16 rows at this shape); more cost more memory. */
    @State(Scope.Benchmark)
    public static class Chunks {
        @Param({"0", "64", "256"})
        public int chunkRows;
    }

    @Benchmark
    public double chunks(Chunks chunks) {
        try (PointerScope scope = new PointerScope()) {
            return batch.chunks(chunks.chunkRows);
        }
    }

    /** CISPO through CurrentPolicyLoss behind the head, one matmul per chunk for both calls. */
    @Benchmark
    public double cispoOnePass(Chunks chunks) {
        try (PointerScope scope = new PointerScope()) {
            return batch.cispo(chunks.chunkRows, true);
        }
    }

    /** The same loss in two passes over the chunks, each making the logits (LinearHeadBatch.cispo says how). */
    @Benchmark
    public double cispoTwoPasses(Chunks chunks) {
        try (PointerScope scope = new PointerScope()) {
            return batch.cispo(chunks.chunkRows, false);
        }
    }

    @Benchmark
    public double wholeLogitsInPlace() {
        try (PointerScope scope = new PointerScope()) {
            return batch.wholeLogits(true);
        }
    }

    @Benchmark
    public double wholeLogits() {
        try (PointerScope scope = new PointerScope()) {
            return batch.wholeLogits(false);
        }
    }
}
