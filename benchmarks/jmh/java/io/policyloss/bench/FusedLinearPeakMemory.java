package io.policyloss.bench;

import io.policyloss.torch.TorchThreads;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.function.DoubleSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.bytedeco.javacpp.PointerScope;

/**
 * The host memory one step of FusedLinearLossBenchmark's three routes takes beyond what the process held before it:
 * the peak resident set (VmHWM, reset through /proc/self/clear_refs before each step) less the resident set before
 * it. Each route runs once to warm up (the leaves' grad tensors exist from then on), then {@code REPEATS} times,
 * interleaved with the others; the table gives the median. Linux only, with glibc's MALLOC_MMAP_THRESHOLD_ set: then
 * every allocation above it is mapped on its own and unmapped when freed, so the peak is the most the step held at
 * once. Without it glibc raises its threshold as large blocks are freed (up to 32 MiB), and a chunk's logits come
 * from heap memory an earlier step left resident, which the peak does not show.
 *
 * <pre>MALLOC_MMAP_THRESHOLD_=65536 mvn -q -DskipTests test-compile exec:java -Dexec.classpathScope=test \
 *     -Dexec.mainClass=io.policyloss.bench.FusedLinearPeakMemory</pre>
 */
public final class FusedLinearPeakMemory {
    private static final int REPEATS = 5;
    private static final Path STATUS = Path.of("/proc/self/status"), CLEAR_REFS = Path.of("/proc/self/clear_refs");

    private FusedLinearPeakMemory() {}

    public static void main(String[] args) throws IOException {
        if (System.getenv("MALLOC_MMAP_THRESHOLD_") == null)
            throw new IllegalStateException("MALLOC_MMAP_THRESHOLD_: unset; set it (65536) so that the peaks of "
                    + "allocations below 32 MiB show (see this class's comment)");
        TorchThreads.use(1);
        int rows = FusedLinearLossBenchmark.ROWS, width = FusedLinearLossBenchmark.WIDTH;
        int vocab = FusedLinearLossBenchmark.VOCAB;
        LinearHeadBatch batch = new LinearHeadBatch(rows, width, vocab, 1);
        String[] names = {"chunks of 16 rows (FusedLinearPolicyLoss's default)", "chunks of 64 rows",
                "chunks of 256 rows", "whole logits, gradient in place", "whole logits, gradient into a new tensor"};
        DoubleSupplier[] routes = {() -> batch.chunks(0), () -> batch.chunks(64), () -> batch.chunks(256),
                () -> batch.wholeLogits(true), () -> batch.wholeLogits(false)};
        long[][] extra = new long[routes.length][REPEATS + 1];
        for (int repeat = 0; repeat <= REPEATS; ++repeat)
            for (int k = 0; k < routes.length; ++k) extra[k][repeat] = extraKib(routes[k]);
        System.out.printf("N = %d, D = %d, V = %d, fp32: the logits are %.1f MiB, W %.1f MiB%n", rows, width, vocab,
                rows * (double) vocab * 4 / (1 << 20), vocab * (double) width * 4 / (1 << 20));
        System.out.println("| route | peak extra MiB (median of " + REPEATS + ") | each (MiB) |");
        System.out.println("| --- | --- | --- |");
        for (int k = 0; k < routes.length; ++k) {
            long[] measured = Arrays.copyOfRange(extra[k], 1, REPEATS + 1);  // [0] warmed up
            long[] sorted = measured.clone();
            Arrays.sort(sorted);
            System.out.printf("| %s | %.1f | %s |%n", names[k], sorted[REPEATS / 2] / 1024.0,
                    Arrays.stream(measured).mapToObj(v -> String.format("%.1f", v / 1024.0))
                            .reduce((a, b) -> a + ", " + b).orElse(""));
        }
    }

    /** The step's peak resident set beyond the resident set before it, in KiB. */
    private static long extraKib(DoubleSupplier step) throws IOException {
        System.gc();
        long before = status("VmRSS");
        Files.writeString(CLEAR_REFS, "5");  // the peak (VmHWM) starts again from the current resident set
        try (PointerScope scope = new PointerScope()) {
            step.getAsDouble();
        }
        return status("VmHWM") - before;
    }

    private static long status(String field) throws IOException {
        Matcher m = Pattern.compile(field + ":\\s+(\\d+) kB").matcher(Files.readString(STATUS));
        if (!m.find()) throw new IllegalStateException("/proc/self/status has no " + field);
        return Long.parseLong(m.group(1));
    }
}
