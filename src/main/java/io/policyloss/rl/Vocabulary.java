package io.policyloss.rl;

/**
 * The characters of the built-in tasks, one token each: digits, '+', '=', 'S' (the sort prompt), 'D' (the
 * digit-sum prompt), ':' and the end-of-sequence token '|'. Tokens after end-of-sequence are padding and never
 * count.
 */
public final class Vocabulary {
    private static final String TOKENS = "0123456789+=SD:|";
    public static final int SIZE = TOKENS.length();
    public static final int EOS = TOKENS.indexOf('|');

    private Vocabulary() {}

    public static int[] encode(String text) {
        int[] ids = new int[text.length()];
        for (int i = 0; i < ids.length; ++i) {
            ids[i] = TOKENS.indexOf(text.charAt(i));
            if (ids[i] < 0)
                throw new IllegalArgumentException("text: character '" + text.charAt(i) + "' at " + i
                        + " is not in the vocabulary \"" + TOKENS + "\"");
        }
        return ids;
    }

    /** The characters of ids[from, to). */
    public static String decode(int[] ids, int from, int to) {
        StringBuilder s = new StringBuilder(to - from);
        for (int i = from; i < to; ++i) s.append(TOKENS.charAt(ids[i]));
        return s.toString();
    }
}
