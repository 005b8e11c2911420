package io.policyloss.rl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.policyloss.loss.AggregationMode;
import io.policyloss.loss.LossConfig;
import io.policyloss.torch.PolicyRows;
import io.policyloss.torch.Tensors;
import io.policyloss.torch.TorchFusedLoss;
import io.policyloss.torch.TorchThreads;
import io.policyloss.torch.TransformerPolicy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.bytedeco.pytorch.AdamW;
import org.bytedeco.pytorch.AdamWOptions;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.TensorVector;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Training through the fused loss: it optimises, and a killed and resumed run ends where an uninterrupted one does. */
class TrainingTest {
    @TempDir
    Path dir;

    @BeforeAll
    static void oneThread() {
        TorchThreads.use(1);
    }

    /** A shape small enough for a unit test: the task, the model and one step's batch. */
    static final String TINY_SHAPE = "{\"task\": {\"name\": \"digit-sum\", \"size\": 2}, \"model\":"
            + " {\"layers\": 1, \"width\": 16, \"heads\": 2, \"context\": 8}, \"promptsPerStep\": 4,"
            + " \"groupSize\": 4, \"miniBatches\": 2}";

    /**
     * A run of that shape, with AEnt and TRL's adaptive entropy bonus on, so that both coefficients must survive the
     * resume too (the bonus's target above any entropy of the vocabulary: engaged after the first update, its
     * coefficient growing from 0.05 by 0.01 an update).
     */
    static TrainConfig tiny() {
        return TrainConfigs.withOverrides(TrainConfigs.withOverrides(TrainConfigs.preset("aent"), TINY_SHAPE),
                "{\"name\": \"tiny\", \"warmStart\": {\"steps\": 10, \"batchSize\": 16}, \"steps\": 6,"
                + " \"checkpointEvery\": 2, \"eval\": {\"problems\": 4, \"samples\": 4, \"ks\": [1, 4]},"
                + " \"adaptiveEntropy\": {\"coefficient\": 0.05, \"target\": 10, \"delta\": 0.01, \"min\": 0,"
                + " \"max\": 1, \"engaged\": false}}");
    }

    @Test
    void everyPresetTrainsThroughTheFusedLoss() {
        TransformerPolicy base = BaseModel.newPolicy(tiny());
        List<TrainConfig> configs = new ArrayList<>();
        for (String name : TrainConfigs.presetNames()) configs.add(TrainConfigs.preset(name));
        for (AggregationMode mode : AggregationMode.values()) // every mode, with AEPO's extra rows mixed in
            configs.add(TrainConfigs.withOverrides(TrainConfigs.preset("aepo"), "{\"aggregation\": \"" + mode + "\"}"));
        for (TrainConfig preset : configs) {
            String name = preset.name() + " / " + preset.aggregation();
            TrainConfig c = TrainConfigs.withOverrides(preset, TINY_SHAPE);
            TransformerPolicy policy = BaseModel.newPolicy(c);
            Trainer trainer = new Trainer(c, policy, c.needsReference() ? base : null);
            for (int step = 0; step < 2; ++step) {
                StepMetrics m = trainer.step(step);
                for (double v : new double[] {m.loss(), m.entropy(), m.clampedEntropy(), m.kl(), m.approxKl()})
                    assertTrue(Double.isFinite(v), name + " step " + step + ": " + m);
                assertTrue(m.entropy() > 0 && m.entropy() <= Math.log(Vocabulary.SIZE) + 1e-4, name + ": " + m);
                if (c.aepo() != null) assertTrue(m.temperature() == 1.2 || m.temperature() == 0.8, name + ": " + m);
                if (c.loss().clampP() > 0) assertTrue(m.clampedEntropy() < m.entropy(), name + ": " + m);
            }
        }
    }

