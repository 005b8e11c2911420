package io.policyloss.oracle;

import io.policyloss.loss.ClampMode;
import io.policyloss.loss.KlEstimator;
import io.policyloss.loss.LossConfig;
import java.util.Arrays;

/**
 * SPEC.md sections 2-5 written out straightforwardly in double precision, independently of the kernels: plain
 * loops, a full sort for the clamped set, every formula as the spec writes it. The reference every kernel test
 * compares with. The config's parameters are used as the floats the kernels receive (so a boundary such as
 * floor(p V) is the same on both sides).
 */
public final class Oracle {
    private Oracle() {}

    /** The inputs with logits already decoded to their exact values (bf16 / fp16 widen exactly). */
    public record Inputs(double[][] logits, long[] target, double[] oldLogp, double[] refLogp, double[] advantage,
            double[] weight, double[] temperature) {}

    /**
     * One row's outputs. {@code dlogitsScale[v]} is the sum of the absolute values of the terms of dL/dz_v (the pg/KL,
     * entropy and clamped-entropy terms), with the pg and KL parts of dl/dlogp and each entropy term's log pi and H
     * taken apart: the scale of fp32 rounding in a kernel, which the result itself understates where they cancel (the
     * pg part 0.1878 against the KL part -0.1874 in a row of k3 KL; log pi and H each about 0.69, their sum 2e-4,
     * in a row of two near-equal logits). {@code lossSlope} and {@code klSlope} are the derivatives of the loss's and
     * the KL's values with respect to logp (the pg term's where it moves, and the KL's own, not its straight-through
     * gradient), and {@code dlogitsSlope[v]} that of dL/dz_v's pg and KL term: how far a kernel's float logp, a few
     * ulps from this one, moves them.
     */
    public record Row(double logp, double entropy, double clampedEntropy, double ratio, double loss, double kl,
            int flags, double[] dlogits, double[] dlogitsScale, double lossSlope, double klSlope,
            double[] dlogitsSlope) {}

    /**
     * {@code metricSlopes[j]}: how metric j moves with the rows' logp, per unit of their relative error (the sum of
     * w |lossSlope| max(1, |logp|) for the loss, of |klSlope| max(1, |logp|) for the KL; 0 for the others).
     */
    public record Output(Row[] rows, double[] metrics, double[] metricSlopes) {
        public double loss() {
            return metrics[0];
        }
    }

    private static double f(double v) {
        return (double) (float) v;
    }

    public static Output compute(LossConfig c, Inputs in) {
        int n = in.logits.length;
        Row[] rows = new Row[n];
        double[] m = new double[12], slopes = new double[12];
        for (int i = 0; i < n; ++i) {
            int vocab = in.logits[i].length;
            if (in.weight[i] == 0) {
                rows[i] = new Row(0, 0, 0, 0, 0, 0, 0, new double[vocab], new double[vocab], 0, 0, new double[vocab]);
                continue;
            }
            rows[i] = row(c, in.logits[i], (int) in.target[i], in.oldLogp[i],
                    in.refLogp == null ? Double.NaN : in.refLogp[i], in.advantage[i], in.weight[i],
                    in.temperature == null ? f(c.temperature()) : in.temperature[i]);
            Row r = rows[i];
            m[0] += in.weight[i] * r.loss;
            m[1] += 1;
            m[2] += r.entropy;
            m[3] += r.clampedEntropy;
            m[4] += (r.flags & 1) != 0 ? 1 : 0;
            m[5] += (r.flags & 2) != 0 ? 1 : 0;
            m[6] += (r.flags & 4) != 0 ? 1 : 0;
            m[7] += (r.flags & 8) != 0 ? 1 : 0;
            m[8] += r.ratio;
            m[9] += in.oldLogp[i] - r.logp;
            m[10] += r.kl;
            slopes[0] += Math.abs(in.weight[i] * r.lossSlope) * Math.max(1, Math.abs(r.logp));
            slopes[10] += Math.abs(r.klSlope) * Math.max(1, Math.abs(r.logp));
            m[11] += in.weight[i];
        }
        return new Output(rows, m, slopes);
    }

