package io.policyloss.bench;

import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The latency of Ranks' small collectives over two ranks of one Gloo group on loopback ({@link LoopbackPair}, both
 * ranks in each measured call): a sum of one value, as the trainer sums a metric, and a gather of 64 floats, as it
 * gathers advantages. Each includes the meeting every collective starts with. See benchmarks/RESULTS.md.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgs = {"-Xmx1g"})
@Warmup(iterations = 1, time = 5)
@Measurement(iterations = 3, time = 5)
public class CollectiveBenchmark {
    private final float[] rows = new float[64];
    private LoopbackPair pair;

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        pair = new LoopbackPair();
    }

    @Benchmark
    public double[] sumOfOneValue() throws Exception {
        return pair.both(r -> pair.rank(r).sum(1.0));
    }

    @Benchmark
    public float[] gatherOf64Floats() throws Exception {
        return pair.both(r -> pair.rank(r).gather(rows));
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        pair.close();
    }
}
