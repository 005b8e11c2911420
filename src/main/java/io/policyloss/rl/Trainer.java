package io.policyloss.rl;

import io.policyloss.control.AdaptiveEntropyBonus;
import io.policyloss.control.AdvantageEstimator;
import io.policyloss.control.AentCoefficient;
import io.policyloss.control.DynamicSampling;
import io.policyloss.control.Gpg;
import io.policyloss.control.KlInReward;
import io.policyloss.control.ObjectiveMetrics;
import io.policyloss.control.OverlongPunishment;
import io.policyloss.control.ReMax;
import io.policyloss.control.ReinforcePlusPlus;
import io.policyloss.loss.AggregationWeights;
import io.policyloss.loss.FusedLoss;
import io.policyloss.loss.LossConfig;
import io.policyloss.loss.LossMetrics;
import io.policyloss.torch.CurrentPolicyLoss;
import io.policyloss.torch.PolicyRows;
import io.policyloss.torch.Ranks;
import io.policyloss.torch.Tensors;
import io.policyloss.torch.TorchFusedLoss;
import io.policyloss.torch.TorchLossResult;
import io.policyloss.torch.TransformerPolicy;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.AdamW;
import org.bytedeco.pytorch.AdamWOptions;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * The RL loop: each step samples G responses per prompt, rewards them, computes group-relative advantages and the
 * old policy's log-probs, then makes {@code miniBatches} optimiser steps on slices of the batch through the fused
 * loss. ReMax's baseline is the reward of each prompt's greedy response, generated after the samples. AEPO adds
 * REINFORCE rows on positive samples drawn at its switched temperature; AEnt adapts the clamped-entropy coefficient
 * after each step. The run's policy objective (GSPO, entropy masking, off-policy sequence masking, Clip-Cov, CISPO,
 * SAPO, KL-Cov, GMPO, VESPO, DPPO) moves each update's GRPO rows after a first pass of the loss over its logits
 * (CurrentPolicyLoss).
 *
 * <p>Over data-parallel ranks ({@link Ranks}), each rank samples the responses of its share of the step's prompts, as
 * verl's and TRL's processes do, and every rank holds the same policy: the aggregation weights take the whole batch's
 * totals, the gradients are summed before the optimiser's step, entropy masking's quantile is over every rank's tokens,
 * and what the controllers read (the entropy, AEPO's switch and GPG's share of groups) and the step's metrics are the
 * whole batch's. Rank 0 draws what one process draws; the others draw their own streams.
 */
public final class Trainer {
    private static final long ROLLOUT = 1, REINFORCE = 2, SHUFFLE = 3, COINS = 4, CLIP_COV = 5, BASELINE_COINS = 6,
            DYNAMIC_SAMPLING = 7;

    private final TrainConfig config;
    private final Task task;
    private final TransformerPolicy policy, reference;
    private final AdamW optimizer;
    private final TorchFusedLoss oldPolicyPass;
    private final Ranks ranks;  // null: one process
    private AentCoefficient aent;
    private AdaptiveEntropyBonus adaptiveEntropy;
    private KlInReward klInReward;

    /**
     * @param policy the policy to train, holding the base model's weights (or a checkpoint's)
     * @param reference the frozen base model for the KL term and the KL in the reward, or null without either
     *     ({@link TrainConfig#needsReference})
     */
    public Trainer(TrainConfig config, TransformerPolicy policy, TransformerPolicy reference) {
        this(config, policy, reference, null);
    }

