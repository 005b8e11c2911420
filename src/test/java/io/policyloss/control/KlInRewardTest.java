package io.policyloss.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.policyloss.loss.KlEstimator;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The KL penalty in the reward against verl's {@code kl_penalty} written out per token ({@code kl}: old - ref,
 * {@code abs}, {@code mse}: (old - ref)^2 / 2, {@code low_var_kl}: e^(ref - old) - (ref - old) - 1 within [-10, 10])
 * and its adaptive controller's rule.
 */
class KlInRewardTest {
    /**
     * Six responses of five rows: response 4 has no token, the others' last rows are padding, their log-probs NaN and
     * never read; every ninth row's reference is 12 nats below the rollout's, where k3 is clamped.
     */
    private record Batch(float[] rewards, float[] oldLogp, float[] refLogp, float[] mask, int[] sequenceOf) {
        static final int RESPONSES = 6, LENGTH = 5;

        static Batch make() {
            Random random = new Random(8);
            int rows = RESPONSES * LENGTH;
            float[] rewards = new float[RESPONSES], oldLogp = new float[rows], refLogp = new float[rows],
                    mask = new float[rows];
            int[] sequenceOf = new int[rows];
            for (int s = 0; s < RESPONSES; ++s) rewards[s] = random.nextInt(2);
            for (int i = 0; i < rows; ++i) {
                sequenceOf[i] = i / LENGTH;
                mask[i] = sequenceOf[i] == 4 || i % LENGTH == LENGTH - 1 ? 0 : 1;
                oldLogp[i] = mask[i] == 0 ? Float.NaN : (float) (-2 * random.nextDouble());
                refLogp[i] = mask[i] == 0 ? Float.NaN
                        : oldLogp[i] + (float) (i % 9 == 0 ? -12 : random.nextGaussian());
            }
            return new Batch(rewards, oldLogp, refLogp, mask, sequenceOf);
        }
    }

    @ParameterizedTest
    @EnumSource(KlEstimator.class)
    void eachRewardLosesItsTokensKl(KlEstimator estimator) {
        Batch b = Batch.make();
        int responses = Batch.RESPONSES, length = Batch.LENGTH;
        float[] rewards = b.rewards, oldLogp = b.oldLogp, refLogp = b.refLogp, mask = b.mask;
        int[] sequenceOf = b.sequenceOf;
        double beta = 0.05;
        KlInReward.Penalized got = KlInReward.fixed(beta, estimator).penalize(rewards, oldLogp, refLogp, mask,
                sequenceOf);
        double meanOfMeans = 0;
        int clamped = 0;
        for (int s = 0; s < responses; ++s) {
            double sum = 0;
            int tokens = 0;
            for (int i = s * length; i < (s + 1) * length; ++i) {
                if (mask[i] == 0) continue;
                double d = (double) oldLogp[i] - refLogp[i], kl = switch (estimator) {
                    case K1, K1_PLUS -> d;
                    case ABS -> Math.abs(d);
                    case K2 -> d * d / 2;
                    case K3, K3_PLUS -> Math.min(Math.max(Math.exp(-d) + d - 1, -10), 10);
                };
                clamped += kl == 10 ? 1 : 0;
                sum += kl;
                tokens++;
            }
            assertEquals(rewards[s] - beta * sum, got.rewards()[s], 1e-6, estimator + ": response " + s);
            meanOfMeans += tokens == 0 ? 0 : sum / tokens;
        }
        assertEquals(meanOfMeans / responses, got.meanKl(), 1e-9, estimator + ": the mean KL");
        if (estimator.name().startsWith("K3")) assertTrue(clamped > 0, "a clamped k3");
    }

