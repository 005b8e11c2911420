package io.policyloss.rl;

import java.util.SplittableRandom;

/**
 * Digits with a given sum: "D17:" is answered by any {@code length} digits that add up to 17 ("1907", "8801",
 * ...). Unlike addition and sorting, many answers are correct, as with reasoning paths in an LLM: a policy can be
 * right with high or low entropy, which is what entropy control is about. The warm start learns uniformly drawn
 * correct answers.
 */
public record DigitSumTask(int length) implements Task {
    public DigitSumTask {
        if (length < 2 || length > 10) throw new IllegalArgumentException("length: must be in [2, 10], got " + length);
    }

    @Override
    public int promptLength() {
        return 4;
    }

    @Override
    public int maxResponseLength() {
        return length + 1;
    }

    /** The sum is that of uniformly drawn digits, and the answer those digits: uniform among correct answers. */
    @Override
    public Problem sample(SplittableRandom random) {
        StringBuilder digits = new StringBuilder();
        int sum = 0;
        for (int i = 0; i < length; ++i) {
            int d = random.nextInt(10);
            sum += d;
            digits.append((char) ('0' + d));
        }
        return new Problem(Vocabulary.encode(String.format("D%02d:", sum)), digits.toString());
    }

    @Override
    public float reward(Problem problem, int[] response, int length) {
        if (length != this.length + 1 || response[length - 1] != Vocabulary.EOS) return 0f;
        int sum = 0;
        for (int i = 0; i < this.length; ++i) {
            if (response[i] > 9) return 0f;
            sum += response[i];
        }
        int wanted = Integer.parseInt(Vocabulary.decode(problem.prompt(), 1, 3));
        return sum == wanted ? 1f : 0f;
    }
}