    /**
     * A trainer on one of data-parallel {@code ranks} (null: one process), each holding the same weights and calling
     * {@link #step} with the same steps: every step's collectives meet there.
     *
     * @param policy the policy to train, holding the base model's weights (or a checkpoint's)
     * @param reference the frozen base model for the KL term and the KL in the reward, or null without either
     */
    public Trainer(TrainConfig config, TransformerPolicy policy, TransformerPolicy reference, Ranks ranks) {
        if (ranks != null && config.promptsPerStep() % ranks.size() != 0)
            throw new IllegalArgumentException("promptsPerStep: " + config.promptsPerStep() + " prompts do not split "
                    + "evenly over " + ranks.size() + " ranks");
        this.ranks = ranks;
        this.config = config;
        this.task = config.task().create();
        this.policy = policy;
        this.reference = reference;
        if (config.needsReference() && reference == null)
            throw new IllegalArgumentException("reference: needed when loss.klCoef != 0 or with klInReward");
        AdamWOptions options = new AdamWOptions(config.learningRate());
        options.weight_decay().put(config.weightDecay());
        optimizer = new AdamW(policy.parameters(), options);
        // The old policy's log-probs and entropies: no gradient, no KL, the run's clamp.
        oldPolicyPass = kernel(LossConfig.builder().clampP(config.loss().clampP())
                .clampMode(config.loss().clampMode()).build());
        aent = config.aent();
        adaptiveEntropy = config.adaptiveEntropy();
        klInReward = config.klInReward();
    }

    /** The KL penalty in the reward as it stands, its coefficient the next step's (null without one). */
    public KlInReward klInReward() {
        return klInReward;
    }

    /** Restores the KL penalty's controller (a resumed run's). */
    public void klInReward(KlInReward state) {
        klInReward = state;
    }

    public AdamW optimizer() {
        return optimizer;
    }

    /** AEnt's current coefficient (null without AEnt). */
    public AentCoefficient aent() {
        return aent;
    }

    /** Restores AEnt's coefficient from a checkpoint. */
    public void aentLambda(double lambda) {
        AentCoefficient a = config.aent();
        aent = new AentCoefficient(lambda, a.beta(), a.low(), a.high(), a.lambdaLow(), a.lambdaHigh(), a.startStep());
    }

    /** TRL's adaptive entropy bonus as it stands (null without it). */
    public AdaptiveEntropyBonus adaptiveEntropy() {
        return adaptiveEntropy;
    }

    /** Restores the adaptive entropy bonus from a checkpoint. */
    public void adaptiveEntropy(AdaptiveEntropyBonus state) {
        adaptiveEntropy = state;
    }

    /**
     * One RL step; every tensor it makes is freed when it returns. Over ranks, a step that throws on this rank alone
     * tells the others ({@link Ranks#guard}), which throw at their next collective instead of waiting out the timeout.
     */
    public StepMetrics step(int step) {
        return Ranks.guard(ranks, () -> {
            try (PointerScope scope = new PointerScope()) {
                return run(step);
            }
        });
    }

