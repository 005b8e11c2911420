package io.policyloss.control;

import static io.policyloss.control.Refusals.assertMessage;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.policyloss.loss.AggregationMode;
import io.policyloss.loss.AggregationWeights;
import io.policyloss.loss.FusedLoss;
import io.policyloss.loss.KlEstimator;
import io.policyloss.loss.LossBatch;
import io.policyloss.loss.LossConfig;
import io.policyloss.loss.LossMetrics;
import io.policyloss.loss.LossResult;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * CISPO (and GPG, its weight 1), SAPO, KL-Cov and DPPO through the kernel at ratio 1, against TRL's and verl's token
 * losses written out here: the total loss and each logp's derivative taken numerically in double (the CISPO and DPPO
 * weights and the KL-Cov choice held constant, as the trainers detach them), then through the softmax to the logits.
 * KL and entropy terms ride along and must be left as they were.
 */
class ReweightedPolicyGradientTest {
    private static final int VOCAB = 40;
    private static final Cispo CISPO = new Cispo(0.5, 1.5);  // both bounds reached by the ratios below
    private static final Sapo SAPO = new Sapo(1.0, 1.05);
    private static final KlCov KL_COV = new KlCov(0.1, 0.5);  // 10% of the tokens, to have enough of them
    // Regions narrow enough for the small probabilities below to leave them on both sides, and a truncation the
    // ratios reach.
    private static final Dppo DPPO_TV = new Dppo(Dppo.Divergence.BINARY_TV, 0.02, 0.015, 2.5);
    private static final Dppo DPPO_KL = new Dppo(Dppo.Divergence.BINARY_KL, 0.004, 0.003, 2.5);

