package io.policyloss.control;

import io.policyloss.loss.AggregationWeights;
import io.policyloss.loss.LossMetrics;
import java.util.Arrays;
import java.util.Objects;

/**
 * GMPO ("Geometric-Mean Policy Optimization", Zhao et al. 2025; verl's {@code policy_loss.loss_mode: geo_mean}):
 * sequence i's loss is -A_i R_i, where R_i is the geometric mean of its tokens' clipped ratios in place of GRPO's
 * arithmetic mean, R_i = exp(mean over its counted tokens t of c_t), and A_i the mean of their advantages. The clip
 * is PPO's, on the log-ratio d_t = logp_t - oldLogp_t: c_t = min(d_t, clipHigh) where A_t &gt; 0, max(d_t, -clipLow)
 * where A_t &lt; 0, and 0 where A_t = 0 (verl's sgn(A) min(sgn(A) d, sgn(A) clamp(d, -clipLow, clipHigh))). A token
 * whose ratio is an outlier moves R_i by its |y_i|-th root, not by itself, which is why the paper can clip at
 * e^(+-0.4), wider than PPO's range.
 *
 * <p>The gradient of -A_i R_i with respect to logp_t is -A_i R_i / |y_i| on the tokens whose c_t is d_t (A_t &gt; 0
 * and d_t &lt;= clipHigh, or A_t &lt; 0 and d_t &gt;= -clipLow; the clip's edge counts as inside, as torch's clamp
 * passes a gradient there) and 0 on the others. Through the kernel at ratio 1 ({@link SequenceWeightedPolicyGradient}):
 * with old_logp = logp ({@link ImportanceRatios#oldLogpAtRatioOne}) its pg gradient is -A' w grad logp whatever its
 * clip range, so A'_t = A_i R_i on those tokens and 0 on the others ({@link #advantages}), with seq-mean-token-mean
 * weights w_t = 1 / (|y_i| S) over S sequences, is GMPO's gradient of its loss, the mean over sequences of -A_i R_i
 * (verl's {@code geo_mean} ignores {@code loss_agg_mode} and takes that mean; other weights weigh the sequences
 * otherwise). KL and entropy terms stay; not with Entropy-Adv, which would shape A'. logp is the current policy's,
 * from a first call without a gradient on the same logits. d_t is clamped to [-20, 20] as the kernel clamps its
 * (verl leaves its clamp commented out; they differ only beyond it).
 *
 * @param clipLow the log-ratio's lower clip, -clipLow (verl's clip_ratio_low; the paper's 0.4); &gt; 0, +inf for none
 * @param clipHigh the log-ratio's upper clip (verl's clip_ratio_high; the paper's 0.4); &gt; 0, +inf for none
 */
public record Gmpo(double clipLow, double clipHigh) implements SequenceWeightedPolicyGradient {
    public Gmpo {
        if (!(clipLow > 0)) throw new IllegalArgumentException("clipLow: must be > 0, got " + clipLow);
        if (!(clipHigh > 0)) throw new IllegalArgumentException("clipHigh: must be > 0, got " + clipHigh);
    }

    @Override
    public String paperName() {
        return "GMPO";
    }

    /** The paper's and verl's GMPO recipe: the log-ratio clipped to [-0.4, 0.4]. */
    public static Gmpo defaults() {
        return new Gmpo(0.4, 0.4);
    }

    /**
     * Each sequence's mean advantage A_i and geometric-mean ratio R_i (0 and 1 for a sequence without counted
     * tokens), and |y_i| / |k_i|, its counted tokens over those its geometric mean keeps (1 without entropy masking),
     * indexed by sequence.
     */
    public record SequenceTerms(double[] advantage, double[] ratio, double[] keptScale) {}

    /** A_i and R_i of each sequence; rows, mask and sequenceOf as in {@link AggregationWeights}. */
    public SequenceTerms sequences(float[] advantage, float[] logp, float[] oldLogp, float[] mask, int[] sequenceOf) {
        return sequences(advantage, logp, oldLogp, mask, null, sequenceOf);
    }

