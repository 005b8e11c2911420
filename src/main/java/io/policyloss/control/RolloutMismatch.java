package io.policyloss.control;

import io.policyloss.loss.AggregationWeights;

/**
 * How far the rollout engine's policy is from the trainer's on the sampled tokens: verl's off-policy diagnostics
 * ({@code compute_offpolicy_metrics}, logged as {@code rollout_corr/...}), which say whether the training-inference
 * mismatch is large enough to need {@link RolloutCorrection} or {@link RolloutRejection}. With d = oldLogp -
 * rolloutLogp of each counted token (oldLogp the trainer's log-prob, rolloutLogp the engine's), token means over
 * every counted token of the batch and sequence means over every sequence up to the largest index (a sequence
 * without counted tokens has a mean log-prob of 0, as verl's batch gives it):
 *
 * @param kl {@code kl}: the token mean of rolloutLogp - oldLogp, the k1 estimate of KL(engine || trainer)
 * @param k3Kl {@code k3_kl}: the token mean of e^d - d - 1
 * @param trainingPpl {@code training_ppl}: the sequence mean of exp(-mean oldLogp), each sequence's perplexity
 * @param trainingLogPpl {@code training_log_ppl}: the sequence mean of -mean oldLogp
 * @param rolloutPpl {@code rollout_ppl}: the same of rolloutLogp
 * @param rolloutLogPpl {@code rollout_log_ppl}
 * @param logPplDiff {@code log_ppl_diff}: the sequence mean of (mean rolloutLogp - mean oldLogp)
 * @param logPplAbsDiff {@code log_ppl_abs_diff}: of its absolute value
 * @param logPplDiffMax {@code log_ppl_diff_max}: its largest
 * @param logPplDiffMin {@code log_ppl_diff_min}: its smallest
 * @param pplRatio {@code ppl_ratio}: the sequence mean of its exponent, the training perplexity over the rollout's
 * @param chi2Token {@code chi2_token}: the token mean of exp(2 clamp(d, -20, 20)) - 1, the chi-squared divergence of
 *     the trainer's policy from the engine's per token: the variance of a token's importance weight
 * @param chi2Seq {@code chi2_seq}: the sequence mean of exp(2 clamp(sum of d, -20, 20)) - 1, the same per sequence
 */
public record RolloutMismatch(double kl, double k3Kl, double trainingPpl, double trainingLogPpl, double rolloutPpl,
        double rolloutLogPpl, double logPplDiff, double logPplAbsDiff, double logPplDiffMax, double logPplDiffMin,
        double pplRatio, double chi2Token, double chi2Seq) {
    /** verl's {@code SAFETY_BOUND} on the log-ratios the chi-squared divergences exponentiate. */
    private static final double MAX_LOG_RATIO = 20;

    /**
     * The batch's diagnostics; every one 0 where no token is counted. Rows, mask and sequenceOf as in
     * {@link AggregationWeights}; padding rows (mask 0) are not read. To follow the gap as the policy trains, verl
     * passes the current policy's logp as oldLogp ({@code compute_rollout_corr_metrics_from_logprobs}).
     */
    public static RolloutMismatch of(float[] oldLogp, float[] rolloutLogp, float[] mask, int[] sequenceOf) {
        int sequences = (int) AggregationWeights.Totals.of(mask, sequenceOf).sequences();
        RowArrays.finiteWhereCounted(mask, new String[] {"oldLogp", "rolloutLogp"}, oldLogp, rolloutLogp);
        double[] trainingSum = new double[sequences], rolloutSum = new double[sequences], dSum = new double[sequences];
        int[] length = new int[sequences];
        double kl = 0, k3 = 0, chi2 = 0;
        int tokens = 0;
        for (int i = 0; i < mask.length; ++i) {
            if (mask[i] == 0) continue;
            double d = (double) oldLogp[i] - rolloutLogp[i];
            int s = sequenceOf[i];
            trainingSum[s] += oldLogp[i];
            rolloutSum[s] += rolloutLogp[i];
            dSum[s] += d;
            ++length[s];
            kl -= d;
            k3 += Math.exp(d) - d - 1;
            chi2 += Math.exp(2 * clamp(d));
            ++tokens;
        }
        if (tokens == 0) return new RolloutMismatch(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
        double trainingPpl = 0, trainingLogPpl = 0, rolloutPpl = 0, rolloutLogPpl = 0, diff = 0, absDiff = 0;
        double diffMax = Double.NEGATIVE_INFINITY, diffMin = Double.POSITIVE_INFINITY, pplRatio = 0, chi2Seq = 0;
        for (int s = 0; s < sequences; ++s) {
            double training = trainingSum[s] / Math.max(length[s], 1), rollout = rolloutSum[s] / Math.max(length[s], 1);
            trainingPpl += Math.exp(-training);
            trainingLogPpl -= training;
            rolloutPpl += Math.exp(-rollout);
            rolloutLogPpl -= rollout;
            double logPplDiff = rollout - training;
            diff += logPplDiff;
            absDiff += Math.abs(logPplDiff);
            diffMax = Math.max(diffMax, logPplDiff);
            diffMin = Math.min(diffMin, logPplDiff);
            pplRatio += Math.exp(logPplDiff);
            chi2Seq += Math.exp(2 * clamp(dSum[s]));
        }
        return new RolloutMismatch(kl / tokens, k3 / tokens, trainingPpl / sequences, trainingLogPpl / sequences,
                rolloutPpl / sequences, rolloutLogPpl / sequences, diff / sequences, absDiff / sequences, diffMax,
                diffMin, pplRatio / sequences, chi2 / tokens - 1, chi2Seq / sequences - 1);
    }

    private static double clamp(double logRatio) {
        return Math.min(Math.max(logRatio, -MAX_LOG_RATIO), MAX_LOG_RATIO);
    }
}
