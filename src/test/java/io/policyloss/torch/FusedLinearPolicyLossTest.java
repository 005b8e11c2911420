package io.policyloss.torch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.policyloss.control.Cispo;
import io.policyloss.control.Dppo;
import io.policyloss.control.PolicyObjective;
import io.policyloss.control.Sapo;
import io.policyloss.control.Vespo;
import io.policyloss.loss.KlEstimator;
import io.policyloss.loss.LossConfig;
import io.policyloss.loss.LossMetrics;
import io.policyloss.loss.PolicyLossException;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * The loss behind a linear head, chunk by chunk, against the independent route: the head's whole logits by
 * libtorch's linear, {@link TorchFusedLoss} on them, and autograd from the logits down to the same leaves.
 */
class FusedLinearPolicyLossTest {
    private static final LossConfig CONFIG = LossConfig.builder().epsLow(0.2).epsHigh(0.28).entropyCoef(0.01)
            .clampedEntropyCoef(0.02).clampP(0.3).klCoef(0.05).klEstimator(KlEstimator.K3).build();
    private static final int BATCH = 3, TIME = 7, WIDTH = 6, VOCAB = 90, N = BATCH * TIME;
    // Near the probabilities 1 / VOCAB of the rows, to mask some of them, and a truncation some ratios reach.
    private static final Dppo NARROW_DPPO = new Dppo(Dppo.Divergence.BINARY_TV, 0.005, 0.005, 1.5);

    @BeforeAll
    static void oneThread() {
        TorchThreads.use(1);
    }

    /**
     * A head's inputs: hidden = tanh(h0), so that the gradient has a graph to go through before it reaches a leaf;
     * every fifth row padding (weight 0, target -100); per-row temperatures and a reference policy.
     */
    private record Inputs(float[] h0, float[] weight, float[] bias, PolicyRows rows) {
        static Inputs random(long seed) {
            Random r = new Random(seed);
            float[] h = gaussians(r, N * WIDTH, 1.5), w = gaussians(r, VOCAB * WIDTH, 1), b = gaussians(r, VOCAB, 1);
            long[] target = new long[N];
            float[] old = new float[N], advantage = new float[N], rowWeight = new float[N], temperature = new float[N],
                    ref = new float[N];
            for (int i = 0; i < N; ++i) {
                boolean padding = i % 5 == 4;
                target[i] = padding ? -100 : r.nextInt(VOCAB);
                old[i] = (float) (-Math.log(VOCAB) + r.nextGaussian());
                advantage[i] = (float) r.nextGaussian();
                rowWeight[i] = padding ? 0f : 1f / N;
                temperature[i] = 0.7f + 0.1f * (i % 5);
                ref[i] = old[i] + (float) (0.3 * r.nextGaussian());
            }
            return new Inputs(h, w, b, new PolicyRows(Tensors.longs(target, N), Tensors.floats(old, N),
                    Tensors.floats(advantage, N), Tensors.floats(rowWeight, N), Tensors.floats(temperature, N),
                    Tensors.floats(ref, N)));
        }

        /** Fresh leaves h0, W, b in {@code dtype}, requiring grad. */
        Tensor[] leaves(ScalarType dtype) {
            return new Tensor[] {leaf(h0, dtype, BATCH, TIME, WIDTH), leaf(weight, dtype, VOCAB, WIDTH),
                    leaf(bias, dtype, VOCAB)};
        }
    }

    /** The loss's value, metrics, and the leaves' gradients after a backward. */
    private record Outcome(double loss, LossMetrics metrics, float[][] grads) {
        static Outcome of(double loss, LossMetrics metrics, Tensor[] leaves) {
            float[][] g = new float[leaves.length][];
            for (int k = 0; k < leaves.length; ++k) g[k] = Tensors.toFloats(leaves[k].grad());
            return new Outcome(loss, metrics, g);
        }
    }

