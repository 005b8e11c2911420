package io.policyloss.control;

import static io.policyloss.control.Refusals.assertMessage;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.policyloss.loss.AggregationMode;
import io.policyloss.loss.AggregationWeights;
import io.policyloss.loss.FusedLoss;
import io.policyloss.loss.KlEstimator;
import io.policyloss.loss.LossConfig;
import io.policyloss.loss.LossMetrics;
import io.policyloss.loss.LossResult;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * GMPO and VESPO through {@link PolicyObjective#move} and the kernel at ratio 1, against the trainers' losses written
 * out here from the logits in double: verl's {@code geo_mean}, the mean over sequences of -A_i exp(mean_t sgn(A_t)
 * min(sgn(A_t) d_t, sgn(A_t) clamp(d_t, -clipLow, clipHigh))), and TRL's {@code vespo}, -sg(phi(w_i)) A logp per
 * token over a token mean. Each logp's derivative of the loss is taken numerically (VESPO's weight read from the
 * unmoved logp, as TRL detaches it), then through the softmax to the logits. KL and entropy terms ride along and must
 * be left as they were.
 */
class SequenceWeightedPolicyGradientTest {
    private static final int VOCAB = 32;

    @ParameterizedTest
    @CsvSource({"GMPO, 0.4, 0.4, 0, 0, 1", "GMPO, 0.2, 0.3, 0, 0, 2", "GMPO, Infinity, 0.1, 0, 0, 3",
            "GMPO with rollout weights, 0.4, 0.4, 0, 0, 6", "GMPO with TRL's entropy mask, 0.4, 0.4, 0, 0, 7",
            "GMPO with TRL's entropy mask, 0.2, 0.3, 0, 0, 8", "VESPO, 2, 3, 3, 2, 4", "VESPO, 0.5, 1, 4, 0.5, 5"})
    void theKernelGivesTheTrainersLossAndGradient(String name, double a, double b, double c, double d, long seed) {
        SequenceWeightedPolicyGradient rule = name.startsWith("GMPO") ? new Gmpo(a, b) : new Vespo(a, b, c, d);
        boolean entropyMasked = name.endsWith("entropy mask");
        Random r = new Random(seed);
        int sequences = 30;
        int[] length = new int[sequences];
        int n = 0;
        for (int s = 0; s < sequences; ++s) n += (length[s] = 1 + r.nextInt(10)) + 1;  // and a padding row each
        float[] logits = new float[n * VOCAB], mask = new float[n], advantage = new float[n], refLogp = new float[n];
        int[] target = new int[n], sequenceOf = new int[n];
        for (int k = 0; k < logits.length; ++k) logits[k] = (float) (2 * r.nextGaussian());
        for (int s = 0, i = 0; s < sequences; ++s) {
            float sequenceAdvantage = s == 0 ? 0 : (float) r.nextGaussian();  // 0: a group whose rewards were alike
            for (int t = 0; t < length[s] + 1; ++t, ++i) {
                sequenceOf[i] = s;
                mask[i] = t < length[s] ? 1 : 0;
                target[i] = r.nextInt(VOCAB);
                // Some tokens without an advantage, as entropy masking leaves them: sgn(A) = 0 there; TRL's GMPO
                // has one advantage a sequence, and its entropy mask leaves it.
                float tokenAdvantage = mask[i] == 0 ? 7 : r.nextInt(5) == 0 ? 0 : sequenceAdvantage;
                advantage[i] = entropyMasked && mask[i] != 0 ? sequenceAdvantage : tokenAdvantage;
            }
        }
        // verl's geo_mean is a mean over sequences; TRL aggregates vespo as dapo, a token mean.
        AggregationMode mode = rule instanceof Gmpo ? AggregationMode.SEQ_MEAN_TOKEN_MEAN : AggregationMode.TOKEN_MEAN;
        float[] weight = AggregationWeights.weights(mode, mask, sequenceOf,
                AggregationWeights.Totals.of(mask, sequenceOf), 10);
        // A clip range, a dual clip, KL and entropy: none may change the pg part at ratio 1.
        LossConfig config = LossConfig.builder().epsLow(0.2).epsHigh(0.28).dualClipC(3).klCoef(0.05)
                .klEstimator(KlEstimator.K3).entropyCoef(0.01).build();
        FusedLoss loss = new FusedLoss(config);
        LossResult first = loss.compute(F32Batches.of(logits, target, new float[n], refLogp, advantage, weight)
                .noGradient());
        float[] logp = first.logp(), oldLogp = new float[n];
        for (int i = 0; i < n; ++i) {
            oldLogp[i] = mask[i] == 0 ? -30 : (float) (logp[i] - 0.5 * r.nextGaussian());  // |d| past 0.4 often
            refLogp[i] = (float) (logp[i] + 0.5 * r.nextGaussian());
        }
        // verl's rollout_is weights, token by token, a sixth of them 0 (IcePop's mask): geo_mean weighs each
        // sequence's loss by their geometric mean.
        float[] rolloutRatio = null;
        if (name.endsWith("rollout weights")) {
            rolloutRatio = new float[n];
            for (int i = 0; i < n; ++i)
                rolloutRatio[i] = mask[i] == 0 ? Float.NaN
                        : r.nextInt(6) == 0 ? 0 : (float) Math.exp(0.3 * r.nextGaussian());
        }

        PolicyObjective objective =
                PolicyObjective.CLIPPED.with(rule).withTopEntropyQuantile(entropyMasked ? 0.4 : null);
        // TRL's mask: the tokens at or above the 0.6 quantile of the current policy's entropies.
        float[] kept = HighEntropyTokens.kept(first.entropy(), mask, HighEntropyTokens.threshold(first.entropy(), mask,
                0.4));
        PolicyObjective.Moved moved = objective.move(config, logp, first.entropy(), oldLogp, advantage, weight, mask,
                sequenceOf, null, rolloutRatio);
        LossResult got = loss.compute(F32Batches.of(logits, target, moved.oldLogp(), refLogp, moved.advantage(),
                weight));
        // The KL and entropy terms alone: advantage 0 takes the pg term away.
        LossResult rest = loss.compute(F32Batches.of(logits, target, oldLogp, refLogp, new float[n], weight));
        TrainerLoss surrogate = rule instanceof Gmpo g
                ? entropyMasked ? new TrlGeoMean(g, oldLogp, mask, kept, sequenceOf, advantage, sequences)
                        : new GeoMean(g, oldLogp, mask, sequenceOf, advantage, sequences, rolloutRatio)
                : new GammaWeighted((Vespo) rule, oldLogp, mask, sequenceOf, advantage, weight, sequences, null);
        Oracle want = new Oracle(surrogate, rule, logits, target, oldLogp, mask, advantage);

        LossMetrics metrics = got.metrics().plus(moved.metricsCorrection());
        assertEquals(want.loss + rest.totalLoss(), metrics.loss(), 1e-5 * want.lossScale, "loss");
        assertEquals(want.approxKl, metrics.sumApproxKl(), 1e-4 * want.counted, "sum of oldLogp - logp");
        assertEquals(want.ratioSum, metrics.sumRatio(), 1e-5 * want.ratioSum, "sum of ratios");
        assertEquals(want.clipLow, metrics.clipLow(), "clipped low");
        assertEquals(want.clipHigh, metrics.clipHigh(), "clipped high");
        if (rule instanceof Gmpo g)
            assertTrue(want.clipHigh >= 3 && (want.clipLow >= 3 || g.clipLow() == Double.POSITIVE_INFINITY),
                    want.clipLow + " / " + want.clipHigh + ": both sides reached");
        for (int i = 0; i < n; ++i) {
            if (mask[i] != 0) continue;
            assertEquals(oldLogp[i], moved.oldLogp()[i], "row " + i + ": a padding row's oldLogp as given");
            assertEquals(advantage[i], moved.advantage()[i], "row " + i + ": a padding row's advantage as given");
        }
        RatioOneChecks.assertGradient(want.dlogits, rest, got, mask, VOCAB);
    }

