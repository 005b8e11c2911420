package io.policyloss.control;

import static io.policyloss.control.Refusals.assertMessage;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.policyloss.control.RolloutRejection.Criterion;
import io.policyloss.control.RolloutRejection.Statistic;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * verl's rejection sampling (rollout_corr_helper's compute_rollout_rejection_mask) written out here on its padded
 * [B, T] tensors: log_ratio clamped to +-20, k1 = -log_ratio, k2 = log_ratio^2 / 2, k3 = exp(log_ratio) - 1 -
 * log_ratio; a token option keeps a token by its own statistic, a sequence option every token of a sequence by the
 * masked sum, masked mean (sum / (count + 1e-8)) or masked max (0 for none) of it; k1 in [ln lower, ln upper], k2 and
 * k3 at most upper; the response mask times every option's keep.
 */
class RolloutRejectionTest {
    private static final int B = 24, T = 8;

    /** B sequences of 0 to T counted tokens padded to T, rows b * T + t. */
    private record Batch(float[] oldLogp, float[] rolloutLogp, float[] mask, int[] sequenceOf) {
        static Batch random(long seed) {
            Random r = new Random(seed);
            int n = B * T;
            float[] oldLogp = new float[n], rolloutLogp = new float[n], mask = new float[n];
            int[] sequenceOf = new int[n];
            for (int b = 0; b < B; ++b) {
                int length = b == 5 ? 0 : 1 + r.nextInt(T);  // sequence 5 has no counted token
                double drift = 0.25 * r.nextGaussian(), spread = 0.05 + 0.4 * r.nextDouble();
                for (int t = 0; t < T; ++t) {
                    int i = b * T + t;
                    sequenceOf[i] = b;
                    mask[i] = t < length ? 1 : 0;
                    oldLogp[i] = (float) (-4 * r.nextDouble());
                    rolloutLogp[i] = mask[i] == 0 ? Float.NaN  // never read
                            : (float) (oldLogp[i] - drift - spread * r.nextGaussian());
                }
            }
            rolloutLogp[7] = oldLogp[7] - 30;  // beyond the safety bound: clamped to 20
            mask[7] = 1;
            return new Batch(oldLogp, rolloutLogp, mask, sequenceOf);
        }

        /** verl's keep of one option, [B, T], true where the option keeps the position. */
        boolean[][] verlKeep(String option, double lower, double upper) {
            double[][] stat = new double[B][T];
            for (int b = 0; b < B; ++b)
                for (int t = 0; t < T; ++t) {
                    int i = b * T + t;
                    double logRatio = mask[i] == 0 ? 0
                            : Math.max(-20, Math.min(20, oldLogp[i] - (double) rolloutLogp[i]));
                    stat[b][t] = option.endsWith("k1") ? -logRatio : option.endsWith("k2") ? 0.5 * logRatio * logRatio
                            : Math.exp(logRatio) - 1 - logRatio;
                }
            boolean[][] keep = new boolean[B][T];
            for (int b = 0; b < B; ++b) {
                double sum = 0, count = 0, max = Double.NEGATIVE_INFINITY;
                for (int t = 0; t < T; ++t) {
                    if (mask[b * T + t] == 0) continue;
                    sum += stat[b][t];
                    count += 1;
                    max = Math.max(max, stat[b][t]);
                }
                double sequence = option.startsWith("seq_sum") ? sum : option.startsWith("seq_mean")
                        ? sum / (count + 1e-8) : max == Double.NEGATIVE_INFINITY ? 0 : max;
                for (int t = 0; t < T; ++t) {
                    double x = option.startsWith("token") ? stat[b][t] : sequence;
                    keep[b][t] = option.endsWith("k1") ? x >= Math.log(lower) && x <= Math.log(upper) : x <= upper;
                }
            }
            return keep;
        }
    }

    /** Each option with bounds that reject some counted tokens and keep others. */
    private static final Object[][] OPTIONS = {
        {"token_k1", 0.5, 2.0}, {"token_k2", 0.0, 0.1}, {"token_k3", 0.0, 0.1},
        {"seq_sum_k1", 0.3, 3.0}, {"seq_sum_k2", 0.0, 0.5}, {"seq_sum_k3", 0.0, 0.5},
        {"seq_mean_k1", 0.8, 1.25}, {"seq_mean_k2", 0.0, 0.05}, {"seq_mean_k3", 0.0, 0.05},
        {"seq_max_k2", 0.0, 0.3}, {"seq_max_k3", 0.0, 0.3},
    };

