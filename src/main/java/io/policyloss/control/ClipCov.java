package io.policyloss.control;

import io.policyloss.loss.LossConfig;
import java.util.Arrays;
import java.util.Objects;
import java.util.random.RandomGenerator;

/**
 * Clip-Cov ("The Entropy Mechanism of Reinforcement Learning for Reasoning Language Models"; verl's
 * {@code policy_loss.loss_mode: clip_cov}): the policy's entropy falls with the covariance of a token's log-prob and
 * its advantage, and a few tokens of large covariance drive it. Clip-Cov takes the policy gradient away from a
 * random {@code clipRatio} of the counted tokens (at least one) among those whose covariance term
 * (A - mean A)(logp - mean logp), means over the counted tokens, lies strictly between {@code lower} and
 * {@code upper} and whose ratio PPO's clip leaves alone (-A clip(r) &gt; -A r does not hold).
 *
 * <p>verl multiplies those tokens' clipped loss by 0; here their advantage is 0, which zeroes the same term and its
 * gradient and leaves KL and entropy, as {@link HighEntropyTokens} does. logp is the current policy's, from a first
 * call without a gradient on the same logits (README: "Coming from verl or TRL"). verl's Clip-Cov has no dual
 * clip: leave {@code dualClipC} off to match it.
 *
 * @param clipRatio the fraction of counted tokens to take out (verl: 2e-4), in (0, 1]
 * @param lower the covariance's lower bound, exclusive (verl: 1)
 * @param upper the covariance's upper bound, exclusive (verl: 5)
 */
public record ClipCov(double clipRatio, double lower, double upper) implements Surrogate {
    public ClipCov {
        if (!(clipRatio > 0 && clipRatio <= 1))
            throw new IllegalArgumentException("clipRatio: must be in (0, 1], got " + clipRatio);
        if (Double.isNaN(lower)) throw new IllegalArgumentException("lower: must not be NaN");
        if (!(upper > lower))
            throw new IllegalArgumentException("upper: must be > lower (" + lower + "), got " + upper);
    }

    @Override
    public String paperName() {
        return "Clip-Cov";
    }

    /** Its rows keep their own ratio: Clip-Cov zeroes the chosen tokens' advantages, PPO's clip does the rest. */
    @Override
    public boolean atRatioOne() {
        return false;
    }

    /** verl's defaults: clip_cov_ratio 2e-4, clip_cov_lb 1, clip_cov_ub 5. */
    public static ClipCov defaults() {
        return new ClipCov(2e-4, 1, 5);
    }

    /**
     * The advantages with the chosen tokens' set to 0, the others as given (padding rows included): {@link #choose}'s
     * advantages.
     */
    public float[] advantages(LossConfig config, float[] advantage, float[] logp, float[] oldLogp, float[] mask,
            RandomGenerator random) {
        return choose(config, advantage, logp, oldLogp, mask, random).advantages();
    }

    /**
     * The tokens Clip-Cov takes out and the advantages without them. {@code config} gives the clip range (epsLow,
     * epsHigh) that tells which tokens PPO clips; {@code random} picks the tokens.
     */
    public Choice choose(LossConfig config, float[] advantage, float[] logp, float[] oldLogp, float[] mask,
            RandomGenerator random) {
        Objects.requireNonNull(config, "config");
        Objects.requireNonNull(random, "random");
        RowArrays.mask(mask);
        RowArrays.sameLength(advantage, "advantage", mask.length, "mask");
        RowArrays.sameLength(logp, "logp", mask.length, "mask");
        RowArrays.sameLength(oldLogp, "oldLogp", mask.length, "mask");
        double[] cov = TokenCovariance.of(advantage, logp, mask);
        float[] out = advantage.clone();
        int[] candidates = new int[mask.length];
        int n = 0, counted = 0;
        for (int i = 0; i < mask.length; ++i) {
            if (mask[i] == 0) continue;
            counted++;
            RowArrays.finite(oldLogp[i], "oldLogp", i);
            double a = advantage[i], r = Math.exp((double) logp[i] - oldLogp[i]);
            boolean clipped = -a * Math.min(Math.max(r, 1 - config.epsLow()), 1 + config.epsHigh()) > -a * r;
            if (!clipped && cov[i] > lower && cov[i] < upper) candidates[n++] = i;
        }
        // The first `take` of a uniform random permutation of the candidates, as verl's randperm: a partial shuffle.
        int take = Math.min(Math.max((int) (clipRatio * counted), 1), n);
        for (int j = 0; j < take; ++j) {
            int k = j + random.nextInt(n - j), chosen = candidates[k];
            candidates[k] = candidates[j];
            candidates[j] = chosen;
            out[chosen] = 0;
        }
        return new Choice(out, Arrays.copyOf(candidates, take), counted);
    }

    /**
     * One call's choice.
     *
     * @param advantages the advantages with the chosen tokens' set to 0
     * @param tokens the chosen rows, in the order drawn
     * @param counted the counted tokens (mask 1) the choice was made among
     */
    public record Choice(float[] advantages, int[] tokens, int counted) {
        /**
         * verl's {@code pg_clipfrac} under Clip-Cov: the chosen tokens' share of the counted ones (0 with none
         * counted), which it reports in place of PPO's clip fraction (and {@code pg_clipfrac_lower} 0).
         */
        public double clipFraction() {
            return counted == 0 ? 0 : (double) tokens.length / counted;
        }
    }
}
