package io.policyloss.loss;

import static io.policyloss.loss.RandomCase.Gradient.F32;
import static io.policyloss.loss.RandomCase.Gradient.IN_PLACE;
import static io.policyloss.loss.RandomCase.Gradient.LOGITS_DTYPE;
import static io.policyloss.loss.RandomCase.Gradient.NONE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.policyloss.GpuSuite;
import io.policyloss.oracle.Oracle;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every kernel against the double-precision oracle on fresh random inputs (the seed is in each failure message).
 * Written once: a backend's test class extends this and names its backend, and every case reruns unchanged.
 */
public abstract class KernelVsOracleContract {
    protected abstract LossBackend backend();

    @BeforeEach
    void backendIsAvailable() {
        GpuSuite.assumeAvailable(backend().name() + " backend", backend().unavailableReason());
    }

    private static final LossConfig BASE = LossConfig.builder().entropyCoef(0.01).clampedEntropyCoef(0.02).clampP(0.33)
            .build();
    private static final LossConfig EVERYTHING = LossConfig.builder().epsLow(0.2).epsHigh(0.28).dualClipC(3)
            .klCoef(0.05).klEstimator(KlEstimator.K3).entropyCoef(0.01).clampedEntropyCoef(0.03).clampP(0.33)
            .entropyAdvBeta(0.4).entropyAdvKappa(2).gradScale(0.5).build();