    private static Outcome wholeLogits(Inputs in, ScalarType dtype) {
        Tensor[] p = in.leaves(dtype);
        Tensor logits = torch.linear(p[0].tanh(), p[1], new TensorOptional(p[2]));
        TorchLossResult r = new TorchFusedLoss(CONFIG).compute(logits, in.rows);
        r.backward();
        return Outcome.of(r.loss().item_double(), r.metrics(), p);
    }

    private static Outcome chunked(FusedLinearPolicyLoss loss, Inputs in, ScalarType dtype) {
        Tensor[] p = in.leaves(dtype);
        LinearLossResult r = loss.compute(p[0].tanh(), p[1], p[2], in.rows);
        r.backward();
        return Outcome.of(r.loss().item_double(), r.metrics(), p);
    }

    @Test
    void chunksGiveTheLossAndGradientsOfTheWholeLogits() {
        Inputs in = Inputs.random(1);
        Outcome whole = wholeLogits(in, ScalarType.Float);
        TorchFusedLoss kernel = new TorchFusedLoss(CONFIG);
        for (FusedLinearPolicyLoss loss : new FusedLinearPolicyLoss[] {new FusedLinearPolicyLoss(kernel),
                new FusedLinearPolicyLoss(kernel, 1), new FusedLinearPolicyLoss(kernel, 4),
                new FusedLinearPolicyLoss(kernel, N), new FusedLinearPolicyLoss(kernel, N + 3)})
            assertClose(whole, chunked(loss, in, ScalarType.Float), 2e-6, 1e-5);
    }

    /** Any shape, any chunking, with or without a bias: the whole logits' loss, metrics and gradients. */
    @Property(tries = 60)
    void anyChunkingGivesWhatTheWholeLogitsGive(@ForAll @IntRange(min = 1, max = 40) int rows,
            @ForAll @IntRange(min = 1, max = 12) int width, @ForAll @IntRange(min = 2, max = 120) int vocab,
            @ForAll @IntRange(min = 1, max = 50) int chunkRows, @ForAll boolean withBias, @ForAll long seed) {
        TorchThreads.use(1);
        Random r = new Random(seed);
        float[] h = gaussians(r, rows * width, 1.5), w = gaussians(r, vocab * width, 1), b = gaussians(r, vocab, 1);
        long[] target = new long[rows];
        float[] old = new float[rows], advantage = new float[rows], weight = new float[rows];
        for (int i = 0; i < rows; ++i) {
            target[i] = r.nextInt(vocab);
            old[i] = (float) (-Math.log(vocab) + r.nextGaussian());
            advantage[i] = (float) r.nextGaussian();
            weight[i] = i == 0 || r.nextInt(4) > 0 ? 1f / rows : 0f;
        }
        PolicyRows policyRows = PolicyRows.of(Tensors.longs(target, rows), Tensors.floats(old, rows),
                Tensors.floats(advantage, rows), Tensors.floats(weight, rows));
        LossConfig config = CONFIG.toBuilder().klCoef(0).build();
        Tensor[] p = {leaf(h, ScalarType.Float, rows, width), leaf(w, ScalarType.Float, vocab, width),
                withBias ? leaf(b, ScalarType.Float, vocab) : null};
        TorchLossResult whole = new TorchFusedLoss(config).compute(withBias
                ? torch.linear(p[0], p[1], new TensorOptional(p[2])) : torch.linear(p[0], p[1]), policyRows);
        whole.backward();
        Tensor[] q = {leaf(h, ScalarType.Float, rows, width), leaf(w, ScalarType.Float, vocab, width),
                withBias ? leaf(b, ScalarType.Float, vocab) : null};
        LinearLossResult chunks = new FusedLinearPolicyLoss(new TorchFusedLoss(config), chunkRows).compute(q[0], q[1],
                q[2], policyRows);
        chunks.backward();
        int leaves = withBias ? 3 : 2;
        assertClose(Outcome.of(whole.loss().item_double(), whole.metrics(), Arrays.copyOf(p, leaves)),
                Outcome.of(chunks.loss().item_double(), chunks.metrics(), Arrays.copyOf(q, leaves)), 2e-6, 1e-5);
    }

