package io.policyloss.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.policyloss.loss.AggregationMode;
import io.policyloss.loss.AggregationWeights;
import io.policyloss.loss.FusedLoss;
import io.policyloss.loss.KlEstimator;
import io.policyloss.loss.LossConfig;
import io.policyloss.loss.LossMetrics;
import io.policyloss.loss.LossResult;
import java.util.List;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.function.DoubleUnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * TRL's KL term weighted by the ratio ({@code use_bias_correction_kl}: {@code per_token_kl * coef_1}, coef_1 not
 * detached) under the objectives the kernel runs at ratio 1, GSPO among them under this term. Each objective's call
 * with the weighted KL, less its call without any KL term, must be the term alone: beta sum_t w_t r_t kl_t in the loss,
 * r kl in the KL metric, and in dlogits its derivative in each row's logp, differentiated here numerically from the
 * term written out (r = exp(logp - old_logp), or at the sequence level exp of the mean of the sequence's counted rows'
 * logp - old_logp, its exponent clamped to [-20, 20], and k3 clamped to [-10, 10], as the kernel's SPEC takes them).
 * For GSPO the call without the term is the kernel's own GSPO-token, so its clips, ratios and loss are checked too.
 * Every objective counts the rows whose ratio it clamps, as the kernel counts them where it computes the ratio.
 */
class RatioOneKlBiasCorrectionTest {
    private static final int SEQUENCES = 24, LENGTH = 9, ROWS = SEQUENCES * LENGTH, VOCAB = 16;
    private static final double BETA = 0.04;

    private static final List<PolicyObjective> AT_RATIO_ONE = List.of(
            PolicyObjective.CLIPPED.with(Cispo.defaults()), PolicyObjective.CLIPPED.with(Sapo.defaults()),
            PolicyObjective.CLIPPED.with(KlCov.defaults()), PolicyObjective.CLIPPED.with(Gmpo.defaults()),
            PolicyObjective.CLIPPED.with(Vespo.defaults()), PolicyObjective.CLIPPED.with(Dppo.binaryTv()),
            PolicyObjective.CLIPPED.with(Cispo.defaults()).withTopEntropyQuantile(0.4));

    private static final PolicyObjective GSPO = PolicyObjective.CLIPPED.withSequenceRatio(true);
    private static final List<PolicyObjective> SEQUENCE_LEVEL = List.of(GSPO, GSPO.withOffPolicyMaskThreshold(0.3),
            GSPO.with(Cispo.defaults()), GSPO.with(Sapo.defaults()));

    @ParameterizedTest
    @EnumSource(KlEstimator.class)
    void theTermIsTrlsWeightedKl(KlEstimator estimator) {
        Batch b = Batch.random(new Random(21), false);
        LossConfig weighted = LossConfig.builder().klCoef(BETA).klEstimator(estimator).klBiasCorrection(true).build();
        for (PolicyObjective objective : AT_RATIO_ONE)
            assertTheTermIsTrls(b, weighted, objective, objective.surrogate() instanceof KlCov ? null : b.f);
    }

    /**
     * At the sequence level the term's gradient reaches every counted token of the sequence, through s_i: GSPO (its
     * clip-low, clip-high, dual clip and clamped ratios all present, and under off-policy masking), CISPO and SAPO,
     * with aggregation weights that differ within a sequence, so that each token's share is its own. Without the dual
     * clip, the clamp alone keeps the clamped sequence's tokens, ratio e^20 at a negative advantage, from PPO's
     * gradient.
     */
    @ParameterizedTest
    @EnumSource(KlEstimator.class)
    void theSequenceLevelTermIsTrlsWeightedKl(KlEstimator estimator) {
        Batch b = Batch.random(new Random(22), true);
        LossConfig weighted = LossConfig.builder().klCoef(BETA).klEstimator(estimator).klBiasCorrection(true)
                .dualClipC(3).build();
        for (PolicyObjective objective : SEQUENCE_LEVEL) assertTheTermIsTrls(b, weighted, objective, b.f);
        assertTheTermIsTrls(b, weighted.toBuilder().dualClipC(0).build(), GSPO, b.f);
    }

    /**
     * Logits, targets and the first call's logp of 24 sequences of 9 rows (each third one's last row padding),
     * old and reference log-probs around them, and rollout weights, some 0.
     */
    private record Batch(float[] logits, int[] target, float[] advantage, float[] mask, float[] weight,
            int[] sequenceOf, float[] logp, float[] entropy, float[] oldLogp, float[] refLogp, float[] f) {
        /**
         * @param sequenceLevel log-ratios around each sequence's own mean, from -1.5 to 1.5 (one sequence's about 21,
         *     clamped, at a negative advantage),
         *     and weights that differ within a sequence; else each row's own, a few of them 21
         */
        static Batch random(Random random, boolean sequenceLevel) {
            float[] logits = new float[ROWS * VOCAB], advantage = new float[ROWS], mask = new float[ROWS];
            int[] target = new int[ROWS], sequenceOf = new int[ROWS];
            for (int k = 0; k < logits.length; ++k) logits[k] = (float) (1.5 * random.nextGaussian());
            for (int i = 0; i < ROWS; ++i) {
                int s = sequenceOf[i] = i / LENGTH;
                target[i] = random.nextInt(VOCAB);
                mask[i] = i % LENGTH == LENGTH - 1 && s % 3 == 0 ? 0 : 1;
                advantage[i] = (float) (s % 2 == 0 ? 0.8 : -0.6);
            }
            float[] weight = AggregationWeights.weights(sequenceLevel ? AggregationMode.SEQ_MEAN_TOKEN_MEAN
                    : AggregationMode.TOKEN_MEAN, mask, sequenceOf, AggregationWeights.Totals.of(mask, sequenceOf),
                    LENGTH);
            if (sequenceLevel)
                for (int i = 0; i < ROWS; ++i) weight[i] *= (float) (0.5 + random.nextDouble());
            LossConfig noKl = LossConfig.builder().build();
            LossResult first = new FusedLoss(noKl).compute(F32Batches.of(logits, target, new float[ROWS], null,
                    advantage, weight).noGradient());
            float[] logp = first.logp(), oldLogp = new float[ROWS], refLogp = new float[ROWS];
            for (int i = 0; i < ROWS; ++i) {
                int s = sequenceOf[i];
                // Log-ratios within DPPO's probabilities (oldLogp <= 0), and ref_logp - logp from -2 to 3: k3 up to 17,
                // clamped at 10 by the kernel.
                boolean clampedRatio = sequenceLevel ? s == 5 : i % 50 == 7;
                // The clamped sequence's tokens spread about 21, some below 20: the clamp is of the sequence's mean.
                double d = clampedRatio ? 21 + (sequenceLevel ? 1.5 * random.nextGaussian() : 0)
                        : sequenceLevel ? -1.5 + 3.0 * s / (SEQUENCES - 1)
                        + 0.3 * random.nextGaussian() : 0.6 * random.nextGaussian();
                oldLogp[i] = (float) (sequenceLevel ? logp[i] - d : Math.min(logp[i] - d, 0));
                double offset = i % 11 == 4 ? 2.8 + 0.2 * random.nextDouble() : -2 + 4 * random.nextDouble();
                refLogp[i] = (float) (logp[i] + offset);
                // Rows whose ratio is clamped, at e^20: ref_logp - logp = 1e-3, where r kl's gradient without r's
                // part differs from it by 5e-4 of it (1e-3 for k1), and a weight that leaves the loss to the others.
                if (clampedRatio) {
                    refLogp[i] = logp[i] + 1e-3f;
                    weight[i] *= 1e-9f;
                }
            }
            // Rollout weights, some 0: TRL weighs the pg term by them and adds the KL term after, unweighted.
            float[] f = new float[ROWS];
            for (int i = 0; i < ROWS; ++i) f[i] = i % 7 == 2 ? 0 : (float) (0.5 + random.nextDouble());
            return new Batch(logits, target, advantage, mask, weight, sequenceOf, logp, first.entropy(), oldLogp,
                    refLogp, f);
        }

        /** Row i's ratio at the logp x (x[i] for row i), its sequence's with sequenceRatio. */
        double ratio(double[] x, int i, boolean sequenceRatio) {
            if (!sequenceRatio) return ratio(x[i] - oldLogp[i]);
            double sum = 0;
            int tokens = 0;
            for (int u = 0; u < ROWS; ++u) {
                if (mask[u] == 0 || sequenceOf[u] != sequenceOf[i]) continue;
                sum += x[u] - oldLogp[u];
                tokens++;
            }
            return ratio(sum / tokens);
        }

        /** r = exp(clamp(log r, -20, 20)): constant where the clamp is active. */
        private static double ratio(double logRatio) {
            return Math.exp(Math.min(Math.max(logRatio, -20), 20));
        }
    }

    private static void assertTheTermIsTrls(Batch b, LossConfig weighted, PolicyObjective objective,
            float[] rolloutRatio) {
        KlEstimator estimator = weighted.klEstimator();
        boolean straightThrough = estimator == KlEstimator.K1_PLUS || estimator == KlEstimator.K3_PLUS;
        boolean sequenceRatio = objective.sequenceRatio();
        LossConfig noKl = weighted.toBuilder().klCoef(0).build();
        PolicyObjective.Moved with = objective.move(weighted, b.logp, b.entropy, b.oldLogp, b.refLogp, b.advantage,
                b.weight, b.mask, b.sequenceOf, new SplittableRandom(3), rolloutRatio);
        PolicyObjective.Moved without = objective.move(noKl, b.logp, b.entropy, b.oldLogp, null, b.advantage,
                b.weight, b.mask, b.sequenceOf, new SplittableRandom(3), rolloutRatio);
        LossResult got = new FusedLoss(weighted).compute(F32Batches.of(b.logits, b.target, with.oldLogp(), b.refLogp,
                with.advantage(), b.weight));
        LossResult rest = new FusedLoss(noKl).compute(F32Batches.of(b.logits, b.target, without.oldLogp(), null,
                without.advantage(), b.weight));
        LossMetrics gotMetrics = got.metrics().plus(with.metricsCorrection()),
                restMetrics = rest.metrics().plus(without.metricsCorrection());
        String name = (objective.surrogate() == null ? "GSPO" : objective.surrogate().paperName())
                + (sequenceRatio && objective.surrogate() != null ? " sequence-level" : "")
                + (objective.topEntropyQuantile() != null ? " entropy-masked" : "")
                + (objective.offPolicyMaskThreshold() != null ? " off-policy-masked" : "") + ", " + estimator;

        RatioOneChecks.Rows rows = RatioOneChecks.Rows.of(b.logits, b.target, VOCAB);
        double[] x = new double[ROWS];
        for (int i = 0; i < ROWS; ++i) x[i] = b.logp[i];
        // Each sequence's sum of w_u kl_u, which the derivative of its ratio weights at the sequence level.
        double[] weightedKl = new double[ROWS];
        double[] term = new double[ROWS * VOCAB];
        double loss = 0, kl = 0, klScale = 0;
        int clampedRatios = 0, clampedKl = 0;
        for (int i = 0; i < ROWS; ++i) {
            if (b.mask[i] == 0) continue;
            double r = b.ratio(x, i, sequenceRatio), value = r * kl(estimator, x[i], b.refLogp[i]);
            weightedKl[sequenceRatio ? b.sequenceOf[i] : i] += b.weight[i] * kl(estimator, x[i], b.refLogp[i]);
            loss += b.weight[i] * BETA * value;
            kl += value;
            klScale += Math.abs(value);
            clampedRatios += r == Math.exp(20) ? 1 : 0;
            clampedKl += kl(estimator, x[i], b.refLogp[i]) == 10 ? 1 : 0;
        }
        double h = 1e-6;
        for (int i = 0; i < ROWS; ++i) {
            if (b.mask[i] == 0) continue;
            final int row = i;
            // d(sum_u w_u r_u kl_u)/dlogp_i: r's derivative (the row's sequence's, through every u of it) times the
            // sum of w_u kl_u it weights, plus w_i r_i dkl_i (verl's "+": k2's gradient, logp - ref, for the
            // estimator's).
            DoubleUnaryOperator ratioAt = v -> {
                double[] moved = x.clone();
                moved[row] = v;
                return b.ratio(moved, row, sequenceRatio);
            };
            DoubleUnaryOperator klAt = v -> kl(estimator, v, b.refLogp[row]);
            double dRatio = (ratioAt.applyAsDouble(x[i] + h) - ratioAt.applyAsDouble(x[i] - h)) / (2 * h);
            double dKl = straightThrough ? x[i] - b.refLogp[i]
                    : (klAt.applyAsDouble(x[i] + h) - klAt.applyAsDouble(x[i] - h)) / (2 * h);
            double slope = dRatio * weightedKl[sequenceRatio ? b.sequenceOf[i] : i]
                    + b.weight[i] * b.ratio(x, i, sequenceRatio) * dKl;
            rows.chain(i, BETA * slope, term);
        }
        assertTrue(clampedRatios >= 2 && (!estimator.name().startsWith("K3") || clampedKl >= 2),
                clampedRatios + " ratios and " + clampedKl + " k3 clamped");
        if (objective.equals(GSPO))
            assertTrue(restMetrics.clipLow() > 0 && restMetrics.clipHigh() > 0
                    && (weighted.dualClipC() == 0 || restMetrics.dualClip() > 0), name + ": " + restMetrics);
        // The term's share of the loss and of the gradient; every other metric as without the term.
        // Within the float rounding of each row's loss in the kernel, both calls'.
        double rowLosses = 0;
        for (int i = 0; i < ROWS; ++i) rowLosses += b.weight[i] * Math.abs(rest.loss()[i]);
        assertEquals(loss, gotMetrics.loss() - restMetrics.loss(), 1e-5 * Math.abs(loss) + 1e-6 * rowLosses,
                name + ": loss");
        assertEquals(kl, gotMetrics.sumKl(), 1e-5 * klScale, name + ": KL");
        assertEquals(restMetrics.clipLow(), gotMetrics.clipLow(), name + ": clip-low");
        assertEquals(restMetrics.clipHigh(), gotMetrics.clipHigh(), name + ": clip-high");
        assertEquals(restMetrics.dualClip(), gotMetrics.dualClip(), name + ": dual clip");
        assertEquals(clampedRatios, gotMetrics.ratioClamped(), name + ": ratios clamped");
        assertEquals(restMetrics.ratioClamped(), gotMetrics.ratioClamped(), name + ": ratios clamped without the term");
        assertEquals(restMetrics.sumRatio(), gotMetrics.sumRatio(), 1e-6 * Math.abs(restMetrics.sumRatio()),
                name + ": ratio");
        assertEquals(restMetrics.sumApproxKl(), gotMetrics.sumApproxKl(), 1e-5 * ROWS, name + ": approx KL");
        assertEquals(without.objectiveMetrics(), with.objectiveMetrics(), name + ": the objective's counts");
        for (int i = 0; i < ROWS; ++i) {
            if (b.mask[i] == 0) continue;
            double rowMax = 0;
            for (int v = 0; v < VOCAB; ++v) {
                int k = i * VOCAB + v;
                rowMax = Math.max(rowMax, Math.abs(got.dlogitsF32()[k]) + Math.abs(term[k]));
            }
            for (int v = 0; v < VOCAB; ++v) {
                int k = i * VOCAB + v;
                double expected = rest.dlogitsF32()[k] + term[k], actual = got.dlogitsF32()[k];
                if (!(Math.abs(expected - actual) <= 2e-5 * rowMax + 1e-12))
                    fail(name + " row " + i + " dlogits[" + v + "]: " + expected + " expected, got " + actual
                            + " (log-ratio " + (rows.logp()[i] - b.oldLogp[i]) + ")");
            }
        }
    }

    /**
     * The call that does not take the reference log-probs cannot weigh the KL term: it refuses, naming them, as it
     * refuses a reference log-prob that is not finite on a counted row, and at the sequence level a counted row of
     * weight 0, through which the sequence's share of the gradient cannot reach it.
     */
    @Test
    void refusesTheWeightedKlWithoutTheReference() {
        LossConfig weighted = LossConfig.builder().klCoef(BETA).klBiasCorrection(true).build();
        float[] logp = {-1, -2}, advantage = {1, 1}, weight = {0.5f, 0.5f}, mask = {1, 1};
        int[] oneSequence = {0, 0};
        for (PolicyObjective o : List.of(PolicyObjective.CLIPPED.with(Cispo.defaults()), GSPO)) {
            String name = o.surrogate() == null ? "GSPO" : "CISPO";
            Refusals.assertMessage("refLogp: null, but loss.klBiasCorrection weights the KL term by the ratio, which "
                    + name + " runs the kernel without (at ratio 1): pass the reference log-probs the kernel's call "
                    + "takes", () -> o.move(weighted, logp, logp, logp, advantage, weight, mask, oneSequence, null));
            Refusals.assertMessage("refLogp: row 1: must be finite, got NaN", () -> o.move(weighted, logp, logp, logp,
                    new float[] {-1, Float.NaN}, advantage, weight, mask, oneSequence, null, null));
        }
        Refusals.assertMessage("weight: row 1: must be > 0 on a counted row (mask 1), got 0.0: the KL weighted by the "
                + "sequence's ratio takes its gradient into every counted token through its weight",
                () -> GSPO.move(weighted, logp, logp, logp, logp, advantage, new float[] {0.5f, 0}, mask, oneSequence,
                        null, null));
    }

    /** The estimator's value, d = ref - logp: k1 logp - ref, k2 d^2 / 2, k3 clamp(e^d - d - 1, -10, 10), abs |d|. */
    private static double kl(KlEstimator estimator, double logp, double refLogp) {
        double d = refLogp - logp;
        return switch (estimator) {
            case K1, K1_PLUS -> logp - refLogp;
            case K2 -> d * d / 2;
            case K3, K3_PLUS -> Math.min(Math.max(Math.exp(d) - d - 1, -10), 10);
            case ABS -> Math.abs(d);
        };
    }
}
