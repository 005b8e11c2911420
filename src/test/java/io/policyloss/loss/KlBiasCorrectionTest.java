package io.policyloss.loss;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.Random;
import java.util.function.DoubleUnaryOperator;
import org.junit.jupiter.api.Test;

/**
 * The KL term weighted by the ratio ({@link LossConfig#klBiasCorrection}): DeepSeek-V3.2's unbiased KL estimate, which
 * TRL's {@code use_bias_correction_kl} computes as {@code per_token_kl * coef_1}, coef_1 = exp(logp - old_logp) not
 * detached. Checked against TRL's per-token loss written out and differentiated numerically through the logits, and
 * against a property: on-policy (r = 1) its gradient is (logp - ref) grad logp, k2's, the gradient of the KL itself.
 */
class KlBiasCorrectionTest {
    private static final double EPS_LOW = 0.2, EPS_HIGH = 0.28, BETA = 0.1;
    private static final int VOCAB = 12;

    @Test
    void isTrlsBiasCorrectedKl() {
        KlRows b = KlRows.random(336, VOCAB, 1.5, 11);
        int rows = b.rows();
        double[][] z = new double[rows][VOCAB];
        for (int i = 0; i < rows; ++i)
            for (int v = 0; v < VOCAB; ++v) z[i][v] = b.logits()[i * VOCAB + v];
        // Log-ratios clear of the clip's edges log 0.8 and log 1.28 (where TRL's loss has no derivative), and
        // ref_logp - logp from -2 to 2: k3 from 2e-5 to 4.4, under the kernel's clamp at 10, which TRL does not have.
        double[] logRatio = {-1.0, -0.5, -0.1, 0.0, 0.1, 0.5, 1.0};
        double[] refOffset = {-2.0, -0.5, -0.01, 0.006, 0.5, 2.0};
        float[] oldLogp = new float[rows], refLogp = new float[rows];
        for (int i = 0; i < rows; ++i) {
            double logp = logp(z[i], b.target()[i]);
            oldLogp[i] = (float) (logp - logRatio[i % logRatio.length]);
            refLogp[i] = (float) (logp + refOffset[(i / logRatio.length) % refOffset.length]);
        }
        LossConfig config = LossConfig.builder().epsLow(EPS_LOW).epsHigh(EPS_HIGH).klCoef(BETA)
                .klEstimator(KlEstimator.K3).klBiasCorrection(true).build();
        LossResult got = new FusedLoss(config).compute(b.batch(oldLogp, refLogp));

        double sumKl = 0;
        for (int i = 0; i < rows; ++i) {
            final int row = i;
            DoubleUnaryOperator trl = logp -> trlLoss(logp, oldLogp[row], refLogp[row], b.advantage()[row]);
            double logp = logp(z[i], b.target()[i]);
            double ratio = Math.exp(logp - oldLogp[i]), delta = refLogp[i] - logp;
            double kl = (Math.exp(delta) - delta - 1) * ratio;
            sumKl += kl;
            // The kernel's logp is a float, a few ulps from this one: d moves by as much, and k3 by (e^d - 1) times it.
            double dOfLogp = 1e-6 * Math.max(1, Math.abs(logp)) * ratio * (Math.abs(Math.expm1(delta)) + 1);
            double trlLoss = trl.applyAsDouble(logp);
            assertEquals(trlLoss, got.loss()[i], 2e-6 * Math.abs(trlLoss) + BETA * dOfLogp + 1e-7,
                    "row " + i + " loss");
            assertEquals(kl, got.kl()[i], 2e-6 * kl + dOfLogp, "row " + i + " kl");
            // dL/dz_v by central differences of TRL's loss through log_softmax, h = 1e-5: error about h^2 = 1e-10.
            double scale = 0, w = b.weight()[i];
            double[] expected = new double[VOCAB];
            for (int v = 0; v < VOCAB; ++v) {
                double h = 1e-5, saved = z[i][v];
                z[i][v] = saved + h;
                double up = trl.applyAsDouble(logp(z[i], b.target()[i]));
                z[i][v] = saved - h;
                double down = trl.applyAsDouble(logp(z[i], b.target()[i]));
                z[i][v] = saved;
                expected[v] = w * (up - down) / (2 * h);
                scale = Math.max(scale, Math.abs(expected[v]));
            }
            // As above, d's few ulps move the KL term's gradient, beta r (logp - ref), by beta r times them.
            double allowed = 2e-5 * scale + w * BETA * ratio * 1e-6 * Math.max(1, Math.abs(logp)) + 1e-12;
            for (int v = 0; v < VOCAB; ++v) {
                double actual = got.dlogitsF32()[i * VOCAB + v];
                if (!(Math.abs(expected[v] - actual) <= allowed))
                    fail("row " + i + " dlogits[" + v + "]: " + expected[v] + " expected, got " + actual + " (row "
                            + "scale " + scale + ", log-ratio " + (logp - oldLogp[i]) + ", ref - logp " + delta + ")");
            }
        }
        // TRL logs the mean of the weighted per_token_kl.
        assertEquals(sumKl / rows, got.metrics().meanKl(), 1e-6 * sumKl / rows);
    }

