package io.policyloss.rl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.policyloss.control.AdvantageEstimator;
import io.policyloss.control.ReinforcePlusPlus;
import io.policyloss.torch.CurrentPolicyLossAcrossRanksTest;
import io.policyloss.torch.LoopbackRanks;
import io.policyloss.torch.ModelConfig;
import io.policyloss.torch.Ranks;
import io.policyloss.torch.Tensors;
import io.policyloss.torch.TorchThreads;
import io.policyloss.torch.TransformerPolicy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.bytedeco.pytorch.TensorVector;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The trainer over data-parallel ranks (threads of this JVM on a Gloo group over loopback): a group of one rank trains
 * as one process does, bit for bit; two ranks train one model, which both hold bit for bit, and report one batch's
 * metrics; a run killed and resumed on two ranks ends as the uninterrupted one.
 */
class DataParallelTrainingTest {
    @TempDir
    Path dir;

    @BeforeAll
    static void oneThread() {
        TorchThreads.use(1);
    }

    /**
     * AEnt with TRL's adaptive bonus; AEPO's extra rows; entropy masking's gathered quantile; GPG's share; RLOO with
     * the KL penalty in the reward, whose coefficient adapts to the whole batch's KL (coin-flip rewards move the
     * policy from the reference, which a model right nowhere would not).
     */
    private static List<TrainConfig> configs() {
        List<TrainConfig> out = new ArrayList<>();
        out.add(TrainingTest.tiny());
        for (String preset : new String[] {"aepo", "entropy-mask", "gpg"})
            out.add(TrainConfigs.withOverrides(TrainConfigs.preset(preset), TrainingTest.TINY_SHAPE));
        out.add(TrainConfigs.withOverrides(TrainConfigs.withOverrides(TrainConfigs.preset("rloo"),
                TrainingTest.TINY_SHAPE), "{\"randomReward\": true, \"klInReward\": {\"coefficient\": 0.1,"
                + " \"estimator\": \"K3\", \"targetKl\": 1e-3, \"horizon\": 20}}"));
        return out;
    }

    @Test
    void aGroupOfOneRankTrainsAsOneProcess() throws Exception {
        for (TrainConfig c : configs()) {
            Trained alone = train(c, null);
            Trained grouped = LoopbackRanks.run(dir, 1, ranks -> train(c, ranks)).get(0);
            assertEquals(alone.metrics, grouped.metrics, c.name());
            assertParametersEqual(alone.parameters, grouped.parameters, c.name());
        }
    }

    @Test
    void twoRanksTrainOneModel() throws Exception {
        for (TrainConfig c : configs()) {
            List<Trained> ranks = LoopbackRanks.run(dir, 2, r -> train(c, r));
            assertEquals(ranks.get(0).metrics, ranks.get(1).metrics, c.name() + ": one batch's metrics on both");
            assertParametersEqual(ranks.get(0).parameters, ranks.get(1).parameters, c.name());
            assertFalse(ranks.get(0).metrics.equals(train(c, null).metrics), c.name() + ": rank 1 drew its own");
        }
    }

    /**
     * REINFORCE++-baseline whitens over every rank's tokens: over three ranks holding 2, 1 and 3 groups of a batch,
     * each rank's advantages are the whole batch's at its rows, where each rank's own whitening would differ. The
     * group estimators (GRPO's here) read each rank's groups alone, the same either way.
     */
    @Test
    void reinforcePlusPlusBaselineWhitensOverEveryRanksTokens() throws Exception {
        int g = 4;
        int[] from = {0, 2 * g, 3 * g, 6 * g};  // each rank's first row
        float[] rewards = new float[6 * g];
        int[] lengths = new int[rewards.length];
        Random random = new Random(5);
        for (int i = 0; i < rewards.length; ++i) {
            rewards[i] = random.nextInt(2);
            lengths[i] = 1 + random.nextInt(9);
        }
        for (AdvantageEstimator e : new AdvantageEstimator[] {AdvantageEstimator.REINFORCE_PLUS_PLUS_BASELINE,
                AdvantageEstimator.GRPO}) {
            float[] whole = e.advantages(rewards, g, lengths, true);
            List<float[]> parts = LoopbackRanks.run(dir, from.length - 1, r -> Trainer.advantages(e,
                    Arrays.copyOfRange(rewards, from[r.rank()], from[r.rank() + 1]),
                    Arrays.copyOfRange(lengths, from[r.rank()], from[r.rank() + 1]), g, true, r));
            for (int rank = 0; rank < from.length - 1; ++rank)
                assertArrayEquals(Arrays.copyOfRange(whole, from[rank], from[rank + 1]), parts.get(rank),
                        e + " on rank " + rank);
        }
    }

