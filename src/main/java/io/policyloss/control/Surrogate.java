package io.policyloss.control;

/**
 * What a {@link PolicyObjective} puts in place of PPO's clipped loss, one at most (verl's {@code
 * policy_loss.loss_mode}, TRL's {@code loss_type}): Clip-Cov's choice of tokens, a token-by-token weight (CISPO,
 * SAPO), KL-Cov's penalty, a sequence's weight (GMPO, VESPO) or DPPO's trust region.
 */
public sealed interface Surrogate permits ClipCov, ReweightedPolicyGradient, KlCov, SequenceWeightedPolicyGradient,
        Dppo {
    /** The name its paper gives it, for messages: "CISPO", "KL-Cov". */
    String paperName();

    /**
     * Whether the kernel runs its rows at a ratio of 1 ({@link ImportanceRatios#oldLogpAtRatioOne}), the surrogate's
     * gradient carried by the advantage: all but Clip-Cov, which only zeroes some tokens' advantages under PPO's clip.
     */
    default boolean atRatioOne() {
        return true;
    }
}