    /** No rows: no chunk, a loss of 0, and gradients of zeros (and none of hidden's elements). */
    @Test
    void anEmptyBatchGivesZeroLossAndZeroGradients() {
        Tensor hidden = leaf(new float[0], ScalarType.Float, 0, WIDTH);
        Tensor weight = leaf(gaussians(new Random(12), VOCAB * WIDTH, 1), ScalarType.Float, VOCAB, WIDTH);
        PolicyRows none = PolicyRows.of(Tensors.longs(new long[0], 0), Tensors.floats(new float[0], 0),
                Tensors.floats(new float[0], 0), Tensors.floats(new float[0], 0));
        LossConfig noReference = CONFIG.toBuilder().klCoef(0).build();
        LinearLossResult r = new FusedLinearPolicyLoss(new TorchFusedLoss(noReference)).compute(hidden, weight, null,
                none);
        r.backward();
        assertEquals(LossMetrics.ZERO, r.metrics());
        assertEquals(0, Tensors.toFloats(hidden.grad()).length);
        for (float g : Tensors.toFloats(weight.grad())) assertEquals(0f, g);
    }

    /** bf16 head: the logits, their gradient and the chunks' sums of G^T h are rounded to bf16 on both routes. */
    @Test
    void bf16ChunksAgreeToBf16sPrecision() {
        Inputs in = Inputs.random(2);
        Outcome whole = wholeLogits(in, ScalarType.BFloat16);
        Outcome chunks = chunked(new FusedLinearPolicyLoss(new TorchFusedLoss(CONFIG), 4), in, ScalarType.BFloat16);
        assertClose(whole, chunks, 1e-3, 2e-2);
    }

    /** A head tied to the input embedding gets the gradient of both of its uses, as autograd gives it. */
    @Test
    void aHeadTiedToTheEmbeddingGetsBothContributions() {
        Inputs in = Inputs.random(3);
        long[] ids = new long[N];
        for (int i = 0; i < N; ++i) ids[i] = (7L * i) % VOCAB;
        Tensor idTensor = Tensors.longs(ids, BATCH, TIME);
        Tensor tiedWhole = leaf(in.weight, ScalarType.Float, VOCAB, WIDTH);
        TorchLossResult whole = new TorchFusedLoss(CONFIG).compute(torch.linear(torch.embedding(tiedWhole, idTensor)
                .tanh(), tiedWhole), in.rows);
        whole.backward();
        Tensor tied = leaf(in.weight, ScalarType.Float, VOCAB, WIDTH);
        LinearLossResult chunks = new FusedLinearPolicyLoss(new TorchFusedLoss(CONFIG), 5)
                .compute(torch.embedding(tied, idTensor).tanh(), tied, null, in.rows);
        chunks.backward();
        assertNull(chunks.gradBias(), "no bias, no gradient for it");
        assertClose(Outcome.of(whole.loss().item_double(), whole.metrics(), new Tensor[] {tiedWhole}),
                Outcome.of(chunks.loss().item_double(), chunks.metrics(), new Tensor[] {tied}), 2e-6, 1e-5);
    }