    /** REINFORCE++ whitens over every rank's counted rows: three ranks holding 5, 2 and 9 rows, padding among them. */
    @Test
    void reinforcePlusPlusWhitensEveryRanksRows() throws Exception {
        int[] from = {0, 5, 7, 16};
        float[] returns = new float[16], mask = new float[16];
        Random random = new Random(6);
        for (int i = 0; i < returns.length; ++i) {
            mask[i] = random.nextInt(4) == 0 ? 0 : 1;
            returns[i] = mask[i] * (float) random.nextGaussian();
        }
        float[] whole = ReinforcePlusPlus.whitened(returns, mask);
        List<float[]> parts = LoopbackRanks.run(dir, from.length - 1, r -> Trainer.whitened(
                Arrays.copyOfRange(returns, from[r.rank()], from[r.rank() + 1]),
                Arrays.copyOfRange(mask, from[r.rank()], from[r.rank() + 1]), r));
        for (int rank = 0; rank < from.length - 1; ++rank)
            assertArrayEquals(Arrays.copyOfRange(whole, from[rank], from[rank + 1]), parts.get(rank), "rank " + rank);
    }

    /**
     * The aggregation weights are the whole batch's: while no response is right yet, every advantage is 0 and the loss
     * is the entropy bonuses' alone, -(lambda_H H + lambda_C Hc) as a token mean over both ranks' rows; each rank's
     * own token mean would add up to twice that.
     */
    @Test
    void theLossIsTheWholeBatchsTokenMean() throws Exception {
        TrainConfig c = TrainingTest.tiny();
        for (StepMetrics m : LoopbackRanks.run(dir, 2, r -> train(c, r)).get(0).metrics) {
            assertEquals(0, m.reward(), "no reward yet: advantages 0");
            double bonus = m.entropyCoefficient() * m.entropy() + m.clampedEntropyCoefficient() * m.clampedEntropy();
            assertEquals(-bonus, m.loss(), 0.05 * bonus, "step " + m.step() + ": " + m);
        }
    }

    /**
     * Clip-Cov's chosen tokens are every rank's: each rank's updates take out one token each
     * ({@link TrainingTest#clipCovEveryUpdate}), so verl's pg_clipfrac over the whole batch is ranks x miniBatches over
     * every rank's response tokens, on both ranks.
     */
    @Test
    void clipCovsShareIsTheWholeBatchs() throws Exception {
        TrainConfig c = TrainingTest.clipCovEveryUpdate();
        List<Trained> ranks = LoopbackRanks.run(dir, 2, r -> train(c, r));
        assertEquals(ranks.get(0).metrics, ranks.get(1).metrics);
        for (StepMetrics m : ranks.get(0).metrics)
            assertEquals(2.0 * c.miniBatches() / (m.responseLength() * c.promptsPerStep() * c.groupSize()),
                    m.clipCovFraction(), 1e-12, m.toString());
    }

