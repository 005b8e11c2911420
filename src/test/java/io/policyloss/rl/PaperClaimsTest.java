package io.policyloss.rl;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.policyloss.torch.TorchThreads;
import java.nio.file.Path;
import java.util.List;
import java.util.function.ToDoubleFunction;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Reduced versions of the papers' qualitative claims, on the default presets with fixed seeds and fewer steps (the
 * README reports the full runs). Each threshold sits well inside what the run measured at the time of writing
 * (quoted below), so that a regression of the loss, the trainer or a controller breaks it, not noise.
 * Thresholds hold on seeds 2 and 3 too (measured, see the README), so that a libtorch whose floating-point
 * sums differ (another CPU) still passes. Claim 3's last part (disabling clip-high raises entropy) did not
 * reproduce at this scale and is not asserted. The README reports all of it.
 */
class PaperClaimsTest {
    @TempDir
    static Path dir;
    private static Path base;

    @BeforeAll
    static void baseModel() {
        TorchThreads.use(1);
        base = dir.resolve("base.pt");
        BaseModel.obtain(TrainConfigs.preset("grpo"), base, s -> {});
    }

    private static List<StepMetrics> run(String preset, String overrides, int steps) {
        TrainConfig c = TrainConfigs.withOverrides(TrainConfigs.preset(preset), overrides);
        c = TrainConfigs.withOverrides(c, "{\"steps\": " + steps + ", \"checkpointEvery\": 0}");
        return TrainingRun.run(c, dir.resolve(c.name()), base, false, -1, m -> {}).steps();
    }

    /** Mean of a metric over steps [from, to). */
    private static double mean(List<StepMetrics> steps, int from, int to, ToDoubleFunction<StepMetrics> f) {
        double s = 0;
        for (int i = from; i < to; ++i) s += f.applyAsDouble(steps.get(i));
        return s / (to - from);
    }

    private static double entropy(List<StepMetrics> steps, int from, int to) {
        return mean(steps, from, to, StepMetrics::entropy);
    }

    @Test
    void grpoEntropyFalls() { // measured, seeds 1 / 2 / 3: drops of 0.71 / 0.70 / 0.77 from steps 0-9 to 50-59
        List<StepMetrics> grpo = run("grpo", "{}", 60);
        double early = entropy(grpo, 0, 10), late = entropy(grpo, 50, 60);
        assertTrue(late < early - 0.35, "GRPO entropy " + early + " -> " + late);
    }

    @Test
    void aepoHoldsEntropyNearEachTargetHigherAboveLower() {
        // measured over steps 50-59, seeds 1 / 2 / 3: target 0.6 gave 0.54 / 0.49 / 0.60, target 1.1 gave
        // 0.92 / 0.83 / 0.93
        double low = entropy(run("aepo", "{\"name\": \"aepo-0.6\", \"aepo\": {\"targetEntropy\": 0.6}}", 60), 50, 60);
        double high = entropy(run("aepo", "{\"name\": \"aepo-1.1\", \"aepo\": {\"targetEntropy\": 1.1}}", 60), 50, 60);
        assertTrue(high > low + 0.2, "target 1.1 gave " + high + ", target 0.6 gave " + low);
        assertTrue(Math.abs(low - 0.6) < 0.3 && Math.abs(high - 1.1) < 0.3, "far from targets: " + low + ", " + high);
    }

    @Test
    void randomRewardsLowerEntropyAndAStrongerClipLowRaisesIt() {
        // measured, seeds 1 / 2 / 3: with symmetric clipping entropy drops by 0.35 / 0.21 / 0.38 from steps 0-9 to
        // 70-79; with clip-low 0.1 it ends above that by 0.24 / 0.10 / 0.21
        List<StepMetrics> symmetric = run("random-reward", "{}", 80);
        List<StepMetrics> clipLow = run("random-reward-clip-low", "{}", 80);
        double early = entropy(symmetric, 0, 10), late = entropy(symmetric, 70, 80);
        assertTrue(late < early - 0.15, "random rewards, symmetric clip: " + early + " -> " + late);
        double lateClipLow = entropy(clipLow, 70, 80);
        assertTrue(lateClipLow > late + 0.07, "eps_low 0.1 gave " + lateClipLow + ", symmetric " + late);
    }

    @Test
    void aentKeepsClampedEntropyInItsBandLongerAndRaisesItsCoefficientBelowIt() {
        // measured over 100 steps, seeds 1 / 2 / 3: in band 42% / 43% / 48% (AEnt) against 38% / 39% / 26%; once
        // below the band, AEnt's coefficient rose from 0.05 to 0.20 / 0.25 / 0.16
        List<StepMetrics> adaptive = run("aent", "{}", 100), constant = run("constant-clamped-entropy", "{}", 100);
        ToDoubleFunction<StepMetrics> inBand = m -> m.clampedEntropy() >= 0.8 && m.clampedEntropy() <= 1.1 ? 1 : 0;
        double shareAdaptive = mean(adaptive, 0, 100, inBand), shareConstant = mean(constant, 0, 100, inBand);
        assertTrue(shareAdaptive > shareConstant, "in band: AEnt " + shareAdaptive + ", constant " + shareConstant);
        int below = 0;
        while (below < 100 && adaptive.get(below).clampedEntropy() >= 0.8) ++below;
        assertTrue(below < 100, "AEnt's clamped entropy never went below the band");
        double raised = adaptive.subList(below, 100).stream().mapToDouble(StepMetrics::clampedEntropyCoefficient)
                .max().orElseThrow();
        assertTrue(raised >= 0.1, "below the band from step " + below + ", the coefficient reached only " + raised);
    }
}
