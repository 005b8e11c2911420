package io.policyloss.rl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The built-in tasks' problems and reward functions, on hand-written cases. */
class TasksTest {
    /** The reward of a response written as text ('|' is end-of-sequence), padded as the sampler pads. */
    private static float reward(Task task, Problem p, String response) {
        int[] ids = new int[task.maxResponseLength()];
        int[] written = Vocabulary.encode(response);
        java.util.Arrays.fill(ids, Vocabulary.EOS);
        System.arraycopy(written, 0, ids, 0, written.length);
        int length = response.indexOf('|') + 1;
        return task.reward(p, ids, length == 0 ? response.length() : length);
    }

    @Test
    void additionWantsTheSumLeastSignificantDigitFirst() {
        AdditionTask task = new AdditionTask(2);
        Problem p = new Problem(Vocabulary.encode("47+85="), "231"); // 132 reversed
        assertEquals(1f, reward(task, p, "231|"));
        assertEquals(0f, reward(task, p, "132|"), "most significant digit first is wrong");
        assertEquals(0f, reward(task, p, "2310"), "no end-of-sequence");
        assertEquals(0f, reward(task, p, "23|"), "too short");
    }

    @Test
    void additionProblemsAreCorrectSums() {
        AdditionTask task = new AdditionTask(3);
        SplittableRandom random = new SplittableRandom(1);
        for (int i = 0; i < 200; ++i) {
            Problem p = task.sample(random);
            String prompt = Vocabulary.decode(p.prompt(), 0, p.prompt().length);
            assertEquals(task.promptLength(), prompt.length());
            int a = Integer.parseInt(prompt.substring(0, 3)), b = Integer.parseInt(prompt.substring(4, 7));
            assertEquals(String.format("%04d", a + b), new StringBuilder(p.answer()).reverse().toString(), prompt);
            assertEquals(1f, reward(task, p, p.answer() + "|"));
        }
    }

    @Test
    void sortingWantsTheDigitsInOrder() {
        SortDigitsTask task = new SortDigitsTask(4);
        Problem p = new Problem(Vocabulary.encode("S3141:"), "1134");
        assertEquals(1f, reward(task, p, "1134|"));
        assertEquals(0f, reward(task, p, "3141|"));
        assertEquals(0f, reward(task, p, "113|"));
        Problem sampled = task.sample(new SplittableRandom(2));
        char[] digits = Vocabulary.decode(sampled.prompt(), 1, 5).toCharArray();
        java.util.Arrays.sort(digits);
        assertEquals(new String(digits), sampled.answer());
    }

    @Test
    void digitSumAcceptsEveryAnswerWithTheSum() {
        DigitSumTask task = new DigitSumTask(4);
        Problem p = new Problem(Vocabulary.encode("D17:"), "9800");
        for (String right : new String[] {"9800|", "0089|", "4445|", "1907|"}) assertEquals(1f, reward(task, p, right), right);
        for (String wrong : new String[] {"9801|", "980|", "98000", "98+0|"}) assertEquals(0f, reward(task, p, wrong), wrong);
        Problem sampled = task.sample(new SplittableRandom(3));
        assertEquals(1f, reward(task, sampled, sampled.answer() + "|"), "the sampled answer is correct");
    }

    @Test
    void vocabularyRoundTripsAndRejectsUnknownCharacters() {
        assertArrayEquals(Vocabulary.encode("12+34="), Vocabulary.encode(Vocabulary.decode(Vocabulary.encode("12+34="), 0, 6)));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Vocabulary.encode("1x"));
        assertTrue(e.getMessage().startsWith("text: character 'x' at 1"), e.getMessage());
    }
}
