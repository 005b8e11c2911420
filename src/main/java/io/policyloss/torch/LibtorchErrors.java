package io.policyloss.torch;

/**
 * libtorch's exceptions in a line a user can read: c10::Error appends the C++ frames after its first line ("Exception
 * raised from ... (most recent call first)"), and Gloo starts its messages with its source file, "[.../pair.cc:538] ".
 */
public final class LibtorchErrors {
    private LibtorchErrors() {}

    /** The first line of {@code e}'s message without a leading "[source:line] "; "" for none. */
    public static String message(RuntimeException e) {
        String m = e.getMessage();
        if (m == null) return "";
        return m.lines().findFirst().orElse("").replaceFirst("^\\[[^\\]]*\\] ", "");
    }
}
