package io.policyloss.bench;

import io.policyloss.torch.ModelConfig;
import io.policyloss.torch.Tensors;
import io.policyloss.torch.TorchThreads;
import io.policyloss.torch.TransformerPolicy;
import java.util.concurrent.TimeUnit;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Ranks.sumGradients over two ranks of one Gloo group on loopback (the benchmark's thread and one more), on the
 * gradients of a 12-layer TransformerPolicy (vocabulary 1,000: 150 parameters): each gradient in its own all-reduce
 * (bucketBytes 1) against DDP's 25 MiB buckets. Rank 1's gradients are 0, so the sums stay
 * rank 0's from call to call. Both ranks' calls are in each measured call, with the hand-off to the second thread.
 * See benchmarks/RESULTS.md.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgs = {"-Xmx2g"})
@Warmup(iterations = 1, time = 5)
@Measurement(iterations = 3, time = 5)
public class GradientSumBenchmark {
    @Param({"1", "26214400"})
    public long bucketBytes;

    /** The model's width: 64 gives many small gradients (0.7 M floats), 256 larger ones (10.0 M). */
    @Param({"64", "256"})
    public int width;

    private final TensorVector[] parameters = new TensorVector[2];
    private LoopbackPair pair;

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        TorchThreads.use(1);
        pair = new LoopbackPair();
        for (int r = 0; r < 2; ++r) {
            TransformerPolicy model = new TransformerPolicy(new ModelConfig(12, width, 4, 64), 1000, 1);
            Tensor logits = model.forward(Tensors.longs(new long[] {3, 1, 4, 1, 5, 9, 2, 6}, 1, 8));
            logits.mul(Tensors.floats(new float[] {r == 0 ? 1f : 0f}, 1)).sum().backward();
            parameters[r] = model.parameters();
        }
    }

    @Benchmark
    public void sumGradients() throws Exception {
        pair.both(r -> {
            pair.rank(r).sumGradients(parameters[r], bucketBytes);
            return null;
        });
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        pair.close();
    }
}