    /**
     * REINFORCE++'s token-level rewards each lose their own token's estimate; summed over a response, they are the
     * response's penalized reward, and the mean KL is the same, as verl's outcome estimators sum them.
     */
    @ParameterizedTest
    @EnumSource(KlEstimator.class)
    void eachTokenRewardLosesItsOwnKl(KlEstimator estimator) {
        Batch b = Batch.make();
        float[] mask = b.mask;
        int[] sequenceOf = b.sequenceOf;
        float[] tokenRewards = new float[mask.length];  // each outcome on its response's last counted row
        for (int i = 0; i < mask.length; ++i)
            tokenRewards[i] = mask[i] != 0 && i % Batch.LENGTH == Batch.LENGTH - 2 ? b.rewards[sequenceOf[i]] : 0;
        KlInReward k = KlInReward.fixed(0.05, estimator);
        KlInReward.Penalized tokens = k.penalizeTokens(tokenRewards, b.oldLogp, b.refLogp, mask, sequenceOf);
        KlInReward.Penalized summed = k.penalize(b.rewards, b.oldLogp, b.refLogp, mask, sequenceOf);
        double[] perResponse = new double[Batch.RESPONSES];
        for (int i = 0; i < mask.length; ++i) {
            double kl = mask[i] == 0 ? 0 : KlTerm.of(estimator, b.oldLogp[i], b.refLogp[i]).kl();
            assertEquals(tokenRewards[i] - 0.05 * kl, tokens.rewards()[i], 1e-6, estimator + ": row " + i);
            perResponse[sequenceOf[i]] += tokens.rewards()[i];
        }
        for (int s = 0; s < Batch.RESPONSES; ++s)  // response 4, without a token, keeps its reward
            assertEquals(summed.rewards()[s], s == 4 ? b.rewards[s] : perResponse[s], 1e-5, estimator + ": response "
                    + s);
        assertEquals(summed.meanKl(), tokens.meanKl(), 1e-12, estimator + ": the mean KL");
        Refusals.assertMessage("tokenRewards: row 0: must be finite, got NaN", () -> k.penalizeTokens(
                new float[] {Float.NaN, 0}, new float[2], new float[2], new float[] {1, 1}, new int[] {0, 0}));
    }

    /** Ziegler et al.'s rule, verl's AdaptiveKLController: beta (1 + clip(kl / target - 1, -0.2, 0.2) n / horizon). */
    @Test
    void theAdaptiveCoefficientMovesTowardItsTarget() {
        KlInReward c = new KlInReward(0.1, KlEstimator.K1, 0.05, 1000);
        double[][] cases = {{0.06, 0.1 * (1 + 0.2 * 64 / 1000.0)}, {1.0, 0.1 * (1 + 0.2 * 64 / 1000.0)},
            {0.045, 0.1 * (1 - 0.1 * 64 / 1000.0)}, {0.0, 0.1 * (1 - 0.2 * 64 / 1000.0)}, {0.05, 0.1}};
        for (double[] kl : cases)
            assertEquals(kl[1], c.update(kl[0], 64).coefficient(), 1e-15, "KL " + kl[0]);
        KlInReward fixed = KlInReward.fixed(0.1, KlEstimator.K3);
        assertSame(fixed, fixed.update(3, 64));
    }

    @Test
    void refusesWhatItCannotControl() {
        Refusals.assertMessage("coefficient: must be finite and >= 0, got -0.1",
                () -> KlInReward.fixed(-0.1, KlEstimator.K1));
        Refusals.assertMessage("targetKl: must be finite and > 0, or null for a fixed coefficient, got 0.0",
                () -> new KlInReward(0.1, KlEstimator.K1, 0.0, 10));
        Refusals.assertMessage("horizon: must be >= 1, got 0", () -> new KlInReward(0.1, KlEstimator.K1, 0.1, 0));
        Refusals.assertMessage("responses: must be in [0, 5 horizons] (50), got 51",
                () -> new KlInReward(0.1, KlEstimator.K1, 0.1, 10).update(0, 51));
        Refusals.assertMessage("kl: must not be NaN",
                () -> new KlInReward(0.1, KlEstimator.K1, 0.1, 10).update(Double.NaN, 1));
        KlInReward k = KlInReward.fixed(0.1, KlEstimator.K1);
        float[] one = {0}, mask = {1, 1};
        Refusals.assertMessage("refLogp: row 1: must be finite, got NaN", () -> k.penalize(one, new float[2],
                new float[] {0, Float.NaN}, mask, new int[] {0, 0}));
        Refusals.assertMessage("sequenceOf: names response 1, rewards has 1", () -> k.penalize(one, new float[2],
                new float[2], mask, new int[] {0, 1}));
        Refusals.assertMessage("rewards: row 0: must be finite, got Infinity", () -> k.penalize(
                new float[] {Float.POSITIVE_INFINITY}, new float[2], new float[2], mask, new int[] {0, 0}));
    }
}
