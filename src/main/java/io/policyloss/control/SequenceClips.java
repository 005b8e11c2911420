package io.policyloss.control;

import io.policyloss.loss.AggregationWeights;
import io.policyloss.loss.LossConfig;
import java.util.Arrays;
import java.util.Objects;

/**
 * GSPO's clip counts as TRL logs them at {@code importance_sampling_level="sequence"}: its {@code
 * clip_ratio/low_mean}, {@code high_mean} and {@code region_mean} (and {@code cispo_clip_ratio}) count sequences, one
 * value of the sequence ratio s each, where the kernel's metrics and the metrics corrections count the tokens that
 * carry s (verl's {@code pg_clipfrac} under {@code gspo}, and TRL's at {@code "sequence_token"}). A long sequence
 * weighs as much as a short one here.
 *
 * <p>A sequence is clipped low where its advantage is below 0 and s &lt; 1 - eps_low, high where its advantage is above
 * 0 and s &gt; 1 + eps_high (TRL's rule for PPO's clip, its loss types {@code grpo} to {@code luspo}, with no count for
 * the dual clip), compared in float as TRL's float32 tensors and the kernel's flags are. s = exp of {@link
 * SequenceImportanceRatio#sequenceLogRatios}. Every sequence of the batch is in the denominator, one with no counted
 * token too (its s is 1, as TRL's clamp of its length to 1 gives). The counts are sums, so that micro-batches and ranks
 * combine by {@link #plus}, as TRL reduces the sum and the count across ranks, as long as no sequence is split between
 * parts.
 *
 * @param low the sequences clipped low
 * @param high the sequences clipped high
 * @param sequences the sequences counted
 */
public record SequenceClips(double low, double high, double sequences) {
    public static final SequenceClips ZERO = new SequenceClips(0, 0, 0);

    /**
     * This batch's counts under PPO's clip. Rows, mask and sequenceOf as in {@link AggregationWeights}; the advantage
     * is the one the sequence came with (TRL counts the clips of masked sequences and of those a rollout weight of 0
     * took, by their advantage), one value over each sequence's counted rows; logp from a first kernel call on the
     * same logits.
     *
     * @param config the loss's clip range: epsLow and epsHigh
     */
    public static SequenceClips of(float[] logp, float[] oldLogp, float[] advantage, float[] mask, int[] sequenceOf,
            LossConfig config) {
        Objects.requireNonNull(config, "config");
        double[] ratio = sequenceRatios(logp, oldLogp, mask, sequenceOf);
        return count(ZeroedRowClips.ppo(config, ratio), advantage, mask, sequenceOf, ratio.length);
    }

    /**
     * This batch's counts under CISPO's or SAPO's weight of the sequence ratio, by its own {@code clippedLow} and
     * {@code clippedHigh}: TRL's {@code cispo_clip_ratio} at the sequence level is {@link #highFraction} of {@code
     * new Cispo(0, epsilon_high)}; SAPO clips nothing. Arguments as {@link #of(float[], float[], float[], float[],
     * int[], LossConfig)}'s.
     */
    public static SequenceClips of(float[] logp, float[] oldLogp, float[] advantage, float[] mask, int[] sequenceOf,
            ReweightedPolicyGradient surrogate) {
        Objects.requireNonNull(surrogate, "surrogate");
        double[] ratio = sequenceRatios(logp, oldLogp, mask, sequenceOf);
        return count(ZeroedRowClips.reweighted(surrogate, ratio), advantage, mask, sequenceOf, ratio.length);
    }

    /** Each sequence's ratio s, exp of its mean log-ratio (unclamped, as TRL's coef_1). */
    private static double[] sequenceRatios(float[] logp, float[] oldLogp, float[] mask, int[] sequenceOf) {
        double[] ratio = SequenceImportanceRatio.sequenceLogRatios(logp, oldLogp, mask, sequenceOf);
        for (int s = 0; s < ratio.length; ++s) ratio[s] = Math.exp(ratio[s]);  // in place: the log-ratios' array
        return ratio;
    }

    /** The sequences {@code rule} counts clipped low and high (its dual clip, TRL counts none), indexed by sequence. */
    private static SequenceClips count(ZeroedRowClips.Rule rule, float[] advantage, float[] mask, int[] sequenceOf,
            int sequences) {
        float[] sequenceAdvantage = sequenceAdvantages(advantage, mask, sequenceOf, sequences);
        double low = 0, high = 0;
        for (int s = 0; s < sequences; ++s) {
            ZeroedRowClips.RowClips clips = rule.at(s, sequenceAdvantage[s]);
            if (clips.low()) low += 1;
            if (clips.high()) high += 1;
        }
        return new SequenceClips(low, high, sequences);
    }

    /** TRL's {@code clip_ratio/low_mean}: the share of sequences clipped low; 0 for none. */
    public double lowFraction() {
        return share(low);
    }

    /** TRL's {@code clip_ratio/high_mean}. */
    public double highFraction() {
        return share(high);
    }

    /** TRL's {@code clip_ratio/region_mean}: clipped on either side (never both: the sides take opposite signs). */
    public double regionFraction() {
        return share(low + high);
    }

    public SequenceClips plus(SequenceClips o) {
        return new SequenceClips(low + o.low, high + o.high, sequences + o.sequences);
    }

    private double share(double count) {
        return sequences == 0 ? 0 : count / sequences;
    }

    /**
     * Whether each sequence's counted rows carry one advantage, as TRL's sequence-level loss has them, so that these
     * counts apply: token-level advantages (a process reward's, say) may clip one sequence's tokens on both sides.
     */
    static boolean oneAdvantageEach(float[] advantage, float[] mask, int[] sequenceOf) {
        int sequences = (int) AggregationWeights.Totals.of(mask, sequenceOf).sequences();
        return firstDisagreeing(advantage, mask, sequenceOf, new int[sequences]) < 0;
    }

    /** Each sequence's advantage, read from its counted rows, which must agree; 0 for a sequence with none. */
    private static float[] sequenceAdvantages(float[] advantage, float[] mask, int[] sequenceOf, int sequences) {
        RowArrays.finiteWhereCounted(mask, new String[] {"advantage"}, advantage);
        int[] firstRow = new int[sequences];
        int i = firstDisagreeing(advantage, mask, sequenceOf, firstRow);
        if (i >= 0) {
            int s = sequenceOf[i];
            throw new IllegalArgumentException("advantage: row " + i + ": " + advantage[i] + " where row "
                    + firstRow[s] + " of the same sequence " + s + " has " + advantage[firstRow[s]]
                    + "; the sequence-level clip counts read one advantage a sequence");
        }
        float[] out = new float[sequences];
        for (int s = 0; s < sequences; ++s) out[s] = firstRow[s] < 0 ? 0 : advantage[firstRow[s]];
        return out;
    }

    /**
     * The first counted row whose advantage differs from its sequence's first counted row's, or -1; {@code firstRow}
     * (a value per sequence) gets each sequence's first counted row as far as it read, -1 for none.
     */
    private static int firstDisagreeing(float[] advantage, float[] mask, int[] sequenceOf, int[] firstRow) {
        Arrays.fill(firstRow, -1);
        for (int i = 0; i < mask.length; ++i) {
            if (mask[i] == 0) continue;
            int s = sequenceOf[i];
            if (firstRow[s] < 0) firstRow[s] = i;
            else if (advantage[i] != advantage[firstRow[s]]) return i;
        }
        return -1;
    }
}