    /**
     * TRL's adaptive bonus reads the whole batch's entropy: with one update a step, that update is on-policy and its
     * tokens' mean entropy is the step's logged one (up to the order of the sums), so a target just above it engages
     * the bonus on both ranks and one just below on neither, where each rank's own tokens fall on one side or the
     * other.
     */
    @Test
    void theAdaptiveBonusReadsTheWholeBatchsEntropy() throws Exception {
        TrainConfig c = TrainConfigs.withOverrides(TrainingTest.tiny(), "{\"miniBatches\": 1}");
        double entropy = LoopbackRanks.run(dir, 2, r -> firstStep(c, r, 0).metrics).get(0).entropy();
        for (double side : new double[] {1, -1}) {
            TrainConfig at = TrainConfigs.withOverrides(c, "{\"adaptiveEntropy\": {\"target\": "
                    + (entropy + side * 1e-4) + "}}");
            List<Boolean> engaged = LoopbackRanks.run(dir, 2, r -> firstStep(at, r, 0).trainer.adaptiveEntropy()
                    .engaged());
            assertEquals(List.of(side > 0, side > 0), engaged, "target " + (side > 0 ? "above " : "below ") + entropy);
        }
    }

    /**
     * GPG's share of groups is the whole batch's (TRL gathers the advantages over its ranks): on two ranks too, the step
     * without the correction has the loss times v / G, v of the batch's G groups carrying a gradient
     * ({@link TrainingTest#assertGpgsLossesDifferByAShareOfGroups}); each rank's own share would weigh the ranks'
     * losses apart.
     */
    @Test
    void gpgsShareIsTheWholeBatchs() throws Exception {
        TrainingTest.assertGpgsLossesDifferByAShareOfGroups((c, step) -> LoopbackRanks.run(dir, 2,
                r -> firstStep(c, r, step).metrics).get(0).loss());
    }

    private record FirstStep(Trainer trainer, StepMetrics metrics) {}

    /** A trainer's first step, the run's step {@code step}, from the base model's initial weights. */
    private static FirstStep firstStep(TrainConfig c, Ranks ranks, int step) {
        Trainer trainer = new Trainer(c, BaseModel.newPolicy(c), null, ranks);
        return new FirstStep(trainer, trainer.step(step));
    }

    /**
     * AEPO's REINFORCE rows, from a warm-started base model that answers some prompts right: a group of one rank trains
     * as one process, and two ranks hold one model and share the step's positives between them.
     */
    @Test
    void aeposPositivesTrainAsOneProcessAndOneModelOnTwoRanks() throws Exception {
        TrainConfig c = aepoFromAWarmStart();
        Path base = dir.resolve("aepo-base.pt");
        BaseModel.obtain(c, base, s -> {});
        Trained alone = train(c, loaded(c, base), null);
        assertTrue(alone.metrics.stream().mapToInt(StepMetrics::positives).sum() > 0, "positives: " + alone.metrics);
        Trained grouped = LoopbackRanks.run(dir, 1, r -> train(c, loaded(c, base), r)).get(0);
        assertEquals(alone.metrics, grouped.metrics);
        assertParametersEqual(alone.parameters, grouped.parameters, "one rank");
        List<Trained> ranks = LoopbackRanks.run(dir, 2, r -> train(c, loaded(c, base), r));
        assertTrue(ranks.get(0).metrics.stream().mapToInt(StepMetrics::positives).sum() > 0, "positives on two ranks");
        for (StepMetrics m : ranks.get(0).metrics) assertTrue(m.positives() <= 3, "the ranks share AEPO's 3: " + m);
        assertEquals(ranks.get(0).metrics, ranks.get(1).metrics);
        assertParametersEqual(ranks.get(0).parameters, ranks.get(1).parameters, "two ranks");
    }

