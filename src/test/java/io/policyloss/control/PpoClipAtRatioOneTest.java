package io.policyloss.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import io.policyloss.loss.FusedLoss;
import io.policyloss.loss.LossConfig;
import io.policyloss.loss.LossMetrics;
import io.policyloss.loss.LossResult;
import java.util.Random;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * PPO's clip decided on the host and run by the kernel at ratio 1 (GSPO under the KL weighted by the ratio) is the
 * kernel's own clip: on any clip range (clip-high off too), with the dual clip or without, on token or sequence ratios,
 * some clamped, the call at ratio 1 plus its correction has the loss, the clip-low, clip-high, dual-clip and clamped
 * counts, the ratio and approx-KL sums and the gradient of the kernel's call at the ratio itself (GSPO-token's old
 * log-probs for the sequence ratio). The ratios keep 1e-5 away from every bound, where the two calls' float roundings
 * of the ratio could decide a tie apart.
 */
class PpoClipAtRatioOneTest {
    private static final int SEQUENCES = 12, LENGTH = 6, ROWS = SEQUENCES * LENGTH, VOCAB = 8;

    @Property(tries = 60)
    void theClipAtRatioOneIsTheKernels(@ForAll long seed, @ForAll boolean sequenceLevel,
            @ForAll("epsLow") double epsLow, @ForAll("epsHigh") double epsHigh, @ForAll("dualClipC") double dualClipC,
            @ForAll("spread") double spread) {
        Random random = new Random(seed);
        LossConfig config = LossConfig.builder().epsLow(epsLow).epsHigh(epsHigh).dualClipC(dualClipC).build();
        float[] logits = new float[ROWS * VOCAB], advantage = new float[ROWS], weight = new float[ROWS],
                mask = new float[ROWS];
        int[] target = new int[ROWS], sequenceOf = new int[ROWS];
        for (int k = 0; k < logits.length; ++k) logits[k] = (float) (1.5 * random.nextGaussian());
        double[] sequenceAdvantage = new double[SEQUENCES], sequenceLogRatio = new double[SEQUENCES];
        for (int s = 0; s < SEQUENCES; ++s) {
            sequenceAdvantage[s] = s % 5 == 4 ? 0 : random.nextGaussian();
            // Two sequences clamped, at e^25 and e^-25.
            sequenceLogRatio[s] = s == 3 ? 25 : s == 7 ? -25 : spread * random.nextGaussian();
        }
        for (int i = 0; i < ROWS; ++i) {
            int s = sequenceOf[i] = i / LENGTH;
            target[i] = random.nextInt(VOCAB);
            mask[i] = i % LENGTH == LENGTH - 1 && s % 3 == 0 ? 0 : 1;
            weight[i] = mask[i] * (float) (0.5 + random.nextDouble()) / ROWS;
            advantage[i] = (float) (sequenceLevel ? sequenceAdvantage[s] : s % 5 == 4 ? 0 : random.nextGaussian());
        }
        LossResult first = new FusedLoss(config).compute(F32Batches.of(logits, target, new float[ROWS], null,
                advantage, weight).noGradient());
        float[] logp = first.logp(), oldLogp = new float[ROWS];
        for (int i = 0; i < ROWS; ++i) {
            int s = sequenceOf[i];
            double d = sequenceLevel ? sequenceLogRatio[s] + 0.1 * spread * random.nextGaussian()
                    : i % 17 == 5 ? 25 : i % 17 == 11 ? -25 : spread * random.nextGaussian();
            oldLogp[i] = (float) (logp[i] - d);
        }
        int[] sequences = sequenceLevel ? sequenceOf : null;
        keepOffTheBounds(config, logp, oldLogp, mask, sequences);

        LossResult atRatio = new FusedLoss(config).compute(F32Batches.of(logits, target, sequenceLevel
                ? SequenceImportanceRatio.tokenOldLogp(logp, oldLogp, mask, sequenceOf) : oldLogp, null, advantage,
                weight));
        double[] ratio = ratios(logp, oldLogp, mask, sequences);
        boolean[] clamped = ImportanceRatios.clamped(logp, oldLogp, mask, sequences);
        RatioOneMetrics.Rows rows = PpoClipAtRatioOne.of(config, advantage, ratio, clamped, logp, oldLogp, weight,
                mask);
        LossResult atOne = new FusedLoss(config).compute(F32Batches.of(logits, target,
                ImportanceRatios.oldLogpAtRatioOne(logp, oldLogp, mask), null, rows.advantage(), weight));
        LossMetrics want = atRatio.metrics(),
                got = atOne.metrics().plus(rows.correction()).plus(RatioOneMetrics.ratiosClamped(clamped));

        String where = (sequenceLevel ? "sequence" : "token") + " ratios, " + config;
        double rowLosses = 0, logRatios = 0;
        for (int i = 0; i < ROWS; ++i) {
            rowLosses += weight[i] * Math.abs(atRatio.loss()[i]);
            logRatios += mask[i] * Math.abs(logp[i] - oldLogp[i]);
        }
        assertEquals(want.loss(), got.loss(), 1e-6 * rowLosses + 1e-12, where + ": loss");
        assertEquals(want.clipLow(), got.clipLow(), where + ": clip-low");
        assertEquals(want.clipHigh(), got.clipHigh(), where + ": clip-high");
        assertEquals(want.dualClip(), got.dualClip(), where + ": dual clip");
        assertEquals(want.ratioClamped(), got.ratioClamped(), where + ": ratios clamped");
        assertEquals(want.sumRatio(), got.sumRatio(), 1e-6 * Math.abs(want.sumRatio()), where + ": ratio");
        assertEquals(want.sumApproxKl(), got.sumApproxKl(), 1e-5 * logRatios, where + ": approx KL");
        for (int i = 0; i < ROWS; ++i) {
            if (mask[i] == 0) continue;
            double rowMax = 0;
            for (int v = 0; v < VOCAB; ++v) rowMax = Math.max(rowMax, Math.abs(atRatio.dlogitsF32()[i * VOCAB + v]));
            for (int v = 0; v < VOCAB; ++v) {
                int k = i * VOCAB + v;
                if (!(Math.abs(atRatio.dlogitsF32()[k] - atOne.dlogitsF32()[k]) <= 1e-5 * rowMax + 1e-12))
                    fail(where + ": row " + i + " dlogits[" + v + "]: " + atRatio.dlogitsF32()[k] + " at the ratio, "
                            + atOne.dlogitsF32()[k] + " at ratio 1 (ratio " + ratio[i] + ")");
            }
        }
    }

