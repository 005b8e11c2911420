package io.policyloss.control;

import java.util.Objects;

/**
 * Truncated importance sampling (TIS: verl's rollout correction, TRL's {@code vllm_importance_sampling_correction}):
 * where another engine sampled the rollouts (vLLM, other kernels, lower precision), each token's policy-gradient term
 * is weighted by f = min(exp(oldLogp - rolloutLogp), cap), held constant: oldLogp the trainer's log-prob of the token
 * under the policy that sampled it (the kernel's old_logp), rolloutLogp the engine's.
 *
 * <p>The kernel takes no such weight and needs none. The clipped loss is linear in the advantage, its sign kept
 * (SPEC section 3: pg = max(-A r, -A clip(r)), the dual clip -A c, and its gradient -A r where unclipped), so the
 * advantage f A gives f times the row's pg term and its gradient, through the same branches, and leaves the KL and
 * entropy terms as they were, as the trainers do. Not with Entropy-Adv (entropy_adv_beta &gt; 0), which shapes the
 * advantage by its size: the weight would reach the shaping too. Nor with VESPO, into whose sequence weight TRL folds
 * the ratio instead: {@link Vespo#advantages(float[], float[], float[], float[], int[], float[])} takes it.
 * {@link RolloutCorrection} has TRL's other modes (a lower bound, masking instead of truncation, sequence ratios)
 * and its metrics; this is its {@code TOKEN_TRUNCATE} without a lower bound, on arrays without padding.
 */
public final class TruncatedImportanceSampling {
    private TruncatedImportanceSampling() {}

    /** The weight of one token: min(exp(oldLogp - rolloutLogp), cap), in [0, cap]. */
    public static double weight(double oldLogp, double rolloutLogp, double cap) {
        return Math.min(Math.exp(oldLogp - rolloutLogp), cap);
    }

    /**
     * Each row's advantage times its {@link #weight}, for the kernel's {@code advantage}. Every array has a row per
     * token; padding rows need finite log-probs here too (any, e.g. 0), though the kernel never reads them.
     */
    public static float[] advantages(float[] advantage, float[] oldLogp, float[] rolloutLogp, double cap) {
        Objects.requireNonNull(advantage, "advantage");
        RowArrays.sameLength(oldLogp, "oldLogp", advantage.length, "advantage");
        RowArrays.sameLength(rolloutLogp, "rolloutLogp", advantage.length, "advantage");
        if (!(cap > 0) || cap == Double.POSITIVE_INFINITY)
            throw new IllegalArgumentException("cap: must be finite and > 0, got " + cap);
        float[] out = new float[advantage.length];
        for (int i = 0; i < advantage.length; ++i) {
            RowArrays.finite(advantage[i], "advantage", i);
            RowArrays.finite(oldLogp[i], "oldLogp", i);
            RowArrays.finite(rolloutLogp[i], "rolloutLogp", i);
            out[i] = (float) (advantage[i] * weight(oldLogp[i], rolloutLogp[i], cap));
        }
        return out;
    }
}
