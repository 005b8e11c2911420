package io.policyloss.torch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.policyloss.loss.FusedLoss;
import io.policyloss.loss.LossBatch;
import io.policyloss.loss.LossConfig;
import io.policyloss.loss.LossResult;
import io.policyloss.oracle.Oracle;
import java.util.Arrays;
import java.util.Random;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** The loss as a torch op: its gradient, its value against the oracle, and its argument checks. */
class TorchFusedLossTest {
    private static final LossConfig CONFIG = LossConfig.builder().epsLow(0.2).epsHigh(0.28).entropyCoef(0.01)
            .clampedEntropyCoef(0.02).clampP(0.3).build();

    @BeforeAll
    static void oneThread() {
        TorchThreads.use(1);
    }

    /** Inputs for rows x vocab logits: targets, old log-probs near the current ones, advantages, weights. */
    private record Rows(float[] logits, long[] target, float[] oldLogp, float[] advantage, float[] weight) {
        static Rows random(int rows, int vocab, long seed) {
            Random r = new Random(seed);
            float[] z = new float[rows * vocab];
            for (int k = 0; k < z.length; ++k) z[k] = (float) (2 * r.nextGaussian());
            long[] t = new long[rows];
            float[] old = new float[rows], a = new float[rows], w = new float[rows];
            for (int i = 0; i < rows; ++i) {
                t[i] = r.nextInt(vocab);
                old[i] = (float) (-Math.log(vocab) + 0.5 * r.nextGaussian());
                a[i] = (float) r.nextGaussian();
                w[i] = i % 5 == 4 ? 0f : 1f / rows;
            }
            return new Rows(z, t, old, a, w);
        }

        PolicyRows tensors() {
            int n = target.length;
            return PolicyRows.of(Tensors.longs(target, n), Tensors.floats(oldLogp, n), Tensors.floats(advantage, n),
                    Tensors.floats(weight, n));
        }
    }

    @Test
    void gradientReachingTheLogitsIsTheKernelsDlogits() {
        int batch = 3, time = 5, vocab = 40, n = batch * time;
        Rows in = Rows.random(n, vocab, 1);
        Tensor logits = Tensors.floats(in.logits, batch, time, vocab).requires_grad_(true);
        TorchLossResult r = new TorchFusedLoss(CONFIG).compute(logits, in.tensors());
        r.backward();
        float[] grad = Tensors.toFloats(logits.grad());

        LossResult direct = new FusedLoss(CONFIG).compute(LossBatch.f32(in.logits.clone(), n, vocab).target(
                toInts(in.target)).oldLogp(in.oldLogp).advantage(in.advantage).weight(in.weight));
        assertArrayEquals(direct.dlogitsF32(), grad, "the op's gradient must be the kernel's, element by element");
        assertEquals((float) direct.totalLoss(), r.loss().item_float(), 0f, "the loss tensor is the fp32 of L");
    }

    @Test
    void gradientMatchesEagerLibtorchAutograd() {
        int n = 24, vocab = 50;
        Rows in = Rows.random(n, vocab, 6);
        LossConfig config = LossConfig.builder().epsLow(0.2).epsHigh(0.28).entropyCoef(0.03).build();
        Tensor fusedLogits = Tensors.floats(in.logits, n, vocab).requires_grad_(true);
        TorchLossResult fused = new TorchFusedLoss(config).compute(fusedLogits, in.tensors());
        fused.backward();
        Tensor eagerLogits = Tensors.floats(in.logits, n, vocab).requires_grad_(true);
        PolicyRows r = in.tensors();
        Tensor eager = EagerGrpoLoss.loss(eagerLogits, r.target(), r.oldLogp(), r.advantage(), r.weight(), 0.2, 0.28,
                0.03);
        eager.backward();
        assertEquals(eager.item_double(), fused.loss().item_double(), 1e-5);
        float[] a = Tensors.toFloats(fusedLogits.grad()), b = Tensors.toFloats(eagerLogits.grad());
        for (int k = 0; k < a.length; ++k) assertEquals(b[k], a[k], 1e-6, "dL/dlogits[" + k + "]");
    }

    @Test
    void lossAndMetricsMatchTheOracle() {
        int n = 12, vocab = 30;
        Rows in = Rows.random(n, vocab, 2);
        TorchLossResult r = new TorchFusedLoss(CONFIG).compute(Tensors.floats(in.logits, n, vocab), in.tensors());
        double[][] z = new double[n][vocab];
        double[] old = new double[n], a = new double[n], w = new double[n];
        for (int i = 0; i < n; ++i) {
            for (int v = 0; v < vocab; ++v) z[i][v] = in.logits[i * vocab + v];
            old[i] = in.oldLogp[i];
            a[i] = in.advantage[i];
            w[i] = in.weight[i];
        }
        Oracle.Output o = Oracle.compute(CONFIG, new Oracle.Inputs(z, in.target, old, null, a, w, null));
        assertEquals(o.loss(), r.loss().item_double(), 1e-5 * (1 + Math.abs(o.loss())));
        double meanH = 0;
        int valid = 0;
        for (int i = 0; i < n; ++i) if (w[i] != 0) { meanH += o.rows()[i].entropy(); ++valid; }
        assertEquals(meanH / valid, r.metrics().meanEntropy(), 1e-5);
    }