    /**
     * Sequence 0: A = 1, d = 0.1 and 0.6, so c = 0.1 and 0.4 (clipped high) and R = e^0.25; sequence 1: A = -1, d =
     * -0.6 and 0.2, so c = -0.4 (clipped low) and 0.2 and R = e^-0.1; sequence 2 has no advantage (R = 1); the
     * padding row is not read.
     */
    @Test
    void gmpoOnAWorkedBatch() {
        Gmpo gmpo = Gmpo.defaults();
        float[] advantage = {1, 1, -1, -1, 0, Float.NaN}, oldLogp = {-1.1f, -1.6f, -0.4f, -1.2f, -3, 0};
        float[] logp = {-1, -1, -1, -1, -1, 0}, mask = {1, 1, 1, 1, 1, 0};
        int[] sequenceOf = {0, 0, 1, 1, 2, 2};
        Gmpo.SequenceTerms s = gmpo.sequences(advantage, logp, oldLogp, mask, sequenceOf);
        assertArrayEquals(new double[] {1, -1, 0}, s.advantage(), 0);
        assertArrayEquals(new double[] {Math.exp(0.25), Math.exp(-0.1), 1}, s.ratio(), 1e-6);
        float[] a = gmpo.advantages(advantage, logp, oldLogp, mask, sequenceOf);
        assertArrayEquals(new float[] {(float) Math.exp(0.25), 0, 0, (float) -Math.exp(-0.1), 0, Float.NaN}, a, 1e-6f);
        float[] weight = {0.25f, 0.25f, 0.25f, 0.25f, 0.5f, 0};
        LossMetrics c = gmpo.metricsCorrection(advantage, ImportanceRatios.token(logp, oldLogp, mask), logp, oldLogp,
                weight, mask, sequenceOf);
        assertEquals(1, c.clipLow());
        assertEquals(1, c.clipHigh());
        // Each token's loss is its sequence's -A R; the kernel saw -A' at ratio 1.
        double want = 0.5 * -Math.exp(0.25) + 0.5 * Math.exp(-0.1) + 0.25 * (a[0] + a[3]);
        assertEquals(want, c.loss(), 1e-6);
    }