    private StepMetrics run(int step) {
        long start = System.nanoTime();
        int g = config.groupSize(), size = ranks == null ? 1 : ranks.size(), rank = ranks == null ? 0 : ranks.rank();
        GroupSamples samples = samples(step);
        List<Problem> problems = samples.problems();
        List<int[]> prompts = Rollouts.prompts(problems, g);
        float rolloutT = (float) config.rolloutTemperature();
        Sequences grpo = samples.grpo();
        float[] correct = samples.correct(), rewards = samples.rewards();
        TorchFusedLoss.RowOutputs old = evaluate(policy, grpo, rolloutT);
        float[] grpoOldLogp = Tensors.toFloats(old.logp());
        float[] grpoRefLogp = config.needsReference() ? Tensors.toFloats(evaluate(reference, grpo, rolloutT).logp())
                : null;
        float[] baselines = config.advantageEstimator() == AdvantageEstimator.REMAX ? greedyRewards(problems, step)
                : null;
        Advantages advantages = advantages(grpo, rewards, baselines, grpoOldLogp, grpoRefLogp);
        // verl's KL in the reward: its coefficient updated by the whole batch's mean KL over its responses.
        double rewardKl = 0, rewardKlCoefficient = 0;
        if (advantages.penalized() != null) {
            double[] kl = summed(advantages.penalized().meanKl() * rewards.length, rewards.length);
            rewardKl = kl[0] / kl[1];
            rewardKlCoefficient = klInReward.coefficient();
            klInReward = klInReward.update(rewardKl, (long) kl[1]);
        }

        LossMetrics entropyAtOne = summed(rolloutT == 1f ? old.metrics() : evaluate(policy, grpo, 1f).metrics());

        // AEPO: REINFORCE rows on positive samples at the switched temperature. The loss reads them at
        // temperature 1: the gradient of log pi_theta on hotter (colder) samples is what moves entropy up (down).
        double temperature = rolloutT;
        Sequences extra = new Sequences(grpo.promptLength(), grpo.responseLength(), new long[0][], new int[0]);
        if (config.aepo() != null) {
            AepoConfig aepo = config.aepo();
            temperature = aepo.switchRule().choose(entropyAtOne.meanEntropy());
            int wanted = temperature == aepo.temperatureHigh() ? aepo.positivesUp() : aepo.positivesDown();
            extra = positives(prompts, problems, (float) temperature, wanted * (rank + 1) / size - wanted * rank / size,
                    Seeds.random(config.seed(), REINFORCE, step, rank));
        }
        float[] extraOldLogp = extra.count() == 0 ? new float[0] : Tensors.toFloats(evaluate(policy, extra, 1f).logp());
        float[] oldLogp = concat(grpoOldLogp, extraOldLogp);
        Sequences all = grpo.concat(extra);
        float[] refLogp = null;
        if (config.loss().klCoef() != 0)
            refLogp = concat(grpoRefLogp,
                    extra.count() == 0 ? new float[0] : Tensors.toFloats(evaluate(reference, extra, 1f).logp()));

        LossConfig lossConfig = aent == null ? config.loss()
                : config.loss().toBuilder().clampedEntropyCoef(aent.lambda()).build();
        // With the adaptive bonus, each update builds its own with the coefficient it applies.
        CurrentPolicyLoss loss = adaptiveEntropy == null ? policyLoss(lossConfig) : null;
        LossMetrics trained = LossMetrics.ZERO;
        ObjectiveMetrics counted = ObjectiveMetrics.ZERO;
        double adaptiveCoefSum = 0;
        int[][] grpoSlices = slices(grpo.count(), Seeds.random(config.seed(), SHUFFLE, step, rank));
        int[][] extraSlices = slices(extra.count(), Seeds.random(config.seed(), SHUFFLE, step, rank));
        SplittableRandom clipCovRandom = Seeds.random(config.seed(), CLIP_COV, step, rank);
        for (int k = 0; k < config.miniBatches(); ++k) {
            int[] which = concat(grpoSlices[k], shift(extraSlices[k], grpo.count()));
            Sequences slice = all.select(which);
            Sequences grpoPart = slice.select(range(grpoSlices[k].length));  // the rows the objective moves
            float[] grpoMask = lossMask(grpoPart);
            PolicyRows rows = rows(slice, grpoPart, grpoMask, advantages, oldLogp, refLogp, which, rolloutT);
            Tensor logits = slice.responseLogits(policy);
            if (adaptiveEntropy != null) {  // TRL's: each update applies the state the updates before it left
                double entropyCoef = adaptiveEntropy.applied();
                adaptiveCoefSum += entropyCoef;
                loss = policyLoss(lossConfig.toBuilder().entropyCoef(entropyCoef).build());
            }
            // The gradient over the logits, which no backward reads: the head's linear layer saves its input.
            TorchLossResult result = loss.computeInPlace(logits, rows, grpoMask, grpoPart.sequenceOf(),
                    clipCovRandom);
            optimizer.zero_grad();
            result.backward();
            if (ranks != null) ranks.sumGradients(policy.parameters());  // each rank's loss is its share of the batch's
            if (config.gradClip() > 0) torch.clip_grad_norm_(policy.parameters(), config.gradClip());
            optimizer.step();
            trained = trained.plus(result.metrics());
            counted = counted.plus(result.objectiveMetrics());
            if (adaptiveEntropy != null)
                adaptiveEntropy = adaptiveEntropy.update(summed(result.metrics()).meanEntropy());
        }
        if (aent != null) aent = aent.update(step, entropyAtOne.meanClampedEntropy());
        trained = summed(trained);
        counted = summed(counted);

        double length = 0, truncated = 0;
        for (int b = 0; b < grpo.count(); ++b) {
            length += grpo.lengths()[b];
            truncated += grpo.truncated(b) ? 1 : 0;
        }
        double[] counts = summed(length, grpo.count(), extra.count(), truncated, samples.batches());
        return new StepMetrics(step, mean(gathered(rewards)), mean(gathered(correct)), entropyAtOne.meanEntropy(),
                entropyAtOne.meanClampedEntropy(), trained.clipLowFraction(), trained.clipHighFraction(),
                trained.dualClipFraction(), counted.sequenceClips().lowFraction(),
                counted.sequenceClips().highFraction(), counted.clipCovFraction(), temperature,
                adaptiveEntropy == null ? lossConfig.entropyCoef() : adaptiveCoefSum / config.miniBatches(),
                lossConfig.clampedEntropyCoef(),
                trained.loss() / config.miniBatches(), trained.meanKl(), rewardKl, rewardKlCoefficient,
                trained.approxKl(), counts[0] / counts[1], counts[3] / counts[1], counts[4] / size,
                (int) counts[2], (System.nanoTime() - start) / 1e9);
    }

