package io.policyloss.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.policyloss.rl.StepMetrics;
import org.junit.jupiter.api.Test;

/** The progress bar's line for a step: each metric once, in its place, low and high clips on their sides. */
class ExperimentTest {
    @Test
    void theProgressLineShowsEachMetricInItsPlace() {
        StepMetrics m = new StepMetrics(3, 0.4, 0.625, 1.5, 0.75, 0.0625, 0.125, 0.01, 0.02, 0.03, 0.04, 1.25, 0.001,
                0.002, -0.3, 0.05, 0.06, 7.5, 2, 0.9);
        assertEquals("acc 0.63  H 1.500  Hc 0.750  T 1.25  clip 0.063 / 0.125", Experiment.detail(m));
    }
}