    /** Through a transformer's body: every parameter gets the gradient the logits' route gives it. */
    @Test
    void everyParameterOfATransformerGetsTheGradientOfTheLogitsRoute() {
        int batch = 3, time = 6, vocab = 40, n = batch * time;
        Random r = new Random(10);
        long[] ids = new long[n], target = new long[n];
        float[] old = new float[n], advantage = new float[n], weight = new float[n];
        for (int i = 0; i < n; ++i) {
            ids[i] = r.nextInt(vocab);
            target[i] = r.nextInt(vocab);
            old[i] = (float) (-Math.log(vocab) + r.nextGaussian());
            advantage[i] = (float) r.nextGaussian();
            weight[i] = 1f / n;
        }
        PolicyRows rows = PolicyRows.of(Tensors.longs(target, n), Tensors.floats(old, n),
                Tensors.floats(advantage, n), Tensors.floats(weight, n));
        ModelConfig shape = new ModelConfig(2, 16, 2, time);
        TransformerPolicy viaLogits = new TransformerPolicy(shape, vocab, 3), viaHead = new TransformerPolicy(shape,
                vocab, 3);
        LossConfig noReference = CONFIG.toBuilder().klCoef(0).build();
        TorchLossResult whole = new TorchFusedLoss(noReference).compute(viaLogits.forward(Tensors.longs(ids, batch,
                time)), rows);
        whole.backward();
        LinearLossResult chunks = new FusedLinearPolicyLoss(new TorchFusedLoss(noReference), 5).compute(
                viaHead.hidden(Tensors.longs(ids, batch, time)), viaHead.head().weight(), viaHead.head().bias(), rows);
        chunks.backward();
        TensorVector a = viaLogits.parameters(), b = viaHead.parameters();
        Tensor[] pa = new Tensor[(int) a.size()], pb = new Tensor[(int) b.size()];
        for (int k = 0; k < pa.length; ++k) {
            pa[k] = a.get(k);
            pb[k] = b.get(k);
        }
        assertTrue(pa.length > 10, "the body's parameters are compared too: " + pa.length);
        assertClose(Outcome.of(whole.loss().item_double(), whole.metrics(), pa),
                Outcome.of(chunks.loss().item_double(), chunks.metrics(), pb), 2e-6, 1e-5);
    }

    /** A frozen head (a LoRA body's, say): no gradient for it is computed, and the body's is the same. */
    @Test
    void aFrozenHeadGetsNoGradient() {
        Inputs in = Inputs.random(4);
        Outcome whole = wholeLogits(in, ScalarType.Float);
        Tensor[] p = in.leaves(ScalarType.Float);
        Tensor frozen = p[1].detach(), frozenBias = p[2].detach();
        LinearLossResult r = new FusedLinearPolicyLoss(new TorchFusedLoss(CONFIG), 4).compute(p[0].tanh(), frozen,
                frozenBias, in.rows);
        assertNull(r.gradWeight());
        assertNull(r.gradBias());
        r.backward();
        assertFalse(frozen.grad().defined(), "the frozen weight has no grad");
        assertClose(new Outcome(whole.loss(), whole.metrics(), new float[][] {whole.grads()[0]}),
                Outcome.of(r.loss().item_double(), r.metrics(), new Tensor[] {p[0]}), 2e-6, 1e-5);
    }

    @Test
    void evaluateGivesTheRowsOfTheWholeLogits() {
        Inputs in = Inputs.random(5);
        Tensor[] p = in.leaves(ScalarType.Float);
        TorchFusedLoss kernel = new TorchFusedLoss(CONFIG);
        TorchFusedLoss.RowOutputs whole = kernel.evaluate(torch.linear(p[0].tanh(), p[1], new TensorOptional(p[2]))
                .detach(), in.rows);
        TorchFusedLoss.RowOutputs chunks = new FusedLinearPolicyLoss(kernel, 4).evaluate(p[0].tanh(), p[1], p[2],
                in.rows);
        assertArrayClose(Tensors.toFloats(whole.logp()), Tensors.toFloats(chunks.logp()), 1e-5, "logp");
        assertArrayClose(Tensors.toFloats(whole.entropy()), Tensors.toFloats(chunks.entropy()), 1e-5, "entropy");
        assertArrayClose(Tensors.toFloats(whole.clampedEntropy()), Tensors.toFloats(chunks.clampedEntropy()), 1e-5,
                "clamped entropy");
        assertMetricsClose(whole.metrics(), chunks.metrics(), 1e-5);
        assertFalse(p[1].grad().defined(), "evaluate takes no gradient");
    }

