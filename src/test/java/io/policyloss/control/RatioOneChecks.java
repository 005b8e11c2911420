package io.policyloss.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import io.policyloss.loss.LossResult;

/**
 * The oracle side of the tests of the losses at ratio 1 ({@link ReweightedPolicyGradientTest}, {@link GmpoTest}): the
 * rows' softmax and target logp from the logits in double, the chain from dL/dlogp to dL/dlogits, and the check of a
 * kernel call's gradient against the oracle's.
 */
final class RatioOneChecks {
    private RatioOneChecks() {}

    /** Each row's softmax and its target's logp, in double. */
    record Rows(double[][] softmax, double[] logp, int[] target) {
        static Rows of(float[] logits, int[] target, int vocab) {
            int n = target.length;
            double[][] softmax = new double[n][vocab];
            double[] logp = new double[n];
            for (int i = 0; i < n; ++i) {
                double max = Double.NEGATIVE_INFINITY, sum = 0;
                for (int v = 0; v < vocab; ++v) max = Math.max(max, logits[i * vocab + v]);
                for (int v = 0; v < vocab; ++v) sum += Math.exp(logits[i * vocab + v] - max);
                for (int v = 0; v < vocab; ++v) softmax[i][v] = Math.exp(logits[i * vocab + v] - max) / sum;
                logp[i] = logits[i * vocab + target[i]] - max - Math.log(sum);
            }
            return new Rows(softmax, logp, target);
        }

        /** dL/dlogits of row i, written into dlogits, from dL/dlogp_i: dlogp / dz_v = [v = target] - softmax_v. */
        void chain(int i, double dLogp, double[] dlogits) {
            int vocab = softmax[i].length;
            for (int v = 0; v < vocab; ++v)
                dlogits[i * vocab + v] = dLogp * ((v == target[i] ? 1 : 0) - softmax[i][v]);
        }
    }

    /**
     * On each counted row: the kernel's ratio is 1, and its dlogits are the oracle's plus those of the KL and entropy
     * terms alone (rest), to within 1e-5 of the row's largest.
     */
    static void assertGradient(double[] want, LossResult rest, LossResult got, float[] mask, int vocab) {
        for (int i = 0; i < mask.length; ++i) {
            if (mask[i] == 0) continue;
            assertEquals(1f, got.ratio()[i], "row " + i + ": the kernel's ratio");
            double rowMax = 0;
            for (int v = 0; v < vocab; ++v) {
                int k = i * vocab + v;
                rowMax = Math.max(rowMax, Math.abs(want[k]) + Math.abs(rest.dlogitsF32()[k]));
            }
            for (int v = 0; v < vocab; ++v) {
                int k = i * vocab + v;
                double expected = want[k] + rest.dlogitsF32()[k], actual = got.dlogitsF32()[k];
                if (!(Math.abs(expected - actual) <= 1e-5 * rowMax + 1e-30))
                    fail("row " + i + " dlogits[" + v + "]: " + expected + " expected, got " + actual);
            }
        }
    }
}