    static List<RandomCase> cases() {
        LossConfig mass = BASE.toBuilder().clampMode(ClampMode.PROBABILITY_MASS).clampP(0.2).build();
        return List.of(
                RandomCase.of("f32 V=1", 5, 1, Dtype.F32, BASE),
                RandomCase.of("f32 V=2", 64, 2, Dtype.F32, BASE),
                RandomCase.of("bf16 V=7 bf16 gradient", 200, 7, Dtype.BF16, BASE).gradient(LOGITS_DTYPE),
                RandomCase.of("f16 V=1000 f16 gradient", 50, 1000, Dtype.F16, BASE).gradient(LOGITS_DTYPE),
                RandomCase.of("f32 V=32000 int64 targets", 8, 32000, Dtype.F32, BASE).withInt64Targets(),
                RandomCase.of("bf16 V=151936", 3, 151936, Dtype.BF16, BASE).gradient(LOGITS_DTYPE),
                RandomCase.of("f16 V=151936 f32 gradient", 2, 151936, Dtype.F16, BASE),
                RandomCase.of("f32 V=151936 probability mass", 2, 151936, Dtype.F32, mass),
                RandomCase.of("f32 stride > V", 20, 1000, Dtype.F32, BASE).stride(1037),
                RandomCase.of("bf16 stride > V in place", 20, 999, Dtype.BF16, BASE).stride(1024).gradient(IN_PLACE),
                RandomCase.of("f32 -inf masked", 40, 1000, Dtype.F32, BASE).masked(0.3),
                RandomCase.of("f16 -inf masked probability mass", 40, 1000, Dtype.F16, mass).masked(0.5),
                // A confident model's rows: S lies among the few tokens near the maximum (the CPU kernel's band).
                RandomCase.of("bf16 probability mass, peaked rows", 8, 20000, Dtype.BF16, mass).peaked(24),
                RandomCase.of("f32 probability mass, peaked and masked rows", 40, 3000, Dtype.F32, mass).peaked(24).masked(0.2),
                // Flat rows, every token within reach of the maximum: S from the CPU kernel's band sampled by mass.
                RandomCase.of("bf16 probability mass, flat rows with ties", 6, 20000, Dtype.BF16, mass).ties(7),
                RandomCase.of("f32 ties at the threshold, token fraction", 60, 200, Dtype.F32, BASE).ties(5),
                RandomCase.of("bf16 ties at the threshold, probability mass", 60, 200, Dtype.BF16, mass).ties(5),
                RandomCase.of("f32 ties, V=32000", 4, 32000, Dtype.F32, BASE).ties(3),
                // Levels -1, 0, 1 with p = 0.55: the threshold is zero, and -0 ties with +0.
                RandomCase.of("f32 threshold at zero, -0 and +0 tie", 10, 3000, Dtype.F32, BASE.toBuilder().clampP(0.55).build()).ties(3),
                RandomCase.of("bf16 threshold at zero, V=32000", 3, 32000, Dtype.BF16, BASE.toBuilder().clampP(0.55).build()).ties(3),
                RandomCase.of("f32 p = 0: clamped entropy is entropy", 30, 500, Dtype.F32, BASE.toBuilder().clampP(0).build()),
                RandomCase.of("f32 per-row temperatures", 50, 700, Dtype.F32, BASE).withPerRowTemperature(),
                RandomCase.of("f32 clip regimes, dual clip", 300, 50, Dtype.F32, EVERYTHING.toBuilder().klCoef(0).build()),
                RandomCase.of("f32 no clip-high", 200, 50, Dtype.F32, BASE.toBuilder().epsHigh(Double.POSITIVE_INFINITY).build()),
                RandomCase.of("f32 asymmetric clip 0.1 / 0.28", 200, 50, Dtype.F32, BASE.toBuilder().epsLow(0.1).epsHigh(0.28).build()),
                RandomCase.of("f32 KL k1", 100, 300, Dtype.F32, BASE.toBuilder().klCoef(0.1).klEstimator(KlEstimator.K1).build()).withRefLogp(),
                RandomCase.of("f32 KL k2", 100, 300, Dtype.F32, BASE.toBuilder().klCoef(0.1).klEstimator(KlEstimator.K2).build()).withRefLogp(),
                RandomCase.of("f32 KL k3", 100, 300, Dtype.F32, BASE.toBuilder().klCoef(0.1).klEstimator(KlEstimator.K3).build()).withRefLogp(),
                // verl's straight-through "k1+" and "k3+": their values, k2's gradient.
                RandomCase.of("f32 KL k1+", 100, 300, Dtype.F32, BASE.toBuilder().klCoef(0.1)
                        .klEstimator(KlEstimator.K1_PLUS).build()).withRefLogp(),
                RandomCase.of("f32 KL k3+", 100, 300, Dtype.F32, BASE.toBuilder().klCoef(0.1)
                        .klEstimator(KlEstimator.K3_PLUS).build()).withRefLogp(),
                // verl's "abs", |logp - ref_logp|, its gradient the sign.
                RandomCase.of("f32 KL abs", 100, 300, Dtype.F32, BASE.toBuilder().klCoef(0.1)
                        .klEstimator(KlEstimator.ABS).build()).withRefLogp(),
                // r kl, through r too: DeepSeek-V3.2's unbiased KL estimate (TRL's use_bias_correction_kl), on
                // every ratio of RandomCase, e^-20 and e^20 (clamped: no gradient through r) among them.
                RandomCase.of("f32 KL k1 weighted by the ratio", 100, 300, Dtype.F32, BASE.toBuilder().klCoef(0.1)
                        .klEstimator(KlEstimator.K1).klBiasCorrection(true).build()).withRefLogp(),
                RandomCase.of("f32 KL k2 weighted by the ratio", 100, 300, Dtype.F32, BASE.toBuilder().klCoef(0.1)
                        .klEstimator(KlEstimator.K2).klBiasCorrection(true).build()).withRefLogp(),
                RandomCase.of("f32 KL k1+ weighted by the ratio", 100, 300, Dtype.F32, BASE.toBuilder().klCoef(0.1)
                        .klEstimator(KlEstimator.K1_PLUS).klBiasCorrection(true).build()).withRefLogp(),
                RandomCase.of("bf16 KL abs weighted by the ratio", 100, 300, Dtype.BF16, BASE.toBuilder().klCoef(0.1)
                        .klEstimator(KlEstimator.ABS).klBiasCorrection(true).build()).withRefLogp(),
                RandomCase.of("bf16 KL k3 weighted by the ratio, in place", 100, 300, Dtype.BF16,
                        EVERYTHING.toBuilder().klBiasCorrection(true).build()).withRefLogp().gradient(IN_PLACE),
                RandomCase.of("f32 ref_logp reported without a KL term", 30, 300, Dtype.F32, BASE).withRefLogp(),
                RandomCase.of("f32 Entropy-Adv", 100, 300, Dtype.F32, BASE.toBuilder().entropyAdvBeta(0.3).entropyAdvKappa(2).build()),
                RandomCase.of("f32 zero-weight rows", 100, 300, Dtype.F32, BASE).zeroWeights(0.3),
                RandomCase.of("bf16 zero-weight rows in place", 100, 300, Dtype.BF16, BASE).zeroWeights(0.3).gradient(IN_PLACE),
                RandomCase.of("f32 in place", 30, 1000, Dtype.F32, BASE).gradient(IN_PLACE),
                RandomCase.of("f16 in place", 30, 1000, Dtype.F16, BASE).gradient(IN_PLACE),
                RandomCase.of("f32 no gradient", 30, 1000, Dtype.F32, BASE).gradient(NONE),
                RandomCase.of("f32 softcap and logit scale", 40, 1000, Dtype.F32,
                        BASE.toBuilder().softcap(30).logitScale(0.5).temperature(0.7).build()).masked(0.1),
                // Every logit 82 to 98, 16 to 20 softcaps up: tanh's slope there is 2e-14 to 4e-17 of its peak. p = 0,
                // as y's rounding ties these tokens (in double too), and S of tied y is the oracle's only.
                RandomCase.of("f32 softcap saturated", 20, 1000, Dtype.F32,
                        BASE.toBuilder().softcap(5).clampP(0).build()).offset(90),
                RandomCase.of("bf16 V=151936 everything on, in place", 2, 151936, Dtype.BF16, EVERYTHING)
                        .withRefLogp().withPerRowTemperature().masked(0.05).zeroWeights(0.2).gradient(IN_PLACE),
                RandomCase.of("f32 everything on, probability mass", 64, 2000, Dtype.F32,
                        EVERYTHING.toBuilder().clampMode(ClampMode.PROBABILITY_MASS).clampP(0.5).build())
                        .withRefLogp().withPerRowTemperature().masked(0.2).zeroWeights(0.1).withInt64Targets());
    }

