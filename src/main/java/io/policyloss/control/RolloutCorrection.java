package io.policyloss.control;

import io.policyloss.loss.AggregationWeights;
import java.util.Locale;
import java.util.Objects;

/**
 * The importance-sampling correction of rollouts from another engine as TRL's GRPOTrainer applies it
 * ({@code vllm_importance_sampling_correction}, {@code _mode}, {@code _clip_min}, {@code _clip_max}): each counted
 * token's policy-gradient term is multiplied by a ratio f of the trainer's probability of the sampled tokens to the
 * engine's, held constant. oldLogp is the trainer's log-prob of the token under the policy that sampled it (the
 * kernel's old_logp), rolloutLogp the engine's (vLLM's).
 *
 * <ul>
 *   <li>{@link Mode#TOKEN_TRUNCATE}: f = clamp(exp(oldLogp - rolloutLogp), clipMin, clipMax), each token its own
 *       (verl's token-level TIS with clipMin 0);
 *   <li>{@link Mode#TOKEN_MASK}: f = that ratio, or 0 where it is below clipMin or above clipMax;
 *   <li>{@link Mode#SEQUENCE_TRUNCATE} and {@link Mode#SEQUENCE_MASK}: the same of the sequence's ratio,
 *       exp(sum over its counted tokens of oldLogp - rolloutLogp), on each of its tokens. TRL's default is
 *       SEQUENCE_MASK with clipMax 3: a sequence whose product of ratios is above 3 leaves no policy gradient.
 * </ul>
 *
 * <p>TRL multiplies the per-token policy loss by f after entropy masking and before the KL term is added, and the
 * clipped loss is linear in the advantage with its sign kept (SPEC section 3), so the advantage f A gives f times
 * each row's pg term and its gradient, through the same branches, with KL, entropy and the aggregation weights
 * unchanged ({@link #advantages}; {@code RolloutCorrectionTest} checks the kernel does this); not with Entropy-Adv,
 * which shapes the advantage by its size. Through the kernel alone, a row of f = 0 then counts as clipped nowhere,
 * where TRL counts its clips by the sign of A; a {@link PolicyObjective} counts them as TRL does wherever it has the
 * current policy's logp. With a {@link PolicyObjective}, give f itself ({@link #ratios}) to its
 * {@code move} (or to {@code CurrentPolicyLoss}), which weighs the advantages first where that is the trainers' loss
 * (f &gt;= 0 keeps their signs, all that CISPO, SAPO and the masks read of them) and otherwise as they do: VESPO
 * folds f into its sequence weight, as TRL does, verl's Clip-Cov chooses its tokens on the unweighted advantages and
 * weighs its loss after, and verl's GMPO weighs each sequence's loss by the geometric mean of its tokens' f.
 *
 * @param mode which ratio, and whether out-of-range ratios are truncated or masked
 * @param clipMin the lower bound: 0 for none (TRL's null), finite, in [0, clipMax]
 * @param clipMax the upper bound (TRL: 3), &gt; 0 and at most Float.MAX_VALUE, as f is a float (for TRL's null, no
 *     bound, take Float.MAX_VALUE: a ratio above it is infinite in TRL's float32 too)
 */
public record RolloutCorrection(Mode mode, double clipMin, double clipMax) {
    /** TRL's {@code vllm_importance_sampling_mode}. */
    public enum Mode {
        TOKEN_TRUNCATE, TOKEN_MASK, SEQUENCE_TRUNCATE, SEQUENCE_MASK;

        /** TRL's name, e.g. {@code sequence_mask}. */
        public String trlName() {
            return name().toLowerCase(Locale.ROOT);
        }

        boolean perSequence() {
            return this == SEQUENCE_TRUNCATE || this == SEQUENCE_MASK;
        }

        boolean masks() {
            return this == TOKEN_MASK || this == SEQUENCE_MASK;
        }
    }

    public RolloutCorrection {
        Objects.requireNonNull(mode, "mode");
        if (!(clipMax > 0 && clipMax <= Float.MAX_VALUE))
            throw new IllegalArgumentException("clipMax: must be > 0 and at most Float.MAX_VALUE, got " + clipMax);
        if (!(clipMin >= 0 && clipMin <= clipMax))
            throw new IllegalArgumentException("clipMin: must be in [0, clipMax = " + clipMax + "], got " + clipMin);
    }

    /** TRL's defaults: {@code sequence_mask}, clip_max 3, no clip_min. */
    public static RolloutCorrection defaults() {
        return new RolloutCorrection(Mode.SEQUENCE_MASK, 0, 3);
    }