    static Row row(LossConfig c, double[] z, int a, double oldLogp, double refLogp, double advantage, double w,
            double tau) {
        int vocab = z.length;
        double[] dydz = new double[vocab];
        double[] y = scaled(c, z, tau, dydz);
        double lse = logSumExp(y, v -> true);
        double[] pi = new double[vocab];
        double entropy = 0;
        for (int v = 0; v < vocab; ++v) {
            pi[v] = Math.exp(y[v] - lse);
            if (pi[v] > 0) entropy -= pi[v] * (y[v] - lse);
        }
        double logp = y[a] - lse;

        // The clamped set S and clamped entropy.
        boolean[] inS = clampedSet(c, y, pi);
        double lseS = logSumExp(y, v -> inS[v]);
        double[] pt = new double[vocab];
        double clamped = 0;
        for (int v = 0; v < vocab; ++v) {
            if (!inS[v]) continue;
            pt[v] = Math.exp(y[v] - lseS);
            if (pt[v] > 0) clamped -= pt[v] * (y[v] - lseS);
        }

        // Section 3.
        double aPrime = advantage;
        if (f(c.entropyAdvBeta()) > 0)
            aPrime += Math.min(f(c.entropyAdvBeta()) * entropy, Math.abs(advantage) / f(c.entropyAdvKappa()));
        boolean ratioClamped = ratioClamped(logp, oldLogp);
        double r = ratio(logp, oldLogp);
        double epsLow = f(c.epsLow()), epsHigh = f(c.epsHigh());
        double pg1 = -aPrime * r;
        double pg2 = -aPrime * Math.min(Math.max(r, 1 - epsLow), 1 + epsHigh);
        boolean unclipped = pg1 >= pg2;
        double pg = Math.max(pg1, pg2);
        boolean dual = false;
        if (f(c.dualClipC()) > 0 && aPrime < 0 && -aPrime * f(c.dualClipC()) < pg) {
            pg = -aPrime * f(c.dualClipC());
            dual = true;
        }
        double pgPart = unclipped && !dual && !ratioClamped ? -aPrime * r : 0;

        double beta = f(c.klCoef());
        Kl k = kl(c, logp, oldLogp, refLogp);
        double kl = k.value, klPart = beta * k.gradient;
        // How the KL's gradient moves with logp, by central differences: where the ratio weights it, that is r (up to
        // e^20) times a slope of order 1, against a gradient of order r (logp - ref_logp), so that logp's last ulps
        // show; pgPart, -A' r, is its own derivative.
        double h = 1e-6 * Math.max(1, Math.abs(logp));
        double gradientSlope = Math.abs(pgPart)
                + Math.abs(beta * (kl(c, logp + h, oldLogp, refLogp).gradient - kl(c, logp - h, oldLogp, refLogp)
                        .gradient) / (2 * h));
        double gradLogp = pgPart + klPart;
        double lambdaH = f(c.entropyCoef()), lambdaC = f(c.clampedEntropyCoef());
        double loss = pg + beta * kl - lambdaH * entropy - lambdaC * clamped;

        // Section 4.
        double gw = f(c.gradScale()) * (double) (float) w;
        double[] dz = new double[vocab], scale = new double[vocab], slope = new double[vocab];
        for (int v = 0; v < vocab; ++v) {
            if (z[v] == Double.NEGATIVE_INFINITY) continue;
            double pgTerm = gradLogp * ((v == a ? 1 : 0) - pi[v]);
            double entropyTerm = pi[v] > 0 ? lambdaH * pi[v] * ((y[v] - lse) + entropy) : 0;
            double clampedTerm = inS[v] && pt[v] > 0 ? lambdaC * pt[v] * ((y[v] - lseS) + clamped) : 0;
            dz[v] = gw * (pgTerm + entropyTerm + clampedTerm) * dydz[v];
            double entropyScale = pi[v] > 0 ? lambdaH * pi[v] * (Math.abs(y[v] - lse) + entropy) : 0;
            double clampedScale = inS[v] && pt[v] > 0 ? lambdaC * pt[v] * (Math.abs(y[v] - lseS) + clamped) : 0;
            double pgScale = (Math.abs(pgPart) + Math.abs(klPart)) * Math.abs((v == a ? 1 : 0) - pi[v]);
            scale[v] = Math.abs(gw * dydz[v]) * (pgScale + entropyScale + clampedScale);
            slope[v] = Math.abs(gw * dydz[v]) * gradientSlope * Math.abs((v == a ? 1 : 0) - pi[v]);
        }
        int flags = (aPrime < 0 && r < 1 - epsLow ? 1 : 0) | (aPrime > 0 && r > 1 + epsHigh ? 2 : 0)
                | (dual ? 4 : 0) | (ratioClamped ? 8 : 0);
        return new Row(logp, entropy, clamped, r, loss, kl, flags, dz, scale, pgPart + beta * k.valueSlope,
                k.valueSlope, slope);
    }

