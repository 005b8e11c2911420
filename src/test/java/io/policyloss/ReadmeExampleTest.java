package io.policyloss;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.policyloss.loss.AggregationWeights.Totals;
import io.policyloss.loss.LossResult;
import io.policyloss.torch.LinearLossResult;
import io.policyloss.torch.TorchLossResult;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The README's Java examples compile, run, give sane results, and are the text the README shows. */
class ReadmeExampleTest {
    @Test
    void exampleRunsAndMatchesTheReadme() throws IOException {
        LossResult r = ReadmeExample.run();
        assertTrue(Double.isFinite(r.totalLoss()));
        assertEquals(4, r.metrics().validRows());
        assertTrue(r.metrics().meanEntropy() > 0 && r.metrics().meanEntropy() <= Math.log(1000) + 1e-4);

        assertShownVerbatim("ReadmeExample.java");
    }

    @Test
    void torchExampleRunsAndMatchesTheReadme() throws IOException {
        TorchLossResult r = ReadmeTorchExample.run();
        assertEquals(8, r.metrics().validRows());
        assertTrue(r.metrics().meanEntropy() > 0 && r.metrics().meanEntropy() <= Math.log(16) + 1e-4);
        assertShownVerbatim("ReadmeTorchExample.java");
    }

    @Test
    void fusedLinearExampleRunsAndMatchesTheReadme() throws IOException {
        LinearLossResult r = ReadmeFusedLinearExample.run();
        assertEquals(8, r.metrics().validRows());
        assertTrue(Double.isFinite(r.metrics().loss()));
        assertTrue(r.gradHidden() != null && r.gradWeight() != null && r.gradBias() != null, "every gradient");
        assertShownVerbatim("ReadmeFusedLinearExample.java");
    }

    /** Sequence 1's product of ratios is e^2, above TRL's clip_max of 3: its rows lose their pg term. */
    @Test
    void rolloutExampleRunsAndMatchesTheReadme() throws IOException {
        ReadmeRolloutExample.Outcome r = ReadmeRolloutExample.run();
        assertEquals(5, r.corrected().metrics().validRows());
        assertEquals(0.5, r.metrics().correctedFraction(), "one of the two sequences masked");
        assertEquals(0, r.metrics().ratioMin());
        assertEquals(Math.exp(0.1), r.metrics().ratioMax(), 1e-6, "sequence 0's: -0.1 + 0.1 + 0.1");
        assertTrue(Double.isFinite(r.corrected().totalLoss()));
        assertShownVerbatim("ReadmeRolloutExample.java");
    }

    /** As the only rank of its group: the sums and the gather give back what the rank holds. */
    @Test
    void ranksExampleRunsAndMatchesTheReadme(@TempDir Path dir) throws IOException {
        ReadmeRanksExample.Outcome r = ReadmeRanksExample.run(dir.resolve("store").toString());
        assertEquals(new Totals(7, 2), r.global());
        assertEquals(r.local(), r.metrics());
        assertEquals(7, r.metrics().validRows());
        assertShownVerbatim("ReadmeRanksExample.java");
    }

    private static void assertShownVerbatim(String file) throws IOException {
        String source = Files.readString(Path.of("src/test/java/io/policyloss", file));
        String example = source.substring(source.indexOf("// README-BEGIN\n") + 16, source.indexOf("        // README-END"))
                .lines().map(l -> l.length() >= 8 ? l.substring(8) : l.strip()).collect(Collectors.joining("\n"));
        String readme = Files.readString(Path.of("README.md"));
        assertTrue(readme.contains(example), "README.md shows the example of " + file + " verbatim:\n" + example);
    }
}
