package io.policyloss.loss;

/** The estimators of KL(pi || pi_ref) from one sample (SPEC section 3), with delta = ref_logp - logp. */
public enum KlEstimator {
    /** logp - ref_logp */
    K1,
    /** delta^2 / 2 */
    K2,
    /** exp(delta) - delta - 1, clamped to [-10, 10] */
    K3;

    /** The pl_kl_estimator value of the C ABI. */
    public int code() {
        return ordinal() + 1;
    }
}
