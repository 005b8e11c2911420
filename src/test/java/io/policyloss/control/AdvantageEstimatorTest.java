package io.policyloss.control;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

/**
 * verl's outcome advantage estimators against their definitions written out another way: RLOO's baseline as the mean
 * of the other rewards, OPO's as the one that makes the group's length-weighted advantages sum to 0, pass@k's gap
 * from a sort, REINFORCE++-baseline's whitening over a list holding each response's value once per token.
 */
class AdvantageEstimatorTest {
    private static final double TOLERANCE = 1e-5;

    /** Rewards of a few values (ties, as a verifier's 0 / 1 give), lengths from 0 up, groups of groupSize. */
    private record Batch(float[] rewards, int[] lengths, int groupSize) {
        static Batch random(long seed, int groups, int groupSize) {
            Random r = new Random(seed);
            float[] rewards = new float[groups * groupSize];
            int[] lengths = new int[rewards.length];
            for (int i = 0; i < rewards.length; ++i) {
                rewards[i] = r.nextInt(3) == 0 ? (float) r.nextGaussian() : r.nextInt(2);
                lengths[i] = 1 + r.nextInt(30);
            }
            return new Batch(rewards, lengths, groupSize);
        }
    }

    @Property(tries = 200)
    void rlooSubtractsTheMeanOfTheOtherRewards(@ForAll long seed, @ForAll @IntRange(min = 1, max = 8) int groups,
            @ForAll @IntRange(min = 2, max = 9) int groupSize) {
        Batch b = Batch.random(seed, groups, groupSize);
        float[] a = AdvantageEstimator.RLOO.advantages(b.rewards, groupSize, null, true);
        for (int i = 0; i < a.length; ++i) {
            int g = i / groupSize * groupSize;
            double others = 0;
            for (int j = g; j < g + groupSize; ++j) if (j != i) others += b.rewards[j];
            assertEquals(b.rewards[i] - others / (groupSize - 1), a[i], TOLERANCE, "row " + i);
        }
    }

    @Property(tries = 200)
    void oposBaselineLeavesNoLengthWeightedAdvantage(@ForAll long seed, @ForAll @IntRange(min = 1, max = 8) int groups,
            @ForAll @IntRange(min = 2, max = 9) int groupSize) {
        Batch b = Batch.random(seed, groups, groupSize);
        b.lengths[0] = 0;  // a response without tokens weighs nothing in its group's baseline
        float[] a = AdvantageEstimator.OPO.advantages(b.rewards, groupSize, b.lengths, true);
        for (int g = 0; g < a.length; g += groupSize) {
            double weighted = 0, tokens = 0;
            for (int j = g; j < g + groupSize; ++j) {
                weighted += b.lengths[j] * (double) a[j];
                tokens += b.lengths[j];
            }
            assertEquals(0, weighted / tokens, TOLERANCE, "group " + g / groupSize);
            // One baseline a group: the advantages differ as the rewards do.
            for (int j = g; j < g + groupSize; ++j)
                assertEquals(b.rewards[j] - b.rewards[g], a[j] - a[g], TOLERANCE, "row " + j);
        }
        // With equal lengths the baseline is the group's mean: Dr. GRPO's advantages.
        int[] equal = new int[b.lengths.length];
        Arrays.fill(equal, 7);
        assertArrayEquals(GrpoAdvantages.compute(b.rewards, groupSize, false),
                AdvantageEstimator.OPO.advantages(b.rewards, groupSize, equal, true), (float) TOLERANCE);
    }

    @Property(tries = 200)
    void passAtKTeachesTheBestResponseAlone(@ForAll long seed, @ForAll @IntRange(min = 1, max = 8) int groups,
            @ForAll @IntRange(min = 2, max = 9) int groupSize, @ForAll boolean divideByStd) {
        Batch b = Batch.random(seed, groups, groupSize);
        float[] a = AdvantageEstimator.GRPO_PASS_K.advantages(b.rewards, groupSize, null, divideByStd);
        for (int g = 0; g < a.length; g += groupSize) {
            List<Float> sorted = new ArrayList<>();
            for (int j = g; j < g + groupSize; ++j) sorted.add(b.rewards[j]);
            sorted.sort(null);
            double gap = sorted.get(groupSize - 1) - sorted.get(groupSize - 2);
            double mean = sorted.stream().mapToDouble(Float::doubleValue).average().orElseThrow();
            double var = sorted.stream().mapToDouble(x -> (x - mean) * (x - mean)).sum() / (groupSize - 1);
            double want = divideByStd ? gap / (Math.sqrt(var) + 1e-6) : gap;
            int nonzero = 0;
            for (int j = g; j < g + groupSize; ++j) {
                if (a[j] == 0) continue;
                nonzero++;
                assertEquals(sorted.get(groupSize - 1), b.rewards[j], "group " + g / groupSize + ": the best learns");
                assertEquals(want, a[j], TOLERANCE * Math.max(1, Math.abs(want)), "group " + g / groupSize);
            }
            assertEquals(gap > 0 ? 1 : 0, nonzero, "group " + g / groupSize + ": responses that learn");
        }
    }