    /**
     * The trainer takes each response's advantage from the run's estimator, over the tokens its loss counts. On-policy,
     * one update a step and a token mean, the loss is -(sum over responses of |o| A) / (sum of |o|): 0 for OPO, whose
     * baseline is each group's length-weighted mean reward, and for REINFORCE++-baseline, whitened over the tokens;
     * RLOO's is G / (G - 1) times Dr. GRPO's (GRPO without the std's division), from the same rollouts.
     */
    @Test
    void theEstimatorsAdvantagesReachTheLoss() {
        String onPolicy = TINY_SHAPE.replace("\"miniBatches\": 2", "\"miniBatches\": 1");
        double[] loss = new double[4];
        String[] presets = {"dr-grpo", "rloo", "opo", "reinforce-plus-plus-baseline"};
        for (int k = 0; k < presets.length; ++k) {
            // Dr. GRPO's rows weighed as the others', by a token mean; coin-flip rewards for an untrained model.
            TrainConfig c = TrainConfigs.withOverrides(TrainConfigs.withOverrides(TrainConfigs.preset(presets[k]),
                    onPolicy), "{\"aggregation\": \"TOKEN_MEAN\", \"randomReward\": true}");
            loss[k] = new Trainer(c, BaseModel.newPolicy(c), null).step(0).loss();
        }
        assertTrue(Math.abs(loss[0]) > 1e-3, "a loss to compare: " + loss[0]);
        assertEquals(4.0 / 3 * loss[0], loss[1], 1e-5 * Math.abs(loss[0]), "RLOO");
        assertEquals(0, loss[2], 1e-6, "OPO");
        assertEquals(0, loss[3], 1e-6, "REINFORCE++-baseline");
    }

    /**
     * REINFORCE++ whitens its tokens' returns over the batch: on-policy with a token mean its loss is 0, with a
     * discount and the KL in the reward too; the KL it logs is GRPO's over the same rollouts; and the discount and the
     * penalty reach the advantages: over a sequence mean of token means, where a response's tokens no longer weigh as
     * the whitening weighs them, each moves the loss.
     */
    @Test
    void reinforcePlusPlusWhitensItsTokensReturns() {
        String onPolicy = TINY_SHAPE.replace("\"miniBatches\": 2", "\"miniBatches\": 1");
        TrainConfig plain = TrainConfigs.withOverrides(TrainConfigs.withOverrides(TrainConfigs.preset(
                "reinforce-plus-plus"), onPolicy), "{\"randomReward\": true}");
        TransformerPolicy reference = BaseModel.newPolicy(TrainConfigs.withOverrides(plain, "{\"seed\": 7}"));
        String kl = "{\"klInReward\": {\"coefficient\": 0.1, \"estimator\": \"K1\"}}";
        TrainConfig both = TrainConfigs.withOverrides(TrainConfigs.withOverrides(plain, kl), "{\"gamma\": 0.5}");
        StepMetrics m = step(both, reference);
        assertEquals(0, m.loss(), 1e-6, "a token mean of whitened advantages");
        assertTrue(m.rewardKl() != 0, m.toString());
        TrainConfig grpo = TrainConfigs.withOverrides(TrainConfigs.withOverrides(TrainConfigs.preset("grpo"),
                onPolicy), "{\"randomReward\": true}");
        assertEquals(step(TrainConfigs.withOverrides(grpo, kl), reference).rewardKl(), m.rewardKl(), 1e-12);
        String sequenceMean = "{\"aggregation\": \"SEQ_MEAN_TOKEN_MEAN\"}";
        double[] loss = new double[3];
        TrainConfig[] configs = {plain, TrainConfigs.withOverrides(plain, "{\"gamma\": 0.5}"),
            TrainConfigs.withOverrides(plain, kl)};
        for (int k = 0; k < loss.length; ++k)
            loss[k] = step(TrainConfigs.withOverrides(configs[k], sequenceMean), reference).loss();
        assertTrue(Math.abs(loss[1] - loss[0]) > 1e-4 && Math.abs(loss[2] - loss[0]) > 1e-4, Arrays.toString(loss));
    }

