package io.policyloss.control;

import io.policyloss.loss.LossConfig;
import io.policyloss.loss.LossMetrics;
import java.util.stream.IntStream;

/**
 * The clip counts of the rows whose advantage a mask set to 0 (entropy masking, off-policy sequence masking, a
 * rollout weight f of 0). TRL multiplies those tokens' policy loss by 0 (or by f) and counts their clips by the
 * advantage as it came, over the completion mask (its {@code clip_ratio/low_mean} and {@code high_mean}); verl counts
 * {@code pg_clipfrac} and {@code pg_clipfrac_lower} before it multiplies by the rollout weights. Here the mask is an
 * advantage of 0, by whose sign the kernel, and the corrections of the losses it runs at ratio 1, count the row: under
 * entropy masking, most rows would be counted nowhere. {@link #correction} moves each such row from its count at 0 to
 * its count at the advantage as it came.
 */
final class ZeroedRowClips {
    private ZeroedRowClips() {}

    /** One row's clip counts, in the kernel's three places: clip-low, clip-high and the dual clip. */
    record RowClips(boolean low, boolean high, boolean dual) {
        static final RowClips NONE = new RowClips(false, false, false);
    }

    /** How a loss counts row i's clip were its advantage the one given (SequenceClips: sequence i's). */
    @FunctionalInterface
    interface Rule {
        RowClips at(int row, double advantage);
    }

    /**
     * The counted rows whose advantage came nonzero and left the masks as 0.
     *
     * @param unmasked each row's advantage before the masks (after Clip-Cov's choice, whose tokens stay its own)
     * @param masked each row's advantage after them
     */
    static int[] rows(float[] unmasked, float[] masked, float[] mask) {
        return IntStream.range(0, mask.length).filter(i -> mask[i] != 0 && unmasked[i] != 0 && masked[i] == 0)
                .toArray();
    }

    /**
     * What to add to the metrics so that each of the {@link #rows} counts as {@code rule} counts it at the advantage
     * it came with, and no longer as at 0.
     */
    static LossMetrics correction(float[] unmasked, float[] masked, float[] mask, Rule rule) {
        double low = 0, high = 0, dual = 0;
        for (int i : rows(unmasked, masked, mask)) {
            RowClips now = rule.at(i, unmasked[i]), was = rule.at(i, 0);
            low += count(now.low) - count(was.low);
            high += count(now.high) - count(was.high);
            dual += count(now.dual) - count(was.dual);
        }
        return new LossMetrics(0, 0, 0, 0, low, high, dual, 0, 0, 0, 0, 0);
    }

    /**
     * PPO's clipped loss as the kernel counts a row of ratio r (SPEC section 5, in its float arithmetic): clipped low
     * where A &lt; 0 and r &lt; 1 - eps_low, high where A &gt; 0 and r &gt; 1 + eps_high, and the dual clip where
     * A &lt; 0 and -A c is below the clipped loss, -A max(r, clip(r)).
     *
     * @param ratio each row's ratio as the kernel computes it: the token's own, or its sequence's under GSPO
     */
    static Rule ppo(LossConfig config, double[] ratio) {
        float low = 1f - (float) config.epsLow(), high = 1f + (float) config.epsHigh(), c = (float) config.dualClipC();
        return (i, advantage) -> {
            float r = (float) ratio[i], clipped = Math.min(Math.max(r, low), high);
            boolean dual = c > 0 && advantage < 0 && c < Math.max(r, clipped);
            return new RowClips(advantage < 0 && r < low, advantage > 0 && r > high, dual);
        };
    }

    /** CISPO's or SAPO's own counts of a row of ratio r ({@code clippedLow}, {@code clippedHigh}); no dual clip. */
    static Rule reweighted(ReweightedPolicyGradient surrogate, double[] ratio) {
        return (i, advantage) -> new RowClips(surrogate.clippedLow(ratio[i], advantage),
                surrogate.clippedHigh(ratio[i], advantage), false);
    }

    private static int count(boolean b) {
        return b ? 1 : 0;
    }
}
