package io.policyloss.control;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.Arrays;
import java.util.Random;
import java.util.stream.IntStream;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

/** DAPO's dynamic sampling keeps exactly the groups whose lowest reward is below their highest. */
class DynamicSamplingTest {
    @Property(tries = 300)
    void keepsTheGroupsWhoseRewardsDiffer(@ForAll long seed, @ForAll @IntRange(min = 0, max = 8) int groups,
            @ForAll @IntRange(min = 1, max = 6) int groupSize) {
        Random r = new Random(seed);
        float[] rewards = new float[groups * groupSize];
        for (int i = 0; i < rewards.length; ++i) rewards[i] = r.nextInt(4) == 0 ? 0.5f : r.nextInt(2);
        int[] want = IntStream.range(0, groups).filter(g -> {
            double lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY;
            for (int j = g * groupSize; j < (g + 1) * groupSize; ++j) {
                lo = Math.min(lo, rewards[j]);
                hi = Math.max(hi, rewards[j]);
            }
            return lo < hi;
        }).toArray();
        assertArrayEquals(want, DynamicSampling.informativeGroups(rewards, groupSize));
    }

    /** The batch: the groups that differ, in order, then those that do not, cut to its size. */
    @Property(tries = 300)
    void theBatchTakesTheGroupsThatDifferFirst(@ForAll long seed, @ForAll @IntRange(min = 0, max = 10) int drawn,
            @ForAll @IntRange(min = 2, max = 4) int groupSize, @ForAll @IntRange(min = 0, max = 10) int size) {
        int groups = Math.min(size, drawn);
        Random r = new Random(seed);
        float[] rewards = new float[drawn * groupSize];
        for (int i = 0; i < rewards.length; ++i) rewards[i] = r.nextInt(3) == 0 ? 1 : 0;
        int[] differ = DynamicSampling.informativeGroups(rewards, groupSize);
        int[] order = IntStream.concat(IntStream.of(differ),
                IntStream.range(0, drawn).filter(g -> IntStream.of(differ).noneMatch(d -> d == g))).toArray();
        assertArrayEquals(Arrays.copyOf(order, groups), DynamicSampling.batch(rewards, groupSize, groups));
    }

    @Test
    void refusesWhatItCannotGroup() {
        Refusals.assertMessage("groups: must be in [0, 2] (the groups drawn), got 3",
                () -> DynamicSampling.batch(new float[4], 2, 3));
        Refusals.assertMessage("rewards: length 3 is not a multiple of groupSize 2",
                () -> DynamicSampling.informativeGroups(new float[3], 2));
        Refusals.assertMessage("rewards: row 1: must be finite, got NaN",
                () -> DynamicSampling.informativeGroups(new float[] {0, Float.NaN}, 2));
    }
}