    /** CurrentPolicyLoss behind the head: the first call, too, through chunks, and the objective's rows. */
    @Test
    void objectivesBehindTheHeadGiveWhatTheyGiveOnTheWholeLogits() {
        Inputs in = Inputs.random(9);
        float[] mask = new float[N], weight = Tensors.toFloats(in.rows.weight());
        int[] sequenceOf = new int[N];
        for (int i = 0; i < N; ++i) {
            mask[i] = weight[i] == 0 ? 0 : 1;
            sequenceOf[i] = i / TIME;
        }
        TorchFusedLoss kernel = new TorchFusedLoss(CONFIG);
        for (PolicyObjective objective : new PolicyObjective[] {PolicyObjective.CLIPPED.with(Cispo.defaults()),
                PolicyObjective.CLIPPED.with(Sapo.defaults()), PolicyObjective.CLIPPED.withSequenceRatio(true),
                PolicyObjective.CLIPPED.with(Vespo.defaults()), PolicyObjective.CLIPPED.withTopEntropyQuantile(0.3),
                PolicyObjective.CLIPPED.with(NARROW_DPPO)}) {
            Tensor[] p = in.leaves(ScalarType.Float);
            TorchLossResult whole = new CurrentPolicyLoss(kernel, objective).compute(torch.linear(p[0].tanh(), p[1],
                    new TensorOptional(p[2])), in.rows, mask, sequenceOf, null);
            whole.backward();
            Tensor[] q = in.leaves(ScalarType.Float);
            LinearLossResult chunks = new CurrentPolicyLoss(new FusedLinearPolicyLoss(kernel, 4), objective)
                    .compute(q[0].tanh(), q[1], q[2], in.rows, mask, sequenceOf, null);
            chunks.backward();
            assertClose(Outcome.of(whole.loss().item_double(), whole.metrics(), p),
                    Outcome.of(chunks.loss().item_double(), chunks.metrics(), q), 2e-6, 1e-5);
        }
    }

    /**
     * CISPO and SAPO behind the head take one matmul per chunk for both calls (the objective moves each row alone),
     * and give the bits that two passes over the chunks give: the same objective with off-policy masking at an
     * infinite threshold, which masks nothing but reads whole sequences, so it takes the two passes. The mask covers
     * the first 15 rows, so one chunk of 4 has moved and unmoved rows, and the last two chunks none moved.
     */
    @Test
    void objectivesThatMoveEachRowAloneTakeOnePassWithTheBitsOfTwo() {
        Inputs in = Inputs.random(13);
        int moved = 15;
        float[] mask = new float[moved], weight = Tensors.toFloats(in.rows.weight());
        int[] sequenceOf = new int[moved];
        for (int i = 0; i < moved; ++i) {
            mask[i] = weight[i] == 0 ? 0 : 1;
            sequenceOf[i] = i / TIME;
        }
        // With the KL weighted by the ratio too, whose advantages read each chunk's reference log-probs.
        for (LossConfig config : List.of(CONFIG, CONFIG.toBuilder().klBiasCorrection(true).build()))
            for (PolicyObjective one : new PolicyObjective[] {PolicyObjective.CLIPPED.with(Cispo.defaults()),
                    PolicyObjective.CLIPPED.with(Sapo.defaults())})
                assertOnePassGivesTheBitsOfTwo(new TorchFusedLoss(config), one, in, mask, sequenceOf);
    }

