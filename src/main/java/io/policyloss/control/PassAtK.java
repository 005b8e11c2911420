package io.policyloss.control;

/**
 * The unbiased pass@k estimator (SPEC section 7): 1 - C(n - c, k) / C(n, k) from n samples of which c are correct,
 * as a product (no huge binomials): 1 - prod_{i = n - c + 1}^{n} (1 - k / i).
 */
public final class PassAtK {
    private PassAtK() {}

    public static double estimate(int n, int c, int k) {
        if (n < 1) throw new IllegalArgumentException("n: must be >= 1, got " + n);
        if (c < 0 || c > n) throw new IllegalArgumentException("c: must be in [0, n = " + n + "], got " + c);
        if (k < 1 || k > n) throw new IllegalArgumentException("k: must be in [1, n = " + n + "], got " + k);
        if (n - c < k) return 1.0;
        double allWrong = 1.0;
        for (int i = n - c + 1; i <= n; ++i) allWrong *= 1.0 - (double) k / i;
        return 1.0 - allWrong;
    }

    /** The mean of pass@k over problems, each with n samples and correct[j] of them correct. */
    public static double mean(int n, int[] correct, int k) {
        if (correct.length == 0) throw new IllegalArgumentException("correct: no problems");
        double sum = 0;
        for (int c : correct) sum += estimate(n, c, k);
        return sum / correct.length;
    }
}