    @ParameterizedTest
    @CsvSource({"CISPO, false, TOKEN_MEAN", "CISPO, true, SEQ_MEAN_TOKEN_MEAN", "GPG, false, SEQ_MEAN_TOKEN_SUM",
            "SAPO, false, SEQ_MEAN_TOKEN_MEAN", "SAPO, true, TOKEN_MEAN", "KL_COV, false, TOKEN_MEAN",
            "DPPO_TV, false, TOKEN_MEAN", "DPPO_KL, false, SEQ_MEAN_TOKEN_SUM_NORM"})
    void theKernelGivesTheTrainersLossAndGradient(String surrogate, boolean sequenceLevel, AggregationMode mode) {
        Object rule = switch (surrogate) {
            case "CISPO" -> CISPO;
            case "GPG" -> Cispo.gpg();
            case "SAPO" -> SAPO;
            case "DPPO_TV" -> DPPO_TV;
            case "DPPO_KL" -> DPPO_KL;
            default -> KL_COV;
        };
        Random r = new Random(surrogate.hashCode() + (sequenceLevel ? 1 : 0));
        int sequences = 36;
        int[] length = new int[sequences];
        int n = 0;
        for (int s = 0; s < sequences; ++s) n += (length[s] = 1 + r.nextInt(12)) + 2;  // 2 padding rows each
        float[] logits = new float[n * VOCAB], mask = new float[n], advantage = new float[n], refLogp = new float[n];
        int[] target = new int[n], sequenceOf = new int[n];
        for (int k = 0; k < logits.length; ++k) logits[k] = (float) (2 * r.nextGaussian());
        for (int s = 0, i = 0; s < sequences; ++s) {
            float a = (float) r.nextGaussian();
            if (s % 6 == 5) a = 0;  // a group whose rewards were all equal
            for (int t = 0; t < length[s] + 2; ++t, ++i) {
                sequenceOf[i] = s;
                mask[i] = t < length[s] ? 1 : 0;
                target[i] = r.nextInt(VOCAB);
                advantage[i] = a;
            }
        }
        float[] weight = AggregationWeights.weights(mode, mask, sequenceOf,
                AggregationWeights.Totals.of(mask, sequenceOf), 12);
        // A clip range, a dual clip, KL and entropy: none may change the pg part at ratio 1.
        LossConfig config = LossConfig.builder().epsLow(0.2).epsHigh(0.28).dualClipC(3).klCoef(0.05)
                .klEstimator(KlEstimator.K3).entropyCoef(0.01).build();
        FusedLoss loss = new FusedLoss(config);
        LossBatch first = F32Batches.of(logits, target, new float[n], refLogp, advantage, weight).noGradient();
        float[] logp = loss.compute(first).logp();
        float[] oldLogp = new float[n];
        for (int i = 0; i < n; ++i) {
            oldLogp[i] = mask[i] == 0 ? -30 : (float) (logp[i] - 1.2 * r.nextGaussian());  // ratios e^-3 .. e^3
            if (rule instanceof Dppo) oldLogp[i] = Math.min(oldLogp[i], 0);  // its divergences are of probabilities
            refLogp[i] = (float) (logp[i] + 0.5 * r.nextGaussian());
        }

        double[] ratio = sequenceLevel ? ImportanceRatios.sequence(logp, oldLogp, mask, sequenceOf)
                : ImportanceRatios.token(logp, oldLogp, mask);
        float[] atOne = ImportanceRatios.oldLogpAtRatioOne(logp, oldLogp, mask), kernelAdvantage;
        LossMetrics correction;
        boolean[] chosen = new boolean[n];
        if (rule instanceof ReweightedPolicyGradient reweighted) {
            kernelAdvantage = reweighted.advantages(advantage, ratio, mask);
            correction = reweighted.metricsCorrection(advantage, ratio, logp, oldLogp, weight, mask);
        } else if (rule instanceof Dppo dppo) {
            kernelAdvantage = dppo.advantages(advantage, logp, oldLogp, mask);
            correction = dppo.metricsCorrection(advantage, logp, oldLogp, weight, mask);
        } else {
            chosen = KL_COV.chosen(advantage, logp, mask);
            kernelAdvantage = KL_COV.advantages(advantage, ratio, logp, oldLogp, chosen, mask);
            correction = KL_COV.metricsCorrection(advantage, ratio, logp, oldLogp, chosen, weight, mask);
        }
        LossResult got = loss.compute(F32Batches.of(logits, target, atOne, refLogp, kernelAdvantage, weight));
        // The KL and entropy terms alone: advantage 0 takes the pg term away.
        LossResult rest = loss.compute(F32Batches.of(logits, target, oldLogp, refLogp, new float[n], weight));
        Oracle want = new Oracle(rule, sequenceLevel, logits, target, oldLogp, mask, sequenceOf, advantage, weight);

        LossMetrics metrics = got.metrics().plus(correction);
        assertEquals(want.loss + rest.totalLoss(), metrics.loss(), 1e-5 * want.lossScale, "loss");
        assertEquals(want.approxKl, metrics.sumApproxKl(), 1e-4 * want.counted, "sum of oldLogp - logp");
        assertEquals(want.ratioSum, metrics.sumRatio(), 1e-5 * want.ratioSum, "sum of ratios");
        assertEquals(want.clipLow, metrics.clipLow(), "clipped low");
        assertEquals(want.clipHigh, metrics.clipHigh(), "clipped high");
        assertEquals(want.truncated, metrics.dualClip(), "DPPO's truncated ratios, as verl's pg_clipfrac_lower");
        if (rule == CISPO || rule instanceof Dppo)
            assertTrue(want.clipLow >= 3 && want.clipHigh >= 3, want.clipLow + " / " + want.clipHigh);
        if (rule instanceof Dppo) assertTrue(want.truncated >= 3, want.truncated + " truncated");
        for (int i = 0; i < n; ++i) assertEquals(want.chosen[i], chosen[i], "row " + i + " chosen by KL-Cov");
        for (int i = 0; i < n; ++i)
            if (mask[i] != 0) assertEquals(0, got.flags()[i], "row " + i + ": nothing clipped at ratio 1");
        RatioOneChecks.assertGradient(want.dlogits, rest, got, mask, VOCAB);
    }

