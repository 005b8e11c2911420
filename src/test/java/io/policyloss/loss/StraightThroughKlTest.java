package io.policyloss.loss;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * verl's straight-through KL ({@code kl_loss_type} "k1+" and "k3+": {@code backward_score - backward_score.detach() +
 * forward_score.detach()}, the backward score k2): the loss and KL of k1 or k3, and the gradient of k2, (logp - ref)
 * grad logp, also where k3 is clamped to 10 and its own gradient is 0. Checked against the kernel's k1, k3 and k2 on
 * the same rows, which the oracle checks in turn.
 */
class StraightThroughKlTest {
    private static final int VOCAB = 24;

    @Test
    void theValueIsK1sOrK3sAndTheGradientK2s() {
        KlRows b = KlRows.random(240, VOCAB, 2, 21);
        int rows = b.rows();
        // ref_logp - logp in [-3, 3], past k3's clamp from 2.6 up; log-ratios across the clip range.
        Random rnd = new Random(22);
        float[] oldLogp = new float[rows], refLogp = new float[rows];
        for (int i = 0; i < rows; ++i) {
            refLogp[i] = (float) (b.logp()[i] + 6 * rnd.nextDouble() - 3);
            oldLogp[i] = (float) (b.logp()[i] - 0.6 * rnd.nextGaussian());
        }
        LossBatch batch = b.batch(oldLogp, refLogp);
        LossConfig base = LossConfig.builder().epsHigh(0.28).klCoef(0.1).entropyCoef(0.01).build();
        LossResult k2 = run(base, KlEstimator.K2, batch);
        int clamped = 0;
        for (KlEstimator[] pair : new KlEstimator[][] {{KlEstimator.K1_PLUS, KlEstimator.K1},
                {KlEstimator.K3_PLUS, KlEstimator.K3}}) {
            LossResult plus = run(base, pair[0], batch), value = run(base, pair[1], batch);
            assertEquals(value.metrics(), plus.metrics(), pair[0] + ": the metrics, loss and KL sum included");
            for (int i = 0; i < rows; ++i) {
                assertEquals(value.loss()[i], plus.loss()[i], pair[0] + " row " + i + " loss");
                assertEquals(value.kl()[i], plus.kl()[i], pair[0] + " row " + i + " kl");
                clamped += value.kl()[i] == 10f ? 1 : 0;
                double scale = 0;
                for (int v = 0; v < VOCAB; ++v) scale = Math.max(scale, Math.abs(k2.dlogitsF32()[i * VOCAB + v]));
                for (int v = 0; v < VOCAB; ++v) {
                    int k = i * VOCAB + v;
                    if (!(Math.abs(plus.dlogitsF32()[k] - k2.dlogitsF32()[k]) <= 1e-6 * scale))
                        fail(pair[0] + " row " + i + " dlogits[" + v + "]: k2's " + k2.dlogitsF32()[k] + ", got "
                                + plus.dlogitsF32()[k]);
                }
            }
        }
        assertTrue(clamped >= rows / 20, clamped + " rows of k3 clamped");
    }

    private static LossResult run(LossConfig base, KlEstimator estimator, LossBatch batch) {
        return new FusedLoss(base.toBuilder().klEstimator(estimator).build()).compute(batch);
    }
}