    @Property(tries = 200)
    void reinforcePlusPlusBaselineWhitensOverTheTokens(@ForAll long seed,
            @ForAll @IntRange(min = 1, max = 8) int groups, @ForAll @IntRange(min = 1, max = 9) int groupSize) {
        Batch b = Batch.random(seed, groups, groupSize);
        if (groups * groupSize == 1) b.lengths[0] = 2;
        float[] a = AdvantageEstimator.REINFORCE_PLUS_PLUS_BASELINE.advantages(b.rewards, groupSize, b.lengths, true);
        double[] centred = new double[a.length];
        for (int i = 0; i < a.length; ++i) {
            int g = i / groupSize * groupSize;
            double mean = 0;
            for (int j = g; j < g + groupSize; ++j) mean += b.rewards[j] / (double) groupSize;
            centred[i] = b.rewards[i] - (groupSize == 1 ? 0 : mean);
        }
        List<Double> tokens = new ArrayList<>();
        for (int i = 0; i < a.length; ++i) for (int t = 0; t < b.lengths[i]; ++t) tokens.add(centred[i]);
        double mean = tokens.stream().mapToDouble(x -> x).average().orElseThrow();
        double var = tokens.stream().mapToDouble(x -> (x - mean) * (x - mean)).sum() / (tokens.size() - 1);
        for (int i = 0; i < a.length; ++i) {
            double want = (centred[i] - mean) / Math.sqrt(var + 1e-8);
            assertEquals(want, a[i], TOLERANCE * Math.max(1, Math.abs(want)), "row " + i);
        }
    }

    @Test
    void grpoIsGrpoAdvantagesAndAGroupOfOneKeepsItsReward() {
        Batch b = Batch.random(3, 4, 5);
        for (boolean divide : new boolean[] {true, false})
            assertArrayEquals(GrpoAdvantages.compute(b.rewards, 5, divide),
                    AdvantageEstimator.GRPO.advantages(b.rewards, 5, null, divide));
        float[] rewards = {0.5f, -2, 1};
        int[] lengths = {3, 1, 4};
        assertArrayEquals(rewards, AdvantageEstimator.RLOO.advantages(rewards, 1, null, true));
        assertArrayEquals(rewards, AdvantageEstimator.OPO.advantages(rewards, 1, lengths, true));
    }

    @Test
    void refusesWhatItCannotEstimate() {
        float[] rewards = {1, 0, 1, 1};
        Refusals.assertMessage("lengths: length 3, rewards has 4 rows",
                () -> AdvantageEstimator.OPO.advantages(rewards, 2, new int[3], true));
        Refusals.assertMessage("lengths: row 2: must be >= 0, got -1",
                () -> AdvantageEstimator.REINFORCE_PLUS_PLUS_BASELINE.advantages(rewards, 2, new int[] {1, 1, -1, 1},
                        true));
        Refusals.assertMessage("lengths: group 1 (rows 2 to 3) has no token, and OPO's baseline weighs its rewards by "
                + "their tokens", () -> AdvantageEstimator.OPO.advantages(rewards, 2, new int[] {1, 1, 0, 0}, true));
        Refusals.assertMessage("lengths: REINFORCE++-baseline whitens over the batch's tokens, which needs at least 2, "
                + "got 1", () -> AdvantageEstimator.REINFORCE_PLUS_PLUS_BASELINE.advantages(rewards, 2,
                        new int[] {0, 1, 0, 0}, true));
        Refusals.assertMessage("lengths: REINFORCE++ whitens over the batch's tokens, which needs at least 2, got 0",
                () -> AdvantageEstimator.REINFORCE_PLUS_PLUS.advantages(rewards, 2, new int[4], true));
        Refusals.assertMessage("groupSize: pass@k compares a group's best response with its second, so must be >= 2, "
                + "got 1", () -> AdvantageEstimator.GRPO_PASS_K.advantages(rewards, 1, null, true));
        Refusals.assertMessage("rewards: row 1: must be finite, got NaN",
                () -> AdvantageEstimator.RLOO.advantages(new float[] {1, Float.NaN}, 2, null, true));
        Refusals.assertMessage("rewards: length 4 is not a multiple of groupSize 3",
                () -> AdvantageEstimator.RLOO.advantages(rewards, 3, null, true));
        assertEquals("REMAX's baseline is the reward of each prompt's greedy response, which ReMax.advantages takes",
                assertThrows(UnsupportedOperationException.class, () -> AdvantageEstimator.REMAX.advantages(rewards, 2,
                        new int[4], true)).getMessage());
        assertEquals("lengths", assertThrows(NullPointerException.class,
                () -> AdvantageEstimator.OPO.advantages(rewards, 2, null, true)).getMessage());
    }
}