    @Test
    void gradientOfAModelMatchesFiniteDifferencesOfTheLoss() {
        // A tiny transformer; old log-probs equal the current ones so that no clip is near (r = 1), which keeps
        // the loss smooth in the weights; entropy and clamped-entropy terms included.
        TransformerPolicy model = new TransformerPolicy(new ModelConfig(1, 8, 2, 6), 7, 3);
        long[] ids = {1, 4, 2, 6, 0, 3, 5, 5, 1, 2};
        Tensor input = Tensors.longs(ids, 2, 5);
        long[] target = {4, 2, 6, 0, 3, 5, 1, 2, 0, 6};
        int n = target.length;
        float[] advantage = {1f, -0.5f, 0.25f, -1f, 0.75f, 0.5f, -0.25f, 1f, -1f, 0.3f};
        float[] weight = new float[n];
        Arrays.fill(weight, 1f / n);
        LossConfig config = LossConfig.builder().entropyCoef(0.05).clampedEntropyCoef(0.05).clampP(0.3).build();
        TorchFusedLoss loss = new TorchFusedLoss(config);
        float[] oldLogp;
        try (NoGradGuard g = new NoGradGuard()) {
            oldLogp = Tensors.toFloats(loss.evaluate(model.forward(input), rowsOf(target, new float[n], advantage,
                    weight)).logp());
        }
        PolicyRows rows = rowsOf(target, oldLogp, advantage, weight);
        loss.compute(model.forward(input), rows).backward();

        Tensor parameter = model.parameters().get(0); // the token embedding
        float[] grad = Tensors.toFloats(parameter.grad());
        double h = 1e-2;
        for (int k : new int[] {8, 17, 33, 50}) {
            double plus = lossAfterNudge(model, loss, input, rows, parameter, k, h);
            double minus = lossAfterNudge(model, loss, input, rows, parameter, k, -h);
            double numeric = (plus - minus) / (2 * h);
            assertEquals(numeric, grad[k], 2e-3 + 0.02 * Math.abs(numeric), "dL/dembedding[" + k + "]");
        }
    }

    private static double lossAfterNudge(TransformerPolicy model, TorchFusedLoss loss, Tensor input, PolicyRows rows,
            Tensor parameter, int k, double h) {
        try (NoGradGuard g = new NoGradGuard()) {
            Tensor flat = parameter.view(-1);
            float before = Tensors.toFloats(flat.narrow(0, k, 1))[0];
            flat.narrow(0, k, 1).fill_(new Scalar(before + h));
            double value = loss.compute(model.forward(input), rows).loss().item_double();
            flat.narrow(0, k, 1).fill_(new Scalar(before));
            return value;
        }
    }

    /**
     * Through a linear head, as in a language model, the gradient written over the logits reaches the head's weight
     * and input bit for bit as the separate gradient does, with no rows x vocab tensor beside the logits; the 3-D
     * logits make the flattened ones a view, whose version counter is its base's.
     */
    @Test
    void inPlaceThroughALinearHeadGivesTheSameGradients() {
        int batch = 2, time = 6, width = 5, vocab = 300, n = batch * time;
        Rows in = Rows.random(n, vocab, 7);
        Random r = new Random(8);
        float[] h = new float[n * width], w = new float[width * vocab];
        for (int k = 0; k < h.length; ++k) h[k] = (float) r.nextGaussian();
        for (int k = 0; k < w.length; ++k) w[k] = (float) r.nextGaussian();
        TorchFusedLoss loss = new TorchFusedLoss(CONFIG);
        Tensor[] apart = {leaf(h, n, width), leaf(w, width, vocab)};
        TorchLossResult separate = loss.compute(apart[0].mm(apart[1]).view(batch, time, vocab), in.tensors());
        separate.backward();
        Tensor[] over = {leaf(h, n, width), leaf(w, width, vocab)};
        Tensor logits = over[0].mm(over[1]).view(batch, time, vocab);
        long version = logits._version();
        TorchLossResult inPlace = loss.computeInPlace(logits, in.tensors());
        assertEquals(logits.data_ptr().address(), inPlace.dlogits().data_ptr().address(), "dlogits are the logits");
        assertTrue(logits._version() > version, "the logits' version counter moved");
        inPlace.backward();
        assertEquals(separate.metrics(), inPlace.metrics());
        assertArrayEquals(Tensors.toFloats(separate.dlogits()), Tensors.toFloats(inPlace.dlogits()));
        for (int k = 0; k < 2; ++k)
            assertArrayEquals(Tensors.toFloats(apart[k].grad()), Tensors.toFloats(over[k].grad()), "parameter " + k);
    }

