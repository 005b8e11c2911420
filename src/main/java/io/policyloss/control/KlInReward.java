package io.policyloss.control;

import io.policyloss.loss.AggregationWeights;
import io.policyloss.loss.KlEstimator;
import java.util.Objects;

/**
 * The KL penalty in the reward (verl's {@code algorithm.use_kl_in_reward} with {@code kl_penalty} and {@code
 * kl_ctrl}; TRL's RLOOTrainer's {@code beta}): each response's reward less the coefficient times the sum over its
 * tokens of a KL estimate between the rollout policy and the reference, taken before the advantages (verl's outcome
 * estimators sum the token-level rewards, which {@link #penalize} does for them; REINFORCE++ and ReMax keep them per
 * token, {@link #penalizeTokens}). The loss's KL term ({@code LossConfig.klCoef}) pulls each token's gradient toward
 * the reference; this one makes straying from it a cost that the advantage sees, with the estimate from the old
 * log-probs (no gradient). The coefficient is fixed, or adaptive (Ziegler et al.'s controller, verl's {@code
 * kl_ctrl.type: adaptive}): after each batch, {@link #update} multiplies it by 1 + clip(KL / target - 1, -0.2, 0.2)
 * n / horizon, n the batch's responses. Immutable.
 *
 * @param coefficient beta, finite and &gt;= 0 (verl's {@code kl_ctrl.kl_coef}: 0.001; TRL's RLOO {@code beta}: 0.05)
 * @param estimator the token's estimate of KL(old || ref) by its value (verl's {@code kl_penalty}: {@code kl} K1,
 *     {@code abs} ABS, {@code mse} K2, {@code low_var_kl} K3; the straight-through ones by their value, K1's and K3's)
 * @param targetKl the adaptive controller's target for {@link Penalized#meanKl}, finite and &gt; 0; null for a fixed
 *     coefficient
 * @param horizon the adaptive controller's horizon in responses (verl's 10000), &gt;= 1; read with targetKl alone
 */
public record KlInReward(double coefficient, KlEstimator estimator, Double targetKl, long horizon) {
    /** verl's bound on the controller's proportional error. */
    private static final double MAX_ERROR = 0.2;

    public KlInReward {
        if (!(coefficient >= 0) || coefficient == Double.POSITIVE_INFINITY)
            throw new IllegalArgumentException("coefficient: must be finite and >= 0, got " + coefficient);
        Objects.requireNonNull(estimator, "estimator");
        if (targetKl != null && !(targetKl > 0 && targetKl < Double.POSITIVE_INFINITY))
            throw new IllegalArgumentException("targetKl: must be finite and > 0, or null for a fixed coefficient, got "
                    + targetKl);
        if (targetKl != null && horizon < 1)
            throw new IllegalArgumentException("horizon: must be >= 1, got " + horizon);
    }

    /** A fixed coefficient (verl's {@code kl_ctrl.type: fixed}). */
    public static KlInReward fixed(double coefficient, KlEstimator estimator) {
        return new KlInReward(coefficient, estimator, null, 1);
    }

    /**
     * The rewards less the penalty, and verl's {@code actor/reward_kl_penalty}.
     *
     * @param rewards one per response
     * @param meanKl each response's token mean of the estimate, averaged over the responses (one without a token
     *     counts 0, as verl's masked mean gives it)
     */
    public record Penalized(float[] rewards, double meanKl) {}

