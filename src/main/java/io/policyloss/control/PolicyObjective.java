package io.policyloss.control;

import io.policyloss.loss.LossConfig;
import io.policyloss.loss.LossMetrics;
import java.util.Objects;
import java.util.random.RandomGenerator;

/**
 * Which policy loss the rows of a call carry, as TRL's {@code loss_type}, {@code importance_sampling_level},
 * {@code top_entropy_quantile} and {@code off_policy_mask_threshold} or verl's {@code policy_loss.loss_mode} choose
 * it: PPO's clipped loss (all fields off), GSPO's sequence ratio, entropy masking, off-policy sequence masking, and
 * a {@link Surrogate} in place of PPO's clip (Clip-Cov, CISPO, SAPO, KL-Cov, GMPO, VESPO or DPPO). Each but the first
 * needs the current policy's logp or entropy before any token's loss: a first kernel call without a gradient on the
 * same logits gives them, and {@link #move} turns the rows into those of the second call.
 *
 * @param sequenceRatio GSPO: each sequence's tokens take its sequence-level ratio ({@link SequenceImportanceRatio});
 *     with CISPO or SAPO, their weight is of that ratio (TRL's sequence level)
 * @param topEntropyQuantile entropy masking ({@link HighEntropyTokens}; with GMPO, TRL's GMPOTrainer's, which leaves
 *     the masked tokens out of each sequence's geometric mean: {@link Gmpo#entropyMaskedAdvantages}), or null
 * @param surrogate what replaces PPO's clipped loss, or null for PPO's own
 * @param offPolicyMaskThreshold off-policy sequence masking ({@link OffPolicySequenceMask}): the largest mean of
 *     oldLogp - logp a sequence of negative advantage may have and keep its policy gradient; or null
 */
