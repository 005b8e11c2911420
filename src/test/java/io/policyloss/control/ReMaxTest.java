package io.policyloss.control;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

/**
 * ReMax against its definition written out: each counted token's advantage is the sum of the rewards from it to its
 * response's end, less the response's baseline; with outcome rewards alone, R - b on every token of the response.
 */
class ReMaxTest {
    @Property(tries = 300)
    void theAdvantageIsTheReturnLessTheGreedyReward(@ForAll long seed,
            @ForAll @IntRange(min = 1, max = 8) int responses) {
        ReinforcePlusPlusTest.Batch b = ReinforcePlusPlusTest.Batch.random(seed, responses);
        Random r = new Random(seed);
        float[] baselines = new float[responses], rewards = new float[responses];
        for (int s = 0; s < responses; ++s) {
            baselines[s] = r.nextInt(2);
            rewards[s] = r.nextInt(3) == 0 ? (float) r.nextGaussian() : r.nextInt(2);
        }
        float[] a = ReMax.advantages(b.tokenRewards(), baselines, b.mask(), b.sequenceOf());
        float[] outcome = ReMax.advantages(ReinforcePlusPlus.outcomeRewards(rewards, b.mask(), b.sequenceOf()),
                baselines, b.mask(), b.sequenceOf());
        for (int i = 0; i < a.length; ++i) {
            if (b.mask()[i] == 0) {
                assertEquals(0, a[i], "padding row " + i);
                assertEquals(0, outcome[i], "padding row " + i);
            }
        }
        for (int s = 0; s < responses; ++s) {
            List<Integer> rows = b.rowsOf().get(s);
            for (int t = 0; t < rows.size(); ++t) {
                double sum = 0;
                for (int k = t; k < rows.size(); ++k) sum += b.tokenRewards()[rows.get(k)];
                String where = "response " + s + ", token " + t;
                assertEquals(sum - baselines[s], a[rows.get(t)], 1e-5 * Math.max(1, Math.abs(sum)), where);
                assertEquals(rewards[s] - baselines[s], outcome[rows.get(t)], 1e-6, "outcome, " + where);
            }
        }
    }

    @Test
    void refusesWhatItCannotEstimate() {
        float[] mask = {1, 1, 0, 1};
        int[] sequenceOf = {0, 0, 0, 1};
        Refusals.assertMessage("baselines: row 1: must be finite, got NaN",
                () -> ReMax.advantages(new float[4], new float[] {0, Float.NaN}, mask, sequenceOf));
        Refusals.assertMessage("sequenceOf: names response 1, baselines has 1",
                () -> ReMax.advantages(new float[4], new float[1], mask, sequenceOf));
        Refusals.assertMessage("tokenRewards: row 1: must be finite, got Infinity", () -> ReMax.advantages(
                new float[] {0, Float.POSITIVE_INFINITY, 0, 0}, new float[2], mask, sequenceOf));
    }
}
