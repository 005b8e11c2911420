package io.policyloss.control;

/**
 * CISPO (MiniMax-M1, "Scaling Test-Time Compute Efficiently with Lightning Attention"; TRL's {@code
 * loss_type="cispo"}): REINFORCE with a clipped importance weight held constant, token loss
 * -sg(clip(r, minWeight, maxWeight)) A logp. PPO's clip drops the gradient of a token whose ratio left the clip
 * range, and with it rare tokens whose probability rose fast, often the reflective ones ("However", "Wait");
 * CISPO clips the weight instead, so every token keeps a gradient, -clip(r) A grad logp.
 *
 * <p>Through the kernel at ratio 1 ({@link ReweightedPolicyGradient}). TRL clips the weight from above alone (its
 * {@code epsilon_high} is the bound itself, 5 in ScaleRL) and counts a token clipped where r &gt; maxWeight and
 * A &gt; 0; MiniMax-M1 left the lower bound off too. Clipped low here is r &lt; minWeight and A &lt; 0.
 *
 * <p>With minWeight = maxWeight = 1 the weight is 1 whatever the ratio: GPG's loss, REINFORCE's -A logp (verl's
 * {@code policy_loss.loss_mode: gpg}; {@link #gpg}), which reports no clip, so a constant weight counts none. GPG's
 * advantages and its correction for the groups without a gradient: {@link Gpg}.
 *
 * @param minWeight the weight's lower bound, in [0, maxWeight] (TRL: 0, none)
 * @param maxWeight the weight's upper bound, &gt; 0; +inf for none
 */
public record Cispo(double minWeight, double maxWeight) implements ReweightedPolicyGradient {
    public Cispo {
        if (!(minWeight >= 0) || minWeight == Double.POSITIVE_INFINITY)
            throw new IllegalArgumentException("minWeight: must be finite and >= 0, got " + minWeight);
        if (!(maxWeight > 0)) throw new IllegalArgumentException("maxWeight: must be > 0, got " + maxWeight);
        if (maxWeight < minWeight)
            throw new IllegalArgumentException("maxWeight: must be >= minWeight (" + minWeight + "), got " + maxWeight);
    }

    @Override
    public String paperName() {
        return "CISPO";
    }

    /** TRL's recommended setting (from ScaleRL): no lower bound, the weight at most 5. */
    public static Cispo defaults() {
        return new Cispo(0, 5);
    }

    /** GPG (verl's {@code gpg}): the weight 1, the loss -A logp, nothing clipped. */
    public static Cispo gpg() {
        return new Cispo(1, 1);
    }

    @Override
    public double weight(double ratio, double advantage) {
        return Math.min(Math.max(ratio, minWeight), maxWeight);
    }

    @Override
    public double tokenLoss(double ratio, double advantage, double logp) {
        return -weight(ratio, advantage) * advantage * logp;
    }

    @Override
    public boolean clippedLow(double ratio, double advantage) {
        return ratio < minWeight && advantage < 0 && minWeight < maxWeight;
    }

    @Override
    public boolean clippedHigh(double ratio, double advantage) {
        return ratio > maxWeight && advantage > 0 && minWeight < maxWeight;
    }
}
