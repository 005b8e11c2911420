package io.policyloss.control;

import java.util.Objects;

/**
 * DAPO's soft overlong punishment ("DAPO: An Open-Source LLM Reinforcement Learning System at Scale", eq. 13; verl's
 * {@code reward_model.overlong_buffer} with {@code len} and {@code penalty_factor}; TRL's
 * {@code get_soft_overlong_punishment(max_completion_len, soft_punish_cache)}, a factor of 1): a reward added to a
 * response's for its length |y|, 0 up to L_max - L_cache, then falling linearly to -factor at L_max, and -factor
 * beyond. A response cut at L_max is not known to be wrong, only unfinished; the ramp lets the policy learn to finish
 * before the cut instead of a cliff at it. Immutable.
 *
 * @param buffer L_cache, the tokens before L_max over which the punishment grows, &gt;= 1 (DAPO's 4096 of 20480)
 * @param penaltyFactor the punishment at L_max, finite and &gt;= 0 (verl's penalty_factor; DAPO's and TRL's 1)
 */
public record OverlongPunishment(int buffer, double penaltyFactor) {
    public OverlongPunishment {
        if (buffer < 1) throw new IllegalArgumentException("buffer: must be >= 1, got " + buffer);
        if (!(penaltyFactor >= 0 && penaltyFactor < Double.POSITIVE_INFINITY))
            throw new IllegalArgumentException("penaltyFactor: must be finite and >= 0, got " + penaltyFactor);
    }

    /**
     * The punishment of a response of {@code length} tokens where responses stop at {@code maxLength}: 0, or
     * min(0, (maxLength - buffer - length) / buffer) times the factor, down to -factor.
     *
     * @param maxLength L_max, at least the buffer
     */
    public double reward(int length, int maxLength) {
        checkMaxLength(maxLength);
        if (length < 0) throw new IllegalArgumentException("length: must be >= 0, got " + length);
        double over = Math.min(length, maxLength) - (maxLength - buffer);
        return over <= 0 ? 0 : -penaltyFactor * over / buffer;
    }

    /**
     * Each response's reward plus its punishment.
     *
     * @param rewards one per response, finite
     * @param lengths each response's tokens, &gt;= 0
     */
    public float[] penalize(float[] rewards, int[] lengths, int maxLength) {
        Objects.requireNonNull(rewards, "rewards");
        Objects.requireNonNull(lengths, "lengths");
        checkMaxLength(maxLength);
        if (lengths.length != rewards.length)
            throw new IllegalArgumentException("lengths: length " + lengths.length + ", rewards has " + rewards.length
                    + " rows");
        float[] out = new float[rewards.length];
        for (int i = 0; i < out.length; ++i) {
            RowArrays.finite(rewards[i], "rewards", i);
            if (lengths[i] < 0)
                throw new IllegalArgumentException("lengths: row " + i + ": must be >= 0, got " + lengths[i]);
            out[i] = (float) (rewards[i] + reward(lengths[i], maxLength));
        }
        return out;
    }

    private void checkMaxLength(int maxLength) {
        if (maxLength < buffer)
            throw new IllegalArgumentException("maxLength: must be >= buffer (" + buffer + "), got " + maxLength);
    }
}
