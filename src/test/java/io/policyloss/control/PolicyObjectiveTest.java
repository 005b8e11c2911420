package io.policyloss.control;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.policyloss.loss.LossConfig;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The copies with one field set are the canonical constructor's objectives with that field, the others kept; the
 * objectives that say they move each row alone move any split of the rows as they move the whole.
 */
class PolicyObjectiveTest {
    @Test
    void eachCopySetsItsFieldAlone() {
        ClipCov clipCov = ClipCov.defaults();
        PolicyObjective base = new PolicyObjective(false, 0.3, clipCov, null, null, null, null, null, 0.7);
        assertEquals(base, PolicyObjective.CLIPPED.withTopEntropyQuantile(0.3).with(clipCov)
                .withOffPolicyMaskThreshold(0.7));
        assertEquals(new PolicyObjective(true, null, clipCov, null, null, null, null, null, 0.7),
                base.withTopEntropyQuantile(null).withSequenceRatio(true));
        assertEquals(new PolicyObjective(false, 0.2, clipCov, null, null, null, null, null, 0.7),
                base.withTopEntropyQuantile(0.2));
        assertEquals(new PolicyObjective(false, 0.3, clipCov, null, null, null, null, null, null),
                base.withOffPolicyMaskThreshold(null));
        assertEquals(new PolicyObjective(false, 0.3, null, Cispo.defaults(), null, null, null, null, 0.7),
                base.with((ClipCov) null).with(Cispo.defaults()));
        assertEquals(new PolicyObjective(false, 0.3, null, null, Sapo.defaults(), null, null, null, 0.7),
                base.with((ClipCov) null).with(Sapo.defaults()));
        assertEquals(new PolicyObjective(false, null, null, null, null, KlCov.defaults(), null, null, null),
                PolicyObjective.CLIPPED.with(KlCov.defaults()));
        assertEquals(new PolicyObjective(false, null, null, null, null, null, Gmpo.defaults(), null, null),
                PolicyObjective.CLIPPED.with(Gmpo.defaults()));
        assertEquals(new PolicyObjective(false, 0.3, null, null, null, null, null, Vespo.defaults(), 0.7),
                base.with((ClipCov) null).with(Vespo.defaults()));
    }

    /**
     * CISPO and SAPO on token ratios move each row alone: moving the rows in two pieces, split anywhere (inside a
     * sequence too), gives the whole's rows bit for bit and its metrics' correction up to the sums' order. Anything
     * that reads a sequence's or the batch's rows does not say so.
     */
    @Test
    void objectivesThatMoveEachRowAloneMoveAnySplitAsTheWhole() {
        int n = 30;
        Random r = new Random(1);
        float[] logp = new float[n], entropy = new float[n], oldLogp = new float[n], advantage = new float[n],
                weight = new float[n], mask = new float[n];
        for (int i = 0; i < n; ++i) {
            logp[i] = (float) (-1 + 0.5 * r.nextGaussian());
            entropy[i] = (float) (1 + r.nextDouble());
            oldLogp[i] = logp[i] + (float) (0.4 * r.nextGaussian());
            advantage[i] = (float) r.nextGaussian();
            mask[i] = i % 7 == 6 ? 0 : 1;
            weight[i] = mask[i] / n;
        }
        LossConfig config = LossConfig.defaults();
        for (PolicyObjective objective : List.of(PolicyObjective.CLIPPED.with(Cispo.defaults()),
                PolicyObjective.CLIPPED.with(new Cispo(0.9, 1.1)), PolicyObjective.CLIPPED.with(Sapo.defaults()))) {
            assertTrue(objective.movesEachRowAlone(), objective.toString());
            PolicyObjective.Moved whole = objective.move(config, logp, entropy, oldLogp, advantage, weight, mask, null,
                    null);
            for (int k : new int[] {1, 8, 13, 29}) {
                PolicyObjective.Moved a = objective.move(config, head(logp, k), head(entropy, k), head(oldLogp, k),
                        head(advantage, k), head(weight, k), head(mask, k), null, null);
                PolicyObjective.Moved b = objective.move(config, tail(logp, k), tail(entropy, k), tail(oldLogp, k),
                        tail(advantage, k), tail(weight, k), tail(mask, k), null, null);
                assertArrayEquals(whole.advantage(), concat(a.advantage(), b.advantage()), "advantage, split " + k);
                assertArrayEquals(whole.oldLogp(), concat(a.oldLogp(), b.oldLogp()), "oldLogp, split " + k);
                double[] w = whole.metricsCorrection().toSums(), s = a.metricsCorrection().plus(b.metricsCorrection())
                        .toSums();
                for (int m = 0; m < w.length; ++m)
                    assertEquals(w[m], s[m], 1e-12 * (1 + Math.abs(w[m])), "metric " + m);
            }
        }
        for (PolicyObjective objective : List.of(PolicyObjective.CLIPPED,
                PolicyObjective.CLIPPED.with(Cispo.defaults()).withSequenceRatio(true),
                PolicyObjective.CLIPPED.with(Sapo.defaults()).withTopEntropyQuantile(0.2),
                PolicyObjective.CLIPPED.with(Cispo.defaults()).withOffPolicyMaskThreshold(0.1),
                PolicyObjective.CLIPPED.with(ClipCov.defaults()), PolicyObjective.CLIPPED.with(KlCov.defaults()),
                PolicyObjective.CLIPPED.with(Gmpo.defaults()), PolicyObjective.CLIPPED.with(Vespo.defaults())))
            assertFalse(objective.movesEachRowAlone(), objective.toString());
    }

    private static float[] head(float[] a, int k) {
        return Arrays.copyOf(a, k);
    }

    private static float[] tail(float[] a, int k) {
        return Arrays.copyOfRange(a, k, a.length);
    }

    private static float[] concat(float[] a, float[] b) {
        float[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