    /** {@code one}'s pass and two passes give the same bits, and what the whole logits give. */
    private static void assertOnePassGivesTheBitsOfTwo(TorchFusedLoss kernel, PolicyObjective one, Inputs in,
            float[] mask, int[] sequenceOf) {
        PolicyObjective two = one.withOffPolicyMaskThreshold(Double.POSITIVE_INFINITY);
        assertTrue(one.movesEachRowAlone() && !two.movesEachRowAlone());
        LinearLossResult[] results = new LinearLossResult[2];
        Tensor[][] leaves = new Tensor[2][];
        for (int k = 0; k < 2; ++k) {
            leaves[k] = in.leaves(ScalarType.Float);
            results[k] = new CurrentPolicyLoss(new FusedLinearPolicyLoss(kernel, 4), k == 0 ? one : two).compute(
                    leaves[k][0].tanh(), leaves[k][1], leaves[k][2], in.rows, mask, sequenceOf, null);
            results[k].backward();
        }
        assertEquals(results[1].loss().item_float(), results[0].loss().item_float(), 0f, "the kernel's loss");
        for (int k = 0; k < 3; ++k)
            assertArrayEquals(Tensors.toFloats(leaves[1][k].grad()), Tensors.toFloats(leaves[0][k].grad()),
                    "gradient " + k);
        assertMetricsClose(results[1].metrics(), results[0].metrics(), 1e-9);
        Tensor[] p = in.leaves(ScalarType.Float);
        TorchLossResult whole = new CurrentPolicyLoss(kernel, one).compute(torch.linear(p[0].tanh(), p[1],
                new TensorOptional(p[2])), in.rows, mask, sequenceOf, null);
        whole.backward();
        assertClose(Outcome.of(whole.loss().item_double(), whole.metrics(), p),
                Outcome.of(results[0].loss().item_double(), results[0].metrics(), leaves[0]), 2e-6, 1e-5);
    }

    /**
     * Rollout ratios behind the head give what they give over the whole logits: CISPO in one pass (each chunk's slice
     * of the ratios beside its slice of the mask, which covers the first 15 rows), VESPO and PPO's clipped loss (no
     * first call) in two.
     */
    @Test
    void rolloutRatiosBehindTheHeadGiveWhatTheyGiveOnTheWholeLogits() {
        Inputs in = Inputs.random(17);
        int moved = 15;
        Random r = new Random(18);
        float[] mask = new float[moved], f = new float[moved], weight = Tensors.toFloats(in.rows.weight());
        int[] sequenceOf = new int[moved];
        for (int i = 0; i < moved; ++i) {
            mask[i] = weight[i] == 0 ? 0 : 1;
            sequenceOf[i] = i / TIME;
            f[i] = i % 4 == 1 ? 0 : (float) (0.5 + r.nextDouble());
        }
        TorchFusedLoss kernel = new TorchFusedLoss(CONFIG);
        for (PolicyObjective objective : new PolicyObjective[] {PolicyObjective.CLIPPED.with(Cispo.defaults()),
                PolicyObjective.CLIPPED.with(Vespo.defaults()), PolicyObjective.CLIPPED}) {
            Tensor[] p = in.leaves(ScalarType.Float);
            TorchLossResult whole = new CurrentPolicyLoss(kernel, objective).compute(torch.linear(p[0].tanh(), p[1],
                    new TensorOptional(p[2])), in.rows, mask, sequenceOf, null, f);
            whole.backward();
            Tensor[] q = in.leaves(ScalarType.Float);
            LinearLossResult chunks = new CurrentPolicyLoss(new FusedLinearPolicyLoss(kernel, 4), objective)
                    .compute(q[0].tanh(), q[1], q[2], in.rows, mask, sequenceOf, null, f);
            chunks.backward();
            assertClose(Outcome.of(whole.loss().item_double(), whole.metrics(), p),
                    Outcome.of(chunks.loss().item_double(), chunks.metrics(), q), 2e-6, 1e-5);
            Tensor[] u = in.leaves(ScalarType.Float);
            TorchLossResult unweighted = new CurrentPolicyLoss(kernel, objective).compute(torch.linear(u[0].tanh(),
                    u[1], new TensorOptional(u[2])), in.rows, mask, sequenceOf, null);
            assertNotEquals(unweighted.metrics().loss(), whole.metrics().loss(), objective + ": the ratios count");
            TorchLossResult inPlace = new CurrentPolicyLoss(kernel, objective).computeInPlace(torch.linear(
                    u[0].tanh(), u[1], new TensorOptional(u[2])).detach(), in.rows, mask, sequenceOf, null, f);
            assertEquals(whole.metrics(), inPlace.metrics(), objective + " in place");
        }
        assertMessage("rolloutRatio: length 14, mask has 15 rows", () -> new CurrentPolicyLoss(
                new FusedLinearPolicyLoss(kernel, 4), PolicyObjective.CLIPPED.with(Cispo.defaults())).compute(
                in.leaves(ScalarType.Float)[0], in.leaves(ScalarType.Float)[1], null, in.rows, mask, null, null,
                Arrays.copyOf(f, 14)));
    }