    /** An op that saved the logits for its backward (tanh keeps its output) makes the backward fail, not go wrong. */
    @Test
    void inPlaceOverLogitsAnOpSavedFailsTheBackward() {
        int n = 4, vocab = 50;
        Rows in = Rows.random(n, vocab, 9);
        Tensor x = Tensors.floats(in.logits, n, vocab).requires_grad_(true);
        TorchLossResult r = new TorchFusedLoss(CONFIG).computeInPlace(x.tanh(), in.tensors());
        RuntimeException e = assertThrows(RuntimeException.class, r::backward);
        assertTrue(e.getMessage().contains("modified by an inplace operation"), e.getMessage());
    }

    /**
     * A leaf that requires grad, or a view of one, is refused as libtorch refuses in-place ops on it; a bad row
     * throws before anything is written. Either way the logits keep their values.
     */
    @Test
    void inPlaceRefusalsLeaveTheLogitsAsTheyWere() {
        int n = 4, vocab = 8;
        Rows in = Rows.random(n, vocab, 10);
        TorchFusedLoss loss = new TorchFusedLoss(CONFIG);
        PolicyRows rows = in.tensors();
        Tensor leaf = Tensors.floats(in.logits, n, vocab).requires_grad_(true);
        assertMessage("logits: a leaf that requires grad", () -> loss.computeInPlace(leaf, rows));
        Tensor leaf3 = Tensors.floats(in.logits, 2, n / 2, vocab).requires_grad_(true);
        assertMessage("logits: a leaf that requires grad", () -> loss.computeInPlace(leaf3, rows));
        long[] bad = in.target.clone();
        bad[2] = vocab;
        Tensor plain = Tensors.floats(in.logits, n, vocab);
        assertMessage("target: row 2", () -> loss.computeInPlace(plain,
                PolicyRows.of(Tensors.longs(bad, n), rows.oldLogp(), rows.advantage(), rows.weight())));
        for (Tensor t : new Tensor[] {leaf, leaf3, plain})
            assertArrayEquals(in.logits, Tensors.toFloats(t.detach()), "the logits after a refusal");
    }

    @Test
    void acceptsInt32TargetsAndNonContiguousLogits() {
        int n = 6, vocab = 10;
        Rows in = Rows.random(n, vocab, 4);
        Tensor transposed = Tensors.floats(in.logits, vocab, n).transpose(0, 1); // last stride != 1: copied
        PolicyRows rows = in.tensors();
        PolicyRows int32 = new PolicyRows(rows.target().to(ScalarType.Int), rows.oldLogp(), rows.advantage(),
                rows.weight(), null, null);
        TorchFusedLoss loss = new TorchFusedLoss(CONFIG);
        assertEquals(loss.compute(transposed, rows).loss().item_double(),
                loss.compute(transposed, int32).loss().item_double(), 0.0);
    }

    @Test
    void badArgumentsNameTheArgument() {
        int n = 4, vocab = 8;
        Rows in = Rows.random(n, vocab, 5);
        TorchFusedLoss loss = new TorchFusedLoss(CONFIG);
        Tensor logits = Tensors.floats(in.logits, n, vocab);
        PolicyRows rows = in.tensors();
        assertMessage("logits: dtype Double", () -> loss.compute(logits.to(ScalarType.Double), rows));
        assertMessage("logits: needs at least 2 dimensions", () -> loss.compute(logits.view(-1), rows));
        assertMessage("advantage: must be 1-D with one element per row (4)", () -> loss.compute(logits,
                PolicyRows.of(rows.target(), rows.oldLogp(), Tensors.floats(new float[3], 3), rows.weight())));
        assertMessage("weight: dtype Double", () -> loss.compute(logits,
                PolicyRows.of(rows.target(), rows.oldLogp(), rows.advantage(), rows.weight().to(ScalarType.Double))));
        assertMessage("target: dtype Float", () -> loss.compute(logits,
                PolicyRows.of(rows.oldLogp(), rows.oldLogp(), rows.advantage(), rows.weight())));
        long[] bad = in.target.clone();
        bad[2] = vocab;
        assertMessage("target: row 2", () -> loss.compute(logits,
                PolicyRows.of(Tensors.longs(bad, n), rows.oldLogp(), rows.advantage(), rows.weight())));
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> loss.compute(logits, rows).backward());
        assertTrue(e.getMessage().startsWith("logits: do not require grad"), e.getMessage());
    }

    private static void assertMessage(String start, Executable call) {
        RuntimeException e = assertThrows(RuntimeException.class, call);
        assertTrue(e.getMessage().startsWith(start), "expected \"" + start + "...\", got \"" + e.getMessage() + "\"");
    }

    private static PolicyRows rowsOf(long[] target, float[] oldLogp, float[] advantage, float[] weight) {
        int n = target.length;
        return PolicyRows.of(Tensors.longs(target, n), Tensors.floats(oldLogp, n), Tensors.floats(advantage, n),
                Tensors.floats(weight, n));
    }

    private static Tensor leaf(float[] data, long... shape) {
        return Tensors.floats(data, shape).requires_grad_(true);
    }

    private static int[] toInts(long[] a) {
        int[] out = new int[a.length];
        for (int i = 0; i < a.length; ++i) out[i] = (int) a[i];
        return out;
    }
}