    /**
     * The KL term at this logp, without beta: its value, the gradient the kernel takes (a straight-through one for k1+
     * and k3+), and the derivative of its value.
     */
    private record Kl(double value, double gradient, double valueSlope) {}

    private static Kl kl(LossConfig c, double logp, double oldLogp, double refLogp) {
        if (Double.isNaN(refLogp)) return new Kl(0, 0, 0);
        double delta = refLogp - logp, kl, slope;
        KlEstimator e = c.klEstimator();
        if (e == KlEstimator.K1 || e == KlEstimator.K1_PLUS) {
            kl = logp - refLogp;
            slope = 1;
        } else if (e == KlEstimator.K2) {
            kl = delta * delta / 2;
            slope = -delta;
        } else if (e == KlEstimator.ABS) {  // verl's (logprob - ref_logprob).abs(); torch's gradient at 0 is 0
            kl = Math.abs(logp - refLogp);
            slope = Math.signum(logp - refLogp);
        } else {
            double raw = Math.exp(delta) - delta - 1;
            kl = Math.min(Math.max(raw, -10), 10);
            slope = raw >= -10 && raw <= 10 ? 1 - Math.exp(delta) : 0;
        }
        // verl's straight-through "+": backward_score - backward_score.detach() + forward_score.detach(), the
        // backward score k2, (logp - ref)^2 / 2.
        double gradient = e == KlEstimator.K1_PLUS || e == KlEstimator.K3_PLUS ? logp - refLogp : slope;
        if (!c.klBiasCorrection()) return new Kl(kl, gradient, slope);
        // r kl by the product rule; dr/dlogp = r, or 0 where r is clamped.
        double r = ratio(logp, oldLogp), through = ratioClamped(logp, oldLogp) ? 0 : r * kl;
        return new Kl(r * kl, through + r * gradient, through + r * slope);
    }

    /** Section 3's ratio, exp(logp - old_logp) with the exponent clamped to [-20, 20]. */
    private static double ratio(double logp, double oldLogp) {
        return Math.exp(Math.min(Math.max(logp - oldLogp, -20), 20));
    }

    /** Whether that clamp is active: the ratio then takes no gradient. */
    private static boolean ratioClamped(double logp, double oldLogp) {
        double d = logp - oldLogp;
        return d < -20 || d > 20;
    }