    /** Liger-Kernel's rule: logits about the size of the hidden states, in a power-of-2 number of rows. */
    @Test
    void defaultChunksHoldLogitsAboutTheSizeOfTheHiddenStates() {
        // ceil(151,936 / 4096) = 38 chunks' worth of rows; ceil(8192 / 38) = 216, rounded up to 256
        assertEquals(256, FusedLinearPolicyLoss.defaultChunkRows(8192, 151_936, 4096));
        Random r = new Random(6);
        for (int k = 0; k < 1000; ++k) {
            long rows = 1 + r.nextInt(100_000), vocab = 2 + r.nextInt(300_000), width = 1 + r.nextInt(8192);
            long chunk = FusedLinearPolicyLoss.defaultChunkRows(rows, vocab, width);
            long perChunk = Math.max(1, (rows + ceilDiv(vocab, width) - 1) / ceilDiv(vocab, width));
            assertEquals(1, Long.bitCount(chunk), "a power of 2: " + chunk);
            assertTrue(chunk >= perChunk && chunk < 2 * perChunk, rows + " x " + vocab + " / " + width + ": " + chunk);
        }
    }

    @Test
    void badArgumentsNameTheArgument() {
        Inputs in = Inputs.random(7);
        Tensor[] p = in.leaves(ScalarType.Float);
        Tensor hidden = p[0].tanh();
        FusedLinearPolicyLoss loss = new FusedLinearPolicyLoss(new TorchFusedLoss(CONFIG), 4);
        assertMessage("chunkRows: must be >= 1, got 0", () -> new FusedLinearPolicyLoss(new TorchFusedLoss(CONFIG), 0));
        assertMessage("hidden: needs at least 2 dimensions", () -> loss.compute(hidden.view(-1), p[1], p[2], in.rows));
        assertMessage("hidden: dtype Double", () -> loss.compute(hidden.to(ScalarType.Double), p[1], p[2], in.rows));
        assertMessage("weight: must be [vocab, width = 6], got [90, 5]",
                () -> loss.compute(hidden, p[1].narrow(1, 0, 5), p[2], in.rows));
        assertMessage("weight: dtype BFloat16, hidden's is Float",
                () -> loss.compute(hidden, p[1].to(ScalarType.BFloat16), p[2], in.rows));
        assertMessage("bias: must be [vocab = 90], got [89]",
                () -> loss.compute(hidden, p[1], p[2].narrow(0, 0, 89), in.rows));
        assertMessage("advantage: must be 1-D with one element per row (21)", () -> loss.compute(hidden, p[1], p[2],
                new PolicyRows(in.rows.target(), in.rows.oldLogp(), in.rows.advantage().narrow(0, 0, 20),
                        in.rows.weight(), null, null)));
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> loss.compute(hidden.detach(), p[1].detach(), null, in.rows).backward());
        assertTrue(e.getMessage().startsWith("hidden, weight, bias: none requires grad"), e.getMessage());
    }

    /** A bad row in a later chunk is named by its row in the batch, and no gradient reaches any leaf. */
    @Test
    void aBadRowInALaterChunkIsNamedByItsRowInTheBatch() {
        Inputs in = Inputs.random(8);
        long[] target = new long[N];
        for (int i = 0; i < N; ++i) target[i] = i % 5 == 4 ? -100 : i % VOCAB;
        target[13] = VOCAB;
        PolicyRows bad = new PolicyRows(Tensors.longs(target, N), in.rows.oldLogp(), in.rows.advantage(),
                in.rows.weight(), in.rows.temperature(), in.rows.refLogp());
        Tensor[] p = in.leaves(ScalarType.Float);
        PolicyLossException e = assertThrows(PolicyLossException.class, () -> new FusedLinearPolicyLoss(
                new TorchFusedLoss(CONFIG), 4).compute(p[0].tanh(), p[1], p[2], bad));
        assertEquals("target", e.argument());
        assertEquals(13, e.row());
        assertTrue(e.getMessage().startsWith("target: row 13: "), e.getMessage());
        for (Tensor t : p) assertFalse(t.grad().defined(), "a leaf got a gradient from a failed call");
    }

    /**
     * A row check of CurrentPolicyLoss's moving, made on one chunk's rows (CISPO in one pass), names the batch's row:
     * row 14 is counted by the mask but has weight 0, so the kernel does not read its NaN advantage and CISPO's check
     * is the one that finds it.
     */
    @Test
    void aBadRowThatTheMovingFindsIsNamedByItsRowInTheBatch() {
        Inputs in = Inputs.random(14);
        float[] advantage = Tensors.toFloats(in.rows.advantage()), mask = new float[N];
        advantage[14] = Float.NaN;
        Arrays.fill(mask, 1);
        PolicyRows bad = new PolicyRows(in.rows.target(), in.rows.oldLogp(), Tensors.floats(advantage, N),
                in.rows.weight(), in.rows.temperature(), in.rows.refLogp());
        Tensor[] p = in.leaves(ScalarType.Float);
        assertMessage("advantage: row 14: must be finite, got NaN", () -> new CurrentPolicyLoss(
                new FusedLinearPolicyLoss(new TorchFusedLoss(CONFIG), 4), PolicyObjective.CLIPPED.with(
                        Cispo.defaults())).compute(p[0].tanh(), p[1], p[2], bad, mask, null, null));
        for (Tensor t : p) assertFalse(t.grad().defined(), "a leaf got a gradient from a failed call");
    }

    private static void assertClose(Outcome expected, Outcome actual, double lossTolerance, double gradTolerance) {
        assertEquals(expected.loss(), actual.loss(), lossTolerance * (1 + Math.abs(expected.loss())), "loss");
        assertMetricsClose(expected.metrics(), actual.metrics(), lossTolerance);
        assertEquals(expected.grads().length, actual.grads().length);
        for (int k = 0; k < expected.grads().length; ++k)
            assertArrayClose(expected.grads()[k], actual.grads()[k], gradTolerance, "gradient " + k);
    }

    private static void assertMetricsClose(LossMetrics expected, LossMetrics actual, double tolerance) {
        double[] e = expected.toSums(), a = actual.toSums();
        for (int k = 0; k < e.length; ++k)
            assertEquals(e[k], a[k], tolerance * (1 + Math.abs(e[k])), "metric " + k);
    }

    /** Element by element, within {@code tolerance} of the largest magnitude. */
    private static void assertArrayClose(float[] expected, float[] actual, double tolerance, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        double scale = 0;
        for (float v : expected) scale = Math.max(scale, Math.abs(v));
        assertTrue(scale > 0, what + ": all zero, a vacuous comparison");
        for (int k = 0; k < expected.length; ++k)
            assertEquals(expected[k], actual[k], tolerance * scale, what + ", element " + k);
    }

    private static void assertMessage(String start, Executable call) {
        RuntimeException e = assertThrows(RuntimeException.class, call);
        assertTrue(e.getMessage().startsWith(start), "expected \"" + start + "...\", got \"" + e.getMessage() + "\"");
    }

    private static float[] gaussians(Random r, int n, double scale) {
        float[] out = new float[n];
        for (int k = 0; k < n; ++k) out[k] = (float) (scale * r.nextGaussian());
        return out;
    }

    private static Tensor leaf(float[] data, ScalarType dtype, long... shape) {
        return Tensors.floats(data, shape).to(dtype).requires_grad_(true);
    }

    private static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }
}
