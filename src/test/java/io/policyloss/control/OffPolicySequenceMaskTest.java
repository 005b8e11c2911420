package io.policyloss.control;

import static io.policyloss.control.Refusals.assertMessage;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.policyloss.loss.LossConfig;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Off-policy sequence masking against TRL's {@code get_off_policy_mask} written out here: keep a sequence where its
 * advantage is &gt;= 0 or the mean over its counted tokens of sampling logp - current logp is &lt;= the threshold;
 * TRL multiplies the per-token policy loss by that mask, which is an advantage of 0 on the masked tokens.
 */
class OffPolicySequenceMaskTest {
    /** Sequences of 1 to 6 counted tokens and a padding row each; the advantage is the sequence's. */
    private record Batch(float[] advantage, float[] logp, float[] oldLogp, float[] mask, int[] sequenceOf,
            int sequences) {
        static Batch random(long seed) {
            Random r = new Random(seed);
            int sequences = 40, n = 0;
            int[] length = new int[sequences];
            for (int s = 0; s < sequences; ++s) n += (length[s] = 1 + r.nextInt(6)) + 1;
            float[] advantage = new float[n], logp = new float[n], oldLogp = new float[n], mask = new float[n];
            int[] sequenceOf = new int[n];
            for (int s = 0, i = 0; s < sequences; ++s) {
                float a = (float) r.nextGaussian(), drift = (float) (0.1 * r.nextGaussian());
                for (int t = 0; t < length[s] + 1; ++t, ++i) {
                    sequenceOf[i] = s;
                    mask[i] = t < length[s] ? 1 : 0;
                    advantage[i] = mask[i] == 0 ? Float.NaN : a;  // a padding row is not read
                    logp[i] = (float) (-2 * r.nextDouble());
                    oldLogp[i] = (float) (logp[i] + drift + 0.05 * r.nextGaussian());
                }
            }
            return new Batch(advantage, logp, oldLogp, mask, sequenceOf, sequences);
        }

        /** TRL: (advantages >= 0) | (mean_t (sampling - current) <= threshold), per sequence. */
        boolean[] keep(double threshold) {
            double[] kl = new double[sequences], tokens = new double[sequences];
            boolean[] negative = new boolean[sequences];
            for (int i = 0; i < mask.length; ++i) {
                if (mask[i] == 0) continue;
                kl[sequenceOf[i]] += (double) oldLogp[i] - logp[i];
                tokens[sequenceOf[i]]++;
                negative[sequenceOf[i]] = advantage[i] < 0;
            }
            boolean[] keep = new boolean[sequences];
            for (int s = 0; s < sequences; ++s) keep[s] = !negative[s] || kl[s] / Math.max(tokens[s], 1) <= threshold;
            return keep;
        }
    }

    @Test
    void masksTheSequencesTrlMasks() {
        Batch b = Batch.random(7);
        for (double threshold : new double[] {-0.05, 0, 0.03, 0.1}) {
            boolean[] keep = b.keep(threshold);
            float[] got = OffPolicySequenceMask.advantages(b.advantage, b.logp, b.oldLogp, b.mask, b.sequenceOf,
                    threshold);
            int masked = 0;
            for (int i = 0; i < got.length; ++i) {
                if (b.mask[i] == 0) {
                    assertTrue(Float.isNaN(got[i]), "row " + i + ": a padding row as given");
                    continue;
                }
                boolean kept = keep[b.sequenceOf[i]];
                assertEquals(kept ? b.advantage[i] : 0f, got[i], "row " + i + " at threshold " + threshold);
                masked += kept ? 0 : 1;
            }
            assertTrue(masked > 0 && masked < got.length / 2, masked + " rows masked at " + threshold);
        }
        float[] none = OffPolicySequenceMask.advantages(b.advantage, b.logp, b.oldLogp, b.mask, b.sequenceOf,
                Double.POSITIVE_INFINITY);
        assertArrayEquals(b.advantage, none, "+inf masks nothing");
        float[] all = OffPolicySequenceMask.advantages(b.advantage, b.logp, b.oldLogp, b.mask, b.sequenceOf,
                Double.NEGATIVE_INFINITY);
        for (int i = 0; i < all.length; ++i)
            if (b.mask[i] != 0) assertEquals(b.advantage[i] < 0 ? 0f : b.advantage[i], all[i], "row " + i);
    }