    /**
     * The GRPO rows' advantages, one per row, with grpoScale, GPG's factor of their weights (1 without it), and the KL
     * penalty in the reward where the run has one (else null).
     */
    private record Advantages(float[] rows, double grpoScale, KlInReward.Penalized penalized) {}

    /**
     * This rank's share of the step's prompts, G responses to each, rewarded. With DAPO's dynamic sampling, batches of
     * the share's size (the first the one drawn without it) until enough groups' rewards differ or
     * dynamicSamplingBatches are drawn, and of those the groups {@link DynamicSampling#batch} keeps.
     */
    private GroupSamples samples(int step) {
        int size = ranks == null ? 1 : ranks.size(), rank = ranks == null ? 0 : ranks.rank();
        SplittableRandom random = Seeds.random(config.seed(), ROLLOUT, step);
        List<Problem> batch = new ArrayList<>();
        for (int i = 0; i < config.promptsPerStep(); ++i) batch.add(task.sample(random));
        int share = config.promptsPerStep() / size;
        GroupSamples first = sampled(batch.subList(rank * share, (rank + 1) * share),  // this rank's, whole groups
                rank == 0 ? random : Seeds.random(config.seed(), ROLLOUT, step, rank),
                Seeds.random(config.seed(), COINS, step, rank));
        Integer batches = config.dynamicSamplingBatches();
        if (batches == null) return first;
        SplittableRandom more = Seeds.random(config.seed(), DYNAMIC_SAMPLING, step, rank);
        GroupSamples all = first;
        for (int round = 1; round < batches
                && DynamicSampling.informativeGroups(all.rewards(), config.groupSize()).length < share; ++round) {
            List<Problem> problems = new ArrayList<>();
            for (int i = 0; i < share; ++i) problems.add(task.sample(more));
            all = all.concat(sampled(problems, more, more));
        }
        return all.groups(DynamicSampling.batch(all.rewards(), config.groupSize(), share));
    }

    /** G responses to each of {@code problems}, sampled from {@code rollout}, rewarded (coins from {@code coins}). */
    private GroupSamples sampled(List<Problem> problems, SplittableRandom rollout, SplittableRandom coins) {
        int g = config.groupSize();
        List<int[]> prompts = Rollouts.prompts(problems, g);
        Sequences grpo = Rollouts.sample(policy, prompts, filled(prompts.size(), (float) config.rolloutTemperature()),
                task.maxResponseLength(), rollout);
        float[] correct = correctness(grpo, problems, g);
        float[] rewards = punished(config.randomReward() ? coins(correct.length, coins) : correct, grpo);
        return new GroupSamples(g, 1, problems, grpo, correct, rewards);
    }

    /** The rewards of {@code s}'s responses plus DAPO's overlong punishment where the run has one. */
    private float[] punished(float[] rewards, Sequences s) {
        OverlongPunishment p = config.overlongPunishment();
        return p == null ? rewards : p.penalize(rewards, s.lengths(), task.maxResponseLength());
    }