    /**
     * ReMax's baseline is the reward of the prompt's greedy response: from a base model that answers some prompts
     * right, responses sampled at a temperature near 0 are the greedy ones, so each response's reward is its baseline:
     * every advantage is 0, and so are the loss and the step, though the rewards are not; at temperature 1 they differ.
     */
    @Test
    void remaxsBaselineIsTheGreedyResponsesReward() {
        TrainConfig c = TrainConfigs.withOverrides(TrainConfigs.withOverrides(TrainConfigs.preset("remax"),
                TINY_SHAPE), "{\"warmStart\": {\"steps\": 400, \"batchSize\": 32}, \"miniBatches\": 1,"
                + " \"rolloutTemperature\": 0.05}");
        TransformerPolicy base = BaseModel.newPolicy(c);
        SupervisedWarmStart.train(base, c.task().create(), c.warmStart(), c.seed(), s -> {});
        TransformerPolicy policy = copy(c, base);
        StepMetrics cold = new Trainer(c, policy, null).step(0);
        assertTrue(cold.reward() > 0 && cold.reward() < 1, "some prompts answered right: " + cold);
        assertEquals(0, cold.loss(), 0, cold.toString());
        List<float[]> before = CurrentPolicyRowsTest.parameters(base), after = CurrentPolicyRowsTest.parameters(policy);
        for (int i = 0; i < before.size(); ++i)
            assertArrayEquals(before.get(i), after.get(i), "no advantage, no step: parameter " + i);
        StepMetrics hot = stepFrom(TrainConfigs.withOverrides(c, "{\"rolloutTemperature\": 1}"), base);
        assertTrue(Math.abs(hot.loss()) > 1e-4, hot.toString());
    }

    /**
     * DAPO's dynamic sampling: from a base model that answers some prompts right, a batch has groups of one reward, so
     * GPG's correction (1 / the share of groups whose advantages differ) changes the second update's loss; with
     * dynamic sampling every group differs and the correction is 1, the loss the same bit for bit. With one batch it
     * keeps the same groups, those that differ first, so the rollouts' metrics are the same but for rounding.
     */
    @Test
    void dynamicSamplingKeepsTheGroupsWhoseRewardsDiffer() {
        TrainConfig c = TrainConfigs.withOverrides(TrainConfigs.withOverrides(TrainConfigs.preset("grpo"), TINY_SHAPE),
                "{\"warmStart\": {\"steps\": 400, \"batchSize\": 32}}");
        TransformerPolicy base = BaseModel.newPolicy(c);
        SupervisedWarmStart.train(base, c.task().create(), c.warmStart(), c.seed(), s -> {});
        String gpg = "{\"gpgBiasCorrection\": true}", dynamic = "{\"dynamicSamplingBatches\": 8}";
        StepMetrics plain = stepFrom(c, base), corrected = stepFrom(TrainConfigs.withOverrides(c, gpg), base);
        assertTrue(Math.abs(plain.loss() - corrected.loss()) > 1e-6, "groups of one reward: " + plain);
        TrainConfig filtered = TrainConfigs.withOverrides(c, dynamic);
        StepMetrics kept = stepFrom(filtered, base);
        assertEquals(1, plain.generationBatches());
        assertTrue(kept.generationBatches() > 1 && kept.generationBatches() <= 8, kept.toString());
        assertEquals(kept.loss(), stepFrom(TrainConfigs.withOverrides(filtered, gpg), base).loss(), 0, kept.toString());
        StepMetrics one = stepFrom(TrainConfigs.withOverrides(c, "{\"dynamicSamplingBatches\": 1}"), base);
        assertEquals(1, one.generationBatches());
        assertEquals(plain.reward(), one.reward(), 1e-6);
        assertEquals(plain.entropy(), one.entropy(), 1e-6);
        assertEquals(plain.clampedEntropy(), one.clampedEntropy(), 1e-6);
    }

    /** Step 0 of {@code c} from {@code base}'s weights. */
    private static StepMetrics stepFrom(TrainConfig c, TransformerPolicy base) {
        return new Trainer(c, copy(c, base), null).step(0);
    }

    /** A policy holding {@code base}'s weights. */
    private static TransformerPolicy copy(TrainConfig c, TransformerPolicy base) {
        TransformerPolicy p = BaseModel.newPolicy(c);
        try (NoGradGuard guard = new NoGradGuard()) {
            TensorVector from = base.parameters(), to = p.parameters();
            for (long i = 0; i < from.size(); ++i) to.get(i).copy_(from.get(i));
        }
        return p;
    }

