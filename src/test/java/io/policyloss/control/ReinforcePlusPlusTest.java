package io.policyloss.control;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.DoubleRange;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

/**
 * REINFORCE++ against its definition written out another way: each token's return as the sum over the tokens from it
 * to its response's end of gamma^k r, k the tokens between, and verl's whitening over a list of the counted tokens'
 * returns. The responses' rows come interleaved, each response's in its tokens' order, padding after each one's end.
 */
class ReinforcePlusPlusTest {
    private static final double TOLERANCE = 1e-5;

    /** Rows of several responses, interleaved at random; each response's counted rows in order. */
    record Batch(float[] tokenRewards, float[] mask, int[] sequenceOf, List<List<Integer>> rowsOf) {
        static Batch random(long seed, int responses) {
            Random r = new Random(seed);
            List<List<Integer>> rowsOf = new ArrayList<>();
            int[] length = new int[responses], padded = new int[responses];
            int rows = 0;
            for (int s = 0; s < responses; ++s) {
                length[s] = 1 + r.nextInt(12);
                padded[s] = length[s] + r.nextInt(4);
                rows += padded[s];
                rowsOf.add(new ArrayList<>());
            }
            float[] tokenRewards = new float[rows], mask = new float[rows];
            int[] sequenceOf = new int[rows], next = new int[responses];
            for (int i = 0; i < rows; ++i) {
                int s;
                do s = r.nextInt(responses); while (next[s] == padded[s]);
                sequenceOf[i] = s;
                boolean counted = next[s]++ < length[s];
                mask[i] = counted ? 1 : 0;
                // Padding's rewards are never read.
                tokenRewards[i] = !counted ? Float.NaN : r.nextInt(4) == 0 ? r.nextInt(2) : (float) r.nextGaussian();
                if (counted) rowsOf.get(s).add(i);
            }
            return new Batch(tokenRewards, mask, sequenceOf, rowsOf);
        }
    }

    @Property(tries = 300)
    void theAdvantageIsTheWhitenedDiscountedReturn(@ForAll long seed, @ForAll @IntRange(min = 1, max = 8) int responses,
            @ForAll @DoubleRange(min = 0, max = 1) double gamma) {
        Batch b = Batch.random(seed, responses);
        if (b.rowsOf.stream().mapToInt(List::size).sum() < 2) return;
        double[] want = new double[b.mask.length];
        List<Double> counted = new ArrayList<>();
        for (List<Integer> rows : b.rowsOf)
            for (int t = 0; t < rows.size(); ++t) {
                double sum = 0;
                for (int k = t; k < rows.size(); ++k) sum += Math.pow(gamma, k - t) * b.tokenRewards[rows.get(k)];
                want[rows.get(t)] = sum;
                counted.add(sum);
            }
        float[] returns = ReinforcePlusPlus.returns(b.tokenRewards, b.mask, b.sequenceOf, gamma);
        float[] a = ReinforcePlusPlus.advantages(b.tokenRewards, b.mask, b.sequenceOf, gamma);
        double mean = counted.stream().mapToDouble(x -> x).average().orElseThrow();
        double var = counted.stream().mapToDouble(x -> (x - mean) * (x - mean)).sum() / (counted.size() - 1);
        for (int i = 0; i < a.length; ++i) {
            if (b.mask[i] == 0) {
                assertEquals(0, returns[i], "padding row " + i);
                assertEquals(0, a[i], "padding row " + i);
                continue;
            }
            assertEquals(want[i], returns[i], TOLERANCE * Math.max(1, Math.abs(want[i])), "return of row " + i);
            double whitened = (want[i] - mean) / Math.sqrt(var + 1e-8);
            assertEquals(whitened, a[i], TOLERANCE * Math.max(1, Math.abs(whitened)), "row " + i);
        }
    }

    /**
     * Outcome rewards sit on each response's last counted token; at gamma 1 every token then carries its response's
     * reward, and the advantages are the per-response estimator's over the responses' lengths.
     */
    @Property(tries = 200)
    void outcomeRewardsAtGammaOneAreThePerResponseEstimators(@ForAll long seed,
            @ForAll @IntRange(min = 1, max = 8) int responses) {
        Batch b = Batch.random(seed, responses);
        if (b.rowsOf.stream().mapToInt(List::size).sum() < 2) return;
        Random r = new Random(seed);
        float[] rewards = new float[responses];
        int[] lengths = new int[responses];
        for (int s = 0; s < responses; ++s) {
            rewards[s] = r.nextInt(2);
            lengths[s] = b.rowsOf.get(s).size();
        }
        float[] tokenRewards = ReinforcePlusPlus.outcomeRewards(rewards, b.mask, b.sequenceOf);
        for (int s = 0; s < responses; ++s) {
            List<Integer> rows = b.rowsOf.get(s);
            for (int t = 0; t < rows.size(); ++t)
                assertEquals(t == rows.size() - 1 ? rewards[s] : 0, tokenRewards[rows.get(t)], "response " + s);
        }
        float[] perResponse = AdvantageEstimator.REINFORCE_PLUS_PLUS.advantages(rewards, 1, lengths, true);
        float[] a = ReinforcePlusPlus.advantages(tokenRewards, b.mask, b.sequenceOf, 1);
        for (int i = 0; i < a.length; ++i)
            assertEquals(b.mask[i] == 0 ? 0 : perResponse[b.sequenceOf[i]], a[i], 1e-6, "row " + i);
    }

    @Test
    void refusesWhatItCannotEstimate() {
        float[] mask = {1, 1, 0, 1};
        int[] sequenceOf = {0, 0, 0, 1};
        Refusals.assertMessage("gamma: must be in [0, 1], got 1.5",
                () -> ReinforcePlusPlus.returns(new float[4], mask, sequenceOf, 1.5));
        Refusals.assertMessage("gamma: must be in [0, 1], got NaN",
                () -> ReinforcePlusPlus.returns(new float[4], mask, sequenceOf, Double.NaN));
        Refusals.assertMessage("tokenRewards: row 3: must be finite, got NaN",
                () -> ReinforcePlusPlus.returns(new float[] {0, 0, 0, Float.NaN}, mask, sequenceOf, 1));
        Refusals.assertMessage("tokenRewards: length 3, mask has 4 rows",
                () -> ReinforcePlusPlus.returns(new float[3], mask, sequenceOf, 1));
        Refusals.assertMessage("mask: row 2: must be 0 or 1, got 0.5",
                () -> ReinforcePlusPlus.whitened(new float[4], new float[] {1, 1, 0.5f, 1}));
        Refusals.assertMessage("mask: REINFORCE++ whitens over the batch's tokens, which needs at least 2, got 1",
                () -> ReinforcePlusPlus.whitened(new float[4], new float[] {0, 1, 0, 0}));
        Refusals.assertMessage("rewards: response 1 has no counted token to hold its reward",
                () -> ReinforcePlusPlus.outcomeRewards(new float[] {1, 0, 1}, new float[] {1, 0, 1},
                        new int[] {0, 1, 2}));
        Refusals.assertMessage("sequenceOf: names response 1, rewards has 1",
                () -> ReinforcePlusPlus.outcomeRewards(new float[] {1}, mask, sequenceOf));
        Refusals.assertMessage("rewards: row 1: must be finite, got Infinity",
                () -> ReinforcePlusPlus.outcomeRewards(new float[] {0, Float.POSITIVE_INFINITY}, mask, sequenceOf));
    }
}
