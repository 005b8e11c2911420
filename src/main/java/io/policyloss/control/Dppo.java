package io.policyloss.control;

import io.policyloss.control.ZeroedRowClips.RowClips;
import io.policyloss.loss.LossMetrics;
import java.util.function.IntToDoubleFunction;

/**
 * DPPO ("Rethinking the Trust Region in LLM Reinforcement Learning", arXiv 2602.04879; verl's {@code
 * policy_loss.loss_mode: dppo_tv} / {@code dppo_kl}, TRL's experimental DPPO trainer): PPO's trust region measured
 * by how far the sampled token's probability moved, not by its ratio. The ratio over-penalises rare tokens (1e-5 to
 * 1e-3 is a ratio of 100, a negligible divergence) and under-penalises likely ones (0.99 to 0.8 is a ratio of 0.81);
 * DPPO masks a token whose probability p = exp(logp) left a region around q = exp(oldLogp) in the direction its
 * advantage pushes, and trains the others by the policy gradient weighted by their truncated ratio. Token loss:
 * -sg(min(r, maxWeight)) A logp where the token is inside, 0 where it is not.
 *
 * <p>Inside, by the advantage's sign as verl and TRL choose the side (A &gt; 0 the upper, else the lower; the edges
 * count as inside): Binary-TV, p - q &lt;= high (A &gt; 0) or p - q &gt;= -low; Binary-KL, the KL of Bernoulli(q)
 * to Bernoulli(p), q (log q - log p) + (1 - q) log((1 - q + 1e-8) / (1 - p + 1e-8)), at most high where p &gt; q
 * (A &gt; 0) or at most low where p &lt; q, any p on the side the advantage does not push.
 *
 * <p>Through the kernel at ratio 1, as {@link ReweightedPolicyGradient} (whose weights read the ratio alone, where
 * DPPO's read both probabilities): with old_logp = logp its pg gradient is -A' grad logp, so A' = min(r, maxWeight) A
 * inside and 0 outside ({@link #advantages}) gives DPPO's gradient, KL and entropy terms unchanged; not with
 * Entropy-Adv, which would shape A'. r = exp(clamp(logp - oldLogp, -20, 20)) of the token's own ratio, as verl's; logp
 * is the current policy's, from a first call without a gradient on the same logits, and oldLogp the anchor: verl's
 * recipe passes the rollout engine's log-probs (its bypass mode), as TRL's trainer does.
 *
 * @param divergence the trust region's measure
 * @param low the region's bound on the lower side (verl's clip_ratio_low; its recipe's 0.15 for TV, 0.05 for KL);
 *     &gt; 0
 * @param high the bound on the upper side (verl's clip_ratio_high); &gt; 0
 * @param maxWeight the ratio's truncation, C (verl's clip_ratio_c, which is 3 unless set; the recipe sets 10000 to
 *     turn it off, and the paper asks for a large one); &gt; 0, +inf for none
 */
public record Dppo(Divergence divergence, double low, double high, double maxWeight) implements Surrogate {
    /** How DPPO measures the distance between a token's old and new probability. */
    public enum Divergence {
        /** Total variation of the binary distribution (the token, or any other): p - q. */
        BINARY_TV,
        /** KL of the binary distribution, Bernoulli(q) to Bernoulli(p). */
        BINARY_KL
    }

    public Dppo {
        if (divergence == null)
            throw new IllegalArgumentException("divergence: must be BINARY_TV or BINARY_KL, got null");
        if (!(low > 0)) throw new IllegalArgumentException("low: must be > 0, got " + low);
        if (!(high > 0)) throw new IllegalArgumentException("high: must be > 0, got " + high);
        if (!(maxWeight > 0)) throw new IllegalArgumentException("maxWeight: must be > 0, got " + maxWeight);
    }

    @Override
    public String paperName() {
        return "DPPO";
    }

    /** verl's DPPO-Binary-TV recipe: the probability may move 0.15 either way, the ratio untruncated. */
    public static Dppo binaryTv() {
        return new Dppo(Divergence.BINARY_TV, 0.15, 0.15, Double.POSITIVE_INFINITY);
    }

    /** verl's DPPO-Binary-KL recipe: a binary KL of at most 0.05 either way, the ratio untruncated. */
    public static Dppo binaryKl() {
        return new Dppo(Divergence.BINARY_KL, 0.05, 0.05, Double.POSITIVE_INFINITY);
    }