    /**
     * AEPO's REINFORCE rows weigh alpha / (|o| S), S the whole batch's GRPO sequences: in the one update of a step,
     * on-policy (every ratio 1), each positive's tokens add -alpha / S to the loss, and under seq-mean-token-mean the
     * GRPO rows' -sum_b A_b / S is 0 up to rounding, each group's advantages summing to 0. So the loss is -alpha x
     * positives / S, in one process and on two ranks (where each rank's own S would double it).
     */
    @Test
    void aeposRowsWeighAgainstTheWholeBatchsSequences() throws Exception {
        TrainConfig c = TrainConfigs.withOverrides(aepoFromAWarmStart(), "{\"miniBatches\": 1,"
                + " \"aggregation\": \"SEQ_MEAN_TOKEN_MEAN\"}");
        Path base = dir.resolve("aepo-base.pt");
        BaseModel.obtain(c, base, s -> {});
        int sequences = c.promptsPerStep() * c.groupSize();
        List<StepMetrics> alone = train(c, loaded(c, base), null).metrics;
        List<StepMetrics> ranks = LoopbackRanks.run(dir, 2, r -> train(c, loaded(c, base), r)).get(0).metrics;
        for (List<StepMetrics> run : List.of(alone, ranks)) {
            int positives = 0;
            for (StepMetrics m : run) {
                assertEquals(-c.aepo().alpha() * m.positives() / sequences, m.loss(), 1e-5, m.toString());
                positives += m.positives();
            }
            assertTrue(positives > 0, "no positives: " + run);
        }
    }

    /**
     * DAPO's dynamic sampling over ranks: each rank draws batches of its share from its own stream until its groups'
     * rewards differ, so the batch the ranks train on holds only such groups, which GPG's correction, over the whole
     * batch's groups, then leaves alone (a factor of 1, as in one process:
     * {@link TrainingTest#dynamicSamplingKeepsTheGroupsWhoseRewardsDiffer}). generationBatches is the mean of the two
     * ranks' draws, a multiple of one half. A group of one rank samples as one process does, and two ranks hold one
     * model.
     */
    @Test
    void dynamicSamplingKeepsEveryRanksGroupsWhoseRewardsDiffer() throws Exception {
        TrainConfig c = TrainConfigs.withOverrides(TrainConfigs.withOverrides(TrainConfigs.preset("grpo"),
                TrainingTest.TINY_SHAPE), "{\"warmStart\": {\"steps\": 400, \"batchSize\": 32},"
                + " \"dynamicSamplingBatches\": 8}");
        TrainConfig corrected = TrainConfigs.withOverrides(c, "{\"gpgBiasCorrection\": true}");
        Path base = dir.resolve("grpo-base.pt");
        BaseModel.obtain(c, base, s -> {});
        Trained alone = train(c, loaded(c, base), null);
        Trained grouped = LoopbackRanks.run(dir, 1, r -> train(c, loaded(c, base), r)).get(0);
        assertEquals(alone.metrics, grouped.metrics);
        assertParametersEqual(alone.parameters, grouped.parameters, "one rank");

        List<Trained> ranks = LoopbackRanks.run(dir, 2, r -> train(c, loaded(c, base), r));
        assertEquals(ranks.get(0).metrics, ranks.get(1).metrics);
        assertParametersEqual(ranks.get(0).parameters, ranks.get(1).parameters, "two ranks");
        List<StepMetrics> gpg = LoopbackRanks.run(dir, 2, r -> train(corrected, loaded(c, base), r)).get(0).metrics;
        double drawn = 0;
        for (int step = 0; step < gpg.size(); ++step) {
            StepMetrics m = ranks.get(0).metrics.get(step);
            assertEquals(m.loss(), gpg.get(step).loss(), 0, "GPG's factor is 1: every kept group differs; " + m);
            assertTrue(m.generationBatches() >= 1 && m.generationBatches() <= 8, m.toString());
            assertEquals(0, 2 * m.generationBatches() % 1, "a mean over two ranks: " + m);
            drawn += m.generationBatches();
        }
        assertTrue(drawn > gpg.size(), "some rank drew more than one batch: " + ranks.get(0).metrics);
    }

    /** AEPO from a warm-started base model that answers some prompts right, its positives fewer than the ranks find. */
    private static TrainConfig aepoFromAWarmStart() {
        return TrainConfigs.withOverrides(TrainConfigs.withOverrides(TrainConfigs.preset("aepo"),
                TrainingTest.TINY_SHAPE), "{\"warmStart\": {\"steps\": 400, \"batchSize\": 32},"
                + " \"aepo\": {\"positivesUp\": 3, \"positivesDown\": 3}}");
    }

