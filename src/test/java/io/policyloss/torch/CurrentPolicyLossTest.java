package io.policyloss.torch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.policyloss.control.Cispo;
import io.policyloss.control.ClipCov;
import io.policyloss.control.ImportanceRatios;
import io.policyloss.control.ObjectiveMetrics;
import io.policyloss.control.PolicyObjective;
import io.policyloss.control.Sapo;
import io.policyloss.loss.FusedLoss;
import io.policyloss.loss.LossBatch;
import io.policyloss.loss.LossConfig;
import io.policyloss.loss.LossMetrics;
import io.policyloss.loss.LossResult;
import java.util.Arrays;
import java.util.Random;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The objective's two calls as one op: the moved rows give what the README's host-array steps give (FusedLoss and
 * the control helpers), bit for bit; the rows after the moved ones pass as a plain call has them; PPO's clipped
 * loss is one plain call.
 */
class CurrentPolicyLossTest {
    private static final LossConfig CONFIG = LossConfig.builder().entropyCoef(0.01).build();
    private static final int ROWS = 30, MOVED = 20, VOCAB = 40;

    @BeforeAll
    static void oneThread() {
        TorchThreads.use(1);
    }

    @Test
    void sapoMovesTheFirstRowsAsTheHostStepsDoAndLeavesTheRest() {
        Fixture f = Fixture.random(new Random(5));
        float[] logits = f.logits(), oldLogp = f.oldLogp(), advantage = f.advantage(), weight = f.weight(),
                mask = f.mask();
        int[] target32 = f.target32();
        PolicyObjective sapo = PolicyObjective.CLIPPED.with(Sapo.defaults());
        PolicyRows rows = f.rows();
        TorchLossResult got = new CurrentPolicyLoss(new TorchFusedLoss(CONFIG), sapo)
                .compute(Tensors.floats(logits, ROWS, VOCAB), rows, mask, null, null);

        // The README's steps on host arrays, over the first MOVED rows; the others as they came.
        FusedLoss loss = new FusedLoss(CONFIG);
        float[] logp = loss.compute(batch(logits, target32, oldLogp, advantage, weight).noGradient()).logp();
        float[] headLogp = Arrays.copyOf(logp, MOVED), headOld = Arrays.copyOf(oldLogp, MOVED),
                headAdvantage = Arrays.copyOf(advantage, MOVED);
        double[] ratio = ImportanceRatios.token(headLogp, headOld, mask);
        float[] old = oldLogp.clone(), a = advantage.clone();
        System.arraycopy(ImportanceRatios.oldLogpAtRatioOne(headLogp, headOld, mask), 0, old, 0, MOVED);
        System.arraycopy(Sapo.defaults().advantages(headAdvantage, ratio, mask), 0, a, 0, MOVED);
        LossResult want = loss.compute(batch(logits, target32, old, a, weight));
        LossMetrics correction = Sapo.defaults().metricsCorrection(headAdvantage, ratio, headLogp, headOld,
                Arrays.copyOf(weight, MOVED), mask);
        assertArrayEquals(want.dlogitsF32(), Tensors.toFloats(got.dlogits()));
        assertEquals(want.metrics().plus(correction), got.metrics());
        assertTrue(correction.sumApproxKl() != 0, "the correction has something to add");

        LossResult plain = loss.compute(batch(logits, target32, oldLogp, advantage, weight));
        float[] gotTail = Arrays.copyOfRange(Tensors.toFloats(got.dlogits()), MOVED * VOCAB, ROWS * VOCAB);
        assertArrayEquals(Arrays.copyOfRange(plain.dlogitsF32(), MOVED * VOCAB, ROWS * VOCAB), gotTail,
                "rows after the moved ones: a plain call's gradient");
    }

