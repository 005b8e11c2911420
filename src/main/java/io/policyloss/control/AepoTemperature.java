package io.policyloss.control;

/**
 * AEPO's temperature switch (seed 000, Eq. 1; SPEC section 7): before each step, the REINFORCE rows are sampled at
 * T_high when the old policy's entropy is below the target (to raise it) and at T_low otherwise. H(pi_old) is the
 * mean token entropy at temperature 1 over the whole batch, all ranks.
 *
 * @param targetEntropy H_target
 * @param temperatureHigh T_high (paper: 1.2)
 * @param temperatureLow T_low (paper: 0.8)
 */
public record AepoTemperature(double targetEntropy, double temperatureHigh, double temperatureLow) {
    public AepoTemperature {
        if (!(targetEntropy >= 0 && Double.isFinite(targetEntropy)))
            throw new IllegalArgumentException("targetEntropy: must be finite and >= 0, got " + targetEntropy);
        if (!(temperatureLow > 0 && Double.isFinite(temperatureLow)))
            throw new IllegalArgumentException("temperatureLow: must be finite and > 0, got " + temperatureLow);
        if (!(temperatureHigh > temperatureLow && Double.isFinite(temperatureHigh)))
            throw new IllegalArgumentException("temperatureHigh: must be finite and > temperatureLow ("
                    + temperatureLow + "), got " + temperatureHigh);
    }

    /** The paper's switch: T_high 1.2, T_low 0.8. */
    public static AepoTemperature paper(double targetEntropy) {
        return new AepoTemperature(targetEntropy, 1.2, 0.8);
    }

    /** The temperature for this step's REINFORCE samples. */
    public double choose(double oldPolicyEntropy) {
        if (Double.isNaN(oldPolicyEntropy)) throw new IllegalArgumentException("oldPolicyEntropy: is NaN");
        return oldPolicyEntropy < targetEntropy ? temperatureHigh : temperatureLow;
    }
}