    /** As the other, R_i over the counted tokens that {@code kept} keeps (every counted token where it is null). */
    SequenceTerms sequences(float[] advantage, float[] logp, float[] oldLogp, float[] mask, float[] kept,
            int[] sequenceOf) {
        int count = (int) AggregationWeights.Totals.of(mask, sequenceOf).sequences();
        RowArrays.advantageAndLogps(advantage, logp, oldLogp, mask);
        if (kept != null) RowArrays.sameLength(kept, "kept", mask.length, "mask");
        double[] sumA = new double[count], sumC = new double[count], tokens = new double[count],
                keptTokens = new double[count];
        for (int i = 0; i < mask.length; ++i) {
            if (mask[i] == 0) continue;
            int s = sequenceOf[i];
            sumA[s] += advantage[i];
            tokens[s]++;
            if (kept != null && kept[i] == 0) continue;
            sumC[s] += clippedLogRatio(ImportanceRatios.logRatio(logp[i], oldLogp[i]), advantage[i]);
            keptTokens[s]++;
        }
        double[] meanA = new double[count], ratio = new double[count], keptScale = new double[count];
        for (int s = 0; s < count; ++s) {
            meanA[s] = tokens[s] == 0 ? 0 : sumA[s] / tokens[s];
            ratio[s] = keptTokens[s] == 0 ? 1 : Math.exp(sumC[s] / keptTokens[s]);
            keptScale[s] = keptTokens[s] == 0 ? 0 : tokens[s] / keptTokens[s];
        }
        return new SequenceTerms(meanA, ratio, keptScale);
    }

    /**
     * A_i R_i where the token's log-ratio is unclipped, else 0. With rollouts from another engine, verl's {@code
     * geo_mean} multiplies sequence i's loss by the geometric mean of its tokens' weights f, exp(mean of ln(f_t +
     * 1e-10)), after its clip, which reads the advantages as they came. Weighing each token's advantage by its own f
     * first would differ in the token modes: A_i would take f's arithmetic mean, and a token of f = 0 would lose the
     * sign that clips its ratio.
     */
    @Override
    public float[] advantages(float[] advantage, float[] logp, float[] oldLogp, float[] mask, int[] sequenceOf,
            float[] rolloutRatio) {
        return advantages(advantage, logp, oldLogp, mask, null, sequenceOf, rolloutRatio);
    }

    /**
     * TRL's GMPOTrainer with entropy masking ({@code top_entropy_quantile}): each sequence's geometric mean, and its
     * length, over the tokens the mask keeps ({@link HighEntropyTokens#kept}), the others left out of R_i, so that
     * A'_t = A_i R_i |y_i| / |k_i| on the kept unclipped tokens and 0 on the others gives its gradient under
     * seq-mean-token-mean weights, 1 / (|y_i| S). A_i is still the mean over all of the sequence's counted tokens
     * (TRL's sequence advantage), and every counted token's clip still counts, as TRL counts them.
     *
     * @param kept 1 on the counted tokens the entropy mask keeps, 0 elsewhere
     */
    public float[] entropyMaskedAdvantages(float[] advantage, float[] logp, float[] oldLogp, float[] mask,
            float[] kept, int[] sequenceOf) {
        return advantages(advantage, logp, oldLogp, mask, Objects.requireNonNull(kept, "kept"), sequenceOf, null);
    }

    private float[] advantages(float[] advantage, float[] logp, float[] oldLogp, float[] mask, float[] kept,
            int[] sequenceOf, float[] rolloutRatio) {
        SequenceTerms s = sequences(advantage, logp, oldLogp, mask, kept, sequenceOf);
        double[] g = rolloutWeights(rolloutRatio, mask, sequenceOf, s.ratio.length);
        float[] out = advantage.clone();
        for (int i = 0; i < mask.length; ++i)
            if (mask[i] != 0) out[i] = (float) (g[sequenceOf[i]] * kernelAdvantage(s, i, advantage, logp, oldLogp,
                    kept, sequenceOf));
        return out;
    }