    /**
     * ReMax's baselines: the reward of each of this rank's problems' greedy response from the policy that sampled the
     * step (a coin flip under randomReward, as the sampled responses', without the overlong punishment, since it
     * generates none), one per response of its group.
     */
    private float[] greedyRewards(List<Problem> problems, int step) {
        int g = config.groupSize(), rank = ranks == null ? 0 : ranks.rank();
        float[] greedyRewards;
        if (config.randomReward()) {
            greedyRewards = coins(problems.size(), Seeds.random(config.seed(), BASELINE_COINS, step, rank));
        } else {
            Sequences greedy = Rollouts.sample(policy, Rollouts.prompts(problems, 1), new float[problems.size()],
                    task.maxResponseLength(), null);
            greedyRewards = punished(correctness(greedy, problems, 1), greedy);
        }
        float[] baselines = new float[problems.size() * g];
        for (int b = 0; b < baselines.length; ++b) baselines[b] = greedyRewards[b / g];
        return baselines;
    }

    /**
     * The advantages of the GRPO rows from the responses' rewards, less the KL penalty where the run has one: verl's
     * outcome estimators see each response's summed penalty, REINFORCE++ and ReMax each token's, in their token-level
     * rewards.
     *
     * @param baselines ReMax's, one per response (else null)
     */
    private Advantages advantages(Sequences grpo, float[] rewards, float[] baselines, float[] oldLogp,
            float[] refLogp) {
        float[] mask = grpo.mask();
        int[] sequenceOf = grpo.sequenceOf();
        KlInReward.Penalized penalized = null;
        if (TrainConfig.perToken(config.advantageEstimator())) {
            float[] tokenRewards = ReinforcePlusPlus.outcomeRewards(rewards, mask, sequenceOf);
            if (klInReward != null) {
                penalized = klInReward.penalizeTokens(tokenRewards, oldLogp, refLogp, mask, sequenceOf);
                tokenRewards = penalized.rewards();
            }
            float[] rows = baselines != null ? ReMax.advantages(tokenRewards, baselines, mask, sequenceOf)
                    : whitened(ReinforcePlusPlus.returns(tokenRewards, mask, sequenceOf, config.gamma()), mask, ranks);
            return new Advantages(rows, 1, penalized);
        }
        float[] scores = rewards;
        if (klInReward != null) {
            penalized = klInReward.penalize(rewards, oldLogp, refLogp, mask, sequenceOf);
            scores = penalized.rewards();
        }
        int g = config.groupSize();
        float[] perResponse = advantages(config.advantageEstimator(), scores, grpo.lengths(), g,
                config.stdNormalization(), ranks);
        // Once per batch, as TRL: the share of every rank's groups.
        double grpoScale = config.gpgBiasCorrection() ? Gpg.lossScale(gathered(perResponse), g) : 1;
        return new Advantages(grpo.perRow(perResponse), grpoScale, penalized);
    }

    /**
     * Each of this rank's responses' advantage by the estimator; REINFORCE++-baseline's whitening is over every rank's
     * tokens, as verl's batch holds them, so it takes this rank's part of the whole batch's (ranks null: one process).
     * REINFORCE++, whose advantages are per token, is {@link #whitened}'s.
     */
    static float[] advantages(AdvantageEstimator estimator, float[] rewards, int[] lengths, int groupSize,
            boolean divideByStd, Ranks ranks) {
        if (ranks == null || estimator != AdvantageEstimator.REINFORCE_PLUS_PLUS_BASELINE)
            return estimator.advantages(rewards, groupSize, lengths, divideByStd);
        // Whole groups on each rank, so that the gathered batch's groups are the ranks' own; the lengths as floats
        // (exact: a response has far fewer than 2^24 tokens), and where this rank's responses start among every rank's.
        if (groupSize < 1 || rewards.length % groupSize != 0 || lengths.length != rewards.length)
            throw new IllegalArgumentException("rewards: rank " + ranks.rank() + " has " + rewards.length
                    + " rewards and " + lengths.length + " lengths, where whole groups of " + groupSize + " are due");
        float[] local = new float[lengths.length];
        for (int i = 0; i < local.length; ++i) local[i] = lengths[i];
        float[] allLengths = ranks.gather(local);
        int[] all = new int[allLengths.length];
        for (int i = 0; i < all.length; ++i) all[i] = (int) allLengths[i];
        float[] whole = estimator.advantages(ranks.gather(rewards), groupSize, all, divideByStd);
        return thisRanks(whole, rewards.length, ranks);
    }

