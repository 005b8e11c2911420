package io.policyloss.bench;

import io.policyloss.loss.ClampMode;
import io.policyloss.loss.Dtype;
import io.policyloss.loss.FusedLoss;
import io.policyloss.loss.LossBuffers;
import io.policyloss.loss.LossConfig;
import io.policyloss.loss.LossMetrics;
import io.policyloss.loss.RandomCase;
import io.policyloss.oracle.Oracle;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.ShortPointer;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The CPU kernel against the double-precision oracle in one run, at N = 256 rows x V = 151,936 (a Qwen-sized
 * vocabulary), bf16 logits, forward + backward with a bf16 gradient. Throughput is in logits per second (one
 * operation = one logit); divide the all-core figure by the core count for logits per second per core.
 * clampedEntropy = none is the loss with entropy; the two clamp modes add clamped entropy at p = 0.33.
 * The oracle runs on the first ORACLE_ROWS rows of the same inputs (its cost per logit does not depend on the row
 * count; a call on all 256 rows takes seconds) and warms up for 40 s: with one 5 s warm-up its iterations kept
 * changing speed by up to 4x as the JIT recompiled it, and settled after about 30 s. See benchmarks/RESULTS.md.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@OperationsPerInvocation(CpuKernelBenchmark.ROWS * CpuKernelBenchmark.VOCAB)
@Fork(value = 1, jvmArgs = {"-Xmx12g"})
@Warmup(iterations = 1, time = 5)
@Measurement(iterations = 3, time = 5)
public class CpuKernelBenchmark {
    static final int ROWS = 256, VOCAB = 151_936, ORACLE_ROWS = 8;

    @Param({"none", "TOKEN_FRACTION", "PROBABILITY_MASS"})
    public String clampedEntropy;

    private LossConfig config;
    private FusedLoss oneThread, allThreads;
    private LossBuffers buffers, firstPass;
    private Oracle.Inputs oracleInputs;

    @Setup(Level.Trial)
    public void setUp() {
        LossConfig.Builder b = LossConfig.builder().epsLow(0.2).epsHigh(0.28).entropyCoef(0.001)
                .clampedEntropyCoef(0.01);
        if (!clampedEntropy.equals("none")) b.clampP(0.33).clampMode(ClampMode.valueOf(clampedEntropy));
        config = b.build();
        oneThread = new FusedLoss(config, 1);
        allThreads = new FusedLoss(config, 0);
        RandomCase.Generated g = RandomCase.of("bench", ROWS, VOCAB, Dtype.BF16, config)
                .gradient(RandomCase.Gradient.LOGITS_DTYPE).generate(1);
        oracleInputs = firstRows(g.inputs(), ORACLE_ROWS);
        buffers = inputs(g).dlogits(new ShortPointer((long) ROWS * VOCAB), Dtype.BF16);
        firstPass = inputs(g).outLogp(new FloatPointer(ROWS)).outEntropy(new FloatPointer(ROWS));
    }

    private static LossBuffers inputs(RandomCase.Generated g) {
        return LossBuffers.of(ROWS, VOCAB).logits(new ShortPointer(g.logits16()), Dtype.BF16)
                .target(new IntPointer(ints(g.inputs().target()))).oldLogp(new FloatPointer(floats(g.inputs().oldLogp())))
                .advantage(new FloatPointer(floats(g.inputs().advantage())))
                .weight(new FloatPointer(floats(g.inputs().weight())));
    }

    @Benchmark
    public LossMetrics kernelOneThread() {
        return oneThread.compute(buffers);
    }

    @Benchmark
    public LossMetrics kernelAllThreads() {
        return allThreads.compute(buffers);
    }

    /** The first of GSPO's or entropy masking's two calls: logp and entropy per row, no gradient. */
    @Benchmark
    public LossMetrics firstPassAllThreads() {
        return allThreads.compute(firstPass);
    }

    @Benchmark
    @OperationsPerInvocation(ORACLE_ROWS * VOCAB)
    @Warmup(iterations = 8, time = 5)
    public Oracle.Output oracle() {
        return Oracle.compute(config, oracleInputs);
    }

    private static Oracle.Inputs firstRows(Oracle.Inputs in, int n) {
        return new Oracle.Inputs(Arrays.copyOf(in.logits(), n), Arrays.copyOf(in.target(), n),
                Arrays.copyOf(in.oldLogp(), n), in.refLogp() == null ? null : Arrays.copyOf(in.refLogp(), n),
                Arrays.copyOf(in.advantage(), n), Arrays.copyOf(in.weight(), n),
                in.temperature() == null ? null : Arrays.copyOf(in.temperature(), n));
    }

    private static int[] ints(long[] a) {
        int[] out = new int[a.length];
        for (int i = 0; i < a.length; ++i) out[i] = (int) a[i];
        return out;
    }

    private static float[] floats(double[] a) {
        float[] out = new float[a.length];
        for (int i = 0; i < a.length; ++i) out[i] = (float) a[i];
        return out;
    }
}