    /**
     * verl's weight of each sequence's loss: the geometric mean of its counted tokens' f, each with 1e-10 added
     * (verl's guard against ln 0); 1 for every sequence without f.
     */
    static double[] rolloutWeights(float[] rolloutRatio, float[] mask, int[] sequenceOf, int sequences) {
        double[] g = new double[sequences];
        Arrays.fill(g, 1);
        if (rolloutRatio == null) return g;
        RowArrays.sameLength(rolloutRatio, "rolloutRatio", mask.length, "mask");
        double[] sumLog = new double[sequences], tokens = new double[sequences];
        for (int i = 0; i < mask.length; ++i) {
            if (mask[i] == 0) continue;
            RowArrays.finiteNonNegative(rolloutRatio[i], "rolloutRatio", i);
            sumLog[sequenceOf[i]] += Math.log(rolloutRatio[i] + 1e-10);
            tokens[sequenceOf[i]]++;
        }
        for (int s = 0; s < sequences; ++s)
            if (tokens[s] > 0) g[s] = Math.exp(sumLog[s] / tokens[s]);
        return g;
    }

    /**
     * Each token's loss is its sequence's, -A_i R_i; clipped high are the tokens with A &gt; 0 and d &gt; clipHigh,
     * clipped low those with A &lt; 0 and d &lt; -clipLow, as TRL's experimental GMPOTrainer counts them (verl counts
     * every token outside the range, by the sign of A alone). With rollout weights the loss is weighted as
     * {@link #advantages} weighs it; the clip counts are the unweighted ones, as verl's.
     */
    @Override
    public LossMetrics metricsCorrection(float[] advantage, double[] ratio, float[] logp, float[] oldLogp,
            float[] weight, float[] mask, int[] sequenceOf, float[] rolloutRatio) {
        return metricsCorrection(advantage, ratio, logp, oldLogp, weight, mask, null, sequenceOf, rolloutRatio);
    }

    /** The metrics correction of {@link #entropyMaskedAdvantages}, as the other's of its advantages. */
    public LossMetrics entropyMaskedMetricsCorrection(float[] advantage, double[] ratio, float[] logp,
            float[] oldLogp, float[] weight, float[] mask, float[] kept, int[] sequenceOf) {
        return metricsCorrection(advantage, ratio, logp, oldLogp, weight, mask, Objects.requireNonNull(kept, "kept"),
                sequenceOf, null);
    }

    private LossMetrics metricsCorrection(float[] advantage, double[] ratio, float[] logp, float[] oldLogp,
            float[] weight, float[] mask, float[] kept, int[] sequenceOf, float[] rolloutRatio) {
        SequenceTerms s = sequences(advantage, logp, oldLogp, mask, kept, sequenceOf);
        double[] g = rolloutWeights(rolloutRatio, mask, sequenceOf, s.ratio.length);
        return RatioOneMetrics.correction(
                i -> g[sequenceOf[i]] * (-s.advantage[sequenceOf[i]] * s.ratio[sequenceOf[i]]
                        + kernelAdvantage(s, i, advantage, logp, oldLogp, kept, sequenceOf)),
                i -> advantage[i] < 0 && ImportanceRatios.logRatio(logp[i], oldLogp[i]) < -clipLow,
                i -> advantage[i] > 0 && ImportanceRatios.logRatio(logp[i], oldLogp[i]) > clipHigh,
                ratio, logp, oldLogp, weight, mask);
    }

    /** c_t: the log-ratio clipped on the side the advantage's sign makes pessimistic; 0 where A = 0. */
    private double clippedLogRatio(double d, double advantage) {
        return advantage > 0 ? Math.min(d, clipHigh) : advantage < 0 ? Math.max(d, -clipLow) : 0;
    }

    private double kernelAdvantage(SequenceTerms s, int i, float[] advantage, float[] logp, float[] oldLogp,
            float[] kept, int[] sequenceOf) {
        if (kept != null && kept[i] == 0) return 0;
        double d = ImportanceRatios.logRatio(logp[i], oldLogp[i]);
        boolean inside = advantage[i] > 0 ? d <= clipHigh : advantage[i] < 0 && d >= -clipLow;
        int q = sequenceOf[i];
        return inside ? s.advantage[q] * s.ratio[q] * s.keptScale[q] : 0;
    }
}
