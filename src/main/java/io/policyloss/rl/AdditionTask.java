package io.policyloss.rl;

import java.util.SplittableRandom;

/**
 * Multi-digit addition: "047+085=" answers "231", the sum written least-significant digit first and zero-padded
 * to digits + 1 (the order in which carries are computed, which a small transformer learns far more easily).
 */
public record AdditionTask(int digits) implements Task {
    public AdditionTask {
        if (digits < 1 || digits > 9) throw new IllegalArgumentException("digits: must be in [1, 9], got " + digits);
    }

    @Override
    public int promptLength() {
        return 2 * digits + 2;
    }

    @Override
    public int maxResponseLength() {
        return digits + 2;
    }

    @Override
    public Problem sample(SplittableRandom random) {
        long bound = (long) Math.pow(10, digits);
        long a = random.nextLong(bound), b = random.nextLong(bound);
        String format = "%0" + digits + "d";
        String prompt = String.format(format, a) + "+" + String.format(format, b) + "=";
        String sum = String.format("%0" + (digits + 1) + "d", a + b);
        return new Problem(Vocabulary.encode(prompt), new StringBuilder(sum).reverse().toString());
    }
}
