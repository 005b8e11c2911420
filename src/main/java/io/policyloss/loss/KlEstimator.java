package io.policyloss.loss;

/** The estimators of KL(pi || pi_ref) from one sample (SPEC section 3), with delta = ref_logp - logp. */
public enum KlEstimator {
    /** logp - ref_logp */
    K1,
    /** delta^2 / 2 */
    K2,
    /** exp(delta) - delta - 1, clamped to [-10, 10] */
    K3,
    /** verl's "k1+": K1's value, K2's gradient with respect to logp (a straight-through estimator) */
    K1_PLUS,
    /** verl's "k3+" ("low_var_kl+"): K3's value, K2's gradient with respect to logp, where K3 is clamped too */
    K3_PLUS,
    /** verl's "abs": |logp - ref_logp|, its gradient with respect to logp the sign (0 where they are equal) */
    ABS;

    /** The pl_kl_estimator value of the C ABI. */
    public int code() {
        return ordinal() + 1;
    }
}