public record PolicyObjective(boolean sequenceRatio, Double topEntropyQuantile, Surrogate surrogate,
        Double offPolicyMaskThreshold) {
    /** PPO's clipped loss on each token's own ratio: nothing to move. */
    public static final PolicyObjective CLIPPED = new PolicyObjective(false, null, null, null);

    public PolicyObjective {
        if (topEntropyQuantile != null && !(topEntropyQuantile >= 0 && topEntropyQuantile <= 1))
            throw new IllegalArgumentException("topEntropyQuantile: must be in [0, 1] or null, got "
                    + topEntropyQuantile);
        if (sequenceRatio && topEntropyQuantile != null)
            throw new IllegalArgumentException("topEntropyQuantile: entropy masking with sequenceRatio is not TRL's "
                    + "loss (HighEntropyTokens says why); choose one");
        if (sequenceRatio && surrogate instanceof KlCov)
            throw new IllegalArgumentException("sequenceRatio: KL-Cov is verl's token-level loss; choose one");
        if (sequenceRatio && surrogate instanceof Dppo)
            throw new IllegalArgumentException("sequenceRatio: DPPO's trust region is on each token's probability; "
                    + "choose one");
        if (sequenceRatio && surrogate instanceof Gmpo)
            throw new IllegalArgumentException("sequenceRatio: GMPO has its own sequence-level ratio, the geometric "
                    + "mean of its tokens' clipped ratios; choose one");
        if (sequenceRatio && surrogate instanceof Vespo)
            throw new IllegalArgumentException("sequenceRatio: VESPO has its own sequence-level ratio, the product "
                    + "of its tokens' (TRL asks for importance_sampling_level=\"token\"); choose one");
        if (offPolicyMaskThreshold != null && offPolicyMaskThreshold.isNaN())
            throw new IllegalArgumentException("offPolicyMaskThreshold: must not be NaN");
        // No trainer's loss combines KL-Cov or DPPO with either mask, nor GMPO with off-policy masking (TRL's
        // GMPOTrainer takes entropy masking, its own way: move).
        boolean unmasked = surrogate instanceof KlCov || surrogate instanceof Dppo;
        if (unmasked && topEntropyQuantile != null)
            throw new IllegalArgumentException("topEntropyQuantile: entropy masking with " + surrogate.paperName()
                    + " is neither verl's nor TRL's loss; choose one");
        if ((unmasked || surrogate instanceof Gmpo) && offPolicyMaskThreshold != null)
            throw new IllegalArgumentException("offPolicyMaskThreshold: off-policy sequence masking with "
                    + surrogate.paperName() + " is neither verl's nor TRL's loss; choose one");
    }

    // Copies with one field set, e.g. CLIPPED.with(Cispo.defaults()).withOffPolicyMaskThreshold(0.5): two of the
    // constructor's arguments are Doubles, easy to swap. Each is checked as the constructor checks it.

    public PolicyObjective withSequenceRatio(boolean on) {
        return new PolicyObjective(on, topEntropyQuantile, surrogate, offPolicyMaskThreshold);
    }

    /** Entropy masking at rho (null: off). */
    public PolicyObjective withTopEntropyQuantile(Double rho) {
        return new PolicyObjective(sequenceRatio, rho, surrogate, offPolicyMaskThreshold);
    }

    /** Off-policy sequence masking at the threshold (null: off). */
    public PolicyObjective withOffPolicyMaskThreshold(Double threshold) {
        return new PolicyObjective(sequenceRatio, topEntropyQuantile, surrogate, threshold);
    }

    /** This surrogate in place of the one set, if any (null: PPO's clipped loss). */
    public PolicyObjective with(Surrogate s) {
        return new PolicyObjective(sequenceRatio, topEntropyQuantile, s, offPolicyMaskThreshold);
    }

    /** Whether the rows need a first call's logp or entropy ({@link #move}); not for PPO's clipped loss alone. */
    public boolean needsCurrentPolicy() {
        return !equals(CLIPPED);
    }

    /**
     * Whether {@link #move} reads each row alone: CISPO, SAPO or DPPO on each token's own ratio, and nothing that
     * takes a sequence's or the batch's rows (a sequence ratio, entropy masking, Clip-Cov, off-policy masking). Then
     * moving any split of the rows piece by piece gives the rows that moving them all gives, so a caller may move each
     * chunk of logits as it makes it (CurrentPolicyLoss behind a linear head, one matmul for both calls).
     */
    public boolean movesEachRowAlone() {
        return (surrogate instanceof ReweightedPolicyGradient || surrogate instanceof Dppo) && !sequenceRatio
                && topEntropyQuantile == null && offPolicyMaskThreshold == null;
    }

    /**
     * Refuses a loss configuration this objective cannot ride on: CISPO, SAPO, KL-Cov, GMPO, VESPO and DPPO put their
     * gradient into the advantage at ratio 1, where Entropy-Adv would shape it by its size
     * ({@link ReweightedPolicyGradient}), and so does GSPO under TRL's KL weighted by the ratio
     * ({@link LossConfig#klBiasCorrection}), whose gradient through the sequence's ratio reaches every token of the
     * sequence ({@link PpoClipAtRatioOne}). The objectives at ratio 1 take the weighted KL through their advantages,
     * from the reference log-probs given to {@link #move(LossConfig, float[], float[], float[], float[], float[],
     * float[], float[], int[], RandomGenerator, float[])}.
     */
    public void check(LossConfig config) {
        String atRatioOne = surrogate != null && surrogate.atRatioOne() ? surrogate.paperName()
                : gspoAtRatioOne(config) ? "GSPO under loss.klBiasCorrection" : null;
        if (atRatioOne != null && config.entropyAdvBeta() > 0)
            throw new IllegalArgumentException("loss.entropyAdvBeta: Entropy-Adv shapes the advantage by its size, "
                    + "and " + atRatioOne + " rides on the advantage (ReweightedPolicyGradient says why); choose one");
    }

    /**
     * GSPO (PPO's clip on the sequence ratio) with the KL weighted by that ratio: the kernel's GSPO-token rows would
     * clip the term's gradient away with the pg term's, so these rows go to ratio 1 too.
     */
    private boolean gspoAtRatioOne(LossConfig config) {
        return sequenceRatio && surrogate == null && config.klBiasCorrection() && config.klCoef() != 0;
    }

    /**
     * The rows of which {@link #move} reads logp when the objective needs no first call ({@link #needsCurrentPolicy}
     * false) but has rollout weights: those whose advantage f turns to 0, whose clips it counts by their ratio. A
     * caller may evaluate these rows alone and give logp as any finite value elsewhere. Empty without rollout weights,
     * and where the objective needs a first call (move then reads every counted row's logp).
     */
    public int[] rowsZeroedByRolloutRatio(float[] advantage, float[] mask, float[] rolloutRatio) {
        RowArrays.mask(mask);
        RowArrays.sameLength(advantage, "advantage", mask.length, "mask");
        if (rolloutRatio == null || needsCurrentPolicy()) return new int[0];
        RowArrays.sameLength(rolloutRatio, "rolloutRatio", mask.length, "mask");
        return ZeroedRowClips.rows(advantage, RolloutCorrection.weighted(advantage, rolloutRatio, mask), mask);
    }

    /**
     * The second call's old_logp and advantage for the moved rows, what its metrics miss (ZERO if nothing), and what
     * the objective counts beyond them (ZERO if nothing).
     */
    public record Moved(float[] oldLogp, float[] advantage, LossMetrics metricsCorrection,
            ObjectiveMetrics objectiveMetrics) {}

    /**
     * The rows of the second call: Clip-Cov's choice first (its covariance is of the advantages as they came), then
     * off-policy sequence masking and entropy masking, then CISPO's, SAPO's, KL-Cov's, GMPO's, VESPO's or DPPO's rows
     * at ratio 1 (GSPO's too under the KL weighted by the ratio), or else GSPO's old log-probs. Every array has a row
     * per token of the rows moved; logp and entropy are the first call's. A row whose advantage a mask (or a rollout
     * weight of 0) zeroed is counted as clipped by the advantage it came with, as TRL and verl count it, where the
     * kernel would count it by the sign of 0: the metrics correction moves its count, by the loss's own rule on its
     * ratio. That needs logp: where PPO's clipped loss with rollout weights alone is given none, its rows of f = 0 stay
     * counted nowhere.
     *
     * @param config the loss's configuration (Clip-Cov reads its clip range; checked by {@link #check})
     * @param sequenceOf each row's sequence; read with sequenceRatio, GMPO, VESPO or offPolicyMaskThreshold alone
     *     (null otherwise is fine)
     * @param random Clip-Cov's choice; read with Clip-Cov alone
     */
    public Moved move(LossConfig config, float[] logp, float[] entropy, float[] oldLogp, float[] advantage,
            float[] weight, float[] mask, int[] sequenceOf, RandomGenerator random) {
        return move(config, logp, entropy, oldLogp, advantage, weight, mask, sequenceOf, random, null);
    }

    /**
     * As {@link #move(LossConfig, float[], float[], float[], float[], float[], float[], int[], RandomGenerator)}, for
     * rollouts from another engine with TRL's or verl's importance weight f of each row ({@link RolloutCorrection}):
     * each pg term is multiplied by f, as TRL and verl multiply their per-token policy losses. VESPO folds f into its
     * sequence weight instead, as TRL does, and GMPO weighs each sequence's loss by the geometric mean of its f, as
     * verl's {@code geo_mean} does ({@link Gmpo#advantages(float[], float[], float[], float[], int[], float[])}). The
     * advantages are weighted first, so the metrics correction's loss is the weighted one TRL logs (f &gt;= 0 keeps
     * their signs where it is not 0, and where it is the token's pg term is 0 whatever off-policy masking, CISPO, SAPO
     * and DPPO read of them, and its clips are counted by A as the masks' rows are), except Clip-Cov's: verl chooses
     * its tokens by the covariance of the advantages as they came and weighs the loss after, so its advantages are
     * weighted after the choice. Not with KL-Cov, whose metrics correction would miss the weights.
     *
     * @param rolloutRatio f per row ({@link RolloutCorrection#ratios}), finite and &gt;= 0 on the counted rows; null
     *     for none. With it, PPO's clipped loss ({@link #needsCurrentPolicy} false) needs neither logp nor entropy,
     *     which may then be null; logp, where given, counts the clips of its rows of f = 0, and is read on those
     *     alone ({@link #rowsZeroedByRolloutRatio}).
     */
    public Moved move(LossConfig config, float[] logp, float[] entropy, float[] oldLogp, float[] advantage,
            float[] weight, float[] mask, int[] sequenceOf, RandomGenerator random, float[] rolloutRatio) {
        return move(config, logp, entropy, oldLogp, null, advantage, weight, mask, sequenceOf, random, rolloutRatio);
    }

    /**
     * As {@link #move(LossConfig, float[], float[], float[], float[], float[], float[], int[], RandomGenerator,
     * float[])}, with the reference log-probs of the kernel's KL term. With {@link LossConfig#klBiasCorrection}, TRL's
     * KL term weighted by the ratio (the token's own, or with sequenceRatio its sequence's, through which its gradient
     * reaches every token of the sequence), the objectives the kernel runs at ratio 1, GSPO then among them, need
     * them: the kernel weights the term by its own ratio there, 1, and the advantages carry the rest of its gradient,
     * the metrics correction the rest of its value (RatioOneKlBiasCorrection), after the masks and rollout weights, as
     * TRL adds the term after them. With sequenceRatio, every counted row needs a weight above 0.
     *
     * @param refLogp each row's reference log-prob, as the kernel's call takes it; read with klBiasCorrection and a
     *     klCoef at ratio 1 alone (null: no KL term, which the kernel refuses with a klCoef)
     */
    public Moved move(LossConfig config, float[] logp, float[] entropy, float[] oldLogp, float[] refLogp,
            float[] advantage, float[] weight, float[] mask, int[] sequenceOf, RandomGenerator random,
            float[] rolloutRatio) {
        return move(config, logp, entropy, oldLogp, refLogp, advantage, weight, mask, sequenceOf, random, rolloutRatio,
                HighEntropyTokens.OWN_ROWS);
    }

    /**
     * As {@link #move(LossConfig, float[], float[], float[], float[], float[], float[], float[], int[],
     * RandomGenerator, float[])}, with entropy masking's threshold taken by {@code entropyThreshold}: over every
     * data-parallel rank's counted tokens ({@code Ranks::entropyThreshold}), as TRL's is, where the other overloads
     * take it over these rows alone ({@link HighEntropyTokens#OWN_ROWS}). It is called once a move, with
     * topEntropyQuantile alone (a gather is a collective: every rank moves with the same objective). The objective's
     * other steps stay on these rows: they are each sequence's, or (Clip-Cov's and KL-Cov's choices) each rank's own
     * in verl too.
     */
    public Moved move(LossConfig config, float[] logp, float[] entropy, float[] oldLogp, float[] refLogp,
            float[] advantage, float[] weight, float[] mask, int[] sequenceOf, RandomGenerator random,
            float[] rolloutRatio, HighEntropyTokens.Threshold entropyThreshold) {
        Objects.requireNonNull(entropyThreshold, "entropyThreshold");
        check(config);
        boolean atRatioOne = surrogate != null && surrogate.atRatioOne() || gspoAtRatioOne(config);
        boolean weightedKlAtRatioOne = atRatioOne && config.klBiasCorrection() && config.klCoef() != 0;
        if (weightedKlAtRatioOne && refLogp == null)
            throw new IllegalArgumentException("refLogp: null, but loss.klBiasCorrection weights the KL term by the "
                    + "ratio, which " + (surrogate == null ? "GSPO" : surrogate.paperName()) + " runs the kernel "
                    + "without (at ratio 1): pass the reference log-probs the kernel's call takes");
        if (rolloutRatio != null) {
            if (surrogate instanceof KlCov)
                throw new IllegalArgumentException("rolloutRatio: not with KL-Cov, whose metrics correction would "
                        + "miss the weights; weigh its advantages outside");
            if (surrogate instanceof Gmpo && topEntropyQuantile != null)
                throw new IllegalArgumentException("rolloutRatio: not with GMPO under entropy masking, TRL's "
                        + "GMPOTrainer's loss, which takes no rollout weights (verl's geo_mean takes them, unmasked)");
            RowArrays.mask(mask);
            RowArrays.sameLength(rolloutRatio, "rolloutRatio", mask.length, "mask");
            for (int i = 0; i < mask.length; ++i)
                if (mask[i] != 0) RowArrays.finiteNonNegative(rolloutRatio[i], "rolloutRatio", i);
        }
        float[] a = advantage, old = oldLogp;
        LossMetrics correction = LossMetrics.ZERO;
        // GMPO and VESPO apply f their own way.
        var sequenceWeighted = surrogate instanceof SequenceWeightedPolicyGradient s ? s : null;
        // Clip-Cov's chosen tokens are its own; a row that f or a mask zeroes after them is counted as clipped by the
        // advantage it had before, as TRL and verl count it (ZeroedRowClips).
        ObjectiveMetrics counts = ObjectiveMetrics.ZERO;
        if (surrogate instanceof ClipCov clipCov) {
            ClipCov.Choice choice = clipCov.choose(config, a, logp, old, mask, random);
            a = choice.advantages();
            counts = ObjectiveMetrics.of(choice);
        }
        float[] unmasked = a;
        if (rolloutRatio != null && sequenceWeighted == null) a = RolloutCorrection.weighted(a, rolloutRatio, mask);
        if (offPolicyMaskThreshold != null)
            a = OffPolicySequenceMask.advantages(a, logp, old, mask, Objects.requireNonNull(sequenceOf, "sequenceOf"),
                    offPolicyMaskThreshold);
        // TRL's entropy mask as zeroed advantages; GMPO's leaves the masked tokens out of its geometric mean instead.
        float[] kept = null;
        if (topEntropyQuantile != null) {
            double threshold = entropyThreshold.of(entropy, mask, topEntropyQuantile);
            if (surrogate instanceof Gmpo) kept = HighEntropyTokens.kept(entropy, mask, threshold);
            else a = HighEntropyTokens.advantages(a, entropy, mask, threshold);
        }
        float[] masked = a;
        ZeroedRowClips.Rule clips = null;  // how the loss counts a row's clip; none for one that counts none
        if (atRatioOne) {
            double[] ratio = sequenceRatio ? ImportanceRatios.sequence(logp, old, mask, sequenceOf)
                    : ImportanceRatios.token(logp, old, mask);
            boolean[] clamped = ImportanceRatios.clamped(logp, old, mask, sequenceRatio ? sequenceOf : null);
            if (surrogate == null) {  // GSPO under the weighted KL
                RatioOneMetrics.Rows rows = PpoClipAtRatioOne.of(config, a, ratio, clamped, logp, old, weight, mask);
                correction = rows.correction();
                a = rows.advantage();
                clips = ZeroedRowClips.ppo(config, ratio);
            } else if (surrogate instanceof ReweightedPolicyGradient reweighted) {
                correction = reweighted.metricsCorrection(a, ratio, logp, old, weight, mask);
                a = reweighted.advantages(a, ratio, mask);
                clips = ZeroedRowClips.reweighted(reweighted, ratio);
            } else if (surrogate instanceof Dppo dppo) {
                correction = dppo.metricsCorrection(a, logp, old, weight, mask);
                a = dppo.advantages(a, logp, old, mask);
                clips = (i, adv) -> dppo.clips(logp[i], oldLogp[i], adv);
            } else if (surrogate instanceof KlCov klCov) {
                boolean[] chosen = klCov.chosen(a, logp, mask);
                correction = klCov.metricsCorrection(a, ratio, logp, old, chosen, weight, mask);
                a = klCov.advantages(a, ratio, logp, old, chosen, mask);
            } else if (surrogate instanceof Gmpo gmpo && kept != null) {
                Objects.requireNonNull(sequenceOf, "sequenceOf");
                correction = gmpo.entropyMaskedMetricsCorrection(a, ratio, logp, old, weight, mask, kept, sequenceOf);
                a = gmpo.entropyMaskedAdvantages(a, logp, old, mask, kept, sequenceOf);
            } else {
                Objects.requireNonNull(sequenceOf, "sequenceOf");
                correction = sequenceWeighted.metricsCorrection(a, ratio, logp, old, weight, mask, sequenceOf,
                        rolloutRatio);
                a = sequenceWeighted.advantages(a, logp, old, mask, sequenceOf, rolloutRatio);
            }
            correction = correction.plus(RatioOneMetrics.ratiosClamped(clamped));
            if (weightedKlAtRatioOne) {
                RatioOneMetrics.Rows rows = RatioOneKlBiasCorrection.of(config, a, ratio, clamped, logp, refLogp,
                        weight, mask, sequenceRatio ? sequenceOf : null);
                correction = correction.plus(rows.correction());
                a = rows.advantage();
            }
            old = ImportanceRatios.oldLogpAtRatioOne(logp, old, mask);
        } else {
            if (sequenceRatio) Objects.requireNonNull(sequenceOf, "sequenceOf");
            // PPO's clip, in the kernel; without a first call (f alone) the ratios are not known here.
            if (logp != null) clips = ZeroedRowClips.ppo(config, sequenceRatio
                    ? ImportanceRatios.sequence(logp, old, mask, sequenceOf) : ImportanceRatios.token(logp, old, mask));
            if (sequenceRatio) old = SequenceImportanceRatio.tokenOldLogp(logp, old, mask, sequenceOf);
        }
        if (clips != null) correction = correction.plus(ZeroedRowClips.correction(unmasked, masked, mask, clips));
        // TRL counts each sequence by the one advantage it came with, masked or weighted or not; token-level
        // advantages have none, and the kernel's token counts stand alone.
        if (sequenceRatio && SequenceClips.oneAdvantageEach(advantage, mask, sequenceOf))
            counts = counts.plus(new ObjectiveMetrics(surrogate instanceof ReweightedPolicyGradient reweighted
                    ? SequenceClips.of(logp, oldLogp, advantage, mask, sequenceOf, reweighted)
                    : SequenceClips.of(logp, oldLogp, advantage, mask, sequenceOf, config), 0, 0));
        return new Moved(old, a, correction, counts);
    }
}