    /** Greedy rollouts (temperature 0) take at each position the token of largest logit, as the model reads it. */
    @Test
    void greedyRolloutsTakeTheMostProbableToken() {
        TrainConfig c = tiny();
        TransformerPolicy policy = BaseModel.newPolicy(c);
        Task task = c.task().create();
        SplittableRandom random = new SplittableRandom(3);
        List<Problem> problems = new ArrayList<>();
        for (int i = 0; i < 8; ++i) problems.add(task.sample(random));
        Sequences s = Rollouts.sample(policy, Rollouts.prompts(problems, 1), new float[8], task.maxResponseLength(),
                null);
        float[] logits;
        try (NoGradGuard guard = new NoGradGuard()) {
            logits = Tensors.toFloats(s.responseLogits(policy).contiguous());
        }
        int vocab = policy.vocab(), m = s.responseLength();
        for (int b = 0; b < s.count(); ++b)
            for (int j = 0; j < s.lengths()[b]; ++j) {
                int from = (b * m + j) * vocab;
                float max = Float.NEGATIVE_INFINITY;
                for (int v = 0; v < vocab; ++v) max = Math.max(max, logits[from + v]);
                assertEquals(max, logits[from + s.response(b)[j]], 1e-5, "sequence " + b + ", token " + j);
            }
        float[] negative = new float[8];
        negative[5] = -0.5f;
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Rollouts.sample(policy, Rollouts.prompts(problems, 1), negative, task.maxResponseLength(), null));
        assertEquals("temperatures: row 5: must be finite and >= 0, got -0.5", e.getMessage());
    }

    /**
     * A response is truncated where it fills the response length without ending: one that ends on the last position is
     * not. Without them, the mask keeps the others' rows as they were.
     */
    @Test
    void truncatedResponsesAreThoseCutBeforeTheirEnd() {
        long e = Vocabulary.EOS, x = e == 3 ? 4 : 3;  // x: a token that is not the end
        Sequences s = new Sequences(1, 3, new long[][] {{x, x, e, e}, {x, x, x, e}, {x, x, x, x}, {x, e, e, e}},
                new int[] {2, 3, 3, 1});
        boolean[] truncated = {false, false, true, false};
        float[] mask = s.mask(), without = s.maskWithoutTruncated();
        for (int b = 0; b < 4; ++b) {
            assertEquals(truncated[b], s.truncated(b), "sequence " + b);
            for (int j = 0; j < 3; ++j)
                assertEquals(truncated[b] ? 0 : mask[b * 3 + j], without[b * 3 + j], "sequence " + b + ", row " + j);
        }
        assertEquals(1, mask[2 * 3 + 2], "the truncated response's rows counted in the mask");
    }

    /**
     * DAPO's overlong punishment with a buffer as long as the longest response is -factor |y| / L_max on every
     * response, so the step's reward is its accuracy less factor times the mean length over L_max; with
     * maskTruncated, the truncated responses of an untrained model leave the entropy bonus's token mean, which the
     * whole batch's entropy then no longer gives.
     */
    @Test
    void daposOverlongPunishmentAndFilteringReachTheStep() {
        String onPolicy = TINY_SHAPE.replace("\"miniBatches\": 2", "\"miniBatches\": 1");
        TrainConfig grpo = TrainConfigs.withOverrides(TrainConfigs.preset("grpo"), onPolicy);
        int maxLength = grpo.task().create().maxResponseLength();
        TrainConfig punished = TrainConfigs.withOverrides(grpo, "{\"overlongPunishment\": {\"buffer\": " + maxLength
                + ", \"penaltyFactor\": 0.5}}");
        StepMetrics m = new Trainer(punished, BaseModel.newPolicy(punished), null).step(0);
        assertEquals(m.accuracy() - 0.5 * m.responseLength() / maxLength, m.reward(), 1e-6, m.toString());
        // No response right yet: every advantage 0, the loss the entropy bonus's alone.
        TrainConfig bonus = TrainConfigs.withOverrides(grpo, "{\"loss\": {\"entropyCoef\": 0.1}}");
        StepMetrics all = new Trainer(bonus, BaseModel.newPolicy(bonus), null).step(0);
        assertEquals(0, all.accuracy(), m.toString());
        assertEquals(-0.1 * all.entropy(), all.loss(), 1e-6, "every token: " + all);
        TrainConfig filtered = TrainConfigs.withOverrides(bonus, "{\"maskTruncated\": true}");
        StepMetrics kept = new Trainer(filtered, BaseModel.newPolicy(filtered), null).step(0);
        assertEquals(all.entropy(), kept.entropy(), "the same rollouts");
        assertTrue(kept.clippedRatio() > 0 && kept.clippedRatio() < 1, "some responses truncated: " + kept);
        assertTrue(Math.abs(-0.1 * kept.entropy() - kept.loss()) > 1e-4, "the finished responses' tokens: " + kept);
    }

    /** Step 0 of a run from the base model of its seed. */
    private static StepMetrics step(TrainConfig c, TransformerPolicy reference) {
        return new Trainer(c, BaseModel.newPolicy(c), c.needsReference() ? reference : null).step(0);
    }

    /**
     * verl's KL penalty in the reward: each step logs its responses' mean KL to the reference and the coefficient it
     * applied, which the next step's follows by the adaptive rule over the whole batch's 16 responses; the penalty
     * reaches the advantages, the loss affine in a fixed coefficient (Dr. GRPO's advantages are linear in the scores)
     * and not constant.
     */
    @Test
    void theKlInRewardPenalizesTheScores() {
        String onPolicy = TINY_SHAPE.replace("\"miniBatches\": 2", "\"miniBatches\": 1");
        TrainConfig drGrpo = TrainConfigs.withOverrides(TrainConfigs.withOverrides(TrainConfigs.preset("dr-grpo"),
                onPolicy), "{\"aggregation\": \"TOKEN_MEAN\", \"randomReward\": true}");
        TransformerPolicy reference = BaseModel.newPolicy(TrainConfigs.withOverrides(drGrpo, "{\"seed\": 7}"));
        TrainConfig adaptive = TrainConfigs.withOverrides(drGrpo, "{\"klInReward\": {\"coefficient\": 0.1,"
                + " \"estimator\": \"K3\", \"targetKl\": 0.01, \"horizon\": 100}}");
        Trainer trainer = new Trainer(adaptive, BaseModel.newPolicy(adaptive), reference);
        double coefficient = 0.1;
        for (int step = 0; step < 3; ++step) {
            StepMetrics m = trainer.step(step);
            assertEquals(coefficient, m.rewardKlCoefficient(), 1e-12, "step " + step);
            assertTrue(m.rewardKl() > 0, "step " + step + ": " + m);
            coefficient *= 1 + Math.min(Math.max(m.rewardKl() / 0.01 - 1, -0.2), 0.2) * 16 / 100;
        }
        double[] loss = new double[3];
        for (int k = 0; k < loss.length; ++k) {
            TrainConfig c = TrainConfigs.withOverrides(drGrpo, "{\"klInReward\": {\"coefficient\": " + 0.05 * k
                    + ", \"estimator\": \"K3\"}}");
            loss[k] = new Trainer(c, BaseModel.newPolicy(c), reference).step(0).loss();
        }
        assertTrue(Math.abs(loss[1] - loss[0]) > 1e-4, "the penalty moves the loss: " + Arrays.toString(loss));
        assertEquals(loss[1] - loss[0], loss[2] - loss[1], 1e-6, "affine in the coefficient: " + Arrays.toString(loss));
    }

    /**
     * GPG's correction divides the GRPO rows' loss by the share of the step's groups whose advantages differ: the same
     * step without it, from the same policy and rollouts, has the loss times that share, v / G for v of G groups.
     */
    @Test
    void gpgsCorrectionDividesTheLossByTheShareOfGroupsWithAGradient() throws Exception {
        assertGpgsLossesDifferByAShareOfGroups((c, step) -> new Trainer(c, BaseModel.newPolicy(c), null).step(step)
                .loss());
    }

    /** The loss of a run's step {@code step} as the first of a trainer from the base model's initial weights. */
    interface StepLoss {
        double of(TrainConfig c, int step) throws Exception;
    }

    /**
     * GPG's corrected loss and the plain one of three steps over 8 groups of coin-flip rewards (groups of one reward
     * and of both), one update a step: their ratio is v / 8 for a whole number v &gt;= 1 of groups carrying a gradient,
     * below 8 at some step.
     */
    static void assertGpgsLossesDifferByAShareOfGroups(StepLoss loss) throws Exception {
        TrainConfig gpg = TrainConfigs.withOverrides(TrainConfigs.withOverrides(TrainConfigs.preset("gpg"), TINY_SHAPE),
                "{\"miniBatches\": 1, \"promptsPerStep\": 8, \"randomReward\": true}");
        TrainConfig plain = TrainConfigs.withOverrides(gpg, "{\"gpgBiasCorrection\": false}");
        int groups = gpg.promptsPerStep(), corrected = 0;
        for (int step = 0; step < 3; ++step) {
            double share = loss.of(plain, step) / loss.of(gpg, step);
            double valid = share * groups;
            assertEquals(Math.rint(valid), valid, 1e-4, "step " + step + ": a share of " + share);
            assertTrue(valid >= 1 && valid <= groups, "step " + step + ": a share of " + share);
            corrected += valid < groups - 0.5 ? 1 : 0;
        }
        assertTrue(corrected > 0, "no step had a group of one reward");
    }

    /**
     * What the objective counts beside the kernel's row fractions: under GSPO, the sequences clipped (TRL's {@code
     * clip_ratio} at the sequence level) are whole numbers of the step's GRPO sequences, some of them; under Clip-Cov,
     * each update takes out one token ({@link #clipCovEveryUpdate}), so verl's {@code pg_clipfrac} is miniBatches over
     * the step's response tokens; PPO's clip counts neither.
     */
    @Test
    void theStepCountsWhatTheObjectiveAdds() {
        String coins = "{\"randomReward\": true}";
        TrainConfig gspo = TrainConfigs.withOverrides(TrainConfigs.withOverrides(TrainConfigs.preset("gspo"),
                TINY_SHAPE), coins);
        TrainConfig clipCov = clipCovEveryUpdate();
        TrainConfig grpo = TrainConfigs.withOverrides(TrainConfigs.withOverrides(TrainConfigs.preset("grpo"),
                TINY_SHAPE), coins);
        int sequences = gspo.promptsPerStep() * gspo.groupSize();
        double clipped = 0;
        Trainer trainer = new Trainer(gspo, BaseModel.newPolicy(gspo), null);
        for (int step = 0; step < 3; ++step) {
            StepMetrics m = trainer.step(step);
            for (double fraction : new double[] {m.sequenceClipLowFraction(), m.sequenceClipHighFraction()}) {
                double count = fraction * sequences;
                assertEquals(Math.rint(count), count, 1e-9, "step " + step + ": " + m);
                clipped += count;
            }
            assertEquals(0, m.clipCovFraction(), "GSPO: " + m);
        }
        assertTrue(clipped > 0, "GSPO clipped no sequence");
        trainer = new Trainer(clipCov, BaseModel.newPolicy(clipCov), null);
        for (int step = 0; step < 3; ++step) {
            StepMetrics m = trainer.step(step);
            assertEquals(clipCov.miniBatches() / (m.responseLength() * sequences), m.clipCovFraction(), 1e-12,
                    "step " + step + ": " + m);
            assertEquals(0, m.sequenceClipLowFraction() + m.sequenceClipHighFraction(), "Clip-Cov: " + m);
        }
        trainer = new Trainer(grpo, BaseModel.newPolicy(grpo), null);
        StepMetrics m = trainer.step(0);
        assertEquals(0, m.sequenceClipLowFraction() + m.sequenceClipHighFraction() + m.clipCovFraction(), "GRPO: " + m);
    }

    /**
     * Each side's clips are counted on its side: with no clip-low range (epsLow 1: a ratio below 0) GSPO clips
     * sequences and their tokens high only, with no clip-high range (epsHigh infinite) low only.
     */
    @Test
    void gspoCountsEachSidesClipsOnItsSide() {
        for (boolean lowOpen : new boolean[] {true, false}) {
            TrainConfig c = TrainConfigs.withOverrides(TrainConfigs.withOverrides(TrainConfigs.preset("gspo"),
                    TINY_SHAPE), "{\"randomReward\": true, \"loss\": " + (lowOpen ? "{\"epsLow\": 1}}"
                            : "{\"epsHigh\": \"Infinity\"}}"));
            Trainer trainer = new Trainer(c, BaseModel.newPolicy(c), null);
            double clipped = 0;
            for (int step = 0; step < 3; ++step) {
                StepMetrics m = trainer.step(step);
                double closed = lowOpen ? m.sequenceClipLowFraction() + m.clipLowFraction()
                        : m.sequenceClipHighFraction() + m.clipHighFraction();
                assertEquals(0, closed, (lowOpen ? "no clip-low" : "no clip-high") + ", step " + step + ": " + m);
                clipped += lowOpen ? m.sequenceClipHighFraction() : m.sequenceClipLowFraction();
                // A clipped sequence's tokens carry its clipped ratio, so the rows count it too.
                assertEquals(lowOpen ? m.sequenceClipHighFraction() > 0 : m.sequenceClipLowFraction() > 0,
                        lowOpen ? m.clipHighFraction() > 0 : m.clipLowFraction() > 0, "step " + step + ": " + m);
            }
            assertTrue(clipped > 0, (lowOpen ? "no clip-low" : "no clip-high") + ": nothing clipped");
        }
    }

    /**
     * Clip-Cov at verl's 2e-4 on the tiny shape, with coin-flip rewards and a band of every positive covariance: each
     * update has a candidate and takes out max(int(2e-4 n), 1) = 1 of its n counted tokens.
     */
    static TrainConfig clipCovEveryUpdate() {
        return TrainConfigs.withOverrides(TrainConfigs.withOverrides(TrainConfigs.preset("clip-cov"), TINY_SHAPE),
                "{\"randomReward\": true, \"clipCov\": {\"clipRatio\": 2e-4, \"lower\": 0, \"upper\": 1e9}}");
    }

    @Test
    void stepsOnAFixedBatchLowerTheLoss() {
        TrainConfig c = tiny();
        TransformerPolicy policy = BaseModel.newPolicy(c);
        Sequences batch = SupervisedWarmStart.answers(c.task().create(), 16, new SplittableRandom(5));
        int n = batch.rows();
        float[] advantage = new float[n];
        for (int i = 0; i < n; ++i) advantage[i] = (i / batch.responseLength()) % 2 == 0 ? 1f : -1f;
        float[] weight = batch.mask();
        for (int i = 0; i < n; ++i) weight[i] /= batch.count() * 3; // token-mean over 3 tokens per answer
        TorchFusedLoss loss = new TorchFusedLoss(LossConfig.defaults());
        PolicyRows probe = PolicyRows.of(Tensors.longs(batch.targets(), n), Tensors.floats(new float[n], n),
                Tensors.floats(advantage, n), Tensors.floats(weight, n));
        float[] oldLogp;
        try (NoGradGuard g = new NoGradGuard()) {
            oldLogp = Tensors.toFloats(loss.evaluate(batch.responseLogits(policy), probe).logp());
        }
        PolicyRows rows = PolicyRows.of(probe.target(), Tensors.floats(oldLogp, n), probe.advantage(), probe.weight());
        AdamW optimizer = new AdamW(policy.parameters(), new AdamWOptions(1e-2));
        double first = Double.NaN, last = Double.NaN;
        for (int step = 0; step < 5; ++step) {
            var result = loss.compute(batch.responseLogits(policy), rows);
            if (step == 0) first = result.metrics().loss();
            last = result.metrics().loss();
            optimizer.zero_grad();
            result.backward();
            optimizer.step();
        }
        assertEquals(0.0, first, 1e-6, "at r = 1 the surrogate of +1 / -1 advantages in equal numbers is 0");
        assertTrue(last < first - 0.05, "loss " + first + " -> " + last);
    }

    /**
     * The tiny run, and the same with the KL penalty in the reward under an adaptive coefficient, whose state a resume
     * must restore too (the reference is the base model: its KL, 0 at step 0, grows as the policy trains).
     */
    @Test
    void aKilledAndResumedRunEndsWithTheSameWeights() throws Exception {
        Path base = dir.resolve("base.pt");
        BaseModel.obtain(tiny(), base, s -> {});
        assertResumedRunEndsAsTheWhole(tiny(), base, dir.resolve("tiny"));
        TrainConfig klInReward = TrainConfigs.withOverrides(tiny(), "{\"klInReward\": {\"coefficient\": 0.1,"
                + " \"estimator\": \"K3\", \"targetKl\": 1e-3, \"horizon\": 20}}");
        List<StepMetrics> steps = assertResumedRunEndsAsTheWhole(klInReward, base, dir.resolve("kl-in-reward"));
        assertTrue(steps.get(5).rewardKlCoefficient() != 0.1, "the coefficient moved: " + steps.get(5));
    }

    private static List<StepMetrics> assertResumedRunEndsAsTheWhole(TrainConfig c, Path base, Path dir)
            throws Exception {
        TrainingRun.Result whole = TrainingRun.run(c, dir.resolve("whole"), base, false, -1, m -> {});
        // The adaptive bonus: off in the first update, then engaged, 0.01 more each update; two updates a step.
        for (StepMetrics m : whole.steps())
            assertEquals(m.step() == 0 ? 0.03 : 0.05 + 0.01 * (2 * m.step() + 0.5), m.entropyCoefficient(), 1e-12,
                    "step " + m.step());

        Path split = dir.resolve("split");
        assertNull(TrainingRun.run(c, split, base, false, 3, m -> {}), "stopped after 3 steps (checkpoint at 2)");
        assertEquals(3, Files.readAllLines(split.resolve("metrics.jsonl")).size());
        TrainingRun.Result resumed = TrainingRun.run(c, split, base, true, -1, m -> {});

        assertEquals(whole.eval(), resumed.eval());
        assertEquals(whole.steps().stream().map(StepMetrics::withoutSeconds).toList(),
                resumed.steps().stream().map(StepMetrics::withoutSeconds).toList());
        assertEquals(6, Files.readAllLines(split.resolve("metrics.jsonl")).size(), "step 2's line is not repeated");
        TransformerPolicy a = BaseModel.newPolicy(c), b = BaseModel.newPolicy(c);
        Checkpoints.loadModule(a, dir.resolve("whole").resolve("model.pt"));
        Checkpoints.loadModule(b, split.resolve("model.pt"));
        TensorVector pa = a.parameters(), pb = b.parameters();
        for (long i = 0; i < pa.size(); ++i)
            assertArrayEquals(Tensors.toFloats(pa.get(i)), Tensors.toFloats(pb.get(i)), "parameter " + i);
        return whole.steps();
    }

    @Test
    void rolloutsRespectPerRowTemperaturesAndPadAfterEndOfSequence() {
        TrainConfig c = tiny();
        TransformerPolicy policy = BaseModel.newPolicy(c);
        Task task = c.task().create();
        Problem p = task.sample(new SplittableRandom(1));
        List<int[]> prompts = Rollouts.prompts(List.of(p), 64);
        float[] temperatures = new float[64];
        Arrays.fill(temperatures, 0, 32, 0.05f); // nearly greedy: all 32 alike
        Arrays.fill(temperatures, 32, 64, 5f); // nearly uniform: many different
        Sequences s = Rollouts.sample(policy, prompts, temperatures, task.maxResponseLength(), new SplittableRandom(2));
        long coldDistinct = java.util.stream.IntStream.range(0, 32).mapToObj(b -> Arrays.toString(s.response(b)))
                .distinct().count();
        long hotDistinct = java.util.stream.IntStream.range(32, 64).mapToObj(b -> Arrays.toString(s.response(b)))
                .distinct().count();
        assertTrue(coldDistinct <= 2 && hotDistinct >= 10, "cold " + coldDistinct + ", hot " + hotDistinct);
        for (int b = 0; b < 64; ++b) {
            int[] r = s.response(b);
            for (int j = 0; j < r.length; ++j) {
                boolean ended = j >= s.lengths()[b];
                assertTrue(!ended || r[j] == Vocabulary.EOS, "padding after the end");
                assertTrue(ended || j == s.lengths()[b] - 1 || r[j] != Vocabulary.EOS, "no end before the length");
            }
        }
    }
}