    /**
     * f of each row: its token's, or its sequence's, corrected ratio; 1 on padding rows (mask 0), which are not read.
     * Rows, mask and sequenceOf as in {@link AggregationWeights}; sequenceOf is read by the sequence modes alone (null
     * is fine otherwise). A sequence's ratio is of the double sum of its log-ratios, as TRL's of its float sum. A
     * rolloutLogp of NaN on a counted row is a token the engine did not score: its log-ratio is 0 (TRL's
     * {@code nan_to_num}), so its token's ratio is 1 and it leaves its sequence's as the others make it; infinities are
     * refused.
     */
    public float[] ratios(float[] oldLogp, float[] rolloutLogp, float[] mask, int[] sequenceOf) {
        double[] logRatio = logRatios(oldLogp, rolloutLogp, mask, sequenceOf);
        float[] f = new float[mask.length];
        for (int i = 0; i < mask.length; ++i)
            f[i] = mask[i] == 0 ? 1 : (float) corrected(Math.exp(logRatio[unit(i, sequenceOf)]));
        return f;
    }

    /** Each counted row's advantage times its {@link #ratios f}; padding rows as given. */
    public float[] advantages(float[] advantage, float[] oldLogp, float[] rolloutLogp, float[] mask,
            int[] sequenceOf) {
        float[] f = ratios(oldLogp, rolloutLogp, mask, sequenceOf);
        RowArrays.finiteWhereCounted(mask, new String[] {"advantage"}, advantage);
        return weighted(advantage, f, mask);
    }

    /** Each counted row's advantage times its f; padding rows as they came (PolicyObjective's moving too). */
    static float[] weighted(float[] advantage, float[] f, float[] mask) {
        RowArrays.sameLength(advantage, "advantage", mask.length, "mask");
        float[] out = advantage.clone();
        for (int i = 0; i < mask.length; ++i) if (mask[i] != 0) out[i] = (float) ((double) advantage[i] * f[i]);
        return out;
    }

    /**
     * verl's {@code rollout_is_batch_normalize}: f divided by its batch mean, so that the weights average 1; the mean
     * over the counted tokens in the token modes, over the sequences with a counted token in the sequence modes (each
     * sequence's f once). Where that mean is at most 1e-8 (every weight masked), f as it came, as verl leaves it.
     * This is one batch's mean; over data-parallel ranks or micro-batches, add each one's {@link #weightSums} and
     * divide by their total with {@link #normalizedBy}.
     *
     * @param f {@link #ratios} of this correction, finite and &gt;= 0 on the counted rows
     */
    public float[] normalizedToMeanOne(float[] f, float[] mask, int[] sequenceOf) {
        return normalizedBy(f, mask, weightSums(f, mask, sequenceOf));
    }

    /**
     * The sum and the count of the weights whose mean {@link #normalizedToMeanOne} divides by: sums of parts of a
     * batch (ranks, micro-batches) add up to the whole's, with {@link WeightSums#plus}, as long as no sequence is
     * split between parts in the sequence modes.
     */
    public record WeightSums(double sum, double count) {
        public static final WeightSums ZERO = new WeightSums(0, 0);

        public WeightSums plus(WeightSums o) {
            return new WeightSums(sum + o.sum, count + o.count);
        }

        /** The weights' mean; 0 for none. */
        public double mean() {
            return count == 0 ? 0 : sum / count;
        }
    }

    /** This batch's {@link WeightSums}: of f on its counted tokens, or once a sequence in the sequence modes. */
    public WeightSums weightSums(float[] f, float[] mask, int[] sequenceOf) {
        if (!mode.perSequence()) RowArrays.mask(mask);
        boolean[] counted = new boolean[mode.perSequence()
                ? (int) AggregationWeights.Totals.of(mask, sequenceOf).sequences() : 0];
        RowArrays.sameLength(f, "f", mask.length, "mask");
        double sum = 0;
        int count = 0;
        for (int i = 0; i < mask.length; ++i) {
            if (mask[i] == 0) continue;
            RowArrays.finiteNonNegative(f[i], "f", i);
            if (mode.perSequence()) {
                if (counted[sequenceOf[i]]) continue;
                counted[sequenceOf[i]] = true;
            }
            sum += f[i];
            ++count;
        }
        return new WeightSums(sum, count);
    }

    /**
     * f over the mean of {@code total} (the {@link #weightSums} of every part of the batch, added) on the counted
     * rows; f as it came where that mean is at most 1e-8, as verl leaves it.
     */
    public float[] normalizedBy(float[] f, float[] mask, WeightSums total) {
        Objects.requireNonNull(total, "total");
        RowArrays.mask(mask);
        RowArrays.sameLength(f, "f", mask.length, "mask");
        double mean = total.mean();
        float[] out = f.clone();
        if (!(mean > 1e-8)) return out;
        for (int i = 0; i < mask.length; ++i) if (mask[i] != 0) out[i] = (float) (f[i] / mean);
        return out;
    }

