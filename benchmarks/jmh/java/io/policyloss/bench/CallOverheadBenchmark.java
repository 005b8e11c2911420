package io.policyloss.bench;

import static io.policyloss.nativeapi.PolicyLossNative.pl_abi_version;

import io.policyloss.loss.Dtype;
import io.policyloss.loss.FusedLoss;
import io.policyloss.loss.LossBuffers;
import io.policyloss.loss.LossConfig;
import io.policyloss.loss.LossMetrics;
import java.util.concurrent.TimeUnit;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.ShortPointer;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The host cost of one call through the Java API, without the kernel: {@link FusedLoss#compute(LossBuffers)} on
 * buffers of zero rows (every pointer set, as in a real call) is the Java layer, the JNI crossing and the native
 * argument checks, next to a bare JNI call in the same run. It is the share of an asynchronous device launch that
 * does not depend on CUDA, so a machine without a GPU can measure it (benchmarks/RESULTS.md).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Fork(1)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class CallOverheadBenchmark {
    private FusedLoss loss;
    private LossBuffers buffers;

    @Setup
    public void setUp() {
        loss = new FusedLoss(LossConfig.builder().entropyCoef(0.01).build(), 1);
        int n = 4;
        FloatPointer f = new FloatPointer(n);
        buffers = LossBuffers.of(0, 256).logits(new ShortPointer(4 * 256), Dtype.BF16).target(new LongPointer(n))
                .oldLogp(f).advantage(f).weight(f).outLogp(new FloatPointer(n)).outEntropy(new FloatPointer(n))
                .outClampedEntropy(new FloatPointer(n)).outRatio(new FloatPointer(n)).outLoss(new FloatPointer(n))
                .outKl(new FloatPointer(n)).outFlags(new BytePointer(n))
                .dlogits(new ShortPointer(4 * 256), Dtype.BF16);
    }

    @Benchmark
    public LossMetrics emptyCall() {
        return loss.compute(buffers);
    }

    @Benchmark
    public int jniBaseline() {
        return pl_abi_version();
    }
}
