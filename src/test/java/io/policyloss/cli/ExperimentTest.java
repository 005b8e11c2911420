package io.policyloss.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.policyloss.rl.StepMetrics;
import io.policyloss.rl.TrainConfig;
import io.policyloss.rl.TrainConfigs;
import io.policyloss.torch.LoopbackRanks;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The progress bar's line for a step: each metric once, in its place, low and high clips on their sides. Ranks started
 * with other configs stop before anything is made.
 */
class ExperimentTest {
    @TempDir
    Path dir;

    @Test
    void theProgressLineShowsEachMetricInItsPlace() {
        StepMetrics m = new StepMetrics(3, 0.4, 0.625, 1.5, 0.75, 0.0625, 0.125, 0.01, 0.02, 0.03, 0.04, 1.25, 0.001,
                0.002, -0.3, 0.05, 0.07, 0.08, 0.06, 7.5, 0.25, 1, 2, 0.9);
        assertEquals("acc 0.63  H 1.500  Hc 0.750  T 1.25  clip 0.063 / 0.125", Experiment.detail(m));
    }

    /** Rank 1 given --steps 5 where rank 0 has 6: both refuse at once, before the base model's warm start. */
    @Test
    void ranksStartedWithOtherConfigsStopBeforeAnything() throws Exception {
        TrainConfig c = TrainConfigs.withOverrides(TrainConfigs.preset("grpo"), "{\"model\": {\"layers\": 1,"
                + " \"width\": 16, \"heads\": 2, \"context\": 8}, \"steps\": 6}");
        TrainConfig fewer = TrainConfigs.withOverrides(c, "{\"steps\": 5}");
        Path out = dir.resolve("out");
        List<String> outcome = LoopbackRanks.run(dir, 2, Duration.ofSeconds(20), ranks -> assertThrows(
                IllegalArgumentException.class, () -> Experiment.run(List.of(ranks.rank() == 0 ? c : fewer), out,
                        false, ranks)).getMessage());
        assertEquals(Collections.nCopies(2, "configs and options: rank 1 differs from rank 0 (start every rank with "
                + "the same configs and options)"), outcome);
        assertFalse(Files.exists(out), "nothing made");
    }
}
