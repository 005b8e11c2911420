package io.policyloss.control;

import static io.policyloss.control.Refusals.assertMessage;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.policyloss.loss.LossConfig;
import java.util.Arrays;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** Clip-Cov's choice of tokens, against covariances worked out by hand and the rule's stated properties. */
class ClipCovTest {
    private static final LossConfig CLIP = LossConfig.builder().epsLow(0.2).epsHigh(0.28).build();

    /**
     * Counted tokens with A = 2, 2, -2, -2, 0 (mean 0) and logp = -1, -3, -1, -3, -2 (mean -2): covariance terms 2,
     * -2, -2, 2, 0, so rows 0 and 3 lie in (1, 5). Row 5 is padding, whose values would move both means.
     */
    @Test
    void theCandidatesAreTheUnclippedTokensInTheCovarianceBand() {
        float[] advantage = {2, 2, -2, -2, 0, 1000}, logp = {-1, -3, -1, -3, -2, -100}, mask = {1, 1, 1, 1, 1, 0};
        float[] onPolicy = logp.clone();
        ClipCov all = new ClipCov(1.0, 1, 5), few = ClipCov.defaults();
        assertArrayEquals(new float[] {0, 2, -2, 0, 0, 1000},
                all.advantages(CLIP, advantage, logp, onPolicy, mask, new SplittableRandom(1)), "both candidates");
        ClipCov.Choice both = all.choose(CLIP, advantage, logp, onPolicy, mask, new SplittableRandom(1));
        assertArrayEquals(new int[] {0, 3}, IntStream.of(both.tokens()).sorted().toArray());
        assertEquals(2.0 / 5, both.clipFraction(), "verl's pg_clipfrac: 2 of the 5 counted tokens, padding aside");
        int[] picked = new int[6];
        for (int seed = 0; seed < 200; ++seed) {
            ClipCov.Choice one = few.choose(CLIP, advantage, logp, onPolicy, mask, new SplittableRandom(seed));
            float[] a = one.advantages();
            for (int i = 0; i < 6; ++i) picked[i] += a[i] != advantage[i] ? 1 : 0;
            assertEquals(1, one.tokens().length);
            assertEquals(0f, a[one.tokens()[0]], "the token named is the one zeroed");
            assertEquals(1.0 / 5, one.clipFraction());
        }
        assertEquals(200, picked[0] + picked[3], "one token a call (2e-4 of 5 rounds down, to the minimum of 1)");
        assertTrue(picked[0] > 60 && picked[3] > 60, "either candidate: " + picked[0] + " / " + picked[3]);

        // Row 3 clipped-low (A < 0, r = exp(-0.5) < 0.8): row 0 is the only candidate left.
        float[] offPolicy = onPolicy.clone();
        offPolicy[3] += 0.5f;
        assertArrayEquals(new float[] {0, 2, -2, -2, 0, 1000},
                all.advantages(CLIP, advantage, logp, offPolicy, mask, new SplittableRandom(1)));
        assertArrayEquals(advantage, new ClipCov(1.0, 2, 5).advantages(CLIP, advantage, logp, onPolicy, mask,
                new SplittableRandom(1)), "the band's bounds are exclusive: none at 2");
    }

    @Test
    void aFractionOfTheCandidatesLosesItsAdvantage() {
        int rows = 5000;
        Random r = new Random(4);
        float[] advantage = new float[rows], logp = new float[rows], oldLogp = new float[rows], mask = new float[rows];
        for (int i = 0; i < rows; ++i) {
            mask[i] = i % 9 == 8 ? 0 : 1;
            advantage[i] = (float) (r.nextBoolean() ? 1 + r.nextDouble() : -1 - r.nextDouble());
            logp[i] = (float) (-3 * r.nextDouble() - 0.05);
            oldLogp[i] = (float) (logp[i] + 0.25 * r.nextGaussian());
        }
        ClipCov clipCov = new ClipCov(0.01, 0.5, 3);
        ClipCov.Choice choice = clipCov.choose(CLIP, advantage, logp, oldLogp, mask, new SplittableRandom(7));
        float[] got = choice.advantages();
        double meanA = 0, meanLogp = 0, counted = 0;
        for (int i = 0; i < rows; ++i) {
            meanA += mask[i] * advantage[i];
            meanLogp += mask[i] * logp[i];
            counted += mask[i];
        }
        meanA /= counted;
        meanLogp /= counted;
        int candidates = 0, zeroed = 0;
        for (int i = 0; i < rows; ++i) {
            double ratio = Math.exp((double) logp[i] - oldLogp[i]);
            boolean unclipped = advantage[i] > 0 ? ratio <= 1.28 : ratio >= 0.8;  // PPO's clip inactive
            double cov = (advantage[i] - meanA) * (logp[i] - meanLogp);
            boolean candidate = mask[i] == 1 && unclipped && cov > 0.5 && cov < 3;
            candidates += candidate ? 1 : 0;
            if (got[i] == advantage[i]) continue;
            zeroed++;
            assertEquals(0f, got[i], "row " + i);
            assertTrue(candidate, "row " + i + " is not a candidate (cov " + cov + ", ratio " + ratio + ")");
        }
        assertTrue(candidates > 2 * (int) (0.01 * counted), candidates + " candidates");
        assertEquals((int) (0.01 * counted), zeroed, "1% of " + counted + " counted tokens");
        // verl: masked_mean((corr == 0).float(), response_mask), corr 0 on the chosen tokens.
        float[] corr = new float[rows];
        Arrays.fill(corr, 1);
        for (int i : choice.tokens()) corr[i] = 0;
        double chosenCounted = 0;
        for (int i = 0; i < rows; ++i) chosenCounted += corr[i] == 0 ? mask[i] : 0;
        assertArrayEquals(IntStream.range(0, rows).filter(i -> got[i] != advantage[i]).toArray(),
                IntStream.of(choice.tokens()).sorted().toArray(), "each zeroed token named once, and no other");
        assertEquals(chosenCounted / counted, choice.clipFraction(), 1e-15);
        assertEquals(0.0, clipCov.choose(CLIP, advantage, logp, oldLogp, new float[rows], new SplittableRandom(7))
                .clipFraction(), "no counted token: verl's masked mean of nothing");
    }

    @Test
    void badArgumentsNameTheArgumentAndRow() {
        float[] two = {0f, 0f}, mask = {1f, 0f};
        SplittableRandom random = new SplittableRandom(1);
        assertMessage("clipRatio: must be in (0, 1], got 0.0", () -> new ClipCov(0, 1, 5));
        assertMessage("upper: must be > lower (1.0), got 1.0", () -> new ClipCov(1e-3, 1, 1));
        assertMessage("logp: length 1, mask has 2 rows",
                () -> ClipCov.defaults().advantages(CLIP, two, new float[1], two, mask, random));
        assertMessage("oldLogp: row 0: must be finite, got Infinity", () -> ClipCov.defaults().advantages(CLIP, two,
                two, new float[] {Float.POSITIVE_INFINITY, 0f}, mask, random));
    }
}