    /**
     * PPO's clipped loss with rollout weights takes no first call, but counts the clips of the rows f turns to 0 by
     * their advantage (PolicyObjective.move): it evaluates those rows alone, and gives what the host steps give with
     * the whole first call's logp, in place too.
     */
    @Test
    void ppoWithRolloutWeightsEvaluatesTheRowsTheyZeroForTheirClips() {
        int rows = 120, moved = 100;
        Random r = new Random(8);
        Fixture fixture = Fixture.random(r, rows, moved);
        float[] logits = fixture.logits(), advantage = fixture.advantage(), weight = fixture.weight(),
                mask = fixture.mask(), f = new float[moved];
        int[] target32 = fixture.target32();
        for (int i = 0; i < moved; ++i) f[i] = i % 3 == 1 ? 0 : (float) (0.5 + r.nextDouble());
        FusedLoss loss = new FusedLoss(CONFIG);
        float[] logp = loss.compute(batch(logits, target32, new float[rows], advantage, weight).noGradient()).logp();
        float[] oldLogp = fixture.oldLogp();  // the fixture's, replaced: ratios either side of 1
        for (int i = 0; i < rows; ++i) oldLogp[i] = (float) (logp[i] + 0.3 * r.nextGaussian());
        PolicyRows policyRows = fixture.rows();
        CurrentPolicyLoss ppo = new CurrentPolicyLoss(new TorchFusedLoss(CONFIG), PolicyObjective.CLIPPED);
        TorchLossResult got = ppo.compute(Tensors.floats(logits, 2, rows / 2, VOCAB), policyRows, mask, null, null, f);

        PolicyObjective.Moved m = PolicyObjective.CLIPPED.move(CONFIG, Arrays.copyOf(logp, moved), null,
                Arrays.copyOf(oldLogp, moved), Arrays.copyOf(advantage, moved), Arrays.copyOf(weight, moved), mask,
                null, null, f);
        float[] a = advantage.clone();
        System.arraycopy(m.advantage(), 0, a, 0, moved);
        LossResult want = loss.compute(batch(logits, target32, oldLogp, a, weight));
        assertArrayEquals(want.dlogitsF32(), Tensors.toFloats(got.dlogits()));
        assertEquals(want.metrics().plus(m.metricsCorrection()), got.metrics());
        assertTrue(m.metricsCorrection().clipLow() >= 2 && m.metricsCorrection().clipHigh() >= 2,
                "rows f zeroes, clipped: " + m.metricsCorrection());
        assertEquals(got.metrics(), ppo.computeInPlace(Tensors.floats(logits, rows, VOCAB), policyRows, mask, null,
                null, f).metrics(), "in place");
    }

    /**
     * CISPO with TRL's KL weighted by the token's ratio reads the rows' reference log-probs for the advantages that
     * carry the term's gradient (PolicyObjective.move with refLogp): what the host steps give, bit for bit, in place
     * too.
     */
    @Test
    void cispoTakesTheWeightedKlFromTheRowsReference() {
        Random r = new Random(9);
        Fixture f = Fixture.random(r);
        float[] logits = f.logits(), oldLogp = f.oldLogp(), advantage = f.advantage(), weight = f.weight(),
                mask = f.mask(), refLogp = new float[ROWS];
        int[] target32 = f.target32();
        for (int i = 0; i < ROWS; ++i) refLogp[i] = (float) (-Math.log(VOCAB) + r.nextGaussian());
        LossConfig config = CONFIG.toBuilder().klCoef(0.04).klBiasCorrection(true).build();
        PolicyObjective cispo = PolicyObjective.CLIPPED.with(Cispo.defaults());
        PolicyRows rows = f.rows().withRefLogp(Tensors.floats(refLogp, ROWS));
        CurrentPolicyLoss op = new CurrentPolicyLoss(new TorchFusedLoss(config), cispo);
        TorchLossResult got = op.compute(Tensors.floats(logits, ROWS, VOCAB), rows, mask, null, null);

        FusedLoss loss = new FusedLoss(config);
        LossResult first = loss.compute(batch(logits, target32, oldLogp, advantage, weight).refLogp(refLogp)
                .noGradient());
        PolicyObjective.Moved m = cispo.move(config, Arrays.copyOf(first.logp(), MOVED),
                Arrays.copyOf(first.entropy(), MOVED), Arrays.copyOf(oldLogp, MOVED), Arrays.copyOf(refLogp, MOVED),
                Arrays.copyOf(advantage, MOVED), Arrays.copyOf(weight, MOVED), mask, null, null, null);
        float[] old = oldLogp.clone(), a = advantage.clone();
        System.arraycopy(m.oldLogp(), 0, old, 0, MOVED);
        System.arraycopy(m.advantage(), 0, a, 0, MOVED);
        LossResult want = loss.compute(batch(logits, target32, old, a, weight).refLogp(refLogp));
        assertArrayEquals(want.dlogitsF32(), Tensors.toFloats(got.dlogits()));
        assertEquals(want.metrics().plus(m.metricsCorrection()), got.metrics());
        assertTrue(m.metricsCorrection().sumKl() != 0, "the term's value at the token's ratio");
        assertEquals(got.metrics(), op.computeInPlace(Tensors.floats(logits, ROWS, VOCAB), rows, mask, null, null)
                .metrics(), "in place");
    }