    @Test
    void weightsAtWorkedRatios() {
        assertEquals(0.5, CISPO.weight(0.2, 1), 0);
        assertEquals(1.2, CISPO.weight(1.2, -1), 0);
        assertEquals(1.5, CISPO.weight(4, 1), 0);
        assertTrue(CISPO.clippedHigh(4, 1) && !CISPO.clippedHigh(4, -1) && CISPO.clippedLow(0.2, -1));
        assertEquals(5.0, Cispo.defaults().weight(1e6, 1), 0);
        assertEquals(0.0, Cispo.defaults().weight(0, 1), 0);
        for (double r : new double[] {0, 0.3, 1, 7, 1e6})  // GPG: -A logp, whatever the ratio
            assertTrue(Cispo.gpg().weight(r, -1) == 1 && !Cispo.gpg().clippedLow(r, -1)
                    && !Cispo.gpg().clippedHigh(r, 1), "r = " + r);
        // SAPO: the policy gradient at r = 1, gate 2 / tau there; the slope of f at r = 1 + x by a difference.
        assertEquals(1.0, SAPO.weight(1, 1), 1e-15);
        assertEquals(1.0, SAPO.weight(1, -1), 1e-15);
        assertEquals(2 / 1.05, SAPO.gate(1, -1), 1e-15);
        for (double x : new double[] {-0.9, -0.3, 0.2, 1.5, 40}) {
            double h = 1e-6, slope = (SAPO.gate(1 + x + h, -1) - SAPO.gate(1 + x - h, -1)) / (2 * h);
            assertEquals(slope * (1 + x), SAPO.weight(1 + x, -1), 1e-8, "r = " + (1 + x));
        }
        assertTrue(SAPO.weight(3, -1) < SAPO.weight(3, 1), "tauNeg > tauPos fades negative tokens sooner");
        assertFalse(Double.isNaN(SAPO.weight(1e300, 1)), "a huge ratio gives a weight of 0, not NaN");
    }

    /**
     * The paper's two cases, where PPO's ratio clip errs both ways: a rare token rising from 1e-5 to 1e-3 (ratio 100,
     * clipped by PPO) is inside both of verl's regions, a likely one falling from 0.99 to 0.8 (ratio 0.81, inside
     * PPO's [0.8, 1.28]) is outside both; a token moved against its advantage's push is inside at any distance.
     */
    @Test
    void dppoMeasuresTheProbabilityNotTheRatio() {
        double rare = Math.log(1e-5), rareUp = Math.log(1e-3), likely = Math.log(0.99), likelyDown = Math.log(0.8);
        for (Dppo d : List.of(Dppo.binaryTv(), Dppo.binaryKl())) {
            assertTrue(d.inside(rareUp, rare, 1), d + ": rare token up");
            assertEquals(100, d.weight(rareUp, rare, 1), 1e-9, d + ": untruncated");
            assertFalse(d.inside(likelyDown, likely, -1), d + ": likely token down");
            assertEquals(0, d.weight(likelyDown, likely, -1), 0, d + ": masked");
            assertTrue(d.inside(likelyDown, likely, 1) && d.inside(likely, likelyDown, -1), d + ": against the push");
            assertFalse(d.inside(likely, likelyDown, 1), d + ": likely token up from 0.8 to 0.99");
        }
        // Binary KL of 0.8 from 0.99: 0.99 ln(0.99 / 0.8) + 0.01 ln(0.01 / 0.2) = 0.18100.
        assertTrue(new Dppo(Dppo.Divergence.BINARY_KL, 0.1811, 1, 1).inside(likelyDown, likely, -1));
        assertFalse(new Dppo(Dppo.Divergence.BINARY_KL, 0.1809, 1, 1).inside(likelyDown, likely, -1));
        // Binary TV of 0.8 from 0.99 is 0.19; the region's bound is inclusive.
        assertTrue(new Dppo(Dppo.Divergence.BINARY_TV, 0.191, 1, 1).inside(likelyDown, likely, -1));
        assertFalse(new Dppo(Dppo.Divergence.BINARY_TV, 0.189, 1, 1).inside(likelyDown, likely, -1));
        assertEquals(2, new Dppo(Dppo.Divergence.BINARY_TV, 0.15, 0.15, 2).weight(Math.log(0.05), Math.log(0.01), 1),
                1e-12, "a ratio of 5 truncated at 2");
    }

