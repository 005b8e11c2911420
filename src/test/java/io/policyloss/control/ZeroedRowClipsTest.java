package io.policyloss.control;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import io.policyloss.loss.FusedLoss;
import io.policyloss.loss.LossConfig;
import io.policyloss.loss.LossMetrics;
import io.policyloss.loss.LossResult;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * A row whose policy gradient a mask took (entropy masking, off-policy sequence masking, a rollout weight of 0) is
 * counted as clipped by its advantage as it came, as TRL counts {@code clip_ratio/low_mean} and {@code high_mean}
 * and verl {@code pg_clipfrac} and {@code pg_clipfrac_lower}: through the kernel, the counts of the call with the
 * moved rows plus the objective's correction are those of each loss's rule written out on the unmasked advantages.
 */
class ZeroedRowClipsTest {
    private static final int SEQUENCES = 60, LENGTH = 12, ROWS = SEQUENCES * LENGTH, VOCAB = 40;
    private static final double EPS_LOW = 0.2, EPS_HIGH = 0.28, DUAL_CLIP = 3;

    /** A written-out rule: row i's clip-low, clip-high and dual-clip counts at advantage a and ratio r. */
    private interface Oracle {
        int[] counts(int i, double a, double r);
    }

    private record Case(PolicyObjective objective, boolean rolloutWeights, Oracle oracle) {}

