package io.policyloss.torch;

import io.policyloss.loss.PolicyLossException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A chunk's error renumbered from the chunk's first row to the batch's: the kernel's data errors and the control
 * helpers' row checks name a row as "argument: row i: ...", of the rows they were given, which behind a linear head
 * are one chunk's.
 */
final class ChunkErrors {
    private static final Pattern ROW = Pattern.compile("^(\\w+): row (\\d+): ");

    private ChunkErrors() {}

    static PolicyLossException inBatch(PolicyLossException e, long first) {
        if (e.row() < 0 || first == 0) return e;
        PolicyLossException renumbered = new PolicyLossException(e.status(), e.argument(), e.row() + first,
                renumbered(e.getMessage(), first));
        renumbered.initCause(e);
        return renumbered;
    }

    static IllegalArgumentException inBatch(IllegalArgumentException e, long first) {
        String message = renumbered(e.getMessage(), first);
        return message.equals(e.getMessage()) ? e : new IllegalArgumentException(message, e);
    }

    private static String renumbered(String message, long first) {
        Matcher m = message == null ? null : ROW.matcher(message);
        if (first == 0 || m == null || !m.find()) return message;
        return m.group(1) + ": row " + (Long.parseLong(m.group(2)) + first) + ": " + message.substring(m.end());
    }
}
