package io.policyloss.control;

import io.policyloss.loss.AggregationWeights;
import io.policyloss.loss.LossMetrics;

/**
 * VESPO (TRL's {@code loss_type="vespo"}, Liger-Kernel's too): REINFORCE with a sequence-level weight held constant,
 * token loss -sg(phi(w_i)) A logp. w_i is sequence i's importance ratio, the product of its counted tokens' ratios
 * (their log-ratios, each clamped to [-20, 20], summed, the sum clamped to [ln 1e-8, 20]), and phi(w) = e^lambda w^k
 * e^(-lambda w), a gamma density's shape scaled so that phi(1) = 1: on-policy VESPO is the policy gradient, and a
 * sequence whose ratio fell towards 0 or rose far past its peak at k / lambda fades smoothly instead of being cut
 * off at an edge. k and lambda are kPos and lambdaPos where A &gt;= 0, kNeg and lambdaNeg where A &lt; 0 (TRL's
 * choice by the sequence's advantage; here by each token's, the same for GRPO's advantages, and a token whose
 * advantage was zeroed gets A' = 0 either way).
 *
 * <p>Through the kernel at ratio 1 ({@link SequenceWeightedPolicyGradient}): A' = phi(w_i) A ({@link #advantages}); KL
 * and entropy terms stay, not with Entropy-Adv. Nothing counts as clipped. TRL aggregates it as {@code dapo} does,
 * a token mean. The sequence ratio is VESPO's own, so not with GSPO's; logp is the current policy's, from a first
 * call without a gradient on the same logits. Rollouts from another engine: its importance-sampling ratio joins w_i
 * (the methods that take {@code isRatio}, e.g. {@link RolloutCorrection#ratios}), as TRL folds it, rather than
 * weighting the advantages by it.
 *
 * @param kPos the gamma shape where A &gt;= 0 (TRL: 2), finite and &gt;= 0
 * @param lambdaPos the gamma rate where A &gt;= 0 (TRL: 3), finite and &gt; 0
 * @param kNeg the gamma shape where A &lt; 0 (TRL: 3), finite and &gt;= 0
 * @param lambdaNeg the gamma rate where A &lt; 0 (TRL: 2), finite and &gt; 0
 */
