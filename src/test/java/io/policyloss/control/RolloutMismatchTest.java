package io.policyloss.control;

import static io.policyloss.control.Refusals.assertMessage;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * verl's off-policy diagnostics (rollout_corr_helper's compute_offpolicy_metrics) written out here on its padded
 * [B, T] tensors, with its masked_mean, sum / (count + 1e-8): every sequence of the batch counts in the sequence
 * means, one without counted tokens with a mean log-prob of 0.
 */
class RolloutMismatchTest {
    private static final int B = 20, T = 7;

    @Test
    void givesVerlsDiagnostics() {
        Random r = new Random(31);
        int n = B * T;
        float[] oldLogp = new float[n], rolloutLogp = new float[n], mask = new float[n];
        int[] sequenceOf = new int[n];
        for (int b = 0; b < B; ++b) {
            int length = b == 4 ? 0 : 1 + r.nextInt(T);
            double drift = 0.3 * r.nextGaussian();
            for (int t = 0; t < T; ++t) {
                int i = b * T + t;
                sequenceOf[i] = b;
                mask[i] = t < length ? 1 : 0;
                oldLogp[i] = mask[i] == 0 ? Float.NaN : (float) (-3 * r.nextDouble());  // padding is never read
                rolloutLogp[i] = mask[i] == 0 ? Float.NaN : (float) (oldLogp[i] - drift - 0.3 * r.nextGaussian());
            }
        }
        // log-ratios past verl's bound of 20: a sum of them in sequence 0 (chi2_seq), one alone in sequence 1
        // (chi2_token)
        for (int i : new int[] {0, 1, 2, T}) {
            mask[i] = 1;
            rolloutLogp[i] = -23;
            oldLogp[i] = i == T ? -2 : -11;
        }

        double[][] old = new double[B][T], rollout = new double[B][T], m = new double[B][T];
        for (int b = 0; b < B; ++b)
            for (int t = 0; t < T; ++t) {
                int i = b * T + t;
                m[b][t] = mask[i];
                old[b][t] = mask[i] == 0 ? 0 : oldLogp[i];
                rollout[b][t] = mask[i] == 0 ? 0 : rolloutLogp[i];
            }
        double tokens = 0, kl = 0, k3 = 0, chi2 = 0;
        double trainingPpl = 0, trainingLogPpl = 0, rolloutPpl = 0, rolloutLogPpl = 0;
        double diff = 0, absDiff = 0, diffMax = -1e300, diffMin = 1e300, pplRatio = 0, chi2Seq = 0;
        for (int b = 0; b < B; ++b) {
            double count = 0, sumOld = 0, sumRollout = 0, sumLogRatio = 0;
            for (int t = 0; t < T; ++t) {
                double logRatio = old[b][t] - rollout[b][t];
                tokens += m[b][t];
                kl += (rollout[b][t] - old[b][t]) * m[b][t];
                k3 += (Math.exp(logRatio) - logRatio - 1) * m[b][t];
                double rho = Math.exp(Math.max(-20, Math.min(20, logRatio)));
                chi2 += rho * rho * m[b][t];
                count += m[b][t];
                sumOld += old[b][t] * m[b][t];
                sumRollout += rollout[b][t] * m[b][t];
                sumLogRatio += logRatio * m[b][t];
            }
            double meanOld = sumOld / (count + 1e-8), meanRollout = sumRollout / (count + 1e-8);
            trainingPpl += Math.exp(-meanOld) / B;
            trainingLogPpl += -meanOld / B;
            rolloutPpl += Math.exp(-meanRollout) / B;
            rolloutLogPpl += -meanRollout / B;
            double logPplDiff = meanRollout - meanOld;
            diff += logPplDiff / B;
            absDiff += Math.abs(logPplDiff) / B;
            diffMax = Math.max(diffMax, logPplDiff);
            diffMin = Math.min(diffMin, logPplDiff);
            pplRatio += Math.exp(logPplDiff) / B;
            chi2Seq += Math.exp(2 * Math.max(-20, Math.min(20, sumLogRatio))) / B;
        }
        RolloutMismatch got = RolloutMismatch.of(oldLogp, rolloutLogp, mask, sequenceOf);
        close(kl / (tokens + 1e-8), got.kl(), "kl");
        close(k3 / (tokens + 1e-8), got.k3Kl(), "k3_kl");
        close(trainingPpl, got.trainingPpl(), "training_ppl");
        close(trainingLogPpl, got.trainingLogPpl(), "training_log_ppl");
        close(rolloutPpl, got.rolloutPpl(), "rollout_ppl");
        close(rolloutLogPpl, got.rolloutLogPpl(), "rollout_log_ppl");
        close(diff, got.logPplDiff(), "log_ppl_diff");
        close(absDiff, got.logPplAbsDiff(), "log_ppl_abs_diff");
        close(diffMax, got.logPplDiffMax(), "log_ppl_diff_max");
        close(diffMin, got.logPplDiffMin(), "log_ppl_diff_min");
        close(pplRatio, got.pplRatio(), "ppl_ratio");
        close(chi2 / (tokens + 1e-8) - 1, got.chi2Token(), "chi2_token");
        close(chi2Seq - 1, got.chi2Seq(), "chi2_seq");
    }

    @Test
    void noCountedTokenGivesZerosAndBadArgumentsAreNamed() {
        assertEquals(new RolloutMismatch(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
                RolloutMismatch.of(new float[2], new float[2], new float[2], new int[] {0, 1}));
        float[] two = {0f, 0f}, mask = {1, 0};
        int[] sequenceOf = {0, 0};
        assertMessage("rolloutLogp: length 1, mask has 2 rows",
                () -> RolloutMismatch.of(two, new float[1], mask, sequenceOf));
        assertMessage("oldLogp: row 0: must be finite, got NaN",
                () -> RolloutMismatch.of(new float[] {Float.NaN, 0f}, two, mask, sequenceOf));
        // verl's diagnostics have no unscored token: where RolloutCorrection reads NaN as TRL does, these refuse it.
        assertMessage("rolloutLogp: row 0: must be finite, got NaN",
                () -> RolloutMismatch.of(two, new float[] {Float.NaN, 0f}, mask, sequenceOf));
        assertMessage("mask: row 1: must be 0 or 1, got -1.0",
                () -> RolloutMismatch.of(two, two, new float[] {1, -1}, sequenceOf));
    }

    private static void close(double expected, double actual, String what) {
        if (!(Math.abs(expected - actual) <= 1e-7 * Math.abs(expected) + 1e-12))
            fail(what + ": " + expected + " expected, got " + actual);
    }
}
