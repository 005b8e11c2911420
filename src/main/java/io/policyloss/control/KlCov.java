package io.policyloss.control;

import io.policyloss.loss.LossMetrics;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Objects;
import java.util.stream.IntStream;

/**
 * KL-Cov ("The Entropy Mechanism of Reinforcement Learning for Reasoning Language Models"; verl's
 * {@code policy_loss.loss_mode: kl_cov}, {@code kl_cov_ratio}, {@code ppo_kl_coef}): the policy's entropy falls
 * with the covariance of a token's log-prob and its advantage, so the few tokens of largest covariance get a
 * penalty on how far their log-prob moved, where {@link ClipCov} takes their gradient away. Token loss: -A r on
 * every counted token, unclipped, plus klCoef |logp - oldLogp| on the max(1, floor(klCovRatio n)) counted tokens of
 * largest (A - mean A)(logp - mean logp), means over the n counted tokens.
 *
 * <p>Through the kernel at ratio 1, as {@link ReweightedPolicyGradient}: with old_logp = logp
 * ({@link ImportanceRatios#oldLogpAtRatioOne}) the kernel's pg gradient is -A' grad logp whatever its clip range,
 * and A' = A r - klCoef sign(logp - oldLogp) on the chosen tokens, A r on the others ({@link #advantages}), is KL-Cov's
 * -dl/dlogp. KL and entropy terms stay; not with Entropy-Adv, which would shape A'. logp is the current policy's,
 * from a first call without a gradient on the same logits. Ties in covariance go to the lower row (torch.topk's
 * order among ties is unspecified).
 *
 * @param klCovRatio the fraction of counted tokens penalised (verl: 2e-4), in (0, 1]
 * @param klCoef the penalty's coefficient (verl's ppo_kl_coef: 1), finite and &gt;= 0
 */
public record KlCov(double klCovRatio, double klCoef) implements Surrogate {
    public KlCov {
        if (!(klCovRatio > 0 && klCovRatio <= 1))
            throw new IllegalArgumentException("klCovRatio: must be in (0, 1], got " + klCovRatio);
        if (!(klCoef >= 0) || klCoef == Double.POSITIVE_INFINITY)
            throw new IllegalArgumentException("klCoef: must be finite and >= 0, got " + klCoef);
    }

    @Override
    public String paperName() {
        return "KL-Cov";
    }

    /** verl's defaults: kl_cov_ratio 2e-4, ppo_kl_coef 1. */
    public static KlCov defaults() {
        return new KlCov(2e-4, 1);
    }

    /** The penalised rows: the max(1, floor(klCovRatio n)) counted rows of largest covariance; none if n = 0. */
    public boolean[] chosen(float[] advantage, float[] logp, float[] mask) {
        double[] cov = TokenCovariance.of(advantage, logp, mask);
        int[] counted = IntStream.range(0, mask.length).filter(i -> mask[i] != 0).toArray();
        boolean[] chosen = new boolean[mask.length];
        if (counted.length == 0) return chosen;
        int take = Math.max(1, (int) (klCovRatio * counted.length));
        Integer[] order = Arrays.stream(counted).boxed().toArray(Integer[]::new);
        Arrays.sort(order, Comparator.comparingDouble((Integer i) -> -cov[i]));  // stable: ties keep row order
        for (int j = 0; j < take; ++j) chosen[order[j]] = true;
        return chosen;
    }

    /** A' for the kernel at ratio 1 on each counted row; padding rows as given. */
    public float[] advantages(float[] advantage, double[] ratio, float[] logp, float[] oldLogp, boolean[] chosen,
            float[] mask) {
        checkRows(advantage, ratio, logp, oldLogp, chosen, mask);
        float[] out = advantage.clone();
        for (int i = 0; i < mask.length; ++i)
            if (mask[i] != 0) out[i] = (float) kernelAdvantage(advantage[i], ratio[i], logp[i], oldLogp[i], chosen[i]);
        return out;
    }

    /** verl's token loss: -A r, plus klCoef |logp - oldLogp| where chosen. */
    public double tokenLoss(double advantage, double ratio, double logp, double oldLogp, boolean chosen) {
        return -advantage * ratio + (chosen ? klCoef * Math.abs(logp - oldLogp) : 0);
    }

    /**
     * What the kernel's metrics miss on the rows it ran at ratio 1 ({@link RatioOneMetrics}): arguments as before
     * {@link #advantages} and {@link ImportanceRatios#oldLogpAtRatioOne}. Nothing counts as clipped.
     */
    public LossMetrics metricsCorrection(float[] advantage, double[] ratio, float[] logp, float[] oldLogp,
            boolean[] chosen, float[] weight, float[] mask) {
        checkRows(advantage, ratio, logp, oldLogp, chosen, mask);
        return RatioOneMetrics.correction(i -> tokenLoss(advantage[i], ratio[i], logp[i], oldLogp[i], chosen[i])
                + kernelAdvantage(advantage[i], ratio[i], logp[i], oldLogp[i], chosen[i]), i -> false, i -> false,
                ratio, logp, oldLogp, weight, mask);
    }

    /** -d tokenLoss / d logp, r's derivative in logp being r: A r - klCoef sign(logp - oldLogp) where chosen. */
    private double kernelAdvantage(double advantage, double ratio, double logp, double oldLogp, boolean chosen) {
        return advantage * ratio - (chosen ? klCoef * Math.signum(logp - oldLogp) : 0);
    }

    private static void checkRows(float[] advantage, double[] ratio, float[] logp, float[] oldLogp, boolean[] chosen,
            float[] mask) {
        RowArrays.mask(mask);
        RowArrays.sameLength(ratio, "ratio", mask.length, "mask");
        RowArrays.length(Objects.requireNonNull(chosen, "chosen").length, "chosen", mask.length, "mask");
        RowArrays.advantageAndLogps(advantage, logp, oldLogp, mask);
    }
}