    /** Whether the token is inside the trust region on the side its advantage pushes. */
    public boolean inside(double logp, double oldLogp, double advantage) {
        double p = Math.exp(logp), q = Math.exp(oldLogp);
        if (divergence == Divergence.BINARY_TV) return advantage > 0 ? p - q <= high : p - q >= -low;
        double kl = q * (oldLogp - logp) + (1 - q) * Math.log((1 - q + 1e-8) / (1 - p + 1e-8));
        return advantage > 0 ? kl <= high || p <= q : kl <= low || p >= q;
    }

    /** The constant weight of the token's policy gradient, -c A grad logp: min(r, maxWeight) inside, else 0. */
    public double weight(double logp, double oldLogp, double advantage) {
        return inside(logp, oldLogp, advantage) ? Math.min(ImportanceRatios.ratio(logp, oldLogp), maxWeight) : 0;
    }

    /** A' for the kernel at ratio 1 on each counted row; padding rows as given. */
    public float[] advantages(float[] advantage, float[] logp, float[] oldLogp, float[] mask) {
        checkRows(advantage, logp, oldLogp, mask);
        float[] out = advantage.clone();
        for (int i = 0; i < mask.length; ++i)
            if (mask[i] != 0) out[i] = (float) (weight(logp[i], oldLogp[i], advantage[i]) * advantage[i]);
        return out;
    }

    /**
     * What the kernel's metrics miss on the rows it ran at ratio 1 ({@link RatioOneMetrics}), arguments as before
     * {@link #advantages} and {@link ImportanceRatios#oldLogpAtRatioOne}: the loss as verl logs it, and the tokens
     * outside the region as clipped, high where A &gt; 0 and low elsewhere (verl's pg_clipfrac is their sum, TRL's
     * pg_maskfrac too), and the tokens inside whose ratio was truncated as the dual clip's count (verl's
     * pg_clipfrac_lower, which counts them in DPPO's place of the dual clip).
     */
    public LossMetrics metricsCorrection(float[] advantage, float[] logp, float[] oldLogp, float[] weight,
            float[] mask) {
        checkRows(advantage, logp, oldLogp, mask);
        double[] ratio = ImportanceRatios.token(logp, oldLogp, mask);
        RowClips[] clips = new RowClips[mask.length];  // each row's region, read by the loss and three counts
        for (int i = 0; i < mask.length; ++i)
            clips[i] = mask[i] == 0 ? RowClips.NONE : clips(logp[i], oldLogp[i], advantage[i]);
        // The token's own loss, -c A logp, plus A' = c A, the advantage the kernel was given.
        IntToDoubleFunction lossChange = i -> {
            double c = clips[i].low() || clips[i].high() ? 0 : Math.min(ratio[i], maxWeight);
            return -c * advantage[i] * logp[i] + c * advantage[i];
        };
        return RatioOneMetrics.correction(lossChange, i -> clips[i].low(), i -> clips[i].high(),
                i -> clips[i].dual(), ratio, logp, oldLogp, weight, mask);
    }

    /**
     * How {@link #metricsCorrection} counts a row: outside the region, clipped high where A &gt; 0 and low elsewhere;
     * inside with its ratio truncated, where PPO counts its dual clip.
     */
    RowClips clips(double logp, double oldLogp, double advantage) {
        if (!inside(logp, oldLogp, advantage)) return new RowClips(!(advantage > 0), advantage > 0, false);
        return new RowClips(false, false, ImportanceRatios.ratio(logp, oldLogp) > maxWeight);
    }

    /** Finite rows, and log-probabilities: the divergences are of probabilities, which exp(x &gt; 0) is not. */
    private static void checkRows(float[] advantage, float[] logp, float[] oldLogp, float[] mask) {
        RowArrays.mask(mask);
        RowArrays.advantageAndLogps(advantage, logp, oldLogp, mask);
        for (int i = 0; i < mask.length; ++i) {
            if (mask[i] == 0) continue;
            logProbability(logp[i], "logp", i);
            logProbability(oldLogp[i], "oldLogp", i);
        }
    }

    private static void logProbability(float v, String name, int row) {
        if (v > 0)
            throw new IllegalArgumentException(name + ": row " + row + ": must be <= 0 (a log-probability), got " + v);
    }
}
