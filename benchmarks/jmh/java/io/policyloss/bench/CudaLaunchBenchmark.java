package io.policyloss.bench;

import static io.policyloss.nativeapi.PolicyLossNative.PL_METRICS_LEN;
import static io.policyloss.nativeapi.PolicyLossNative.pl_abi_version;
import static org.bytedeco.cuda.global.cudart.cudaDeviceSynchronize;

import io.policyloss.loss.BuffersBackend;
import io.policyloss.loss.CudaMemory;
import io.policyloss.loss.Dtype;
import io.policyloss.loss.FusedLoss;
import io.policyloss.loss.LossBatch;
import io.policyloss.loss.LossBuffers;
import io.policyloss.loss.LossConfig;
import io.policyloss.loss.RandomCase;
import io.policyloss.nativeapi.PolicyLossNative.pl_data_error;
import java.util.concurrent.TimeUnit;
import org.bytedeco.javacpp.DoublePointer;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The host cost of one asynchronous launch from Java ({@link FusedLoss#launch} on device buffers: argument checks,
 * scratch from the pool, the kernel queued), next to a trivial JNI call in the same run. The batch is tiny (4 rows x
 * 256). Each measured invocation queues {@value #LAUNCHES} launches and the stream is drained after it, outside the
 * timing: a tiny kernel runs for a few microseconds, longer than its launch takes, so launches without a drain
 * would fill the launch queue and then time the GPU instead of the host. Needs a CUDA device
 * (benchmarks/gpu/run_device.sh bench).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(1)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class CudaLaunchBenchmark {
    static final int LAUNCHES = 64;

    private CudaMemory memory;
    private FusedLoss loss;
    private LossBuffers buffers;
    private DoublePointer metrics;
    private pl_data_error record;

    @Setup(Level.Trial)
    public void setUp() {
        String reason = BuffersBackend.CUDA.unavailableReason();
        if (reason != null) throw new IllegalStateException(reason);
        LossConfig config = LossConfig.builder().entropyCoef(0.01).clampedEntropyCoef(0.02).clampP(0.33).build();
        loss = new FusedLoss(config);
        memory = new CudaMemory();
        LossBatch batch = RandomCase.of("launch", 4, 256, Dtype.BF16, config).generate(1).batch();
        buffers = BuffersBackend.upload(memory, batch);
        metrics = new DoublePointer(memory.allocate(8L * PL_METRICS_LEN));
        record = new pl_data_error(memory.allocate(24));
    }

    /** Drains the device after each invocation of the benchmark that asks for it (launch, not jniBaseline). */
    @State(Scope.Thread)
    public static class Drained {
        @TearDown(Level.Invocation)
        public void drain() {
            CudaMemory.check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
        }
    }

    @Benchmark
    @OperationsPerInvocation(LAUNCHES)
    public void launch(Drained drained) {
        for (int k = 0; k < LAUNCHES; ++k) loss.launch(buffers, metrics, record);
    }

    @Benchmark
    public int jniBaseline() {
        return pl_abi_version();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        memory.close();
    }
}
