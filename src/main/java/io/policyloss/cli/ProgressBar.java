package io.policyloss.cli;

import java.io.PrintStream;

/**
 * A one-line progress bar on standard error, redrawn in place on a terminal; elsewhere (CI logs, pipes) a line
 * every tenth of the way, so logs stay readable.
 */
final class ProgressBar {
    private static final int WIDTH = 30;
    private final PrintStream out = System.err;
    private final String label;
    private final int total;
    private final boolean terminal = System.console() != null;
    private final long start = System.nanoTime();
    private int lastTenth = -1;

    ProgressBar(String label, int total) {
        this.label = label;
        this.total = Math.max(total, 1);
    }

    /** {@code done} of total finished; {@code detail} is shown after the bar. */
    void update(int done, String detail) {
        int filled = (int) ((long) WIDTH * done / total), tenth = (int) (10L * done / total);
        String line = String.format("%-24s [%s%s] %4d/%d %5.1fs %s", label, "#".repeat(filled),
                ".".repeat(WIDTH - filled), done, total, (System.nanoTime() - start) / 1e9, detail);
        if (terminal) {
            out.print("\r" + line + (done == total ? "\n" : ""));
            out.flush();
        } else if (tenth != lastTenth) {
            out.println(line);
            lastTenth = tenth;
        }
    }
}
