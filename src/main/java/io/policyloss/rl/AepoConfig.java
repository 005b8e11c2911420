package io.policyloss.rl;

import io.policyloss.control.AepoTemperature;

/**
 * AEPO (seed 000, Eq. 1): each step adds REINFORCE rows on positive samples drawn at T_high when the old policy's
 * entropy is under the target and at T_low otherwise (paper: 60 positives per step to raise entropy, 30 to lower
 * it, of 4096 responses).
 *
 * @param targetEntropy H_target, in nats per token
 * @param temperatureHigh T_high
 * @param temperatureLow T_low
 * @param alpha the weight of the REINFORCE term relative to the GRPO term
 * @param positivesUp positive samples per step while raising entropy (T_high)
 * @param positivesDown positive samples per step while lowering it (T_low)
 */
public record AepoConfig(double targetEntropy, double temperatureHigh, double temperatureLow, double alpha,
        int positivesUp, int positivesDown) {
    public AepoConfig {
        switchRule(targetEntropy, temperatureHigh, temperatureLow);
        if (!(alpha >= 0 && Double.isFinite(alpha)))
            throw new IllegalArgumentException("aepo.alpha: must be finite and >= 0, got " + alpha);
        if (positivesUp < 0) throw new IllegalArgumentException("aepo.positivesUp: must be >= 0, got " + positivesUp);
        if (positivesDown < 0)
            throw new IllegalArgumentException("aepo.positivesDown: must be >= 0, got " + positivesDown);
    }

    public AepoTemperature switchRule() {
        return switchRule(targetEntropy, temperatureHigh, temperatureLow);
    }

    private static AepoTemperature switchRule(double target, double high, double low) {
        try {
            return new AepoTemperature(target, high, low);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("aepo." + e.getMessage()); // no cause: the message is the point
        }
    }
}
