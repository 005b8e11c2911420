package io.policyloss.loss;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * TRL's two-sided clipping ({@code delta}: the unclipped ratio capped at delta, -min(min(r, delta) A, clip(r) A))
 * is the dual clip with c = delta, wherever delta is above 1 + eps_high as TRL asks: for A &lt; 0 it caps the loss
 * at -A delta, for A &gt; 0 the clipped term is the smaller once r passes 1 + eps_high. Checked here against TRL's
 * formula, differentiated in double, on ratios from below clip-low to above delta, for both signs of A.
 */
class TwoSidedClippingTest {
    private static final double EPS_LOW = 0.2, EPS_HIGH = 0.28, DELTA = 2.0;
    private static final int VOCAB = 16;

    @Test
    void theDualClipIsTrlsDelta() {
        int rows = 320;
        Random r = new Random(5);
        float[] logits = new float[rows * VOCAB], advantage = new float[rows], weight = new float[rows];
        int[] target = new int[rows];
        for (int k = 0; k < logits.length; ++k) logits[k] = (float) (1.5 * r.nextGaussian());
        for (int i = 0; i < rows; ++i) {
            target[i] = r.nextInt(VOCAB);
            advantage[i] = (float) ((i % 2 == 0 ? 1 : -1) * (0.5 + r.nextDouble()));
            weight[i] = 1f / rows;
        }
        FusedLoss loss =
                new FusedLoss(LossConfig.builder().epsLow(EPS_LOW).epsHigh(EPS_HIGH).dualClipC(DELTA).build());
        float[] logp = loss.compute(batch(logits, target, new float[rows], advantage, weight).noGradient()).logp();
        // Log-ratios clear of the edges log 0.8, log 1.28 and log 2, each with both signs of A.
        double[] logRatio = {-1.5, -0.5, -0.1, 0.0, 0.1, 0.5, 1.0, 1.5};
        float[] oldLogp = new float[rows];
        for (int i = 0; i < rows; ++i) oldLogp[i] = (float) (logp[i] - logRatio[(i / 2) % logRatio.length]);
        LossResult got = loss.compute(batch(logits, target, oldLogp, advantage, weight));

        int capped = 0;
        for (int i = 0; i < rows; ++i) {
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (int v = 0; v < VOCAB; ++v) max = Math.max(max, logits[i * VOCAB + v]);
            for (int v = 0; v < VOCAB; ++v) sum += Math.exp(logits[i * VOCAB + v] - max);
            double ratio = Math.exp(logits[i * VOCAB + target[i]] - max - Math.log(sum) - oldLogp[i]);
            double a = advantage[i], coef1 = Math.min(ratio, DELTA);
            double coef2 = Math.min(Math.max(ratio, 1 - EPS_LOW), 1 + EPS_HIGH);
            // -min(coef1 A, coef2 A), and its derivative in logp through whichever term is the smaller: -A r
            // where that term still moves with r (coef1 below delta, coef2 inside the clip range), else 0.
            boolean first = coef1 * a <= coef2 * a;
            boolean moves = first ? ratio < DELTA : ratio > 1 - EPS_LOW && ratio < 1 + EPS_HIGH;
            double trlLoss = -Math.min(coef1 * a, coef2 * a), dLogp = moves ? -a * ratio : 0;
            capped += first && ratio >= DELTA ? 1 : 0;
            assertEquals(trlLoss, got.loss()[i], 1e-5 * Math.abs(trlLoss), "row " + i + " loss");
            for (int v = 0; v < VOCAB; ++v) {
                double pi = Math.exp(logits[i * VOCAB + v] - max) / sum;
                double expected = weight[i] * dLogp * ((v == target[i] ? 1 : 0) - pi);
                double actual = got.dlogitsF32()[i * VOCAB + v];
                if (!(Math.abs(expected - actual) <= 1e-5 * weight[i] * Math.abs(a * ratio) + 1e-30))
                    fail("row " + i + " dlogits[" + v + "]: " + expected + " expected, got " + actual);
            }
        }
        assertTrue(capped >= rows / 16, capped + " rows capped at delta");
    }

    private static LossBatch batch(float[] logits, int[] target, float[] oldLogp, float[] advantage, float[] weight) {
        return LossBatch.f32(logits.clone(), target.length, VOCAB).target(target).oldLogp(oldLogp)
                .advantage(advantage).weight(weight);
    }
}
