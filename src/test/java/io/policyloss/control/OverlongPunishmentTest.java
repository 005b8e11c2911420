package io.policyloss.control;

import static org.junit.jupiter.api.Assertions.assertEquals;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.DoubleRange;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

/**
 * DAPO's soft overlong punishment against its three cases as the paper writes them (eq. 13), verl's
 * min(-exceed / len * factor, 0) up to the longest response, and TRL's -1 beyond it.
 */
class OverlongPunishmentTest {
    @Property(tries = 500)
    void theRampOfDaposThreeCases(@ForAll @IntRange(min = 1, max = 64) int buffer,
            @ForAll @IntRange(min = 0, max = 64) int extra, @ForAll @IntRange(min = 0, max = 200) int length,
            @ForAll @DoubleRange(min = 0, max = 3) double factor) {
        int maxLength = buffer + extra;
        double dapo;
        if (length <= maxLength - buffer) dapo = 0;
        else if (length <= maxLength) dapo = ((double) (maxLength - buffer) - length) / buffer;
        else dapo = -1;
        OverlongPunishment p = new OverlongPunishment(buffer, factor);
        assertEquals(factor * dapo, p.reward(length, maxLength), 1e-12, "length " + length);
        if (length <= maxLength) {
            double exceed = length - (maxLength - buffer);
            assertEquals(Math.min(-exceed / buffer * factor, 0), p.reward(length, maxLength), 1e-12, "verl's");
        }
        float[] got = p.penalize(new float[] {1, 0}, new int[] {length, 0}, maxLength);
        assertEquals((float) (1 + factor * dapo), got[0], 1e-6);
        assertEquals(0, got[1], "an empty response");
    }

    @Test
    void refusesWhatItCannotPunish() {
        Refusals.assertMessage("buffer: must be >= 1, got 0", () -> new OverlongPunishment(0, 1));
        Refusals.assertMessage("penaltyFactor: must be finite and >= 0, got -1.0", () -> new OverlongPunishment(4, -1));
        OverlongPunishment p = new OverlongPunishment(4, 1);
        Refusals.assertMessage("maxLength: must be >= buffer (4), got 3", () -> p.reward(2, 3));
        Refusals.assertMessage("length: must be >= 0, got -1", () -> p.reward(-1, 8));
        Refusals.assertMessage("lengths: length 1, rewards has 2 rows",
                () -> p.penalize(new float[2], new int[1], 8));
        Refusals.assertMessage("rewards: row 1: must be finite, got NaN",
                () -> p.penalize(new float[] {0, Float.NaN}, new int[2], 8));
        Refusals.assertMessage("lengths: row 0: must be >= 0, got -2",
                () -> p.penalize(new float[2], new int[] {-2, 0}, 8));
    }
}
