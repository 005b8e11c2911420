package io.policyloss.bench;

import io.policyloss.loss.FusedLoss;
import io.policyloss.loss.LossConfig;
import io.policyloss.torch.EagerGrpoLoss;
import io.policyloss.torch.PolicyRows;
import io.policyloss.torch.Tensors;
import io.policyloss.torch.TorchFusedLoss;
import io.policyloss.torch.TorchThreads;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
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
 * The fused loss as a libtorch op against the same loss in eager libtorch ops with autograd (EagerGrpoLoss), in one
 * run, on host fp32 logits of N = 128 rows x V = 151,936: GRPO clip 0.2 / 0.28 plus a token-entropy bonus, loss
 * and gradient into a leaf logits tensor. Both use {@code threads} threads (the kernel's pool and libtorch's
 * intra-op threads). Time per forward + backward. Beside them, the op's call alone, with its gradient into a new
 * tensor ({@code opAlone}) or over the logits ({@code opAloneInPlace}): each call first copies the logits into the
 * same tensor, which needs no gradient, and leaves out the backward, which is the same for both (autograd passing
 * dL/dlogits on). See benchmarks/RESULTS.md.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgs = {"-Xmx4g"})
@Warmup(iterations = 1, time = 5)
@Measurement(iterations = 3, time = 5)
public class TorchLossBenchmark {
    static final int ROWS = 128, VOCAB = 151_936;
    static final double EPS_LOW = 0.2, EPS_HIGH = 0.28, ENTROPY_COEF = 0.001;

    @Param({"1", "2"})
    public int threads;

    private Tensor logits, work;
    private PolicyRows rows;
    private TorchFusedLoss fused;

    @Setup
    public void setUp() {
        TorchThreads.use(threads);
        Random r = new Random(1);
        float[] z = new float[ROWS * VOCAB];
        for (int k = 0; k < z.length; ++k) z[k] = (float) (3 * r.nextGaussian());
        long[] target = new long[ROWS];
        float[] old = new float[ROWS], advantage = new float[ROWS], weight = new float[ROWS];
        for (int i = 0; i < ROWS; ++i) {
            target[i] = r.nextInt(VOCAB);
            old[i] = (float) (-Math.log(VOCAB) + 0.3 * r.nextGaussian());
            advantage[i] = (float) r.nextGaussian();
            weight[i] = 1f / ROWS;
        }
        logits = Tensors.floats(z, ROWS, VOCAB);
        work = logits.clone();
        rows = PolicyRows.of(Tensors.longs(target, ROWS), Tensors.floats(old, ROWS), Tensors.floats(advantage, ROWS),
                Tensors.floats(weight, ROWS));
        fused = new TorchFusedLoss(new FusedLoss(LossConfig.builder().epsLow(EPS_LOW).epsHigh(EPS_HIGH)
                .entropyCoef(ENTROPY_COEF).build(), threads));
    }

    @Benchmark
    public double fusedOp() {
        try (PointerScope scope = new PointerScope()) {
            Tensor leaf = logits.detach().requires_grad_(true);
            var result = fused.compute(leaf, rows);
            result.backward();
            return result.metrics().loss() + leaf.grad().numel();
        }
    }

    @Benchmark
    public double opAlone() {
        try (PointerScope scope = new PointerScope()) {
            work.copy_(logits);
            return fused.compute(work, rows).metrics().loss();
        }
    }

    @Benchmark
    public double opAloneInPlace() {
        try (PointerScope scope = new PointerScope()) {
            work.copy_(logits);
            return fused.computeInPlace(work, rows).metrics().loss();
        }
    }

    @Benchmark
    public double eagerLibtorch() {
        try (PointerScope scope = new PointerScope()) {
            Tensor leaf = logits.detach().requires_grad_(true);
            Tensor loss = EagerGrpoLoss.loss(leaf, rows.target(), rows.oldLogp(), rows.advantage(), rows.weight(),
                    EPS_LOW, EPS_HIGH, ENTROPY_COEF);
            loss.backward();
            return loss.item_double() + leaf.grad().numel();
        }
    }
}