    /**
     * What TRL logs of the correction, for one batch (TRL averages the means over ranks and takes the extremes of
     * the extremes).
     *
     * @param logpDifferenceMean {@code sampling/sampling_logp_difference/mean}: the mean over counted tokens of
     *     |oldLogp - rolloutLogp|, those of a NaN rolloutLogp left out, as TRL leaves them
     * @param logpDifferenceMax {@code .../max}: their largest
     * @param ratioMin {@code sampling/importance_sampling_ratio/min}: the smallest f, over the counted tokens in the
     *     token modes and over every sequence (one without counted tokens has ratio 1) in the sequence modes
     * @param ratioMean {@code .../mean}: their mean
     * @param ratioMax {@code .../max}: their largest
     * @param correctedFraction the fraction of those tokens or sequences whose ratio was outside [clipMin, clipMax],
     *     so truncated or masked (verl's {@code rollout_is_ratio_fraction_high} plus {@code _low}; not TRL's)
     */
    public record Metrics(double logpDifferenceMean, double logpDifferenceMax, double ratioMin, double ratioMean,
            double ratioMax, double correctedFraction) {}

    /**
     * The batch's {@link Metrics}, as TRL logs them: the logp differences 0 where no token with a rollout log-prob is
     * counted, the ratios 0 where there is no token or sequence to take them over.
     */
    public Metrics metrics(float[] oldLogp, float[] rolloutLogp, float[] mask, int[] sequenceOf) {
        double[] logRatio = logRatios(oldLogp, rolloutLogp, mask, sequenceOf);
        double differenceSum = 0, differenceMax = 0;
        int tokens = 0;
        for (int i = 0; i < mask.length; ++i) {
            if (mask[i] == 0 || Float.isNaN(rolloutLogp[i])) continue;
            double difference = Math.abs((double) oldLogp[i] - rolloutLogp[i]);
            differenceSum += difference;
            differenceMax = Math.max(differenceMax, difference);
            ++tokens;
        }
        double min = Double.POSITIVE_INFINITY, max = 0, sum = 0;
        int units = 0, corrected = 0;
        for (int u = 0; u < logRatio.length; ++u) {
            if (!mode.perSequence() && mask[u] == 0) continue;
            double raw = Math.exp(logRatio[u]), f = (float) corrected(raw);
            min = Math.min(min, f);
            max = Math.max(max, f);
            sum += f;
            ++units;
            corrected += raw < clipMin || raw > clipMax ? 1 : 0;
        }
        if (units == 0) return new Metrics(0, 0, 0, 0, 0, 0);
        return new Metrics(tokens == 0 ? 0 : differenceSum / tokens, differenceMax, min, sum / units, max,
                (double) corrected / units);
    }

    /** The ratio after truncation or masking. */
    private double corrected(double ratio) {
        if (mode.masks()) return ratio < clipMin || ratio > clipMax ? 0 : ratio;
        return Math.min(Math.max(ratio, clipMin), clipMax);
    }

    /**
     * oldLogp - rolloutLogp of each row (0 on padding, and where rolloutLogp is NaN), or its sum over each sequence's
     * counted rows.
     */
    private double[] logRatios(float[] oldLogp, float[] rolloutLogp, float[] mask, int[] sequenceOf) {
        int sequences = mode.perSequence() ? (int) AggregationWeights.Totals.of(mask, sequenceOf).sequences() : 0;
        if (!mode.perSequence()) RowArrays.mask(mask);
        RowArrays.finiteWhereCounted(mask, new String[] {"oldLogp"}, oldLogp);
        RowArrays.sameLength(rolloutLogp, "rolloutLogp", mask.length, "mask");
        double[] logRatio = new double[mode.perSequence() ? sequences : mask.length];
        for (int i = 0; i < mask.length; ++i) {
            if (mask[i] == 0 || Float.isNaN(rolloutLogp[i])) continue;
            if (Float.isInfinite(rolloutLogp[i]))
                throw new IllegalArgumentException("rolloutLogp: row " + i + ": must be finite, or NaN where the "
                        + "engine gave none, got " + rolloutLogp[i]);
            logRatio[unit(i, sequenceOf)] += (double) oldLogp[i] - rolloutLogp[i];
        }
        return logRatio;
    }

    /** The index of row i's ratio: its own, or its sequence's. */
    private int unit(int i, int[] sequenceOf) {
        return mode.perSequence() ? sequenceOf[i] : i;
    }
}