    @Test
    void dppoRefusesBadArgumentsNamingThem() {
        assertMessage("low: must be > 0, got 0.0", () -> new Dppo(Dppo.Divergence.BINARY_TV, 0, 0.1, 1));
        assertMessage("high: must be > 0, got NaN", () -> new Dppo(Dppo.Divergence.BINARY_KL, 0.1, Double.NaN, 1));
        assertMessage("maxWeight: must be > 0, got -1.0", () -> new Dppo(Dppo.Divergence.BINARY_TV, 0.1, 0.1, -1));
        assertMessage("divergence: must be BINARY_TV or BINARY_KL, got null", () -> new Dppo(null, 0.1, 0.1, 1));
        float[] two = {-1f, -1f}, mask = {1f, 0f};
        assertMessage("oldLogp: row 0: must be <= 0 (a log-probability), got 0.5",
                () -> Dppo.binaryTv().advantages(two, two, new float[] {0.5f, 0f}, mask));
        assertMessage("logp: row 0: must be <= 0 (a log-probability), got 0.25",
                () -> Dppo.binaryKl().metricsCorrection(two, new float[] {0.25f, 0f}, two, two, mask));
        assertMessage("advantage: row 0: must be finite, got NaN",
                () -> Dppo.binaryKl().advantages(new float[] {Float.NaN, 0f}, two, two, mask));
        assertMessage("weight: length 1, mask has 2 rows",
                () -> Dppo.binaryKl().metricsCorrection(two, two, two, new float[1], mask));
        assertArrayEquals(new float[] {-1f, Float.NaN}, Dppo.binaryTv().advantages(new float[] {-1f, Float.NaN},
                two, new float[] {-1f, 3f}, mask), "a padding row is not read");
    }

    /** Covariances 1, 1, -1, -1 over the counted rows (A - 0)(logp + 1); the padding row would lead. */
    @Test
    void klCovChoosesTheLargestCovariances() {
        float[] advantage = {1, -1, 1, -1, 5}, logp = {0, -2, -2, 0, 100}, mask = {1, 1, 1, 1, 0};
        assertArrayEquals(new boolean[] {true, false, false, false, false},
                new KlCov(0.25, 1).chosen(advantage, logp, mask), "one row; the tie goes to the lower");
        assertArrayEquals(new boolean[] {true, true, false, false, false},
                new KlCov(0.5, 1).chosen(advantage, logp, mask));
        assertArrayEquals(new boolean[] {true, false, false, false, false},
                KlCov.defaults().chosen(advantage, logp, mask), "at least one");
        assertArrayEquals(new boolean[2], KlCov.defaults().chosen(new float[2], new float[2], new float[2]));
        // A' = A r - k sign(logp - oldLogp) where chosen: the penalty pulls logp back toward oldLogp.
        float[] a = new KlCov(0.25, 0.5).advantages(new float[] {2, 2}, new double[] {1.5, 1.5},
                new float[] {-1, -1}, new float[] {-1.4f, -1.4f}, new boolean[] {true, false}, new float[] {1, 1});
        assertArrayEquals(new float[] {2.5f, 3f}, a);
    }

    @Test
    void ratiosOfTokensAndSequences() {
        float[] logp = {-1f, -2f, -3f, 0f}, oldLogp = {-1.5f, -1f, 9f, -30f}, mask = {1, 1, 0, 1};
        int[] sequenceOf = {0, 0, 0, 1};
        assertArrayEquals(new double[] {Math.exp(0.5), Math.exp(-1), 1, Math.exp(20)},
                ImportanceRatios.token(logp, oldLogp, mask), 1e-12);
        assertArrayEquals(new double[] {Math.exp(-0.25), Math.exp(-0.25), 1, Math.exp(20)},
                ImportanceRatios.sequence(logp, oldLogp, mask, sequenceOf), 1e-12);
        assertArrayEquals(new float[] {-1f, -2f, 9f, 0f}, ImportanceRatios.oldLogpAtRatioOne(logp, oldLogp, mask));
    }

