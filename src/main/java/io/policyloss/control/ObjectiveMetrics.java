package io.policyloss.control;

import java.util.Objects;

/**
 * What a {@link PolicyObjective} counts that the kernel's metrics do not, as sums that micro-batches and ranks add by
 * {@link #plus}: a sequence ratio's clips over sequences ({@link SequenceClips}: TRL's {@code clip_ratio/low_mean},
 * {@code high_mean} and {@code region_mean} at {@code importance_sampling_level="sequence"}, where the kernel counts the
 * tokens that carry the ratio), and Clip-Cov's chosen tokens (verl's {@code pg_clipfrac} under {@code clip_cov}, in
 * place of PPO's clips, which the kernel's metrics keep).
 *
 * @param sequenceClips the sequence ratio's clip counts ({@link SequenceClips#ZERO} without sequenceRatio)
 * @param clipCovChosen the tokens Clip-Cov took out
 * @param clipCovCounted the counted tokens it chose among (0 without Clip-Cov)
 */
public record ObjectiveMetrics(SequenceClips sequenceClips, double clipCovChosen, double clipCovCounted) {
    public static final ObjectiveMetrics ZERO = new ObjectiveMetrics(SequenceClips.ZERO, 0, 0);

    public ObjectiveMetrics {
        Objects.requireNonNull(sequenceClips, "sequenceClips");
    }

    /** Clip-Cov's counts of one choice. */
    static ObjectiveMetrics of(ClipCov.Choice choice) {
        return new ObjectiveMetrics(SequenceClips.ZERO, choice.tokens().length, choice.counted());
    }

    /**
     * verl's {@code pg_clipfrac} under Clip-Cov: the chosen tokens' share of the counted ones, over every call added
     * (verl averages each micro-batch's share); 0 for none.
     */
    public double clipCovFraction() {
        return clipCovCounted == 0 ? 0 : clipCovChosen / clipCovCounted;
    }

    public ObjectiveMetrics plus(ObjectiveMetrics o) {
        return new ObjectiveMetrics(sequenceClips.plus(o.sequenceClips), clipCovChosen + o.clipCovChosen,
                clipCovCounted + o.clipCovCounted);
    }
}