    /** Section 2: u = s z, softcap, y = u / tau, with dy/dz into {@code dydz}. A -inf logit stays -inf (masked). */
    private static double[] scaled(LossConfig c, double[] z, double tau, double[] dydz) {
        double s = f(c.logitScale()), cap = f(c.softcap());
        double[] y = new double[z.length];
        for (int v = 0; v < z.length; ++v) {
            double u = s * z[v];
            double chain = s / tau;
            if (cap > 0 && z[v] != Double.NEGATIVE_INFINITY) {
                // 1 - tanh^2 as 1 / cosh^2: from th = tanh it would cancel to th's rounding where th nears 1, a
                // percent of the slope at |u / c| = 17 and all of it from 19, where the kernels' float slope holds.
                double ch = Math.cosh(u / cap);
                u = cap * Math.tanh(u / cap);
                chain /= ch * ch;
            }
            y[v] = u / tau;
            dydz[v] = z[v] == Double.NEGATIVE_INFINITY ? 0 : chain;
        }
        return y;
    }

    /**
     * How near PROBABILITY_MASS's S of a row is to a rounding choice: the smallest distance, as a fraction of the
     * row's mass, between the mass to cover (1 - p of it) and the mass at or above one of the row's values. Where it
     * is within a float kernel's rounding of its exponentials, the kernel may keep a value more or fewer than this
     * oracle does, and either is S within that rounding.
     */
    public static double massBoundaryDistance(LossConfig c, double[] z, double tau) {
        double[] y = Arrays.stream(scaled(c, z, tau, new double[z.length]))
                .filter(v -> v != Double.NEGATIVE_INFINITY).sorted().toArray();
        int n = y.length;
        if (n == 0) return Double.POSITIVE_INFINITY;
        double total = 0;
        for (double v : y) total += Math.exp(v - y[n - 1]);
        double need = (1 - f(c.clampP())) * total, above = 0, distance = Double.POSITIVE_INFINITY;
        for (int j = n - 1; j >= 0; --j) {  // from the largest value down
            above += Math.exp(y[j] - y[n - 1]);
            if (j == 0 || y[j - 1] != y[j]) distance = Math.min(distance, Math.abs(above - need) / total);
        }
        return distance;
    }

    /** S of SPEC section 2, by sorting. */
    static boolean[] clampedSet(LossConfig c, double[] y, double[] pi) {
        int vocab = y.length;
        boolean[] inS = new boolean[vocab];
        int finite = 0;
        for (double v : y) if (v != Double.NEGATIVE_INFINITY) ++finite;
        double p = f(c.clampP());
        double threshold;
        if (p == 0) {
            threshold = -Double.MAX_VALUE;
        } else if (c.clampMode() == ClampMode.TOKEN_FRACTION) {
            double[] sorted = Arrays.stream(y).filter(v -> v != Double.NEGATIVE_INFINITY).sorted().toArray();
            long k = Math.max(1, finite - (long) Math.floor(p * finite));
            threshold = sorted[(int) (finite - k)];  // the k-th largest
        } else {
            Integer[] order = new Integer[vocab];
            for (int v = 0; v < vocab; ++v) order[v] = v;
            Arrays.sort(order, (u, v) -> Double.compare(y[v], y[u]));
            double mass = 0;
            threshold = y[order[finite - 1]];  // if rounding leaves the sum short of 1 - p: everything
            for (int j = 0; j < finite; ++j) {
                mass += pi[order[j]];
                if (mass >= 1 - p) {
                    threshold = y[order[j]];
                    break;
                }
            }
        }
        for (int v = 0; v < vocab; ++v) inS[v] = y[v] != Double.NEGATIVE_INFINITY && y[v] >= threshold;
        return inS;
    }

    private interface Keep {
        boolean test(int v);
    }

    private static double logSumExp(double[] y, Keep keep) {
        double max = Double.NEGATIVE_INFINITY;
        for (int v = 0; v < y.length; ++v) if (keep.test(v)) max = Math.max(max, y[v]);
        double sum = 0;
        for (int v = 0; v < y.length; ++v) if (keep.test(v)) sum += Math.exp(y[v] - max);
        return max + Math.log(sum);
    }
}