    /**
     * phi(w) = e^lambda w^k e^(-lambda w): 1 at w = 1, at its largest at w = k / lambda. Sequence 0 (A = 1, k 2,
     * lambda 3): ln w = 0.1 + 0.6; sequence 1 (A = -1, k 3, lambda 2): ln w = -0.6 + 0.2; sequences 2 to 4, the
     * clamps: each log-ratio to 20 (30 - 15 gives 5), the sum to 20 (15 + 15) and to ln 1e-8 (-10 - 10), where phi is
     * 0 or nearly; the padding row is not read.
     */
    @Test
    void vespoOnAWorkedBatch() {
        Vespo vespo = Vespo.defaults();
        assertEquals(1, vespo.weight(0, 1), 1e-15);
        assertEquals(1, vespo.weight(0, -1), 1e-15);
        assertTrue(vespo.weight(Math.log(2.0 / 3), 1) > vespo.weight(Math.log(0.6), 1)
                && vespo.weight(Math.log(2.0 / 3), 1) > vespo.weight(Math.log(0.7), 1), "the peak at k / lambda");
        float[] advantage = {1, 1, -1, -1, 2, 2, 1, 1, 1, 1, Float.NaN};
        float[] oldLogp = {-1.1f, -1.6f, -0.4f, -1.2f, -31, 14, -16, -16, 9, 9, 0};
        float[] logp = new float[11], mask = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0};
        Arrays.fill(logp, -1);
        int[] sequenceOf = {0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 4};
        assertArrayEquals(new double[] {0.7, -0.4, 5, 20, Math.log(1e-8)},
                vespo.sequenceLogRatios(logp, oldLogp, mask, sequenceOf), 1e-6);
        double phi0 = Math.exp(3 + 2 * 0.7 - 3 * Math.exp(0.7)), phi1 = Math.exp(2 - 3 * 0.4 - 2 * Math.exp(-0.4));
        float[] a = vespo.advantages(advantage, logp, oldLogp, mask, sequenceOf);
        assertArrayEquals(new float[] {(float) phi0, (float) phi0, (float) -phi1, (float) -phi1, 0, 0, 0, 0, 0, 0,
                Float.NaN}, a, 1e-6f);
        float[] weight = {0.2f, 0.2f, 0.2f, 0.2f, 0, 0, 0, 0, 0, 0, 0};
        LossMetrics c = vespo.metricsCorrection(advantage, ImportanceRatios.token(logp, oldLogp, mask), logp, oldLogp,
                weight, mask, sequenceOf);
        // Each token's loss is -phi A logp = phi A at logp = -1; the kernel saw -A' = -phi A at ratio 1.
        assertEquals(0.2 * 2 * (2 * phi0 - 2 * phi1), c.loss(), 1e-6);
        assertEquals(0, c.clipLow() + c.clipHigh());
    }

    /**
     * TRL's VESPO with vLLM's correction (and Liger-Kernel's): the engine's ratio joins w_i in log space, each clamped
     * to [ln 1e-8, 20], instead of multiplying the loss. Each token's clamp decides a sequence's weight where another
     * token makes up for it: in sequence 0 a ratio of 1e30 (ln 69, clamped to 20) beside two of e^-10.2, in sequence 1
     * a ratio of 0 (ln -inf, clamped to ln 1e-8) beside one of 1e8, so that both end near w = 1; sequences 2 and 3
     * have ratios near 1. Each sequence's last row is padding.
     */
    @Test
    void vespoFoldsTheRolloutEnginesRatioIntoItsWeight() {
        int n = 24, length = 6;
        Random r = new Random(11);
        float[] logp = new float[n], oldLogp = new float[n], advantage = new float[n], weight = new float[n],
                mask = new float[n], isRatio = new float[n], ones = new float[n];
        int[] sequenceOf = new int[n];
        for (int i = 0; i < n; ++i) {
            sequenceOf[i] = i / length;
            mask[i] = i % length == length - 1 ? 0 : 1;
            logp[i] = (float) (-1 + 0.3 * r.nextGaussian());
            oldLogp[i] = logp[i] + (float) (0.1 * r.nextGaussian());
            advantage[i] = sequenceOf[i] % 2 == 0 ? 0.8f : -1.2f;
            weight[i] = mask[i] / 20;
            isRatio[i] = (float) Math.exp(0.2 * r.nextGaussian());
            ones[i] = 1;
        }
        isRatio[2] = 1e30f;
        isRatio[3] = isRatio[4] = (float) Math.exp(-10.2);
        isRatio[8] = 0;
        isRatio[9] = 1e8f;
        Vespo vespo = new Vespo(2, 3, 3, 2);
        double[] detached = new double[n];
        for (int i = 0; i < n; ++i) detached[i] = logp[i];
        double[] phi = new GammaWeighted(vespo, oldLogp, mask, sequenceOf, advantage, weight, 4, isRatio)
                .phi(detached);
        for (int i = 0; i < n; i += length) assertTrue(phi[i] > 0.1, "sequence " + i / length + ": " + phi[i]);
        float[] a = vespo.advantages(advantage, logp, oldLogp, mask, sequenceOf, isRatio);
        double loss = 0;
        for (int i = 0; i < n; ++i) {
            double want = mask[i] == 0 ? advantage[i] : phi[i] * advantage[i];
            assertEquals(want, a[i], 1e-6 * Math.abs(want) + 1e-12, "row " + i);
            if (mask[i] != 0) loss += weight[i] * (-phi[i] * advantage[i] * logp[i] + phi[i] * advantage[i]);
        }
        LossMetrics c = vespo.metricsCorrection(advantage, ImportanceRatios.token(logp, oldLogp, mask), logp, oldLogp,
                weight, mask, sequenceOf, isRatio);
        assertEquals(loss, c.loss(), 1e-6 * Math.abs(loss), "TRL's loss less what the kernel saw at ratio 1");
        assertArrayEquals(vespo.advantages(advantage, logp, oldLogp, mask, sequenceOf),
                vespo.advantages(advantage, logp, oldLogp, mask, sequenceOf, ones), "ratios of 1 change nothing");
        float[] bad = isRatio.clone();
        bad[3] = -1;
        assertMessage("isRatio: row 3: must be finite and >= 0, got -1.0",
                () -> vespo.advantages(advantage, logp, oldLogp, mask, sequenceOf, bad));
        bad[3] = Float.NaN;
        assertMessage("isRatio: row 3: must be finite and >= 0, got NaN",
                () -> vespo.advantages(advantage, logp, oldLogp, mask, sequenceOf, bad));
        assertMessage("isRatio: length 23, mask has 24 rows",
                () -> vespo.advantages(advantage, logp, oldLogp, mask, sequenceOf, new float[23]));
    }

    @Test
    void badArgumentsNameTheArgumentAndRow() {
        assertMessage("clipLow: must be > 0, got 0.0", () -> new Gmpo(0, 0.4));
        assertMessage("clipHigh: must be > 0, got NaN", () -> new Gmpo(0.4, Double.NaN));
        assertMessage("kNeg: must be finite and >= 0, got -1.0", () -> new Vespo(2, 3, -1, 2));
        assertMessage("lambdaPos: must be finite and > 0, got 0.0", () -> new Vespo(2, 0, 3, 2));
        assertMessage("lambdaNeg: must be finite and > 0, got Infinity", () -> new Vespo(2, 3, 3,
                Double.POSITIVE_INFINITY));
        float[] two = {0f, 0f}, mask = {1f, 0f};
        for (SequenceWeightedPolicyGradient rule : new SequenceWeightedPolicyGradient[] {Gmpo.defaults(),
                Vespo.defaults()}) {
            assertMessage("sequenceOf: row 1: must be >= 0, got -1",
                    () -> rule.advantages(two, two, two, mask, new int[] {0, -1}));
            assertMessage("logp: length 1, mask has 2 rows", () -> rule.advantages(two, new float[1], two, mask,
                    new int[2]));
            assertMessage("oldLogp: row 0: must be finite, got -Infinity", () -> rule.advantages(two, two,
                    new float[] {Float.NEGATIVE_INFINITY, 0}, mask, new int[2]));
            assertMessage("advantage: row 0: must be finite, got NaN", () -> rule.advantages(
                    new float[] {Float.NaN, 0}, two, two, mask, new int[2]));
            assertMessage("weight: length 3, mask has 2 rows", () -> rule.metricsCorrection(two, new double[2], two,
                    two, new float[3], mask, new int[2]));
        }
        Gmpo gmpo = Gmpo.defaults();
        PolicyObjective objective = PolicyObjective.CLIPPED.with(gmpo);
        NullPointerException e = assertThrows(NullPointerException.class, () -> objective.move(LossConfig.defaults(),
                two, two, two, two, two, mask, null, null));
        assertEquals("sequenceOf", e.getMessage());
        assertMessage("sequenceRatio: GMPO has its own sequence-level ratio, the geometric mean of its tokens' "
                + "clipped ratios; choose one", () -> objective.withSequenceRatio(true));
        assertMessage("sequenceRatio: VESPO has its own sequence-level ratio, the product of its tokens' (TRL asks "
                + "for importance_sampling_level=\"token\"); choose one",
                () -> PolicyObjective.CLIPPED.with(Vespo.defaults()).withSequenceRatio(true));
        assertMessage("rolloutRatio: not with GMPO under entropy masking, TRL's GMPOTrainer's loss, which takes no "
                + "rollout weights (verl's geo_mean takes them, unmasked)", () -> objective.withTopEntropyQuantile(0.2)
                .move(LossConfig.defaults(), two, two, two, two, two, mask, new int[2], null, two));
        assertMessage("loss.entropyAdvBeta: Entropy-Adv shapes the advantage by its size, and VESPO rides on the "
                + "advantage (ReweightedPolicyGradient says why); choose one",
                () -> PolicyObjective.CLIPPED.with(Vespo.defaults())
                        .check(LossConfig.builder().entropyAdvBeta(0.4).build()));
    }

    /** A trainer's total loss from logp, its detached weights read from `detached`. */
    private interface TrainerLoss {
        double total(double[] logp, double[] detached);

        /** The loss's scale: the sum of its terms' sizes. */
        double scale(double[] logp);
    }

    /** A trainer's loss that is the mean over sequences of one term each (GMPO's, verl's and TRL's). */
    private interface MeanOverSequences extends TrainerLoss {
        /** Each sequence's term. */
        double[] terms(double[] logp);

        @Override
        default double total(double[] logp, double[] detached) {
            double[] terms = terms(logp);
            double sum = 0;
            for (double t : terms) sum += t;
            return sum / terms.length;
        }

        @Override
        default double scale(double[] logp) {
            double[] terms = terms(logp);
            double sum = 0;
            for (double t : terms) sum += Math.abs(t);
            return sum / terms.length;
        }
    }

    /** The loss, its gradient and metrics from the logits in double. */
    private static final class Oracle {
        final double[] dlogits;
        double loss, lossScale, approxKl, ratioSum, clipLow, clipHigh, counted;

        Oracle(TrainerLoss surrogate, SequenceWeightedPolicyGradient rule, float[] logits, int[] target,
                float[] oldLogp, float[] mask, float[] advantage) {
            int n = target.length;
            RatioOneChecks.Rows rows = RatioOneChecks.Rows.of(logits, target, VOCAB);
            double[] logp = rows.logp(), unmoved = logp.clone();
            loss = surrogate.total(logp, unmoved);
            lossScale = surrogate.scale(logp);
            dlogits = new double[n * VOCAB];
            for (int i = 0; i < n; ++i) {
                if (mask[i] == 0) continue;
                counted++;
                double d = logp[i] - oldLogp[i];
                approxKl -= d;
                ratioSum += Math.exp(d);
                if (rule instanceof Gmpo g) {
                    clipLow += advantage[i] < 0 && d < -g.clipLow() ? 1 : 0;
                    clipHigh += advantage[i] > 0 && d > g.clipHigh() ? 1 : 0;
                }
                double h = 1e-6, saved = logp[i];
                logp[i] = saved + h;
                double up = surrogate.total(logp, unmoved);
                logp[i] = saved - h;
                double down = surrogate.total(logp, unmoved);
                logp[i] = saved;
                rows.chain(i, (up - down) / (2 * h), dlogits);
            }
        }
    }

    /**
     * verl: pg_loss = mean over sequences of -A_i exp((sum_t c_t) / |y_i|), A_i = (sum_t A_t) / |y_i|, times
     * exp((sum_t ln(f_t + 1e-10)) / |y_i|) with rollout_is weights f.
     */
    private record GeoMean(Gmpo gmpo, float[] oldLogp, float[] mask, int[] sequenceOf, float[] advantage,
            int sequences, float[] rolloutRatio) implements MeanOverSequences {
        @Override
        public double[] terms(double[] logp) {
            double[] sumC = new double[sequences], sumA = new double[sequences], tokens = new double[sequences],
                    sumLogF = new double[sequences];
            for (int i = 0; i < logp.length; ++i) {
                if (mask[i] == 0) continue;
                double d = logp[i] - oldLogp[i], sgn = Math.signum(advantage[i]);
                double clamped = Math.min(Math.max(d, -gmpo.clipLow()), gmpo.clipHigh());
                sumC[sequenceOf[i]] += sgn * Math.min(sgn * d, sgn * clamped);
                sumA[sequenceOf[i]] += advantage[i];
                if (rolloutRatio != null) sumLogF[sequenceOf[i]] += Math.log(rolloutRatio[i] + 1e-10);
                tokens[sequenceOf[i]]++;
            }
            double[] term = new double[sequences];
            for (int s = 0; s < sequences; ++s)
                term[s] = -sumA[s] / tokens[s] * Math.exp(sumC[s] / tokens[s]) * Math.exp(sumLogF[s] / tokens[s]);
            return term;
        }
    }

    /**
     * TRL's GMPOTrainer: loss = mean over sequences of -A_i exp((sum over the kept tokens of c_t) / max(|k_i|, 1)),
     * c_t = min(d_t, clamp(d_t, -clipLow, clipHigh)) where A_i &gt; 0, the max elsewhere, A_i the sequence's advantage
     * and the kept tokens those the entropy mask keeps (seq_mask = mask * entropy_mask).
     */
    private record TrlGeoMean(Gmpo gmpo, float[] oldLogp, float[] mask, float[] kept, int[] sequenceOf,
            float[] advantage, int sequences) implements MeanOverSequences {
        @Override
        public double[] terms(double[] logp) {
            double[] sumC = new double[sequences], keptTokens = new double[sequences], a = new double[sequences];
            for (int i = 0; i < logp.length; ++i) {
                if (mask[i] == 0) continue;
                a[sequenceOf[i]] = advantage[i];
                if (kept[i] == 0) continue;
                double d = logp[i] - oldLogp[i];
                double clamped = Math.min(Math.max(d, -gmpo.clipLow()), gmpo.clipHigh());
                sumC[sequenceOf[i]] += advantage[i] > 0 ? Math.min(d, clamped) : Math.max(d, clamped);
                keptTokens[sequenceOf[i]]++;
            }
            double[] term = new double[sequences];
            for (int s = 0; s < sequences; ++s) term[s] = -a[s] * Math.exp(sumC[s] / Math.max(keptTokens[s], 1));
            return term;
        }
    }

    /**
     * TRL: per_token_loss = -phi_seq A logp, phi_seq = exp(lambda + k ln w - lambda w) from the detached
     * log-probs, ln w = clamp(sum_t clamp(d_t, -20, 20) + sum_t clamp(ln isRatio_t, ln 1e-8, 20), ln 1e-8, 20) (the
     * second sum with vLLM's correction alone), k and lambda by A &gt;= 0; summed with the kernel's weights.
     */
    private record GammaWeighted(Vespo vespo, float[] oldLogp, float[] mask, int[] sequenceOf, float[] advantage,
            float[] weight, int sequences, float[] isRatio) implements TrainerLoss {
        @Override
        public double total(double[] logp, double[] detached) {
            double[] phi = phi(detached);
            double sum = 0;
            for (int i = 0; i < logp.length; ++i)
                if (mask[i] != 0) sum += weight[i] * -phi[i] * advantage[i] * logp[i];
            return sum;
        }

        @Override
        public double scale(double[] logp) {
            double[] phi = phi(logp);
            double sum = 0;
            for (int i = 0; i < logp.length; ++i)
                if (mask[i] != 0) sum += weight[i] * Math.abs(phi[i] * advantage[i] * logp[i]);
            return sum;
        }

        private double[] phi(double[] logp) {
            double[] logW = new double[sequences];
            for (int i = 0; i < logp.length; ++i)
                if (mask[i] != 0) {
                    logW[sequenceOf[i]] += Math.min(Math.max(logp[i] - oldLogp[i], -20), 20);
                    if (isRatio != null)
                        logW[sequenceOf[i]] += Math.min(Math.max(Math.log(isRatio[i]), Math.log(1e-8)), 20);
                }
            double[] phi = new double[logp.length];
            for (int i = 0; i < logp.length; ++i) {
                double lw = Math.min(Math.max(logW[sequenceOf[i]], Math.log(1e-8)), 20);
                boolean nonNegative = advantage[i] >= 0;
                double k = nonNegative ? vespo.kPos() : vespo.kNeg();
                double lambda = nonNegative ? vespo.lambdaPos() : vespo.lambdaNeg();
                phi[i] = Math.exp(lambda + k * lw - lambda * Math.exp(lw));
            }
            return phi;
        }
    }
}