    /**
     * REINFORCE++'s advantages of this rank's rows: their returns whitened over every rank's counted rows, as verl's
     * batch holds them (ranks null: one process).
     */
    static float[] whitened(float[] returns, float[] mask, Ranks ranks) {
        if (ranks == null) return ReinforcePlusPlus.whitened(returns, mask);
        if (returns.length != mask.length)  // before the gathers, where it would shift the other ranks' rows
            throw new IllegalArgumentException("returns: rank " + ranks.rank() + " has " + returns.length
                    + " returns and " + mask.length + " mask rows");
        return thisRanks(ReinforcePlusPlus.whitened(ranks.gather(returns), ranks.gather(mask)), mask.length, ranks);
    }

    /** This rank's {@code count} values of {@code whole}, every rank's in rank order. */
    private static float[] thisRanks(float[] whole, int count, Ranks ranks) {
        float[] counts = ranks.gather(new float[] {count});
        int from = 0;
        for (int r = 0; r < ranks.rank(); ++r) from += (int) counts[r];
        return Arrays.copyOfRange(whole, from, from + count);
    }

    /** Every rank's rows, in rank order (this one's alone in one process). */
    private float[] gathered(float[] local) {
        return ranks == null ? local : ranks.gather(local);
    }

    /** The whole batch's metric sums. */
    private LossMetrics summed(LossMetrics local) {
        return ranks == null ? local : ranks.sum(local);
    }

    private double[] summed(double... local) {
        return ranks == null ? local : ranks.sum(local);
    }

    /** The whole batch's counts of the objective (GSPO's clipped sequences, Clip-Cov's chosen tokens). */
    private ObjectiveMetrics summed(ObjectiveMetrics local) {
        return ranks == null ? local : ranks.sum(local);
    }

    /** The whole batch's aggregation totals. */
    private AggregationWeights.Totals summed(AggregationWeights.Totals local) {
        return ranks == null ? local : ranks.sum(local);
    }

    /**
     * The loss rows of one slice: its first sequences, {@code grpoPart}, are GRPO samples (weights by the run's
     * aggregation mode over the slice, every rank's, times grpoScale), the rest AEPO's positives (advantage R = 1,
     * weight alpha / (|o| S), S the slice's GRPO sequences on every rank, so alpha weighs one positive sample against
     * one GRPO sequence).
     *
     * @param grpoMask the rows of grpoPart the loss counts ({@link #lossMask})
     */
    private PolicyRows rows(Sequences slice, Sequences grpoPart, float[] grpoMask, Advantages advantages,
            float[] oldLogp, float[] refLogp, int[] which, float rolloutT) {
        int m = slice.responseLength(), n = slice.rows(), grpoCount = grpoPart.count(), grpoRows = grpoCount * m;
        float[] mask = slice.mask();
        float[] advantage = new float[n], weight = new float[n], temperature = new float[n];
        int[] grpoSequenceOf = grpoPart.sequenceOf();
        AggregationWeights.Totals totals = summed(AggregationWeights.Totals.of(grpoMask, grpoSequenceOf));
        float[] grpoWeights = AggregationWeights.weights(config.aggregation(), grpoMask, grpoSequenceOf, totals, m);
        for (int i = 0; i < grpoRows; ++i) weight[i] = (float) (advantages.grpoScale() * grpoWeights[i]);
        for (int i = 0; i < n; ++i) {
            int b = i / m, source = which[b];
            boolean isGrpo = b < grpoCount;
            advantage[i] = isGrpo ? advantages.rows()[source * m + i % m] : 1f;
            temperature[i] = isGrpo ? rolloutT : 1f;
            if (!isGrpo && mask[i] != 0)
                weight[i] = (float) (config.aepo().alpha() / (slice.lengths()[b] * Math.max(totals.sequences(), 1)));
        }
        PolicyRows rows = new PolicyRows(Tensors.longs(slice.targets(), n),
                Tensors.floats(gather(oldLogp, which, m), n),
                Tensors.floats(advantage, n), Tensors.floats(weight, n), Tensors.floats(temperature, n), null);
        return refLogp == null ? rows : rows.withRefLogp(Tensors.floats(gather(refLogp, which, m), n));
    }

    /** The rows of GRPO responses that the loss counts: all but padding, and with maskTruncated but truncated ones. */
    private float[] lossMask(Sequences grpoPart) {
        return config.maskTruncated() ? grpoPart.maskWithoutTruncated() : grpoPart.mask();
    }

