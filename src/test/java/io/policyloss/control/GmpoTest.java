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
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * GMPO through {@link PolicyObjective#move} and the kernel at ratio 1, against verl's {@code geo_mean} loss written out
 * here from the logits in double: the mean over sequences of -A_i exp(mean_t sgn(A_t) min(sgn(A_t) d_t, sgn(A_t)
 * clamp(d_t, -clipLow, clipHigh))), each logp's derivative of it taken numerically, then through the softmax to the
 * logits. KL and entropy terms ride along and must be left as they were.
 */
class GmpoTest {
    private static final int VOCAB = 32;

    @ParameterizedTest
    @CsvSource({"0.4, 0.4, 1", "0.2, 0.3, 2", "Infinity, 0.1, 3"})
    void theKernelGivesVerlsLossAndGradient(double clipLow, double clipHigh, long seed) {
        Gmpo gmpo = new Gmpo(clipLow, clipHigh);
        Random r = new Random(seed);
        int sequences = 30;
        int[] length = new int[sequences];
        int n = 0;
        for (int s = 0; s < sequences; ++s) n += (length[s] = 1 + r.nextInt(10)) + 1;  // and a padding row each
        float[] logits = new float[n * VOCAB], mask = new float[n], advantage = new float[n], refLogp = new float[n];
        int[] target = new int[n], sequenceOf = new int[n];
        for (int k = 0; k < logits.length; ++k) logits[k] = (float) (2 * r.nextGaussian());
        for (int s = 0, i = 0; s < sequences; ++s) {
            float a = s == 0 ? 0 : (float) r.nextGaussian();  // sequence 0: a group whose rewards were all alike
            for (int t = 0; t < length[s] + 1; ++t, ++i) {
                sequenceOf[i] = s;
                mask[i] = t < length[s] ? 1 : 0;
                target[i] = r.nextInt(VOCAB);
                // Some tokens without an advantage, as entropy masking leaves them: sgn(A) = 0 there.
                advantage[i] = mask[i] == 0 ? 7 : r.nextInt(5) == 0 ? 0 : a;
            }
        }
        float[] weight = AggregationWeights.weights(AggregationMode.SEQ_MEAN_TOKEN_MEAN, mask, sequenceOf,
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

        PolicyObjective.Moved moved = new PolicyObjective(false, null, null, null, null, null, gmpo).move(config, logp,
                first.entropy(), oldLogp, advantage, weight, mask, sequenceOf, null);
        LossResult got = loss.compute(F32Batches.of(logits, target, moved.oldLogp(), refLogp, moved.advantage(),
                weight));
        // The KL and entropy terms alone: advantage 0 takes the pg term away.
        LossResult rest = loss.compute(F32Batches.of(logits, target, oldLogp, refLogp, new float[n], weight));
        Oracle want = new Oracle(gmpo, logits, target, oldLogp, mask, sequenceOf, advantage, sequences);

        LossMetrics metrics = got.metrics().plus(moved.metricsCorrection());
        assertEquals(want.loss + rest.totalLoss(), metrics.loss(), 1e-5 * want.lossScale, "loss");
        assertEquals(want.approxKl, metrics.sumApproxKl(), 1e-4 * want.counted, "sum of oldLogp - logp");
        assertEquals(want.ratioSum, metrics.sumRatio(), 1e-5 * want.ratioSum, "sum of ratios");
        assertEquals(want.clipLow, metrics.clipLow(), "clipped low");
        assertEquals(want.clipHigh, metrics.clipHigh(), "clipped high");
        assertTrue(want.clipHigh >= 3 && (want.clipLow >= 3 || clipLow == Double.POSITIVE_INFINITY),
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
    void aWorkedBatch() {
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

    @Test
    void badArgumentsNameTheArgumentAndRow() {
        assertMessage("clipLow: must be > 0, got 0.0", () -> new Gmpo(0, 0.4));
        assertMessage("clipHigh: must be > 0, got NaN", () -> new Gmpo(0.4, Double.NaN));
        Gmpo gmpo = Gmpo.defaults();
        float[] two = {0f, 0f}, mask = {1f, 0f};
        assertMessage("sequenceOf: row 1: must be >= 0, got -1",
                () -> gmpo.advantages(two, two, two, mask, new int[] {0, -1}));
        assertMessage("logp: length 1, mask has 2 rows", () -> gmpo.advantages(two, new float[1], two, mask,
                new int[2]));
        assertMessage("oldLogp: row 0: must be finite, got -Infinity", () -> gmpo.advantages(two, two,
                new float[] {Float.NEGATIVE_INFINITY, 0}, mask, new int[2]));
        assertMessage("weight: length 3, mask has 2 rows", () -> gmpo.metricsCorrection(two, new double[2], two, two,
                new float[3], mask, new int[2]));
        PolicyObjective objective = new PolicyObjective(false, null, null, null, null, null, gmpo);
        NullPointerException e = assertThrows(NullPointerException.class, () -> objective.move(LossConfig.defaults(),
                two, two, two, two, two, mask, null, null));
        assertEquals("sequenceOf", e.getMessage());
        assertMessage("gmpo: klCov is set too; clipCov, cispo, sapo, klCov and gmpo each replace PPO's clipped loss "
                + "in their own way; choose one", () -> new PolicyObjective(false, null, null, null, null,
                KlCov.defaults(), gmpo));
        assertMessage("sequenceRatio: GMPO has its own sequence-level ratio, the geometric mean of its tokens' "
                + "clipped ratios; choose one", () -> new PolicyObjective(true, null, null, null, null, null, gmpo));
        assertMessage("topEntropyQuantile: entropy masking with GMPO is neither verl's nor TRL's loss; choose one",
                () -> new PolicyObjective(false, 0.2, null, null, null, null, gmpo));
        assertMessage("loss.entropyAdvBeta: Entropy-Adv shapes the advantage by its size, and GMPO rides on the "
                + "advantage (ReweightedPolicyGradient says why); choose one",
                () -> objective.check(LossConfig.builder().entropyAdvBeta(0.4).build()));
    }

    /** verl's geo_mean over the counted tokens, from the logits in double. */
    private static final class Oracle {
        final double[] dlogits;
        double loss, lossScale, approxKl, ratioSum, clipLow, clipHigh, counted;

        Oracle(Gmpo gmpo, float[] logits, int[] target, float[] oldLogp, float[] mask, int[] sequenceOf,
                float[] advantage, int sequences) {
            int n = target.length;
            RatioOneChecks.Rows rows = RatioOneChecks.Rows.of(logits, target, VOCAB);
            double[] logp = rows.logp();
            GeoMean l = new GeoMean(gmpo, oldLogp, mask, sequenceOf, advantage, sequences);
            loss = l.total(logp);
            lossScale = l.scale(logp);
            dlogits = new double[n * VOCAB];
            for (int i = 0; i < n; ++i) {
                if (mask[i] == 0) continue;
                counted++;
                double d = logp[i] - oldLogp[i];
                approxKl -= d;
                ratioSum += Math.exp(d);
                clipLow += advantage[i] < 0 && d < -gmpo.clipLow() ? 1 : 0;
                clipHigh += advantage[i] > 0 && d > gmpo.clipHigh() ? 1 : 0;
                double h = 1e-6, saved = logp[i];
                logp[i] = saved + h;
                double up = l.total(logp);
                logp[i] = saved - h;
                double down = l.total(logp);
                logp[i] = saved;
                rows.chain(i, (up - down) / (2 * h), dlogits);
            }
        }
    }

    /** verl: pg_loss = mean over sequences of -A_i exp((sum_t c_t) / |y_i|), A_i = (sum_t A_t) / |y_i|. */
    private record GeoMean(Gmpo gmpo, float[] oldLogp, float[] mask, int[] sequenceOf, float[] advantage,
            int sequences) {
        double total(double[] logp) {
            double[] term = terms(logp);
            double sum = 0;
            for (double t : term) sum += t;
            return sum / sequences;
        }

        double scale(double[] logp) {
            double sum = 0;
            for (double t : terms(logp)) sum += Math.abs(t);
            return sum / sequences;
        }

        private double[] terms(double[] logp) {
            double[] sumC = new double[sequences], sumA = new double[sequences], tokens = new double[sequences];
            for (int i = 0; i < logp.length; ++i) {
                if (mask[i] == 0) continue;
                double d = logp[i] - oldLogp[i], sgn = Math.signum(advantage[i]);
                double clamped = Math.min(Math.max(d, -gmpo.clipLow()), gmpo.clipHigh());
                sumC[sequenceOf[i]] += sgn * Math.min(sgn * d, sgn * clamped);
                sumA[sequenceOf[i]] += advantage[i];
                tokens[sequenceOf[i]]++;
            }
            double[] term = new double[sequences];
            for (int s = 0; s < sequences; ++s) term[s] = -sumA[s] / tokens[s] * Math.exp(sumC[s] / tokens[s]);
            return term;
        }
    }
}