public record Vespo(double kPos, double lambdaPos, double kNeg, double lambdaNeg)
        implements SequenceWeightedPolicyGradient {
    /** TRL's clamps of a sequence's log-ratio: ln 1e-8 below, 20 above. */
    private static final double MIN_LOG_W = Math.log(1e-8), MAX_LOG_W = 20;

    public Vespo {
        shape(kPos, "kPos");
        rate(lambdaPos, "lambdaPos");
        shape(kNeg, "kNeg");
        rate(lambdaNeg, "lambdaNeg");
    }

    @Override
    public String paperName() {
        return "VESPO";
    }

    /** TRL's and Liger's defaults: k 2 and lambda 3 where A &gt;= 0, k 3 and lambda 2 where A &lt; 0. */
    public static Vespo defaults() {
        return new Vespo(2, 3, 3, 2);
    }

    /** phi(w) = exp(lambda + k ln w - lambda w) at the advantage's k and lambda, from ln w. */
    public double weight(double logW, double advantage) {
        boolean nonNegative = advantage >= 0;
        double k = nonNegative ? kPos : kNeg, lambda = nonNegative ? lambdaPos : lambdaNeg;
        return Math.exp(lambda + k * logW - lambda * Math.exp(logW));
    }

    /**
     * ln w_i of each sequence: the sum over its counted tokens of logp - oldLogp, each clamped to [-20, 20], the sum
     * clamped to [ln 1e-8, 20]; 0 for a sequence without counted tokens. Rows, mask and sequenceOf as in
     * {@link AggregationWeights}.
     */
    public double[] sequenceLogRatios(float[] logp, float[] oldLogp, float[] mask, int[] sequenceOf) {
        return sequenceLogRatios(logp, oldLogp, mask, sequenceOf, null);
    }

    /**
     * As {@link #sequenceLogRatios(float[], float[], float[], int[])}, with the rollout engine's importance-sampling
     * ratio in w_i: each counted token adds ln isRatio, clamped to [ln 1e-8, 20], before the sum is clamped. TRL and
     * Liger-Kernel fold vLLM's correction into VESPO's weight this way instead of multiplying the loss by it (which
     * {@link RolloutCorrection#advantages} does for the other losses). They add it over every token of the
     * completion; its padding, where both engines' log-probs are 0, adds ln 1 = 0. With TRL's sequence modes each
     * counted token adds its sequence's ratio, as TRL's [B, 1] ratio broadcast over the tokens does.
     *
     * @param isRatio each row's ratio, e.g. {@link RolloutCorrection#ratios}, finite and &gt;= 0 (0 counts
     *     as 1e-8, as the clamp makes it); null for none
     */
    public double[] sequenceLogRatios(float[] logp, float[] oldLogp, float[] mask, int[] sequenceOf, float[] isRatio) {
        int count = (int) AggregationWeights.Totals.of(mask, sequenceOf).sequences();
        RowArrays.finiteWhereCounted(mask, new String[] {"logp", "oldLogp"}, logp, oldLogp);
        if (isRatio != null) RowArrays.sameLength(isRatio, "isRatio", mask.length, "mask");
        double[] sum = new double[count];
        for (int i = 0; i < mask.length; ++i) {
            if (mask[i] == 0) continue;
            sum[sequenceOf[i]] += ImportanceRatios.logRatio(logp[i], oldLogp[i]);
            if (isRatio == null) continue;
            RowArrays.finiteNonNegative(isRatio[i], "isRatio", i);
            sum[sequenceOf[i]] += Math.min(Math.max(Math.log(isRatio[i]), MIN_LOG_W), MAX_LOG_W);
        }
        for (int s = 0; s < count; ++s) sum[s] = Math.min(Math.max(sum[s], MIN_LOG_W), MAX_LOG_W);
        return sum;
    }

    /**
     * A' = phi(w_i) A, with the rollout engine's ratio in w_i where it is given: TRL's VESPO with
     * {@code vllm_importance_sampling_correction} (see {@link #sequenceLogRatios(float[], float[], float[], int[],
     * float[])}; isRatio may be null).
     */
    @Override
    public float[] advantages(float[] advantage, float[] logp, float[] oldLogp, float[] mask, int[] sequenceOf,
            float[] isRatio) {
        double[] logW = sequenceLogRatios(logp, oldLogp, mask, sequenceOf, isRatio);
        checkAdvantages(advantage, mask);
        float[] out = advantage.clone();
        for (int i = 0; i < mask.length; ++i)
            if (mask[i] != 0) out[i] = (float) (weight(logW[sequenceOf[i]], advantage[i]) * advantage[i]);
        return out;
    }

    /** Each token's loss is TRL's, -phi(w_i) A logp, isRatio in w_i where it is given; nothing counts as clipped. */
    @Override
    public LossMetrics metricsCorrection(float[] advantage, double[] ratio, float[] logp, float[] oldLogp,
            float[] weight, float[] mask, int[] sequenceOf, float[] isRatio) {
        double[] logW = sequenceLogRatios(logp, oldLogp, mask, sequenceOf, isRatio);
        checkAdvantages(advantage, mask);
        return RatioOneMetrics.correction(i -> {
            double phiA = weight(logW[sequenceOf[i]], advantage[i]) * advantage[i];
            return -phiA * logp[i] + phiA;
        }, i -> false, i -> false, ratio, logp, oldLogp, weight, mask);
    }

    private static void checkAdvantages(float[] advantage, float[] mask) {
        RowArrays.sameLength(advantage, "advantage", mask.length, "mask");
        for (int i = 0; i < mask.length; ++i)
            if (mask[i] != 0) RowArrays.finite(advantage[i], "advantage", i);
    }

    private static void shape(double k, String name) {
        if (!(k >= 0) || k == Double.POSITIVE_INFINITY)
            throw new IllegalArgumentException(name + ": must be finite and >= 0, got " + k);
    }

    private static void rate(double lambda, String name) {
        if (!(lambda > 0) || lambda == Double.POSITIVE_INFINITY)
            throw new IllegalArgumentException(name + ": must be finite and > 0, got " + lambda);
    }
}
