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
 * TRL's KL term weighted by the token's ratio ({@code use_bias_correction_kl}: {@code per_token_kl * coef_1}, coef_1
 * not detached) under the objectives the kernel runs at ratio 1. Each objective's call with the weighted KL, less its
 * call without any KL term, must be the term alone: beta w r kl in the loss, r kl in the KL metric, and in dlogits
 * beta w d(r kl)/dlogp, differentiated here numerically from the term written out (r = exp(logp - old_logp), its
 * exponent clamped to [-20, 20], and k3 clamped to [-10, 10], as the kernel's SPEC takes them).
 */
class RatioOneKlBiasCorrectionTest {
    private static final int SEQUENCES = 24, LENGTH = 9, ROWS = SEQUENCES * LENGTH, VOCAB = 16;
    private static final double BETA = 0.04;

    private static final List<PolicyObjective> AT_RATIO_ONE = List.of(
            PolicyObjective.CLIPPED.with(Cispo.defaults()), PolicyObjective.CLIPPED.with(Sapo.defaults()),
            PolicyObjective.CLIPPED.with(KlCov.defaults()), PolicyObjective.CLIPPED.with(Gmpo.defaults()),
            PolicyObjective.CLIPPED.with(Vespo.defaults()), PolicyObjective.CLIPPED.with(Dppo.binaryTv()),
            PolicyObjective.CLIPPED.with(Cispo.defaults()).withTopEntropyQuantile(0.4));

    @ParameterizedTest
    @EnumSource(KlEstimator.class)
    void theTermIsTrlsWeightedKl(KlEstimator estimator) {
        boolean straightThrough = estimator == KlEstimator.K1_PLUS || estimator == KlEstimator.K3_PLUS;
        Random random = new Random(21);
        float[] logits = new float[ROWS * VOCAB], advantage = new float[ROWS], mask = new float[ROWS];
        int[] target = new int[ROWS], sequenceOf = new int[ROWS];
        for (int k = 0; k < logits.length; ++k) logits[k] = (float) (1.5 * random.nextGaussian());
        for (int i = 0; i < ROWS; ++i) {
            int s = sequenceOf[i] = i / LENGTH;
            target[i] = random.nextInt(VOCAB);
            mask[i] = i % LENGTH == LENGTH - 1 && s % 3 == 0 ? 0 : 1;
            advantage[i] = (float) (s % 2 == 0 ? 0.8 : -0.6);
        }
        float[] weight = AggregationWeights.weights(AggregationMode.TOKEN_MEAN, mask, sequenceOf,
                AggregationWeights.Totals.of(mask, sequenceOf), LENGTH);
        LossConfig weighted = LossConfig.builder().klCoef(BETA).klEstimator(estimator).klBiasCorrection(true).build();
        LossConfig noKl = weighted.toBuilder().klCoef(0).build();
        LossResult first = new FusedLoss(noKl).compute(F32Batches.of(logits, target, new float[ROWS], null,
                advantage, weight).noGradient());
        float[] logp = first.logp(), oldLogp = new float[ROWS], refLogp = new float[ROWS];
        for (int i = 0; i < ROWS; ++i) {
            // Log-ratios within DPPO's probabilities (oldLogp <= 0), and ref_logp - logp from -2 to 3: k3 up to 17,
            // clamped at 10 by the kernel.
            boolean clampedRatio = i % 50 == 7;
            double d = clampedRatio ? 21 : 0.6 * random.nextGaussian();
            oldLogp[i] = (float) Math.min(logp[i] - d, 0);
            double offset = i % 11 == 4 ? 2.8 + 0.2 * random.nextDouble() : -2 + 4 * random.nextDouble();
            refLogp[i] = (float) (logp[i] + offset);
            // A few rows whose ratio is clamped, at e^20: ref_logp - logp = 1e-3, where r kl's gradient without r's
            // part differs from it by 5e-4 of it (1e-3 for k1), and a weight that leaves the loss to the other rows.
            if (clampedRatio) {
                refLogp[i] = logp[i] + 1e-3f;
                weight[i] *= 1e-9f;
            }
        }
        // Rollout weights, some 0: TRL weighs the pg term by them and adds the KL term after, unweighted.
        float[] f = new float[ROWS];
        for (int i = 0; i < ROWS; ++i) f[i] = i % 7 == 2 ? 0 : (float) (0.5 + random.nextDouble());
        RatioOneChecks.Rows rows = RatioOneChecks.Rows.of(logits, target, VOCAB);
        for (PolicyObjective objective : AT_RATIO_ONE) {
            float[] rolloutRatio = objective.surrogate() instanceof KlCov ? null : f;  // KL-Cov takes none
            PolicyObjective.Moved with = objective.move(weighted, logp, first.entropy(), oldLogp, refLogp, advantage,
                    weight, mask, sequenceOf, new SplittableRandom(3), rolloutRatio);
            PolicyObjective.Moved without = objective.move(noKl, logp, first.entropy(), oldLogp, null, advantage,
                    weight, mask, sequenceOf, new SplittableRandom(3), rolloutRatio);
            LossResult got = new FusedLoss(weighted).compute(F32Batches.of(logits, target, with.oldLogp(), refLogp,
                    with.advantage(), weight));
            LossResult rest = new FusedLoss(noKl).compute(F32Batches.of(logits, target, without.oldLogp(), null,
                    without.advantage(), weight));
            LossMetrics gotMetrics = got.metrics().plus(with.metricsCorrection()),
                    restMetrics = rest.metrics().plus(without.metricsCorrection());
            String name = objective.surrogate().paperName() + (objective.topEntropyQuantile() != null ? " masked" : "");

            double[] term = new double[ROWS * VOCAB];
            double loss = 0, kl = 0, klScale = 0;
            int clampedRatios = 0, clampedKl = 0;
            for (int i = 0; i < ROWS; ++i) {
                if (mask[i] == 0) continue;
                final int row = i;
                DoubleUnaryOperator weightedKl = x -> ratio(x, oldLogp[row]) * kl(estimator, x, refLogp[row]);
                // At the kernel's logp: on the rows of ratio e^20, the double's few ulps from it move r kl by 1e-4.
                double x = logp[i], value = weightedKl.applyAsDouble(x), h = 1e-6;
                double slope = (weightedKl.applyAsDouble(x + h) - weightedKl.applyAsDouble(x - h)) / (2 * h);
                if (straightThrough) {  // verl's "+": k2's gradient, logp - ref, for the estimator's, times r
                    double r = ratio(x, oldLogp[i]), through = Math.abs(x - oldLogp[i]) > 20 ? 0 : r;
                    slope = through * kl(estimator, x, refLogp[i]) + r * (x - refLogp[i]);
                }
                rows.chain(i, weight[i] * BETA * slope, term);
                loss += weight[i] * BETA * value;
                kl += value;
                klScale += Math.abs(value);
                clampedRatios += Math.abs(x - oldLogp[i]) > 20 ? 1 : 0;
                clampedKl += kl(estimator, x, refLogp[i]) == 10 ? 1 : 0;
            }
            assertTrue(clampedRatios >= 2 && (!estimator.name().startsWith("K3") || clampedKl >= 2),
                    clampedRatios + " ratios and " + clampedKl + " k3 clamped");
            // The term's share of the loss and of the gradient; every other metric as without the term.
            assertEquals(loss, gotMetrics.loss() - restMetrics.loss(), 1e-5 * Math.abs(loss), name + ": loss");
            assertEquals(kl, gotMetrics.sumKl(), 1e-5 * klScale, name + ": KL");
            assertEquals(restMetrics.clipLow(), gotMetrics.clipLow(), name + ": clip-low");
            assertEquals(restMetrics.clipHigh(), gotMetrics.clipHigh(), name + ": clip-high");
            assertEquals(restMetrics.sumRatio(), gotMetrics.sumRatio(), 1e-9 * ROWS, name + ": ratio");
            for (int i = 0; i < ROWS; ++i) {
                if (mask[i] == 0) continue;
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
                                + " (log-ratio " + (rows.logp()[i] - oldLogp[i]) + ")");
                }
            }
        }
    }

    /**
     * The call that does not take the reference log-probs cannot weigh the KL term: it refuses, naming them, as it
     * refuses a reference log-prob that is not finite on a counted row.
     */
    @Test
    void refusesTheWeightedKlWithoutTheReference() {
        LossConfig weighted = LossConfig.builder().klCoef(BETA).klBiasCorrection(true).build();
        PolicyObjective cispo = PolicyObjective.CLIPPED.with(Cispo.defaults());
        float[] logp = {-1, -2}, advantage = {1, -1}, weight = {0.5f, 0.5f}, mask = {1, 1};
        Refusals.assertMessage("refLogp: null, but loss.klBiasCorrection weights the KL term by the token's ratio, "
                + "which CISPO runs the kernel without (at ratio 1): pass the reference log-probs the kernel's call "
                + "takes", () -> cispo.move(weighted, logp, logp, logp, advantage, weight, mask, null, null));
        Refusals.assertMessage("refLogp: row 1: must be finite, got NaN", () -> cispo.move(weighted, logp, logp, logp,
                new float[] {-1, Float.NaN}, advantage, weight, mask, null, null, null));
    }

    /** r = exp(clamp(logp - oldLogp, -20, 20)): constant where the clamp is active. */
    private static double ratio(double logp, double oldLogp) {
        return Math.exp(Math.min(Math.max(logp - oldLogp, -20), 20));
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