    /**
     * What the objective counts beyond the kernel's metrics (GSPO's clips over sequences, Clip-Cov's chosen tokens)
     * comes back with the result: what PolicyObjective.move counts on the host from the first call's logp, on logits,
     * in place, and behind a linear head; none from PPO's clipped loss or the kernel alone.
     */
    @Test
    void theResultCarriesWhatTheObjectiveCounts() {
        Random r = new Random(11);
        int width = 8, length = 5;
        Fixture f = Fixture.random(r);
        float[] advantage = f.advantage(), hidden = new float[ROWS * width], head = new float[VOCAB * width];
        for (int i = 0; i < ROWS; ++i) advantage[i] = advantage[i / length * length];  // one a sequence, as GSPO's
        for (int k = 0; k < hidden.length; ++k) hidden[k] = (float) r.nextGaussian();
        for (int k = 0; k < head.length; ++k) head[k] = (float) (0.7 * r.nextGaussian());
        int[] sequenceOf = new int[MOVED];
        for (int i = 0; i < MOVED; ++i) sequenceOf[i] = i / length;
        Tensor x = Tensors.floats(hidden, ROWS, width), w = Tensors.floats(head, VOCAB, width);
        Tensor logits = torch.matmul(x, w.t());
        PolicyObjective objective = PolicyObjective.CLIPPED.with(new ClipCov(0.3, -100, 100)).withSequenceRatio(true);
        PolicyRows rows = f.rows();
        CurrentPolicyLoss op = new CurrentPolicyLoss(new TorchFusedLoss(CONFIG), objective);

        float[] logp = Tensors.toFloats(new TorchFusedLoss(CONFIG).evaluate(logits, rows).logp());
        ObjectiveMetrics want = objective.move(CONFIG, Arrays.copyOf(logp, MOVED), null,
                Arrays.copyOf(f.oldLogp(), MOVED), Arrays.copyOf(advantage, MOVED), Arrays.copyOf(f.weight(), MOVED),
                f.mask(), sequenceOf, new Random(5)).objectiveMetrics();
        assertTrue(want.sequenceClips().sequences() == MOVED / length && want.sequenceClips().regionFraction() > 0
                && want.clipCovChosen() > 1, "counts: " + want);
        assertEquals(want, op.compute(logits, rows, f.mask(), sequenceOf, new Random(5)).objectiveMetrics());
        assertEquals(want, op.computeInPlace(logits.clone(), rows, f.mask(), sequenceOf, new Random(5))
                .objectiveMetrics(), "in place");
        assertEquals(want, op.compute(x, w, null, rows, f.mask(), sequenceOf, new Random(5)).objectiveMetrics(),
                "behind a linear head");
        assertEquals(ObjectiveMetrics.ZERO, new CurrentPolicyLoss(new TorchFusedLoss(CONFIG), PolicyObjective.CLIPPED)
                .compute(logits, rows, f.mask(), sequenceOf, null).objectiveMetrics());
        assertEquals(ObjectiveMetrics.ZERO, new TorchFusedLoss(CONFIG).compute(logits, rows).objectiveMetrics());
    }

