package io.policyloss.rl;

import java.util.Arrays;
import java.util.SplittableRandom;

/** Sorting digits: "S3141:" answers "1134". */
public record SortDigitsTask(int length) implements Task {
    public SortDigitsTask {
        if (length < 1 || length > 16) throw new IllegalArgumentException("length: must be in [1, 16], got " + length);
    }

    @Override
    public int promptLength() {
        return length + 2;
    }

    @Override
    public int maxResponseLength() {
        return length + 1;
    }

    @Override
    public Problem sample(SplittableRandom random) {
        char[] digits = new char[length];
        for (int i = 0; i < length; ++i) digits[i] = (char) ('0' + random.nextInt(10));
        String prompt = "S" + new String(digits) + ":";
        Arrays.sort(digits);
        return new Problem(Vocabulary.encode(prompt), new String(digits));
    }
}