    /**
     * The CPU kernel on one thread: rows of a few dozen logits are done in microseconds, less than handing them
     * to the pool's threads costs, and the other cores are free for libtorch or other runs.
     */
    private static TorchFusedLoss kernel(LossConfig c) {
        return new TorchFusedLoss(new FusedLoss(c, 1));
    }

    /** The run's objective over the kernel with loss configuration {@code c}, across the ranks if any. */
    CurrentPolicyLoss policyLoss(LossConfig c) {
        CurrentPolicyLoss loss = new CurrentPolicyLoss(kernel(c), config.objective());
        return ranks == null ? loss : loss.acrossRanks(ranks);
    }

    /** Per-row log-probs and entropies of {@code of} on the sequences, every row at one temperature. */
    private TorchFusedLoss.RowOutputs evaluate(TransformerPolicy of, Sequences s, float temperature) {
        int n = s.rows();
        try (NoGradGuard guard = new NoGradGuard()) {
            float[] zeros = new float[n];
            PolicyRows rows = new PolicyRows(Tensors.longs(s.targets(), n), Tensors.floats(zeros, n),
                    Tensors.floats(zeros, n), Tensors.floats(s.mask(), n), Tensors.floats(filled(n, temperature), n),
                    null);
            return oldPolicyPass.evaluate(s.responseLogits(of), rows);
        }
    }

    /** Up to {@code wanted} correct responses, sampled for the step's prompts at {@code temperature}. */
    private Sequences positives(List<int[]> prompts, List<Problem> problems, float temperature, int wanted,
            SplittableRandom random) {
        Sequences candidates = Rollouts.sample(policy, prompts, filled(prompts.size(), temperature),
                task.maxResponseLength(), random);
        float[] correct = correctness(candidates, problems, config.groupSize());
        int[] keep = new int[Math.min(wanted, candidates.count())];
        int kept = 0;
        for (int b = 0; b < candidates.count() && kept < keep.length; ++b) if (correct[b] == 1f) keep[kept++] = b;
        return candidates.select(Arrays.copyOf(keep, kept));
    }

    private float[] correctness(Sequences s, List<Problem> problems, int groupSize) {
        float[] r = new float[s.count()];
        for (int b = 0; b < r.length; ++b)
            r[b] = task.reward(problems.get(b / groupSize), s.response(b), s.lengths()[b]);
        return r;
    }

    /** The sequences 0..count-1 shuffled and cut into miniBatches slices of near-equal size. */
    private int[][] slices(int count, SplittableRandom random) {
        int[] order = range(count);
        for (int i = count - 1; i > 0; --i) {
            int j = random.nextInt(i + 1), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        int parts = config.miniBatches();
        int[][] out = new int[parts][];
        for (int k = 0; k < parts; ++k) out[k] = Arrays.copyOfRange(order, k * count / parts, (k + 1) * count / parts);
        return out;
    }

    private static float[] coins(int n, SplittableRandom random) {
        float[] r = new float[n];
        for (int i = 0; i < n; ++i) r[i] = random.nextBoolean() ? 1f : 0f;
        return r;
    }

    /** Rows of the sequences {@code which} out of per-row values of m rows per sequence. */
    private static float[] gather(float[] perRow, int[] which, int m) {
        float[] out = new float[which.length * m];
        for (int b = 0; b < which.length; ++b) System.arraycopy(perRow, which[b] * m, out, b * m, m);
        return out;
    }

    private static float[] filled(int n, float v) {
        float[] a = new float[n];
        Arrays.fill(a, v);
        return a;
    }

    private static int[] range(int n) {
        int[] a = new int[n];
        for (int i = 0; i < n; ++i) a[i] = i;
        return a;
    }

    private static int[] shift(int[] a, int by) {
        int[] out = new int[a.length];
        for (int i = 0; i < a.length; ++i) out[i] = a[i] + by;
        return out;
    }

    private static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    private static float[] concat(float[] a, float[] b) {
        float[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    private static double mean(float[] a) {
        double s = 0;
        for (float v : a) s += v;
        return s / a.length;
    }
}
