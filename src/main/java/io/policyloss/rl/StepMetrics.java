package io.policyloss.rl;

/**
 * One RL step, as a line of metrics.jsonl. Entropies are means over response tokens of the policy before the
 * step's updates (at temperature 1 unless the rollout temperature differs); clip fractions are over the rows of
 * the step's updates (SPEC section 5).
 *
 * @param step the step, from 0
 * @param reward mean reward of the GRPO responses (coin flips under randomReward)
 * @param accuracy the fraction of GRPO responses that are correct
 * @param entropy mean token entropy H
 * @param clampedEntropy mean clamped entropy Hc (equals H when clampP = 0)
 * @param clipLowFraction rows clipped low (A &lt; 0, r &lt; 1 - eps_low)
 * @param clipHighFraction rows clipped high (A &gt; 0, r &gt; 1 + eps_high)
 * @param dualClipFraction rows where the dual clip is active
 * @param sequenceClipLowFraction with a sequence ratio (GSPO), the GRPO sequences clipped low: TRL's {@code
 *     clip_ratio/low_mean} at {@code importance_sampling_level="sequence"}, where the row fractions count the tokens
 *     that carry the ratio (verl's {@code pg_clipfrac}); 0 otherwise ({@link io.policyloss.control.SequenceClips})
 * @param sequenceClipHighFraction likewise TRL's {@code clip_ratio/high_mean}
 * @param clipCovFraction Clip-Cov's chosen tokens' share of the counted ones, verl's {@code pg_clipfrac} under {@code
 *     clip_cov} (the row fractions keep PPO's clips); 0 otherwise
 * @param temperature AEPO's REINFORCE temperature this step, else the rollout temperature
 * @param entropyCoefficient lambda_H, the token-entropy coefficient (Entropy-Reg): the mean over the step's updates of
 *     the one each applied (TRL's adaptive coefficient moves between them)
 * @param clampedEntropyCoefficient lambda_C this step: AEnt's adaptive coefficient, or the config's constant
 * @param loss the mean over the step's updates of L
 * @param kl mean KL to the reference (0 without one)
 * @param rewardKl with the KL penalty in the reward, the GRPO responses' mean of their tokens' mean estimate,
 *     verl's {@code actor/reward_kl_penalty}; 0 without it
 * @param rewardKlCoefficient the penalty's coefficient this step, verl's {@code actor/reward_kl_penalty_coeff}; 0
 *     without it
 * @param approxKl mean old_logp - logp over the updates' rows
 * @param responseLength mean response length in tokens, end-of-sequence included
 * @param clippedRatio the fraction of GRPO responses cut at the task's longest response before their end (verl's
 *     {@code response_length/clip_ratio} counts those of the longest length; TRL's {@code completions/clipped_ratio})
 * @param generationBatches the batches of prompts sampled this step, a mean over the ranks: 1, or more under dynamic
 *     sampling (verl's {@code train/num_gen_batches})
 * @param positives AEPO's REINFORCE samples this step
 * @param seconds wall time of the step
 */
public record StepMetrics(int step, double reward, double accuracy, double entropy, double clampedEntropy,
        double clipLowFraction, double clipHighFraction, double dualClipFraction, double sequenceClipLowFraction,
        double sequenceClipHighFraction, double clipCovFraction, double temperature, double entropyCoefficient,
        double clampedEntropyCoefficient, double loss, double kl, double rewardKl, double rewardKlCoefficient,
        double approxKl, double responseLength, double clippedRatio, double generationBatches, int positives,
        double seconds) {
    /** The same metrics with the wall time zeroed: what two runs of one config must agree on. */
    public StepMetrics withoutSeconds() {
        return new StepMetrics(step, reward, accuracy, entropy, clampedEntropy, clipLowFraction, clipHighFraction,
                dualClipFraction, sequenceClipLowFraction, sequenceClipHighFraction, clipCovFraction, temperature,
                entropyCoefficient, clampedEntropyCoefficient, loss, kl, rewardKl, rewardKlCoefficient, approxKl,
                responseLength, clippedRatio, generationBatches, positives, 0);
    }
}