    private static TransformerPolicy loaded(TrainConfig c, Path weights) {
        TransformerPolicy policy = BaseModel.newPolicy(c);
        Checkpoints.loadModule(policy, weights);
        return policy;
    }

    @Test
    void aRunKilledAndResumedOnTwoRanksEndsAsTheWholeRun() throws Exception {
        TrainConfig c = TrainingTest.tiny();
        Path base = dir.resolve("base.pt");
        BaseModel.obtain(c, base, s -> {});
        Path whole = dir.resolve("whole"), split = dir.resolve("split");
        List<TrainingRun.Result> wholeRuns = LoopbackRanks.run(dir, 2, r -> TrainingRun.run(c, whole, base, false, -1,
                m -> {}, r));
        assertEquals(withoutSeconds(wholeRuns.get(0)), withoutSeconds(wholeRuns.get(1)), "both ranks' results");
        assertEquals(c.steps(), Files.readAllLines(whole.resolve("metrics.jsonl")).size(), "rank 0 alone writes");
        for (TrainingRun.Result stopped : LoopbackRanks.run(dir, 2, r -> TrainingRun.run(c, split, base, false, 3,
                m -> {}, r)))
            assertNull(stopped, "stopped after 3 steps (checkpoint at 2)");
        List<TrainingRun.Result> resumed = LoopbackRanks.run(dir, 2, r -> TrainingRun.run(c, split, base, true, -1,
                m -> {}, r));
        for (TrainingRun.Result r : resumed) assertEquals(withoutSeconds(wholeRuns.get(0)), withoutSeconds(r));
        assertEquals(c.steps(), Files.readAllLines(split.resolve("metrics.jsonl")).size());
    }

    /**
     * A rank that fails on its own stops the other at its next collective, with an exception naming it, instead of at
     * the group's timeout (20 s here): in a step (rank 1's policy has too short a context for the task's responses,
     * which its sampling refuses before the step's first collective), and in a run after a step (rank 1's listener).
     */
    @Test
    void aRankThatFailsAloneStopsTheOther() throws Exception {
        TrainConfig c = TrainingTest.tiny();
        ModelConfig model = c.model(), shortContext = new ModelConfig(model.layers(), model.width(), model.heads(), 4);
        List<String> inStep = LoopbackRanks.run(dir, 2, Duration.ofSeconds(20), r -> {
            Trainer trainer = new Trainer(c, r.rank() == 0 ? BaseModel.newPolicy(c)
                    : new TransformerPolicy(shortContext, Vocabulary.SIZE, c.seed()), null, r);
            return outcome(assertThrows(RuntimeException.class, () -> trainer.step(0)));
        });
        assertEquals("RankFailedException: rank 1 failed (its output says why)", inStep.get(0));
        assertTrue(inStep.get(1).startsWith("IllegalArgumentException: maxResponse: "), inStep.get(1));

        Path base = dir.resolve("base.pt");
        BaseModel.obtain(c, base, s -> {});
        List<String> inRun = LoopbackRanks.run(dir, 2, Duration.ofSeconds(20), r -> outcome(assertThrows(
                RuntimeException.class, () -> TrainingRun.run(c, dir.resolve("run"), base, false, -1, m -> {
                    if (r.rank() == 1 && m.step() == 1) throw new IllegalStateException("listener: full");
                }, r))));
        assertEquals(List.of("RankFailedException: rank 1 failed (its output says why)",
                "IllegalStateException: listener: full"), inRun);
    }