    @Test
    void badArgumentsNameTheArgumentAndRow() {
        assertMessage("minWeight: must be finite and >= 0, got -1.0", () -> new Cispo(-1, 5));
        assertMessage("maxWeight: must be >= minWeight (2.0), got 1.5", () -> new Cispo(2, 1.5));
        assertMessage("maxWeight: must be > 0, got 0.0", () -> new Cispo(0, 0));
        assertMessage("tauNeg: must be finite and > 0, got 0.0", () -> new Sapo(1, 0));
        assertMessage("tauPos: must be finite and > 0, got NaN", () -> new Sapo(Double.NaN, 1));
        assertMessage("klCovRatio: must be in (0, 1], got 0.0", () -> new KlCov(0, 1));
        assertMessage("klCoef: must be finite and >= 0, got -1.0", () -> new KlCov(0.1, -1));
        float[] two = {0f, 0f}, mask = {1f, 0f};
        assertMessage("ratio: length 1, mask has 2 rows", () -> SAPO.advantages(two, new double[1], mask));
        assertMessage("advantage: row 0: must be finite, got Infinity",
                () -> CISPO.advantages(new float[] {Float.POSITIVE_INFINITY, 0}, new double[2], mask));
        assertMessage("logp: row 0: must be finite, got NaN",
                () -> ImportanceRatios.token(new float[] {Float.NaN, 0f}, two, mask));
        assertMessage("mask: row 1: must be 0 or 1, got 3.0",
                () -> ImportanceRatios.oldLogpAtRatioOne(two, two, new float[] {1f, 3f}));
        assertMessage("weight: length 1, mask has 2 rows",
                () -> CISPO.metricsCorrection(two, new double[2], two, two, new float[1], mask));
        assertMessage("chosen: length 1, mask has 2 rows",
                () -> KL_COV.advantages(two, new double[2], two, two, new boolean[1], mask));
        assertMessage("oldLogp: row 0: must be finite, got NaN", () -> KL_COV.metricsCorrection(two, new double[2], two,
                new float[] {Float.NaN, 0f}, new boolean[2], two, mask));
        assertArrayEquals(new float[] {0f, Float.NaN},
                SAPO.advantages(new float[] {0f, Float.NaN}, new double[2], mask), "a padding row is not read");
    }

    /** TRL's or verl's loss over the counted tokens, from the logits in double. */
    private static final class Oracle {
        final double[] dlogits;
        final boolean[] chosen;
        double loss, lossScale, approxKl, ratioSum, clipLow, clipHigh, truncated, counted;

        Oracle(Object rule, boolean sequenceLevel, float[] logits, int[] target, float[] oldLogp,
                float[] mask, int[] sequenceOf, float[] advantage, float[] weight) {
            int n = target.length;
            RatioOneChecks.Rows rows = RatioOneChecks.Rows.of(logits, target, VOCAB);
            double[] logp = rows.logp();
            chosen = rule == KL_COV ? largestCovariance(advantage, logp, mask) : new boolean[n];
            TrainerLoss l = new TrainerLoss(rule, sequenceLevel, oldLogp, mask, sequenceOf, advantage, weight, chosen);
            loss = l.total(logp, logp);
            double[] ratio = l.ratios(logp);
            dlogits = new double[n * VOCAB];
            for (int i = 0; i < n; ++i) {
                if (mask[i] == 0) continue;
                counted++;
                lossScale += weight[i] * Math.abs(l.token(i, logp, logp, ratio, ratio));
                approxKl += oldLogp[i] - logp[i];
                ratioSum += ratio[i];
                clipLow += ratio[i] < 0.5 && advantage[i] < 0 && rule == CISPO ? 1 : 0;
                clipHigh += ratio[i] > 1.5 && advantage[i] > 0 && rule == CISPO ? 1 : 0;
                if (rule instanceof Dppo d) {  // verl's pg_clipfrac split by the mask's side, and pg_clipfrac_lower
                    boolean masked = l.outsideTrustRegion(i, logp[i], d);
                    clipHigh += masked && advantage[i] > 0 ? 1 : 0;
                    clipLow += masked && advantage[i] <= 0 ? 1 : 0;
                    truncated += !masked && ratio[i] > d.maxWeight() ? 1 : 0;
                }
                // dL/dlogp_i by a central difference; TRL's detached CISPO and DPPO weights read the unmoved logp
                // (KL-Cov's choice is made once, above, from the unmoved logp).
                boolean detached = rule == CISPO || rule instanceof Dppo;
                double h = 1e-5, saved = logp[i];
                logp[i] = saved + h;
                double up = l.total(logp, detached ? withSaved(logp, i, saved) : logp);
                logp[i] = saved - h;
                double down = l.total(logp, detached ? withSaved(logp, i, saved) : logp);
                logp[i] = saved;
                rows.chain(i, (up - down) / (2 * h), dlogits);
            }
        }

