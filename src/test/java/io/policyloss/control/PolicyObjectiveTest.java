package io.policyloss.control;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.policyloss.loss.LossConfig;
import io.policyloss.loss.LossMetrics;
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
        PolicyObjective base = new PolicyObjective(false, 0.3, clipCov, 0.7);
        assertEquals(base, PolicyObjective.CLIPPED.withTopEntropyQuantile(0.3).with(clipCov)
                .withOffPolicyMaskThreshold(0.7));
        assertEquals(new PolicyObjective(true, null, clipCov, 0.7),
                base.withTopEntropyQuantile(null).withSequenceRatio(true));
        assertEquals(new PolicyObjective(false, 0.2, clipCov, 0.7), base.withTopEntropyQuantile(0.2));
        assertEquals(new PolicyObjective(false, 0.3, clipCov, null), base.withOffPolicyMaskThreshold(null));
        assertEquals(new PolicyObjective(false, 0.3, null, 0.7), base.with(null));
        // A surrogate takes the place of the one set: at most one replaces PPO's clip.
        for (Surrogate s : List.of(Cispo.defaults(), Sapo.defaults(), Vespo.defaults()))
            assertEquals(new PolicyObjective(false, 0.3, s, 0.7), base.with(s));
        for (Surrogate s : List.of(KlCov.defaults(), Gmpo.defaults(), Dppo.binaryKl()))
            assertEquals(new PolicyObjective(false, null, s, null), PolicyObjective.CLIPPED.with(Cispo.defaults())
                    .with(s));
    }

    /**
     * The KL term weighted by the ratio (TRL's use_bias_correction_kl) rides on every objective: on each token's own
     * ratio in the kernel (PPO's clipped loss, Clip-Cov and the masks move no old log-prob), and through the advantages
     * of the losses at ratio 1 (RatioOneKlBiasCorrectionTest), where GSPO goes with it, since the sequence ratio takes
     * its gradient into every token of the sequence. There Entropy-Adv, which shapes the advantage by its size, is
     * refused, as with the other losses at ratio 1, and GSPO without the term keeps it.
     */
    @Test
    void theKlWeightedByTheRatioRidesOnEveryObjective() {
        LossConfig weightedKl = LossConfig.builder().klCoef(0.04).klBiasCorrection(true).build();
        PolicyObjective gspo = PolicyObjective.CLIPPED.withSequenceRatio(true);
        for (PolicyObjective o : List.of(PolicyObjective.CLIPPED, PolicyObjective.CLIPPED.with(ClipCov.defaults()),
                PolicyObjective.CLIPPED.withTopEntropyQuantile(0.2).withOffPolicyMaskThreshold(0.5),
                PolicyObjective.CLIPPED.with(Cispo.defaults()), PolicyObjective.CLIPPED.with(Sapo.defaults()),
                PolicyObjective.CLIPPED.with(KlCov.defaults()), PolicyObjective.CLIPPED.with(Gmpo.defaults()),
                PolicyObjective.CLIPPED.with(Vespo.defaults()), PolicyObjective.CLIPPED.with(Dppo.binaryTv()), gspo,
                gspo.with(Cispo.defaults())))
            o.check(weightedKl);
        LossConfig shaped = weightedKl.toBuilder().entropyAdvBeta(0.4).build();
        Refusals.assertMessage("loss.entropyAdvBeta: Entropy-Adv shapes the advantage by its size, and GSPO under "
                + "loss.klBiasCorrection rides on the advantage (ReweightedPolicyGradient says why); choose one",
                () -> gspo.check(shaped));
        gspo.check(shaped.toBuilder().klBiasCorrection(false).build());
        gspo.check(shaped.toBuilder().klCoef(0).build());
    }

    /**
     * CISPO, SAPO and DPPO on token ratios move each row alone: moving the rows in two pieces, split anywhere (inside a
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
            logp[i] = (float) Math.min(-1 + 0.5 * r.nextGaussian(), 0);  // log-probabilities, as DPPO asks
            entropy[i] = (float) (1 + r.nextDouble());
            oldLogp[i] = Math.min(logp[i] + (float) (0.4 * r.nextGaussian()), 0);
            advantage[i] = (float) r.nextGaussian();
            mask[i] = i % 7 == 6 ? 0 : 1;
            weight[i] = mask[i] / n;
        }
        LossConfig config = LossConfig.defaults();
        for (PolicyObjective objective : List.of(PolicyObjective.CLIPPED.with(Cispo.defaults()),
                PolicyObjective.CLIPPED.with(new Cispo(0.9, 1.1)), PolicyObjective.CLIPPED.with(Sapo.defaults()),
                PolicyObjective.CLIPPED.with(new Dppo(Dppo.Divergence.BINARY_TV, 0.05, 0.05, 1.2)),
                PolicyObjective.CLIPPED.with(Dppo.binaryKl()))) {
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

    /**
     * Entropy masking takes its threshold where it is told (every rank's, over data-parallel ranks): the given one
     * masks as HighEntropyTokens does with it, GMPO's geometric mean leaves out the tokens it masks, and an objective
     * without entropy masking never asks for it (a gather is a collective).
     */
    @Test
    void entropyMaskingTakesTheThresholdItIsGiven() {
        int n = 30;
        Random r = new Random(4);
        float[] logp = new float[n], entropy = new float[n], oldLogp = new float[n], advantage = new float[n],
                weight = new float[n], mask = new float[n];
        int[] sequenceOf = new int[n];
        for (int i = 0; i < n; ++i) {
            sequenceOf[i] = i / 5;
            logp[i] = (float) (-1 + 0.5 * r.nextGaussian());
            entropy[i] = (float) (2 * r.nextDouble());
            oldLogp[i] = logp[i] + (float) (0.2 * r.nextGaussian());
            advantage[i] = (float) r.nextGaussian();
            mask[i] = i % 5 == 4 ? 0 : 1;
            weight[i] = mask[i] / n;
        }
        LossConfig config = LossConfig.defaults();
        double given = 1.5;  // above this batch's own 0.3 quantile
        assertTrue(given > HighEntropyTokens.threshold(entropy, mask, 0.3));
        int[] calls = {0};
        HighEntropyTokens.Threshold threshold = (e, m, rho) -> {
            calls[0]++;
            assertEquals(0.3, rho);
            assertArrayEquals(entropy, e);
            return given;
        };
        PolicyObjective masking = PolicyObjective.CLIPPED.withTopEntropyQuantile(0.3);
        float[] got = masking.move(config, logp, entropy, oldLogp, null, advantage, weight, mask, sequenceOf, null,
                null, threshold).advantage();
        assertArrayEquals(HighEntropyTokens.advantages(advantage, entropy, mask, given), got);
        assertFalse(Arrays.equals(masking.move(config, logp, entropy, oldLogp, advantage, weight, mask, sequenceOf,
                null).advantage(), got), "the rows' own threshold masks other tokens");
        Gmpo gmpo = Gmpo.defaults();
        float[] kept = HighEntropyTokens.kept(entropy, mask, given);
        assertArrayEquals(gmpo.entropyMaskedAdvantages(advantage, logp, oldLogp, mask, kept, sequenceOf),
                PolicyObjective.CLIPPED.with(gmpo).withTopEntropyQuantile(0.3).move(config, logp, entropy, oldLogp,
                        null, advantage, weight, mask, sequenceOf, null, null, threshold).advantage());
        assertEquals(2, calls[0], "once a move");
        PolicyObjective.CLIPPED.with(Cispo.defaults()).move(config, logp, entropy, oldLogp, null, advantage, weight,
                mask, sequenceOf, null, null, threshold);
        assertEquals(2, calls[0], "not asked without entropy masking");
        assertEquals("entropyThreshold", assertThrows(NullPointerException.class, () -> masking.move(config, logp,
                entropy, oldLogp, null, advantage, weight, mask, sequenceOf, null, null, null)).getMessage());
    }

    /**
     * With rollout ratios f, each objective's rows are those of the advantages f A, but Clip-Cov's are its rows of A
     * weighted after its choice (verl's order), GMPO's weighted by each sequence's geometric mean of f after its clip
     * (verl's), and VESPO's fold f into its sequence weight (TRL's); KL-Cov refuses. The rows of f = 0 keep their
     * clip counts by A ({@link ZeroedRowClipsTest}): the corrections are compared without them.
     */
    @Test
    void rolloutRatiosWeighThePolicyGradientAsTrlAndVerlDo() {
        int n = 48;
        Random r = new Random(2);
        float[] logp = new float[n], entropy = new float[n], oldLogp = new float[n], advantage = new float[n],
                weight = new float[n], mask = new float[n], f = new float[n];
        int[] sequenceOf = new int[n];
        for (int i = 0; i < n; ++i) {
            sequenceOf[i] = i / 6;
            logp[i] = (float) (-1 + 0.5 * r.nextGaussian());
            entropy[i] = (float) (1 + r.nextDouble());
            oldLogp[i] = logp[i] + (float) (0.3 * r.nextGaussian());
            advantage[i] = (float) (sequenceOf[i] % 3 - 1 + 0.1 * r.nextGaussian());
            mask[i] = i % 6 == 5 ? 0 : 1;
            weight[i] = mask[i] / n;
            f[i] = mask[i] == 0 ? Float.NaN : sequenceOf[i] % 4 == 0 ? 0 : (float) (0.5 + r.nextDouble());
        }
        float[] fa = advantage.clone();
        for (int i = 0; i < n; ++i) if (mask[i] != 0) fa[i] = (float) ((double) advantage[i] * f[i]);
        LossConfig config = LossConfig.defaults();
        for (PolicyObjective objective : List.of(PolicyObjective.CLIPPED,
                PolicyObjective.CLIPPED.with(Cispo.defaults()),
                PolicyObjective.CLIPPED.with(Sapo.defaults()).withSequenceRatio(true),
                PolicyObjective.CLIPPED.withSequenceRatio(true),
                PolicyObjective.CLIPPED.withTopEntropyQuantile(0.3).withOffPolicyMaskThreshold(0.05))) {
            PolicyObjective.Moved got = objective.move(config, logp, entropy, oldLogp, advantage, weight, mask,
                    sequenceOf, null, f);
            PolicyObjective.Moved want = objective.move(config, logp, entropy, oldLogp, fa, weight, mask, sequenceOf,
                    null);
            assertArrayEquals(want.advantage(), got.advantage(), objective.toString());
            assertArrayEquals(want.oldLogp(), got.oldLogp(), objective.toString());
            assertEquals(withoutClipCounts(want.metricsCorrection()), withoutClipCounts(got.metricsCorrection()),
                    objective.toString());
        }
        // DPPO too, on log-probabilities (its divergences are of probabilities).
        float[] lp = atMostZero(logp), olp = atMostZero(oldLogp);
        PolicyObjective dppo = PolicyObjective.CLIPPED.with(new Dppo(Dppo.Divergence.BINARY_TV, 0.05, 0.05, 1.2));
        PolicyObjective.Moved dppoGot = dppo.move(config, lp, entropy, olp, advantage, weight, mask, sequenceOf, null,
                f);
        PolicyObjective.Moved dppoWant = dppo.move(config, lp, entropy, olp, fa, weight, mask, sequenceOf, null);
        assertArrayEquals(dppoWant.advantage(), dppoGot.advantage());
        assertEquals(withoutClipCounts(dppoWant.metricsCorrection()), withoutClipCounts(dppoGot.metricsCorrection()));
        assertTrue(dppoWant.metricsCorrection().clipLow() + dppoWant.metricsCorrection().clipHigh() > 0,
                "DPPO masked none");

        PolicyObjective clipCov = PolicyObjective.CLIPPED.with(new ClipCov(0.2, -10, 10));
        float[] chosen = clipCov.move(config, logp, entropy, oldLogp, advantage, weight, mask, null, new Random(3))
                .advantage();
        float[] got = clipCov.move(config, logp, entropy, oldLogp, advantage, weight, mask, null, new Random(3), f)
                .advantage();
        int zeroed = 0;
        for (int i = 0; i < n; ++i) {
            if (mask[i] == 0) continue;
            zeroed += chosen[i] == 0 ? 1 : 0;
            assertEquals((float) ((double) chosen[i] * f[i]), got[i], "Clip-Cov row " + i);
        }
        assertTrue(zeroed > 0, "Clip-Cov chose no token");
        assertFalse(Arrays.equals(got, clipCov.move(config, logp, entropy, oldLogp, fa, weight, mask, null,
                new Random(3)).advantage()), "choosing on the weighted advantages would choose otherwise");

        // GMPO weighs each sequence's loss by the geometric mean of its f after its clip (verl's geo_mean), VESPO folds
        // f into its sequence weight (TRL's): each rule's own rows; weighing each token first would give others, f
        // being a token's own here and 0 on whole sequences.
        for (SequenceWeightedPolicyGradient rule : List.of(Gmpo.defaults(), Vespo.defaults())) {
            PolicyObjective objective = rule instanceof Gmpo g ? PolicyObjective.CLIPPED.with(g)
                    : PolicyObjective.CLIPPED.with((Vespo) rule);
            PolicyObjective.Moved m = objective.move(config, logp, entropy, oldLogp, advantage, weight, mask,
                    sequenceOf, null, f);
            assertArrayEquals(rule.advantages(advantage, logp, oldLogp, mask, sequenceOf, f), m.advantage());
            assertEquals(rule.metricsCorrection(advantage, ImportanceRatios.token(logp, oldLogp, mask), logp, oldLogp,
                    weight, mask, sequenceOf, f), m.metricsCorrection());
            assertFalse(Arrays.equals(m.advantage(), objective.move(config, logp, entropy, oldLogp, fa, weight, mask,
                    sequenceOf, null).advantage()), rule + ": weighing each token first");
        }

        Refusals.assertMessage("rolloutRatio: not with KL-Cov, whose metrics correction would miss the weights; weigh "
                + "its advantages outside", () -> PolicyObjective.CLIPPED.with(KlCov.defaults()).move(config, logp,
                entropy, oldLogp, advantage, weight, mask, null, null, f));
        float[] bad = f.clone();
        bad[7] = -0.5f;
        Refusals.assertMessage("rolloutRatio: row 7: must be finite and >= 0, got -0.5", () -> PolicyObjective.CLIPPED
                .move(config, null, null, oldLogp, advantage, weight, mask, null, null, bad));
        bad[7] = Float.POSITIVE_INFINITY;
        Refusals.assertMessage("rolloutRatio: row 7: must be finite and >= 0, got Infinity", () -> PolicyObjective
                .CLIPPED.move(config, null, null, oldLogp, advantage, weight, mask, null, null, bad));
        Refusals.assertMessage("rolloutRatio: length 47, mask has 48 rows", () -> PolicyObjective.CLIPPED
                .move(config, null, null, oldLogp, advantage, weight, mask, null, null, Arrays.copyOf(f, 47)));
    }

    private static LossMetrics withoutClipCounts(LossMetrics m) {
        return new LossMetrics(m.loss(), m.validRows(), m.sumEntropy(), m.sumClampedEntropy(), 0, 0, 0,
                m.ratioClamped(), m.sumRatio(), m.sumApproxKl(), m.sumKl(), m.sumWeight());
    }

    private static float[] atMostZero(float[] a) {
        float[] out = a.clone();
        for (int i = 0; i < a.length; ++i) out[i] = Math.min(a[i], 0);
        return out;
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
