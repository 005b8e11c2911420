package io.policyloss.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.policyloss.loss.LossConfig;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * What {@link PolicyObjective#move} counts beyond the kernel's metrics: a sequence ratio's clips are {@link
 * SequenceClips}' (TRL's rule, checked in SequenceClipsTest) of the advantages the sequences came with, masked or not,
 * and Clip-Cov's chosen tokens are its {@link ClipCov.Choice}'s; the other objectives count none, and token-level
 * advantages, which have no sequence's advantage to count by, leave the sequence counts out.
 */
class ObjectiveMetricsTest {
    private static final int SEQUENCES = 16, LENGTH = 6, N = SEQUENCES * LENGTH;
    private static final LossConfig CONFIG = LossConfig.builder().epsLow(0.2).epsHigh(0.28).build();

    private final float[] logp = new float[N], entropy = new float[N], oldLogp = new float[N],
            advantage = new float[N], weight = new float[N], mask = new float[N];
    private final int[] sequenceOf = new int[N];

    /**
     * Sequences of 3 to 6 counted tokens, one advantage each of either sign, and each one's mean log-ratio spread
     * over clip-low, the unclipped range and clip-high.
     */
    ObjectiveMetricsTest() {
        Random r = new Random(3);
        for (int s = 0; s < SEQUENCES; ++s) {
            float a = (float) ((s % 2 == 0 ? 1 : -1) * (0.5 + r.nextDouble()));
            double drift = 1.2 * (r.nextDouble() - 0.5);
            for (int t = 0; t < LENGTH; ++t) {
                int i = s * LENGTH + t;
                mask[i] = t < 3 + s % 4 ? 1 : 0;
                logp[i] = (float) (-0.2 - 2 * r.nextDouble());
                oldLogp[i] = (float) Math.min(logp[i] - drift - 0.1 * r.nextGaussian(), 0);  // as DPPO asks
                entropy[i] = (float) (1 + r.nextDouble());
                advantage[i] = a;
                weight[i] = mask[i] / N;
                sequenceOf[i] = s;
            }
        }
    }

    private ObjectiveMetrics counted(PolicyObjective objective, float[] advantage, Random random) {
        return objective.move(CONFIG, logp, entropy, oldLogp, advantage, weight, mask, sequenceOf, random)
                .objectiveMetrics();
    }

    @Test
    void aSequenceRatiosClipsAreTrlsOverTheSequences() {
        PolicyObjective gspo = PolicyObjective.CLIPPED.withSequenceRatio(true);
        SequenceClips want = SequenceClips.of(logp, oldLogp, advantage, mask, sequenceOf, CONFIG);
        assertTrue(want.low() > 0 && want.high() > 0 && want.sequences() == SEQUENCES, "the batch clips: " + want);
        assertEquals(new ObjectiveMetrics(want, 0, 0), counted(gspo, advantage, null));
        Cispo cispo = new Cispo(0.8, 1.28);  // its weight clipped as PPO's ratio: clips either side here
        SequenceClips cispoClips = SequenceClips.of(logp, oldLogp, advantage, mask, sequenceOf, cispo);
        assertTrue(cispoClips.low() + cispoClips.high() > 0, "CISPO clips: " + cispoClips);
        assertEquals(cispoClips, counted(gspo.with(cispo), advantage, null).sequenceClips(),
                "CISPO's own clips (cispo_clip_ratio)");

        // Off-policy masking zeroes the advantages of some sequences clipped low: they count by the advantage they
        // came with, as TRL counts them (counting by the zeroed one would leave them out).
        double threshold = 0.15;
        float[] masked = OffPolicySequenceMask.advantages(advantage, logp, oldLogp, mask, sequenceOf, threshold);
        assertNotEquals(want, SequenceClips.of(logp, oldLogp, masked, mask, sequenceOf, CONFIG), "the mask matters");
        assertEquals(want, counted(gspo.withOffPolicyMaskThreshold(threshold), advantage, null).sequenceClips());
    }

    @Test
    void tokenLevelAdvantagesLeaveTheSequenceCountsOut() {
        float[] perToken = advantage.clone();
        perToken[LENGTH + 1] += 0.25f;  // sequence 1's second token
        assertEquals(ObjectiveMetrics.ZERO, counted(PolicyObjective.CLIPPED.withSequenceRatio(true), perToken, null));
    }

    @Test
    void clipCovsChosenTokensAreItsChoice() {
        ClipCov clipCov = new ClipCov(0.3, -100, 100);  // a wide band: many candidates, 30% of the tokens chosen
        ClipCov.Choice choice = clipCov.choose(CONFIG, advantage, logp, oldLogp, mask, new Random(5));
        assertTrue(choice.tokens().length > 1, "chosen: " + choice.tokens().length);
        ObjectiveMetrics got = counted(PolicyObjective.CLIPPED.with(clipCov), advantage, new Random(5));
        assertEquals(new ObjectiveMetrics(SequenceClips.ZERO, choice.tokens().length, choice.counted()), got);
        assertEquals(choice.clipFraction(), got.clipCovFraction());
        // With GSPO's ratio, both: the chosen tokens' zeroed advantages do not hide their sequences' clips.
        assertEquals(new ObjectiveMetrics(SequenceClips.of(logp, oldLogp, advantage, mask, sequenceOf, CONFIG),
                choice.tokens().length, choice.counted()),
                counted(PolicyObjective.CLIPPED.with(clipCov).withSequenceRatio(true), advantage, new Random(5)));
    }

    @Test
    void theOtherObjectivesCountNone() {
        for (PolicyObjective o : List.of(PolicyObjective.CLIPPED, PolicyObjective.CLIPPED.withTopEntropyQuantile(0.2),
                PolicyObjective.CLIPPED.withOffPolicyMaskThreshold(0.15), PolicyObjective.CLIPPED.with(Cispo.defaults()),
                PolicyObjective.CLIPPED.with(Sapo.defaults()), PolicyObjective.CLIPPED.with(KlCov.defaults()),
                PolicyObjective.CLIPPED.with(Gmpo.defaults()), PolicyObjective.CLIPPED.with(Vespo.defaults()),
                PolicyObjective.CLIPPED.with(Dppo.binaryTv())))
            assertEquals(ObjectiveMetrics.ZERO, counted(o, advantage, null), o.toString());
    }

    @Test
    void countsAddUpAndTheShareIsOfTheirSums() {
        ObjectiveMetrics a = new ObjectiveMetrics(new SequenceClips(1, 2, 8), 1, 10);
        ObjectiveMetrics b = new ObjectiveMetrics(new SequenceClips(0, 1, 4), 3, 30);
        assertEquals(new ObjectiveMetrics(new SequenceClips(1, 3, 12), 4, 40), a.plus(b));
        assertEquals(0.1, a.plus(b).clipCovFraction(), 1e-15);
        assertEquals(0, ObjectiveMetrics.ZERO.clipCovFraction());
        assertEquals("sequenceClips", assertThrows(NullPointerException.class, () -> new ObjectiveMetrics(null, 0, 0))
                .getMessage());
    }
}