    /**
     * Each response's reward less coefficient times the sum of its counted tokens' estimates kl(oldLogp, refLogp).
     *
     * @param rewards one per response, finite; response s has the rows whose sequenceOf is s
     * @param oldLogp each row's log-prob under the rollout policy, finite on counted rows
     * @param refLogp each row's log-prob under the reference, finite on counted rows
     * @param mask 1 on a response's tokens, 0 on padding (not read)
     * @param sequenceOf each row's response, 0 to rewards.length - 1
     */
    public Penalized penalize(float[] rewards, float[] oldLogp, float[] refLogp, float[] mask, int[] sequenceOf) {
        Objects.requireNonNull(rewards, "rewards");
        double[] kl = tokenKl(oldLogp, refLogp, mask);
        RowArrays.responses(mask, sequenceOf, rewards.length, "rewards");
        for (int s = 0; s < rewards.length; ++s) RowArrays.finite(rewards[s], "rewards", s);
        double[] sum = new double[rewards.length];
        for (int i = 0; i < mask.length; ++i) sum[sequenceOf[i]] += kl[i];
        float[] out = new float[rewards.length];
        for (int s = 0; s < rewards.length; ++s) out[s] = (float) (rewards[s] - coefficient * sum[s]);
        return new Penalized(out, meanKl(kl, mask, sequenceOf, rewards.length));
    }

    /**
     * Token-level rewards (REINFORCE++'s and ReMax's, {@link ReinforcePlusPlus#outcomeRewards}) less coefficient
     * times each counted token's estimate kl(oldLogp, refLogp), as verl penalizes them: the rows' rewards, and the mean
     * KL over the responses that sequenceOf names.
     *
     * @param tokenRewards each row's reward, finite on counted rows
     */
    public Penalized penalizeTokens(float[] tokenRewards, float[] oldLogp, float[] refLogp, float[] mask,
            int[] sequenceOf) {
        double[] kl = tokenKl(oldLogp, refLogp, mask);
        int responses = (int) AggregationWeights.Totals.of(mask, sequenceOf).sequences();
        RowArrays.finiteWhereCounted(mask, new String[] {"tokenRewards"}, tokenRewards);
        float[] out = new float[mask.length];
        for (int i = 0; i < mask.length; ++i)
            if (mask[i] != 0) out[i] = (float) (tokenRewards[i] - coefficient * kl[i]);
        return new Penalized(out, meanKl(kl, mask, sequenceOf, responses));
    }

    /** Each counted row's estimate, 0 on padding. */
    private double[] tokenKl(float[] oldLogp, float[] refLogp, float[] mask) {
        RowArrays.mask(mask);
        RowArrays.finiteWhereCounted(mask, new String[] {"oldLogp", "refLogp"}, oldLogp, refLogp);
        double[] kl = new double[mask.length];
        // The term's value is the estimator's at logp = the rollout's: KL(old || ref) estimated on the old sample.
        for (int i = 0; i < mask.length; ++i)
            if (mask[i] != 0) kl[i] = KlTerm.of(estimator, oldLogp[i], refLogp[i]).kl();
        return kl;
    }

    /** Each response's token mean of the estimate (0 without a token), averaged over the responses. */
    private static double meanKl(double[] kl, float[] mask, int[] sequenceOf, int responses) {
        double[] sum = new double[responses], tokens = new double[responses];
        for (int i = 0; i < mask.length; ++i) {
            sum[sequenceOf[i]] += kl[i];
            tokens[sequenceOf[i]] += mask[i];
        }
        double meanSum = 0;
        for (int s = 0; s < responses; ++s) if (tokens[s] > 0) meanSum += sum[s] / tokens[s];
        return responses == 0 ? 0 : meanSum / responses;
    }

    /**
     * The controller after a batch of {@code responses} responses whose {@link Penalized#meanKl} was {@code kl}: the
     * same for a fixed coefficient; else the coefficient times 1 + clip(kl / targetKl - 1, -0.2, 0.2) responses /
     * horizon. A batch of more than 5 horizons could turn it negative: refused.
     */
    public KlInReward update(double kl, long responses) {
        if (Double.isNaN(kl)) throw new IllegalArgumentException("kl: must not be NaN");
        if (responses < 0 || targetKl != null && responses > 5 * horizon)
            throw new IllegalArgumentException("responses: must be in [0, 5 horizons] (" + 5 * horizon + "), got "
                    + responses);
        if (targetKl == null) return this;
        double error = Math.min(Math.max(kl / targetKl - 1, -MAX_ERROR), MAX_ERROR);
        return new KlInReward(coefficient * (1 + error * responses / horizon), estimator, targetKl, horizon);
    }
}
