package io.policyloss.loss;

/** Which tokens the clamped entropy (AEnt, SPEC section 2) keeps. */
public enum ClampMode {
    /** The k = max(1, Vf - floor(p Vf)) largest finite logits, ties at the k-th all kept (the AEnt paper and code). */
    TOKEN_FRACTION,
    /** The smallest set of most probable tokens whose probability sums to at least 1 - p (nucleus reading). */
    PROBABILITY_MASS
}
