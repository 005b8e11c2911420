package io.policyloss.loss;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import io.policyloss.oracle.Oracle;

/**
 * Asserts that a kernel's result matches the oracle within tolerances set by the precision of what is compared:
 * fp32 arithmetic for per-row values; for dlogits, the output dtype's rounding plus fp32 rounding of the terms that
 * make each element (which can cancel to a result far smaller than themselves).
 */
final class OracleComparison {
    private OracleComparison() {}

    /** A float logp's error relative to max(1, |logp|): a few ulps of it, as the kernels form it. */
    private static final double LOGP_ERROR = 1e-6;

    static void assertMatches(String what, RandomCase c, Oracle.Output o, LossResult k) {
        int n = c.rows();
        for (int i = 0; i < n; ++i) {
            Oracle.Row r = o.rows()[i];
            String at = what + " row " + i;
            close(at + " logp", r.logp(), k.logp()[i], 2e-4, 2e-5);
            close(at + " entropy", r.entropy(), k.entropy()[i], 2e-4, 2e-5);
            close(at + " clampedEntropy", r.clampedEntropy(), k.clampedEntropy()[i], 2e-4, 2e-5);
            close(at + " ratio", r.ratio(), k.ratio()[i], 1e-4, 5e-5);
            // The kernel's logp is a float, some ulps from the oracle's: the loss and the KL move by their slopes times
            // that, which the KL weighted by a ratio of up to e^20 makes larger than their own rounding.
            double logpError = LOGP_ERROR * Math.max(1, Math.abs(r.logp()));
            close(at + " loss", r.loss(), k.loss()[i], 2e-4, 5e-5 + Math.abs(r.lossSlope()) * logpError);
            close(at + " kl", r.kl(), k.kl()[i], 2e-4, 5e-5 + Math.abs(r.klSlope()) * logpError);
            assertEquals(r.flags(), k.flags()[i] & 0xff, at + " flags");
        }
        double[] om = o.metrics(), km = k.metrics().toSums();
        for (int j = 0; j < om.length; ++j)
            close(what + " metric " + j, om[j], km[j], 1e-3, 1e-4 + LOGP_ERROR * o.metricSlopes()[j]);
        if (c.gradient() != RandomCase.Gradient.NONE) assertGradient(what, c, o, k);
    }

    private static void assertGradient(String what, RandomCase c, Oracle.Output o, LossResult k) {
        Dtype out = k.gradientDtype();
        double relPerElement = out == Dtype.F32 ? 1e-4 : out == Dtype.BF16 ? 8e-3 : 1e-3;
        double resolution = out == Dtype.F16 ? 0x1p-24 : 0;  // fp16's subnormal step: the smallest it can say
        for (int i = 0; i < c.rows(); ++i) {
            double[] g = o.rows()[i].dlogits(), termScale = o.rows()[i].dlogitsScale();
            double[] slope = o.rows()[i].dlogitsSlope();
            double logpError = LOGP_ERROR * Math.max(1, Math.abs(o.rows()[i].logp()));
            double rowMax = 0;
            for (double v : g) rowMax = Math.max(rowMax, Math.abs(v));
            for (int v = 0; v < c.vocab(); ++v) {
                double kv = k.dlogit(i, v, c.stride());
                double tol = 2e-5 * rowMax + relPerElement * Math.abs(g[v]) + 1e-5 * termScale[v] + logpError * slope[v]
                        + resolution + 1e-30;
                if (!(Math.abs(kv - g[v]) <= tol))
                    fail(what + " dlogits[" + i + "][" + v + "]: oracle " + g[v] + ", kernel " + kv + " (row max "
                            + rowMax + ", tol " + tol + ")");
            }
        }
    }

    static void close(String what, double expected, double actual, double rel, double abs) {
        if (!(Math.abs(expected - actual) <= abs + rel * Math.abs(expected)))
            fail(what + ": oracle " + expected + ", kernel " + actual);
    }
}
