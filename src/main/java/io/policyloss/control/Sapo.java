package io.policyloss.control;

/**
 * SAPO (Soft Adaptive Policy Optimization, Qwen; TRL's {@code loss_type="sapo"}): a smooth gate in place of PPO's
 * hard clip. Token loss -f(r) A with f(r) = sigmoid(tau (r - 1)) 4 / tau, tau = tauPos where A &gt; 0 and tauNeg
 * elsewhere; its gradient is -A f'(r) r grad logp = -4 s (1 - s) r A grad logp, s = sigmoid(tau (r - 1)). The
 * weight 4 s (1 - s) r is 1 at r = 1, where SAPO is the policy gradient, and fades as r leaves 1, the sooner the
 * larger tau: no token's gradient is cut off at an edge, and tauNeg &gt; tauPos damps negative-advantage tokens,
 * whose gradients raise every other token's probability, faster (the paper's reason for the asymmetry).
 *
 * <p>Through the kernel at ratio 1 ({@link ReweightedPolicyGradient}); nothing counts as clipped. With GSPO's
 * sequence ratio ({@link ImportanceRatios#sequence}) it is TRL's sequence-level SAPO.
 *
 * @param tauPos the gate's temperature where A &gt; 0 (TRL: 1.0)
 * @param tauNeg the gate's temperature where A &lt;= 0 (TRL: 1.05)
 */
public record Sapo(double tauPos, double tauNeg) implements ReweightedPolicyGradient {
    public Sapo {
        if (!(tauPos > 0) || tauPos == Double.POSITIVE_INFINITY)
            throw new IllegalArgumentException("tauPos: must be finite and > 0, got " + tauPos);
        if (!(tauNeg > 0) || tauNeg == Double.POSITIVE_INFINITY)
            throw new IllegalArgumentException("tauNeg: must be finite and > 0, got " + tauNeg);
    }

    @Override
    public String paperName() {
        return "SAPO";
    }

    /** TRL's defaults, the paper's: tauPos 1.0, tauNeg 1.05. */
    public static Sapo defaults() {
        return new Sapo(1.0, 1.05);
    }

    /** The gate f(r) = sigmoid(tau (r - 1)) 4 / tau at the advantage's temperature. */
    public double gate(double ratio, double advantage) {
        double tau = temperature(advantage);
        return 4 / tau / (1 + Math.exp(-tau * (ratio - 1)));
    }

    /** f'(r) r = 4 s (1 - s) r, with s (1 - s) = e^-|x| / (1 + e^-|x|)^2 at x = tau (r - 1), which cannot overflow. */
    @Override
    public double weight(double ratio, double advantage) {
        double e = Math.exp(-Math.abs(temperature(advantage) * (ratio - 1)));
        return 4 * e / ((1 + e) * (1 + e)) * ratio;
    }

    @Override
    public double tokenLoss(double ratio, double advantage, double logp) {
        return -gate(ratio, advantage) * advantage;
    }

    @Override
    public boolean clippedLow(double ratio, double advantage) {
        return false;
    }

    @Override
    public boolean clippedHigh(double ratio, double advantage) {
        return false;
    }

    private double temperature(double advantage) {
        return advantage > 0 ? tauPos : tauNeg;
    }
}