    @Test
    void maskedRowsCountTheirClipsByTheAdvantageTheyCameWith() {
        Random random = new Random(11);
        float[] logits = new float[ROWS * VOCAB], advantage = new float[ROWS], mask = new float[ROWS],
                weight = new float[ROWS], f = new float[ROWS];
        int[] target = new int[ROWS], sequenceOf = new int[ROWS];
        float[] sequenceAdvantage = {-1.2f, -0.4f, 0, 0.5f, 1.1f};
        for (int i = 0; i < ROWS; ++i) {
            int s = sequenceOf[i] = i / LENGTH;
            double spread = 0.3 + 3 * random.nextDouble();  // high- and low-entropy rows for the entropy mask
            for (int v = 0; v < VOCAB; ++v) logits[i * VOCAB + v] = (float) (spread * random.nextGaussian());
            target[i] = random.nextInt(VOCAB);
            mask[i] = s % 5 == 4 && i % LENGTH == LENGTH - 1 ? 0 : 1;
            weight[i] = mask[i] / ROWS;
            advantage[i] = sequenceAdvantage[s % sequenceAdvantage.length];  // one a sequence, 0 for some, as TRL's
            f[i] = mask[i] == 0 ? Float.NaN : s % 4 == 1 ? 0 : (float) (0.6 + 0.8 * random.nextDouble());
        }
        LossConfig config = LossConfig.builder().epsLow(EPS_LOW).epsHigh(EPS_HIGH).dualClipC(DUAL_CLIP).build();
        FusedLoss kernel = new FusedLoss(config);
        LossResult first = kernel.compute(F32Batches.of(logits, target, new float[ROWS], null, advantage, weight)
                .noGradient());
        float[] logp = first.logp(), entropy = first.entropy(), oldLogp = new float[ROWS];
        double[] drift = random.doubles(SEQUENCES).map(u -> 0.8 * (u - 0.5)).toArray();  // clips GSPO's ratios too
        for (int i = 0; i < ROWS; ++i) {
            double d = drift[sequenceOf[i]] + 0.3 * random.nextGaussian() + (i % 17 == 3 ? 1.5 : 0);  // r &gt; 3 too
            oldLogp[i] = (float) Math.min(logp[i] - d, 0);  // log-probabilities, as DPPO asks
        }
        double[] tokenRatio = new double[ROWS], sequenceRatio = new double[ROWS], logRatioSum = new double[SEQUENCES];
        int[] counted = new int[SEQUENCES];
        for (int i = 0; i < ROWS; ++i) {
            tokenRatio[i] = Math.exp((double) logp[i] - oldLogp[i]);
            if (mask[i] == 0) continue;
            logRatioSum[sequenceOf[i]] += (double) logp[i] - oldLogp[i];
            counted[sequenceOf[i]]++;
        }
        for (int i = 0; i < ROWS; ++i) sequenceRatio[i] = Math.exp(logRatioSum[sequenceOf[i]] / counted[sequenceOf[i]]);

        Oracle ppo = (i, a, r) -> {  // TRL's clip counts, and verl's pg_clipfrac_lower for the dual clip
            double clipped = Math.min(Math.max(r, 1 - EPS_LOW), 1 + EPS_HIGH);
            return new int[] {a < 0 && r < 1 - EPS_LOW ? 1 : 0, a > 0 && r > 1 + EPS_HIGH ? 1 : 0,
                    a < 0 && Math.max(r, clipped) > DUAL_CLIP ? 1 : 0};
        };
        Cispo cispo = new Cispo(0.8, 1.25);
        Oracle cispoRule = (i, a, r) -> new int[] {a < 0 && r < 0.8 ? 1 : 0, a > 0 && r > 1.25 ? 1 : 0, 0};
        Oracle dppoRule = (i, a, r) -> {  // Binary-TV, 0.05 either way, the ratio truncated at 1.2
            double p = Math.exp(logp[i]), q = Math.exp(oldLogp[i]);
            boolean inside = a > 0 ? p - q <= 0.05 : p - q >= -0.05;
            return new int[] {!inside && a <= 0 ? 1 : 0, !inside && a > 0 ? 1 : 0, inside && r > 1.2 ? 1 : 0};
        };
        PolicyObjective clipped = PolicyObjective.CLIPPED;
        ClipCov clipCov = new ClipCov(0.2, -10, 10);
        List<Case> cases = List.of(new Case(clipped.withTopEntropyQuantile(0.2), false, ppo),
                new Case(clipped.withOffPolicyMaskThreshold(0.05), false, ppo),
                new Case(clipped, true, ppo),
                new Case(clipped.withTopEntropyQuantile(0.2).with(clipCov), true, ppo),
                new Case(clipped.withSequenceRatio(true).withOffPolicyMaskThreshold(0.05), true, ppo),
                new Case(clipped.with(cispo).withTopEntropyQuantile(0.2).withOffPolicyMaskThreshold(0.05), true,
                        cispoRule),
                new Case(clipped.with(cispo).withSequenceRatio(true), true, cispoRule),
                new Case(clipped.with(new Dppo(Dppo.Divergence.BINARY_TV, 0.05, 0.05, 1.2)), true, dppoRule));
        for (Case c : cases) {
            PolicyObjective o = c.objective;
            float[] rolloutRatio = c.rolloutWeights ? f : null;
            PolicyObjective.Moved moved = o.move(config, logp, entropy, oldLogp, advantage, weight, mask, sequenceOf,
                    new Random(5), rolloutRatio);
            LossMetrics got = kernel.compute(F32Batches.of(logits, target, moved.oldLogp(), null, moved.advantage(),
                    weight)).metrics().plus(moved.metricsCorrection());

            // Clip-Cov's chosen tokens are its own, counted by the advantage of 0 it gives them; the masks' rows are
            // counted by the advantage they came with.
            float[] chosen = o.surrogate() instanceof ClipCov cc
                    ? cc.advantages(config, advantage, logp, oldLogp, mask, new Random(5)) : advantage;
            float[] masked = masks(o, chosen, rolloutRatio, logp, entropy, oldLogp, mask, sequenceOf);
            double[] ratio = o.sequenceRatio() ? sequenceRatio : tokenRatio;
            int[] want = new int[3], unfixed = new int[3];
            for (int i = 0; i < ROWS; ++i) {
                if (mask[i] == 0) continue;
                add(want, c.oracle.counts(i, chosen[i], ratio[i]));
                add(unfixed, c.oracle.counts(i, masked[i], ratio[i]));
            }
            assertArrayEquals(want, new int[] {(int) got.clipLow(), (int) got.clipHigh(), (int) got.dualClip()},
                    o + (c.rolloutWeights ? ", rollout weights" : ""));
            assertNotEquals(List.of(want[0], want[1], want[2]), List.of(unfixed[0], unfixed[1], unfixed[2]),
                    o + ": no masked row is clipped");
        }
    }

    /** The advantages after the objective's masks and the rollout weights, before its own loss takes them. */
    private static float[] masks(PolicyObjective o, float[] advantage, float[] f, float[] logp, float[] entropy,
            float[] oldLogp, float[] mask, int[] sequenceOf) {
        float[] a = f == null ? advantage : RolloutCorrection.weighted(advantage, f, mask);
        if (o.offPolicyMaskThreshold() != null)
            a = OffPolicySequenceMask.advantages(a, logp, oldLogp, mask, sequenceOf, o.offPolicyMaskThreshold());
        if (o.topEntropyQuantile() != null)
            a = HighEntropyTokens.advantages(a, entropy, mask,
                    HighEntropyTokens.threshold(entropy, mask, o.topEntropyQuantile()));
        return a;
    }

    private static void add(int[] sum, int[] counts) {
        for (int k = 0; k < sum.length; ++k) sum[k] += counts[k];
    }
}