    /**
     * The trainer's loss takes entropy masking's quantile over every rank's tokens (TRL's): on a batch split over two
     * ranks, its gradient rows are the whole batch's, where each rank's own quantile masks other tokens
     * ({@link CurrentPolicyLossAcrossRanksTest#sameAsTheWholeBatch}). Nothing the trainer logs tells the two apart.
     */
    @Test
    void theTrainersEntropyMaskIsTheWholeBatchs() throws Exception {
        // The top 30%, as the library's test: on its batch the top 20% happen to mask alike either way.
        TrainConfig c = TrainConfigs.withOverrides(TrainConfigs.withOverrides(TrainConfigs.preset("entropy-mask"),
                TrainingTest.TINY_SHAPE), "{\"topEntropyQuantile\": 0.3}");
        CurrentPolicyLossAcrossRanksTest.sameAsTheWholeBatch(dir, c.objective(), ranks -> new Trainer(c,
                BaseModel.newPolicy(c), null, ranks).policyLoss(CurrentPolicyLossAcrossRanksTest.CONFIG));
    }

    /** Ranks given other configs (rank 1's 5 steps where rank 0 has 6) or other arguments both refuse at once. */
    @Test
    void ranksGivenOtherArgumentsRefuseTogether() throws Exception {
        TrainConfig c = TrainingTest.tiny(), fewer = TrainConfigs.withOverrides(c, "{\"steps\": 5}");
        Path base = dir.resolve("base.pt"), run = dir.resolve("run");
        String refusal = "IllegalArgumentException: config and arguments: rank 1 differs from rank 0 (start every rank"
                + " with the same config and arguments)";
        assertEquals(Collections.nCopies(2, refusal), LoopbackRanks.run(dir, 2, Duration.ofSeconds(20), r -> outcome(
                assertThrows(RuntimeException.class, () -> TrainingRun.run(r.rank() == 0 ? c : fewer, run, base,
                        false, -1, m -> {}, r)))));
        assertEquals(Collections.nCopies(2, refusal), LoopbackRanks.run(dir, 2, Duration.ofSeconds(20), r -> outcome(
                assertThrows(RuntimeException.class, () -> TrainingRun.run(c, run, base, r.rank() == 1, -1, m -> {},
                        r)))));
        assertFalse(Files.exists(run), "nothing written");
    }

    private static String outcome(RuntimeException e) {
        return e.getClass().getSimpleName() + ": " + e.getMessage();
    }

    @Test
    void promptsMustSplitEvenly() throws Exception {
        TrainConfig c = TrainConfigs.withOverrides(TrainingTest.tiny(), "{\"promptsPerStep\": 3}");
        String message = LoopbackRanks.run(dir, 2, r -> assertThrows(IllegalArgumentException.class,
                () -> new Trainer(c, BaseModel.newPolicy(c), null, r)).getMessage()).get(0);
        assertEquals("promptsPerStep: 3 prompts do not split evenly over 2 ranks", message);
    }

    private static TrainingRun.Result withoutSeconds(TrainingRun.Result r) {
        return new TrainingRun.Result(r.config(), r.steps().stream().map(StepMetrics::withoutSeconds).toList(),
                r.eval());
    }

    private record Trained(List<StepMetrics> metrics, List<float[]> parameters) {}

    /** Three steps from the base model's initial weights (no warm start: the ranks need no files). */
    private static Trained train(TrainConfig c, Ranks ranks) {
        return train(c, BaseModel.newPolicy(c), ranks);
    }

    private static Trained train(TrainConfig c, TransformerPolicy policy, Ranks ranks) {
        TransformerPolicy reference = c.needsReference() ? BaseModel.newPolicy(c) : null;
        Trainer trainer = new Trainer(c, policy, reference, ranks);
        List<StepMetrics> metrics = new ArrayList<>();
        for (int step = 0; step < 3; ++step) metrics.add(trainer.step(step).withoutSeconds());
        List<float[]> parameters = new ArrayList<>();
        TensorVector p = policy.parameters();
        for (long i = 0; i < p.size(); ++i) parameters.add(Tensors.toFloats(p.get(i)));
        return new Trained(metrics, parameters);
    }

    private static void assertParametersEqual(List<float[]> want, List<float[]> got, String name) {
        assertEquals(want.size(), got.size());
        for (int i = 0; i < want.size(); ++i) assertArrayEquals(want.get(i), got.get(i), name + ": parameter " + i);
    }
}