    @Test
    void onPolicyItsGradientIsK2s() {
        KlRows b = KlRows.random(200, VOCAB, 2, 12);
        int rows = b.rows();
        float[] logp = b.logp(), refLogp = new float[rows];
        // ref_logp - logp in [-2.5, 2.5], where k3 < 10; every tenth row's above 2.6, where the kernel clamps k3 to 10
        // and the weighted term's gradient is r's alone, 10 r grad logp.
        Random rnd = new Random(13);
        for (int i = 0; i < rows; ++i)
            refLogp[i] = (float) (logp[i] + (i % 10 == 0 ? 2.7 + rnd.nextDouble() : 5 * rnd.nextDouble() - 2.5));
        // old_logp = logp: r = 1, as in TRL's first iteration, whose old_per_token_logps is logp detached.
        LossBatch batch = b.batch(logp, refLogp);
        LossConfig weightedK3 = LossConfig.builder().klCoef(BETA).klEstimator(KlEstimator.K3).klBiasCorrection(true)
                .build();
        LossResult weighted = new FusedLoss(weightedK3).compute(batch);
        LossResult k2 = new FusedLoss(weightedK3.toBuilder().klEstimator(KlEstimator.K2).klBiasCorrection(false)
                .build()).compute(batch);
        LossResult k3 = new FusedLoss(weightedK3.toBuilder().klBiasCorrection(false).build()).compute(batch);
        int differFromK3 = 0;
        for (int i = 0; i < rows; ++i) {
            boolean clamped = i % 10 == 0;
            assertEquals(clamped, k3.kl()[i] == 10f, "row " + i + ": k3 clamped");
            double[] pi = b.probabilities(i), expected = new double[VOCAB];
            double scale = 0;
            for (int v = 0; v < VOCAB; ++v) {
                int k = i * VOCAB + v;
                expected[v] = clamped
                        ? k3.dlogitsF32()[k] + b.weight()[i] * BETA * 10 * ((v == b.target()[i] ? 1 : 0) - pi[v])
                        : k2.dlogitsF32()[k];
                scale = Math.max(scale, Math.abs(expected[v]));
            }
            boolean differs = false;
            for (int v = 0; v < VOCAB; ++v) {
                int k = i * VOCAB + v;
                if (!(Math.abs(weighted.dlogitsF32()[k] - expected[v]) <= 1e-5 * scale + 1e-12))
                    fail("row " + i + " dlogits[" + v + "]: " + expected[v] + " expected (" + (clamped ? "k3 clamped"
                            : "k2's") + "), got " + weighted.dlogitsF32()[k]);
                differs |= Math.abs(weighted.dlogitsF32()[k] - k3.dlogitsF32()[k]) > 1e-3 * scale;
            }
            differFromK3 += differs ? 1 : 0;
            assertEquals(k3.kl()[i], weighted.kl()[i], 1e-6 * k3.kl()[i], "row " + i + ": r = 1 leaves k3's value");
        }
        assertTrue(differFromK3 > rows / 2, differFromK3 + " rows where the weighting changed k3's gradient");
    }

    /** TRL's per-token loss of one row at this logp: -min(r A, clip(r) A) + beta (e^d - d - 1) r, d = ref - logp. */
    private static double trlLoss(double logp, double oldLogp, double refLogp, double a) {
        double coef1 = Math.exp(logp - oldLogp);
        double coef2 = Math.min(Math.max(coef1, 1 - EPS_LOW), 1 + EPS_HIGH);
        double delta = refLogp - logp;
        return -Math.min(coef1 * a, coef2 * a) + BETA * (Math.exp(delta) - delta - 1) * coef1;
    }

    private static double logp(double[] z, int target) {
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (double x : z) max = Math.max(max, x);
        for (double x : z) sum += Math.exp(x - max);
        return z[target] - max - Math.log(sum);
    }
}