        /** verl's top-k: the k = max(1, floor(0.1 n)) counted rows of largest covariance, ties to the lower row. */
        private static boolean[] largestCovariance(float[] advantage, double[] logp, float[] mask) {
            double meanA = 0, meanLogp = 0, n = 0;
            for (int i = 0; i < mask.length; ++i) {
                if (mask[i] == 0) continue;
                meanA += advantage[i];
                meanLogp += logp[i];
                n++;
            }
            double[] cov = new double[mask.length];
            for (int i = 0; i < mask.length; ++i) cov[i] = (advantage[i] - meanA / n) * (logp[i] - meanLogp / n);
            boolean[] out = new boolean[mask.length];
            int k = Math.max(1, (int) (KL_COV.klCovRatio() * n));
            for (int i = 0; i < mask.length; ++i) {
                if (mask[i] == 0) continue;
                int above = 0;  // counted rows ranked before row i
                for (int j = 0; j < mask.length; ++j)
                    if (mask[j] != 0 && (cov[j] > cov[i] || cov[j] == cov[i] && j < i)) above++;
                out[i] = above < k;
            }
            return out;
        }

        private static double[] withSaved(double[] logp, int i, double saved) {
            double[] copy = logp.clone();
            copy[i] = saved;
            return copy;
        }
    }

    /** TRL's per-token losses: ratios from logp (token or sequence level), weights from the detached logp. */
    private record TrainerLoss(Object rule, boolean sequenceLevel, float[] oldLogp, float[] mask, int[] sequenceOf,
            float[] advantage, float[] weight, boolean[] chosen) {
        double[] ratios(double[] logp) {
            int n = logp.length;
            double[] ratio = new double[n];
            if (!sequenceLevel) {
                for (int i = 0; i < n; ++i) ratio[i] = Math.exp(logp[i] - oldLogp[i]);
                return ratio;
            }
            double[] sum = new double[n], tokens = new double[n];
            for (int i = 0; i < n; ++i) {
                if (mask[i] == 0) continue;
                sum[sequenceOf[i]] += logp[i] - oldLogp[i];
                tokens[sequenceOf[i]]++;
            }
            for (int i = 0; i < n; ++i) ratio[i] = Math.exp(sum[sequenceOf[i]] / Math.max(tokens[sequenceOf[i]], 1));
            return ratio;
        }

        /**
         * TRL: CISPO -clamp(r, lo, hi).detach() A logp (detached r); SAPO -sigmoid(tau (r - 1)) 4 / tau A. verl:
         * GPG -A logp; KL-Cov -A r + k |logp - oldLogp| on the chosen rows; DPPO -A clamp(r, max=C).detach() logp
         * where the detached logp is inside the trust region.
         */
        double token(int i, double[] logp, double[] detached, double[] ratio, double[] detachedRatio) {
            double a = advantage[i];
            if (rule.equals(Cispo.gpg())) return -a * logp[i];  // verl's gpg
            if (rule instanceof Cispo c)
                return -Math.min(Math.max(detachedRatio[i], c.minWeight()), c.maxWeight()) * a * logp[i];
            if (rule instanceof Dppo d)
                return outsideTrustRegion(i, detached[i], d) ? 0 : -a * Math.min(detachedRatio[i], d.maxWeight())
                        * logp[i];
            if (rule == KL_COV)
                return -a * ratio[i] + (chosen[i] ? KL_COV.klCoef() * Math.abs(logp[i] - oldLogp[i]) : 0);
            Sapo s = (Sapo) rule;
            double tau = a > 0 ? s.tauPos() : s.tauNeg();
            return -4 / tau / (1 + Math.exp(-tau * (ratio[i] - 1))) * a;
        }

        double total(double[] logp, double[] detached) {
            double[] ratio = ratios(logp), detachedRatio = ratios(detached);
            double sum = 0;
            for (int i = 0; i < logp.length; ++i)
                if (mask[i] != 0) sum += weight[i] * token(i, logp, detached, ratio, detachedRatio);
            return sum;
        }

        /**
         * TRL's DPPO mask, on the side the advantage's sign chooses: Binary-TV p - q &gt; high (A &gt; 0) or &lt;
         * -low; Binary-KL the binary KL above high where p &gt; q, or above low where p &lt; q.
         */
        boolean outsideTrustRegion(int i, double logp, Dppo d) {
            double p = Math.exp(logp), q = Math.exp(oldLogp[i]);
            boolean up, down;
            if (d.divergence() == Dppo.Divergence.BINARY_TV) {
                up = p - q > d.high();
                down = p - q < -d.low();
            } else {
                double kl = q * (oldLogp[i] - logp) + (1 - q) * Math.log((1 - q + 1e-8) / (1 - p + 1e-8));
                up = kl > d.high() && p > q;
                down = kl > d.low() && p < q;
            }
            return advantage[i] > 0 ? up : down;
        }
    }
}