    @Test
    void eachOptionRejectsWhatVerlRejects() {
        Batch batch = Batch.random(21);
        for (Object[] o : OPTIONS) {
            String option = (String) o[0];
            double lower = (double) o[1], upper = (double) o[2];
            RolloutRejection rejection = RolloutRejection.parse(option,
                    lower == 0 ? String.valueOf(upper) : lower + "_" + upper);
            boolean[][] keep = batch.verlKeep(option, lower, upper);
            float[] mask = rejection.mask(batch.oldLogp, batch.rolloutLogp, batch.mask, batch.sequenceOf);
            int rejected = 0, counted = 0, sequencesRejected = 0, valid = 0;
            for (int b = 0; b < B; ++b) {
                boolean any = false, has = false;
                for (int t = 0; t < T; ++t) {
                    int i = b * T + t;
                    float expected = batch.mask[i] * (keep[b][t] ? 1 : 0);
                    assertEquals(expected, mask[i], option + " row " + i);
                    counted += (int) batch.mask[i];
                    has |= batch.mask[i] == 1;
                    if (batch.mask[i] == 1 && !keep[b][t]) {
                        rejected++;
                        any = true;
                    }
                }
                sequencesRejected += any ? 1 : 0;
                valid += has ? 1 : 0;
            }
            assertTrue(rejected > 0 && rejected < counted, option + ": " + rejected + " of " + counted + " rejected");
            RolloutRejection.Metrics m = rejection.metrics(batch.oldLogp, batch.rolloutLogp, batch.mask,
                    batch.sequenceOf);
            assertEquals((double) rejected / counted, m.maskedFraction(), 1e-15, option);
            assertEquals((double) sequencesRejected / B, m.seqMaskedFraction(), 1e-15, option);
            assertArrayEquals(new double[] {(double) rejected / counted}, m.criterionMaskedFraction(), 1e-15, option);
            assertArrayEquals(new double[] {(double) sequencesRejected / valid}, m.criterionSeqMaskedFraction(), 1e-15,
                    option);
        }
    }

    /** verl's chained options: a token stays when every option keeps it; each option's fractions are its own. */
    @Test
    void chainedOptionsKeepWhatEveryOptionKeeps() {
        Batch batch = Batch.random(22);
        RolloutRejection rejection = RolloutRejection.parse("token_k1, seq_mean_k3,token_k1", "0.5_2,0.1");
        assertEquals(List.of(new Criterion(Statistic.TOKEN_K1, 0.5, 2), new Criterion(Statistic.SEQ_MEAN_K3, 0, 0.1)),
                rejection.criteria(), "a repeated option counts once");
        boolean[][] k1 = batch.verlKeep("token_k1", 0.5, 2), k3 = batch.verlKeep("seq_mean_k3", 0, 0.1);
        float[] mask = rejection.mask(batch.oldLogp, batch.rolloutLogp, batch.mask, batch.sequenceOf);
        int onlyOne = 0, counted = 0, byK1 = 0, byK3 = 0, byEither = 0;
        for (int i = 0; i < mask.length; ++i) {
            boolean a = k1[i / T][i % T], b = k3[i / T][i % T];
            assertEquals(batch.mask[i] * (a && b ? 1 : 0), mask[i], "row " + i);
            if (batch.mask[i] == 0) continue;
            counted++;
            onlyOne += a != b ? 1 : 0;
            byK1 += a ? 0 : 1;
            byK3 += b ? 0 : 1;
            byEither += a && b ? 0 : 1;
        }
        assertTrue(onlyOne > 0, "the options never disagree");
        RolloutRejection.Metrics m = rejection.metrics(batch.oldLogp, batch.rolloutLogp, batch.mask, batch.sequenceOf);
        assertArrayEquals(new double[] {(double) byK1 / counted, (double) byK3 / counted},
                m.criterionMaskedFraction(), 1e-15);
        assertEquals((double) byEither / counted, m.maskedFraction(), 1e-15);
        assertTrue(byEither > Math.max(byK1, byK3), "each option rejects tokens the other keeps");
    }

