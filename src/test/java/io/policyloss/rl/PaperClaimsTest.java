package io.policyloss.rl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.policyloss.torch.TorchThreads;
import java.nio.file.Files;
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

    @BeforeAll
    static void oneThread() {
        TorchThreads.use(1);
    }

    /** A seed's base model, as {@code --seed} makes it, trained once for the class. */
    private static Path baseModel(long seed) {
        Path file = dir.resolve("base-seed" + seed + ".pt");
        if (!Files.exists(file))
            BaseModel.obtain(TrainConfigs.withOverrides(TrainConfigs.preset("grpo"), "{\"seed\": " + seed + "}"), file,
                    s -> {});
        return file;
    }

    private static List<StepMetrics> run(String preset, String overrides, int steps) {
        return run(preset, overrides, steps, 1);
    }

    /** A run on the given seed, from that seed's own base model (as {@code --seed} runs it). */
    private static List<StepMetrics> run(String preset, String overrides, int steps, long seed) {
        TrainConfig c = TrainConfigs.withOverrides(TrainConfigs.preset(preset), overrides);
        c = TrainConfigs.withOverrides(c, "{\"seed\": " + seed + ", \"name\": \"" + c.name() + "-seed" + seed
                + "\", \"steps\": " + steps + ", \"checkpointEvery\": 0}");
        return TrainingRun.run(c, dir.resolve(c.name()), baseModel(seed), false, -1, m -> {}).steps();
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
    void gspoAndEntropyMaskingEndAboveGrposEntropy() {
        // The README's fifth comparison (verl's and TRL's variants, not the papers'). Measured over steps 50-59,
        // seeds 1 / 2 / 3: GRPO 0.72 / 0.80 / 0.74; GSPO 1.02 / 1.18 / 1.18; entropy masking (top 20%) 1.08 / 1.11 /
        // 1.25, its accuracy there 0.12 / 0.11 / 0.11 against GRPO's 0.60 / 0.56 / 0.47.
        List<StepMetrics> grpo = run("grpo", "{\"name\": \"grpo-variants\"}", 60);
        List<StepMetrics> gspo = run("gspo", "{}", 60), masked = run("entropy-mask", "{}", 60);
        double base = entropy(grpo, 50, 60);
        assertTrue(entropy(gspo, 50, 60) > base + 0.15, "GSPO " + entropy(gspo, 50, 60) + ", GRPO " + base);
        assertTrue(entropy(masked, 50, 60) > base + 0.15, "masked " + entropy(masked, 50, 60) + ", GRPO " + base);
        double accuracy = mean(grpo, 50, 60, StepMetrics::accuracy);
        double maskedAccuracy = mean(masked, 50, 60, StepMetrics::accuracy);
        assertTrue(maskedAccuracy < accuracy - 0.2, "accuracy: masked " + maskedAccuracy + ", GRPO " + accuracy);
    }

    @Test
    void cispoSapoAndKlCovLearnLessThanGrpoVespoAndGmpoAsMuch() {
        // The README's sixth comparison (TRL's and verl's losses, not the papers'). Accuracy over steps 50-59, seeds
        // 1 / 2 / 3: GRPO 0.60 / 0.56 / 0.47; without its clip 0.28 / 0.31 / 0.31; CISPO 0.30 / 0.33 / 0.24; SAPO
        // 0.15 / 0.27 / 0.24; KL-Cov 0.27 / 0.38 / 0.23: every gap at least 0.16. VESPO, whose weight is of the
        // sequence's ratio, 0.54 / 0.50 / 0.45, and GMPO, which clips (the log-ratio, inside a sequence's geometric
        // mean), 0.57 / 0.52 / 0.46: within 0.06 of GRPO.
        double grpo = mean(run("grpo", "{\"name\": \"grpo-surrogates\"}", 60), 50, 60, StepMetrics::accuracy);
        String noClip = "{\"name\": \"grpo-no-clip\", \"loss\": {\"epsLow\": 1, \"epsHigh\": \"Infinity\"}}";
        for (String[] loss : new String[][] {{"grpo", noClip}, {"cispo", "{}"}, {"sapo", "{}"}, {"kl-cov", "{}"}}) {
            List<StepMetrics> steps = run(loss[0], loss[1], 60);
            double accuracy = mean(steps, 50, 60, StepMetrics::accuracy);
            assertTrue(accuracy < grpo - 0.15, loss[1] + " over " + loss[0] + ": " + accuracy + ", GRPO " + grpo);
        }
        for (String loss : new String[] {"vespo", "gmpo"}) {
            double accuracy = mean(run(loss, "{}", 60), 50, 60, StepMetrics::accuracy);
            assertTrue(Math.abs(accuracy - grpo) < 0.1, loss + " " + accuracy + ", GRPO " + grpo);
        }
    }

    @Test
    void theKlTermsHoldEntropyAboveGrpos() {
        // The README's seventh comparison (a KL term to the base model, not the papers'). Entropy over steps 50-59,
        // seeds 1 / 2 / 3: GRPO 0.72 / 0.80 / 0.74; k3 1.05 / 0.98 / 1.20; k3 with k2's gradient (verl's k3+) 0.88 /
        // 0.93 / 1.16. k3 weighted by the ratio gave 0.93 / 0.75 / 1.15, under GRPO's on seed 2: not asserted.
        double grpo = entropy(run("grpo", "{\"name\": \"grpo-kl\"}", 60), 50, 60);
        double k3 = entropy(run("kl", "{}", 60), 50, 60), k3Plus = entropy(run("kl-k3-plus", "{}", 60), 50, 60);
        assertTrue(k3 > grpo + 0.15, "k3 " + k3 + ", GRPO " + grpo);
        assertTrue(k3Plus > grpo + 0.05, "k3+ " + k3Plus + ", GRPO " + grpo);
    }

    @Test
    void trlsAdaptiveBonusHoldsEntropyAtItsTarget() {
        // The README's tenth comparison. The bonus, target 0.9, first applied at steps 39 / 46 / 43 (seeds 1 / 2 / 3),
        // while GRPO's entropy fell through the target; entropy over steps 50-59: 0.88 / 0.85 / 0.89 (GRPO's: 0.72 /
        // 0.80 / 0.74).
        List<StepMetrics> adaptive = run("adaptive-entropy", "{}", 60);
        assertEquals(0.0, mean(adaptive, 0, 20, StepMetrics::entropyCoefficient), "off while entropy is above 0.9");
        assertTrue(mean(adaptive, 30, 60, StepMetrics::entropyCoefficient) > 0, "never engaged");
        double late = entropy(adaptive, 50, 60);
        assertTrue(Math.abs(late - 0.9) < 0.12, "entropy over steps 50-59: " + late);
    }

    @Test
    void dppoMasksFewerTokensThanGrpoClips() {
        // The README's eighth comparison (DPPO's trust region on the probability against GRPO's on the ratio). Tokens
        // clipped (GRPO) or masked (DPPO) over steps 0-59, seeds 1 / 2 / 3: GRPO 0.048 / 0.042 / 0.037, DPPO-TV 0.025
        // / 0.017 / 0.013, DPPO-KL 0.029 / 0.028 / 0.022: 0.34 to 0.67 of GRPO's on every seed.
        ToDoubleFunction<StepMetrics> outside = m -> m.clipLowFraction() + m.clipHighFraction();
        double grpo = mean(run("grpo", "{\"name\": \"grpo-trust-region\"}", 60), 0, 60, outside);
        for (String dppo : new String[] {"dppo-tv", "dppo-kl"}) {
            double masked = mean(run(dppo, "{}", 60), 0, 60, outside);
            assertTrue(masked < 0.8 * grpo && masked > 0.2 * grpo,
                    dppo + " masked " + masked + ", GRPO clipped " + grpo);
        }
    }

    @Test
    void aentKeepsClampedEntropyInItsBandLongerAndRaisesItsCoefficientBelowIt() {
        // measured over 100 steps at 5735d8a, seeds 1 / 2 / 3: in band 47% / 49% / 27% (AEnt) against 41% / 42% /
        // 25%; once below the band, AEnt's coefficient rose from 0.05 to 0.21 / 0.20 / 0.19. A single seed's margin
        // (2 to 7 points) is what a change in the rounding of the clamped sums can move (seed 1 gave 42% / 38% at
        // d7847aa, and 36% / 38% in a trial that summed S in another order), so the shares are pooled over the three
        // seeds (41% against 36%), each seed from its own base model as --seed runs it.
        ToDoubleFunction<StepMetrics> inBand = m -> m.clampedEntropy() >= 0.8 && m.clampedEntropy() <= 1.1 ? 1 : 0;
        double shareAdaptive = 0, shareConstant = 0;
        for (long seed = 1; seed <= 3; ++seed) {
            List<StepMetrics> adaptive = run("aent", "{}", 100, seed);
            List<StepMetrics> constant = run("constant-clamped-entropy", "{}", 100, seed);
            shareAdaptive += mean(adaptive, 0, 100, inBand) / 3;
            shareConstant += mean(constant, 0, 100, inBand) / 3;
            int below = 0;
            while (below < 100 && adaptive.get(below).clampedEntropy() >= 0.8) ++below;
            assertTrue(below < 100, "seed " + seed + ": AEnt's clamped entropy never went below the band");
            double raised = adaptive.subList(below, 100).stream()
                    .mapToDouble(StepMetrics::clampedEntropyCoefficient).max().orElseThrow();
            assertTrue(raised >= 0.1, "seed " + seed + ": below the band from step " + below
                    + ", the coefficient reached only " + raised);
        }
        assertTrue(shareAdaptive > shareConstant,
                "in band over seeds 1-3: AEnt " + shareAdaptive + ", constant " + shareConstant);
    }
}