    @Test
    void ppoClippedLossIsOnePlainCall() {
        Tensor logits = Tensors.floats(new float[] {0, 1, 2, 3, 1, 1}, 2, 3);
        PolicyRows rows = PolicyRows.of(Tensors.longs(new long[] {2, 0}, 2), Tensors.floats(new float[] {-1, -2}, 2),
                Tensors.floats(new float[] {1, -1}, 2), Tensors.floats(new float[] {0.5f, 0.5f}, 2));
        TorchLossResult got = new CurrentPolicyLoss(new TorchFusedLoss(CONFIG), PolicyObjective.CLIPPED)
                .compute(logits, rows, null, null, null);
        TorchLossResult plain = new TorchFusedLoss(CONFIG).compute(logits, rows);
        assertEquals(plain.metrics(), got.metrics());
        assertArrayEquals(Tensors.toFloats(plain.dlogits()), Tensors.toFloats(got.dlogits()));
        PolicyObjective cispo = PolicyObjective.CLIPPED.with(Cispo.defaults());
        assertSame(cispo, new CurrentPolicyLoss(new TorchFusedLoss(CONFIG), cispo).objective());
    }

    @Test
    void badArgumentsNameTheArgument() {
        PolicyObjective cispo = PolicyObjective.CLIPPED.with(Cispo.defaults());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new CurrentPolicyLoss(
                new TorchFusedLoss(CONFIG.toBuilder().entropyAdvBeta(0.4).build()), cispo));
        assertTrue(e.getMessage().startsWith("loss.entropyAdvBeta: Entropy-Adv shapes the advantage"), e.getMessage());
        Tensor logits = Tensors.floats(new float[6], 2, 3);
        PolicyRows rows = PolicyRows.of(Tensors.longs(new long[] {2, 0}, 2), Tensors.floats(new float[2], 2),
                Tensors.floats(new float[2], 2), Tensors.floats(new float[] {0.5f, 0.5f}, 2));
        CurrentPolicyLoss loss = new CurrentPolicyLoss(new TorchFusedLoss(CONFIG), cispo);
        e = assertThrows(IllegalArgumentException.class, () -> loss.compute(logits, rows, new float[3], null, null));
        assertEquals("mask: length 3, rows has 2 rows", e.getMessage());
        NullPointerException npe = assertThrows(NullPointerException.class,
                () -> loss.compute(logits, rows, null, null, null));
        assertEquals("mask", npe.getMessage());
    }

    /** Random rows, the first {@code moved} of them counted (mask 1) where their weight is not 0. */
    private record Fixture(float[] logits, long[] target, int[] target32, float[] oldLogp, float[] advantage,
            float[] weight, float[] mask) {
        static Fixture random(Random r) {
            return random(r, ROWS, MOVED);
        }

        static Fixture random(Random r, int rows, int moved) {
            float[] logits = new float[rows * VOCAB], oldLogp = new float[rows], advantage = new float[rows],
                    weight = new float[rows], mask = new float[moved];
            long[] target = new long[rows];
            int[] target32 = new int[rows];
            for (int k = 0; k < logits.length; ++k) logits[k] = (float) (2 * r.nextGaussian());
            for (int i = 0; i < rows; ++i) {
                target32[i] = (int) (target[i] = r.nextInt(VOCAB));
                oldLogp[i] = (float) (-Math.log(VOCAB) + r.nextGaussian());
                advantage[i] = (float) r.nextGaussian();
                weight[i] = i % 7 == 6 ? 0 : 1f / rows;
                if (i < moved) mask[i] = weight[i] == 0 ? 0 : 1;
            }
            return new Fixture(logits, target, target32, oldLogp, advantage, weight, mask);
        }

        PolicyRows rows() {
            int rows = target.length;
            return PolicyRows.of(Tensors.longs(target, rows), Tensors.floats(oldLogp, rows),
                    Tensors.floats(advantage, rows), Tensors.floats(weight, rows));
        }
    }

    private static LossBatch batch(float[] logits, int[] target, float[] oldLogp, float[] advantage, float[] weight) {
        return LossBatch.f32(logits.clone(), target.length, VOCAB).target(target).oldLogp(oldLogp).advantage(advantage)
                .weight(weight);
    }
}