    /**
     * Moves each row's (or sequence's) log-ratio by 3e-5 while its ratio is within 1e-5 of a bound: 1 - epsLow,
     * 1 + epsHigh, or the dual clip's c.
     */
    private static void keepOffTheBounds(LossConfig config, float[] logp, float[] oldLogp, float[] mask,
            int[] sequenceOf) {
        double[] bounds = {1 - config.epsLow(), 1 + config.epsHigh(), config.dualClipC()};
        for (int pass = 0; pass < 10; ++pass) {
            double[] ratio = ratios(logp, oldLogp, mask, sequenceOf);
            boolean moved = false;
            for (int i = 0; i < ratio.length; ++i) {
                if (mask[i] == 0) continue;
                boolean near = false;
                for (double b : bounds) near |= Math.abs(ratio[i] - b) < 1e-5 * b;
                if (!near) continue;
                moved = true;
                for (int u = 0; u < ratio.length; ++u)
                    if (u == i || sequenceOf != null && sequenceOf[u] == sequenceOf[i]) oldLogp[u] -= 3e-5f;
            }
            if (!moved) return;
        }
        throw new AssertionError("ratios still within 1e-5 of a bound");
    }

    private static double[] ratios(float[] logp, float[] oldLogp, float[] mask, int[] sequenceOf) {
        return sequenceOf == null ? ImportanceRatios.token(logp, oldLogp, mask)
                : ImportanceRatios.sequence(logp, oldLogp, mask, sequenceOf);
    }

    @Provide
    Arbitrary<Double> epsLow() {
        return Arbitraries.of(0.0, 3e-4, 0.2);
    }

    @Provide
    Arbitrary<Double> epsHigh() {
        return Arbitraries.of(4e-4, 0.28, Double.POSITIVE_INFINITY);
    }

    /** 0: no dual clip; 1.5 near the clip range. */
    @Provide
    Arbitrary<Double> dualClipC() {
        return Arbitraries.of(0.0, 1.5, 3.0);
    }

    /** The log-ratios' spread: all near the clip range, across it, and far past it. */
    @Provide
    Arbitrary<Double> spread() {
        return Arbitraries.of(1e-3, 0.3, 1.5);
    }
}
