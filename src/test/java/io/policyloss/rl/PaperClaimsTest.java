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
 * Claim 3's second half (disabling clip-high raises entropy) did not reproduce at this scale and is not asserted,
 * and claim 4 reproduced only weakly as stated (share of steps inside the band); what is asserted for AEnt is the
 * closed loop it rests on: late in the run its clamped entropy is back at the band, where a constant coefficient
 * lets it drift below. The README reports all of it.
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
    void grpoEntropyFalls() { // measured: 1.43 over steps 0-9, 0.72 over 50-59
        List<StepMetrics> grpo = run("grpo", "{}", 60);
        double early = entropy(grpo, 0, 10), late = entropy(grpo, 50, 60);
        assertTrue(late < early - 0.35, "GRPO entropy " + early + " -> " + late);
    }

    @Test
    void aepoHoldsEntropyNearEachTargetHigherAboveLower() { // measured over 50-59: 0.54 (target 0.6), 0.92 (1.1)
        double low = entropy(run("aepo", "{\"name\": \"aepo-0.6\", \"aepo\": {\"targetEntropy\": 0.6}}", 60), 50, 60);
        double high = entropy(run("aepo", "{\"name\": \"aepo-1.1\", \"aepo\": {\"targetEntropy\": 1.1}}", 60), 50, 60);
        assertTrue(high > low + 0.2, "target 1.1 gave " + high + ", target 0.6 gave " + low);
        assertTrue(Math.abs(low - 0.6) < 0.3 && Math.abs(high - 1.1) < 0.3, "far from targets: " + low + ", " + high);
    }

    @Test
    void randomRewardsLowerEntropyAndAStrongerClipLowRaisesIt() { // measured: 1.48 -> 1.13; clip-low 1.37 (70-79)
        List<StepMetrics> symmetric = run("random-reward", "{}", 80);
        List<StepMetrics> clipLow = run("random-reward-clip-low", "{}", 80);
        double early = entropy(symmetric, 0, 10), late = entropy(symmetric, 70, 80);
        assertTrue(late < early - 0.15, "random rewards, symmetric clip: " + early + " -> " + late);
        double lateClipLow = entropy(clipLow, 70, 80);
        assertTrue(lateClipLow > late + 0.12, "eps_low 0.1 gave " + lateClipLow + ", symmetric " + late);
    }

    @Test
    void aentBringsClampedEntropyBackToItsBandWhereAConstantCoefficientDriftsBelow() {
        // measured over steps 80-99: mean distance to [0.8, 1.1] 0.007 (AEnt), 0.086 (constant, mean Hc 0.71)
        double low = 0.8, high = 1.1;
        ToDoubleFunction<StepMetrics> distance = m -> Math.max(0, Math.max(low - m.clampedEntropy(),
                m.clampedEntropy() - high));
        double adaptive = mean(run("aent", "{}", 100), 80, 100, distance);
        double constant = mean(run("constant-clamped-entropy", "{}", 100), 80, 100, distance);
        assertTrue(adaptive < 0.04 && constant > adaptive + 0.04,
                "distance to the band: AEnt " + adaptive + ", constant " + constant);
    }
}