    /** Mean KLs 0.5, 0.5 and 0.75 at threshold 0.5: TRL keeps a sequence at the threshold, and any of A &gt;= 0. */
    @Test
    void aWorkedBatch() {
        float[] advantage = {-1, 2, 2, -1, -1}, logp = {-1, -1, -1, -1, -2}, oldLogp = {-0.5f, -0.25f, -0.25f, -0.5f,
                -1}, mask = {1, 1, 1, 1, 1};
        int[] sequenceOf = {0, 1, 1, 2, 2};  // KL 0.5, 0.75 (A > 0), 0.75
        assertArrayEquals(new float[] {-1, 2, 2, 0, 0},
                OffPolicySequenceMask.advantages(advantage, logp, oldLogp, mask, sequenceOf, 0.5));
    }

    /**
     * In a PolicyObjective the mask comes after Clip-Cov and before the loss's own rows: with CISPO the moved rows are
     * CISPO's on the masked advantages; with GSPO, GSPO's old log-probs and the masked advantages.
     */
    @Test
    void aPolicyObjectiveMasksBeforeTheLossTakesTheRows() {
        Batch b = Batch.random(8);
        float[] weight = new float[b.mask.length], entropy = new float[b.mask.length];
        for (int i = 0; i < weight.length; ++i) weight[i] = b.mask[i] / 100;
        double threshold = 0.02;
        float[] masked = OffPolicySequenceMask.advantages(b.advantage, b.logp, b.oldLogp, b.mask, b.sequenceOf,
                threshold);
        LossConfig config = LossConfig.defaults();
        PolicyObjective cispo = PolicyObjective.CLIPPED.with(Cispo.defaults());
        PolicyObjective cispoMasked =
                PolicyObjective.CLIPPED.with(Cispo.defaults()).withOffPolicyMaskThreshold(threshold);
        PolicyObjective.Moved want = cispo.move(config, b.logp, entropy, b.oldLogp, masked, weight, b.mask,
                b.sequenceOf, null);
        PolicyObjective.Moved got = cispoMasked.move(config, b.logp, entropy, b.oldLogp, b.advantage, weight, b.mask,
                b.sequenceOf, null);
        assertArrayEquals(want.advantage(), got.advantage());
        assertArrayEquals(want.oldLogp(), got.oldLogp());
        assertEquals(want.metricsCorrection(), got.metricsCorrection());
        PolicyObjective gspoMasked = PolicyObjective.CLIPPED.withSequenceRatio(true).withOffPolicyMaskThreshold(threshold);
        got = gspoMasked.move(config, b.logp, entropy, b.oldLogp, b.advantage, weight, b.mask, b.sequenceOf, null);
        assertArrayEquals(masked, got.advantage());
        assertArrayEquals(SequenceImportanceRatio.tokenOldLogp(b.logp, b.oldLogp, b.mask, b.sequenceOf),
                got.oldLogp());
    }

    @Test
    void badArgumentsNameTheArgumentAndRow() {
        float[] two = {0f, 0f}, mask = {1f, 0f};
        int[] sequenceOf = {0, 0};
        assertMessage("threshold: must not be NaN",
                () -> OffPolicySequenceMask.advantages(two, two, two, mask, sequenceOf, Double.NaN));
        assertMessage("advantage: row 0: must be finite, got NaN", () -> OffPolicySequenceMask.advantages(
                new float[] {Float.NaN, 0}, two, two, mask, sequenceOf, 0));
        assertMessage("logp: row 0: must be finite, got Infinity", () -> OffPolicySequenceMask.advantages(two,
                new float[] {Float.POSITIVE_INFINITY, 0}, two, mask, sequenceOf, 0));
        assertMessage("sequenceOf: length 1, expected 2 (the mask length)",
                () -> OffPolicySequenceMask.advantages(two, two, two, mask, new int[1], 0));
        assertMessage("offPolicyMaskThreshold: must not be NaN",
                () -> PolicyObjective.CLIPPED.withOffPolicyMaskThreshold(Double.NaN));
        assertMessage("offPolicyMaskThreshold: off-policy sequence masking with KL-Cov is neither verl's nor TRL's "
                + "loss; choose one", () -> PolicyObjective.CLIPPED.with(KlCov.defaults()).withOffPolicyMaskThreshold(
                0.1));
        assertMessage("offPolicyMaskThreshold: off-policy sequence masking with GMPO is neither verl's nor TRL's "
                + "loss; choose one", () -> PolicyObjective.CLIPPED.withOffPolicyMaskThreshold(0.1).with(
                Gmpo.defaults()));
        PolicyObjective masked = PolicyObjective.CLIPPED.withOffPolicyMaskThreshold(0.1);
        NullPointerException e = assertThrows(NullPointerException.class,
                () -> masked.move(LossConfig.defaults(), two, two, two, two, two, mask, null, null));
        assertEquals("sequenceOf", e.getMessage());
    }
}