    @Test
    void aK1UpperBoundAloneIsSymmetricAndNoTokenMeansNoFractions() {
        assertEquals(List.of(new Criterion(Statistic.SEQ_SUM_K1, 0.25, 4)),
                RolloutRejection.parse("seq_sum_k1", "4").criteria());
        assertEquals(List.of(new Criterion(Statistic.TOKEN_K2, 0, 2), new Criterion(Statistic.SEQ_MAX_K3, 0, 2)),
                RolloutRejection.parse("token_k2,seq_max_k3", "2").criteria(), "one threshold for all");
        // log-ratios of 30 and -25 sum to 0 once each is clamped to +-20 as verl clamps them, to 5 otherwise
        assertArrayEquals(new float[] {1, 1}, RolloutRejection.parse("seq_sum_k1", "2")
                .mask(new float[] {0, -25}, new float[] {-30, 0}, new float[] {1, 1}, new int[] {0, 0}));
        float[] none = {0, 0};
        RolloutRejection.Metrics m = RolloutRejection.parse("token_k3", "0.1")
                .metrics(new float[2], new float[2], none, new int[] {0, 1});
        assertEquals(0, m.maskedFraction());
        assertEquals(0, m.seqMaskedFraction());
        assertArrayEquals(new double[] {0}, m.criterionMaskedFraction());
        assertArrayEquals(new double[] {0}, m.criterionSeqMaskedFraction());
    }

    @Test
    void badArgumentsNameTheArgumentAndRow() {
        assertMessage("rolloutRs: unknown option 'seq_max_k1'; verl's are token_k1, token_k2, token_k3, seq_sum_k1, "
                + "seq_sum_k2, seq_sum_k3, seq_mean_k1, seq_mean_k2, seq_mean_k3, seq_max_k2, seq_max_k3",
                () -> RolloutRejection.parse("token_k1,seq_max_k1", "2"));
        assertMessage("rolloutRs: must name at least one option", () -> RolloutRejection.parse(" , ", "2"));
        assertMessage("threshold: 2 thresholds for 3 options; give one for all or one each",
                () -> RolloutRejection.parse("token_k1,token_k2,token_k3", "2,3"));
        assertMessage("threshold: token_k2 takes an upper bound alone, got '0.5_2'",
                () -> RolloutRejection.parse("token_k2", "0.5_2"));
        assertMessage("threshold: 'abc' is not a number or lower_upper",
                () -> RolloutRejection.parse("token_k2", "abc"));
        assertMessage("lower: token_k1: must be > 0 and at most upper = 2.0, got 3.0",
                () -> RolloutRejection.parse("token_k1", "3_2"));
        assertMessage("upper: seq_mean_k3: must be finite and > 0, got -1.0",
                () -> RolloutRejection.parse("seq_mean_k3", "-1"));
        assertMessage("upper: token_k2: must be finite and > 0, got Infinity",
                () -> new Criterion(Statistic.TOKEN_K2, 0, Double.POSITIVE_INFINITY));
        assertMessage("lower: token_k3: only the k1 statistics take a lower bound, got 0.5",
                () -> new Criterion(Statistic.TOKEN_K3, 0.5, 1));
        assertMessage("criteria: must name at least one", () -> new RolloutRejection(List.of()));
        assertMessage("criteria: token_k2 is given twice", () -> new RolloutRejection(List.of(
                new Criterion(Statistic.TOKEN_K2, 0, 1), new Criterion(Statistic.TOKEN_K2, 0, 2))));
        RolloutRejection r = RolloutRejection.parse("seq_mean_k1", "2");
        float[] two = {0f, 0f}, mask = {1, 1};
        int[] sequenceOf = {0, 0};
        assertMessage("oldLogp: length 1, mask has 2 rows", () -> r.mask(new float[1], two, mask, sequenceOf));
        assertMessage("rolloutLogp: row 1: must be finite, got NaN",
                () -> r.mask(two, new float[] {0f, Float.NaN}, mask, sequenceOf));
        assertMessage("mask: row 0: must be 0 or 1, got 2.0", () -> r.mask(two, two, new float[] {2, 1}, sequenceOf));
        assertMessage("sequenceOf: length 1, expected 2 (the mask length)",
                () -> r.metrics(two, two, mask, new int[] {0}));
    }
}