    static Stream<RandomCase> caseStream() {
        return cases().stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("caseStream")
    void matchesTheOracle(RandomCase c) {
        long seed = System.nanoTime();
        RandomCase.Generated g = c.generate(seed);
        Oracle.Output expected = Oracle.compute(c.config(), g.inputs());
        LossResult actual = backend().run(c.config(), g.batch());
        OracleComparison.assertMatches(backend().name() + " '" + c.name() + "' seed " + seed, c, expected, actual);
    }

    @Test
    void clipRegimeCaseHitsEveryRegime() {
        RandomCase c = cases().stream().filter(x -> x.name().contains("clip regimes")).findFirst().orElseThrow();
        RandomCase.Generated g = c.generate(7);
        LossResult r = backend().run(c.config(), g.batch());
        int seen = 0;
        boolean unclipped = false;
        for (byte f : r.flags()) {
            seen |= f;
            unclipped |= f == 0;
        }
        assertEquals(0b1111, seen, "clip-low, clip-high, dual clip and ratio clamp all occur");
        assertTrue(unclipped, "unclipped rows occur");
    }

    /** Cases of every path to S (bands, radix select, flat and peaked rows) and of every gradient form. */
    static Stream<RandomCase> firstCallCases() {
        return cases().stream().filter(c -> c.vocab() >= 3000 || c.config().entropyAdvBeta() > 0);
    }

    /**
     * GSPO, CISPO, SAPO and KL-Cov take logp from a first call without a gradient and give it back as old_logp
     * (control.ImportanceRatios, SequenceImportanceRatio): the call with a gradient must repeat that call's metrics
     * and per-row outputs bit for bit, and with old_logp = logp its ratio must be exactly 1 on every row it reads.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("firstCallCases")
    void aCallWithoutGradientIsRepeatedBitForBit(RandomCase c) {
        long seed = System.nanoTime();
        LossResult first = backend().run(c.config(), c.gradient(NONE).generate(seed).batch());
        LossResult full = backend().run(c.config(), c.generate(seed).batch());
        SameBits.assertSameBits(c + " (seed " + seed + ") without and with a gradient", c.gradient(NONE), first, full);
        RandomCase.Generated g = c.generate(seed);
        LossResult atOne = backend().run(c.config(), g.batch().oldLogp(first.logp()));
        for (int i = 0; i < c.rows(); ++i) {
            if (g.inputs().weight()[i] == 0) continue;
            assertEquals(1f, atOne.ratio()[i], c + " (seed " + seed + ") row " + i + ": ratio at old_logp = logp");
            assertEquals(0, atOne.flags()[i], c + " (seed " + seed + ") row " + i + ": flags");
        }
    }

    @Test
    void zeroPClampedEntropyEqualsEntropyExactly() {
        RandomCase c = RandomCase.of("p = 0", 20, 3000, Dtype.BF16, BASE.toBuilder().clampP(0).build()).masked(0.1);
        LossResult r = backend().run(c.config(), c.generate(11).batch());
        assertArrayEquals(r.entropy(), r.clampedEntropy());
    }

    @Test
    void emptyBatchGivesZeroMetrics() {
        LossBatch b = LossBatch.f32(new float[0], 0, 10).target(new int[0]).oldLogp(new float[0])
                .advantage(new float[0]).weight(new float[0]);
        LossResult r = backend().run(BASE, b);
        assertEquals(LossMetrics.ZERO, r.metrics());
    }
}
