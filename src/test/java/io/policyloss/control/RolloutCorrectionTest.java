package io.policyloss.control;

import static io.policyloss.control.Refusals.assertMessage;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.policyloss.control.RolloutCorrection.Mode;
import io.policyloss.loss.Dtype;
import io.policyloss.loss.FusedLoss;
import io.policyloss.loss.KlEstimator;
import io.policyloss.loss.LossConfig;
import io.policyloss.loss.LossResult;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The rollout correction against TRL's GRPOTrainer written out here on its padded [B, T] tensors: the per-token
 * log-probability difference (old - sampling) * completion_mask, NaN (a token vLLM did not score) taken as 0, summed
 * over T in the sequence modes, exponentiated, then clamped to [clip_min, clip_max] (truncate) or set to 0 outside
 * them (mask); per_token_loss * that ratio.
 */
class RolloutCorrectionTest {
    private static final int B = 16, T = 9;

    /** B sequences of 0 to T counted tokens padded to T, rows b * T + t; the advantage is the sequence's. */
    private record Batch(float[] advantage, float[] oldLogp, float[] rolloutLogp, float[] mask, int[] sequenceOf) {
        static Batch random(long seed) {
            Random r = new Random(seed);
            int n = B * T;
            float[] advantage = new float[n], oldLogp = new float[n], rolloutLogp = new float[n], mask = new float[n];
            int[] sequenceOf = new int[n];
            for (int b = 0; b < B; ++b) {
                int length = b == 3 ? 0 : 1 + r.nextInt(T);  // sequence 3 has no counted token
                float a = (float) r.nextGaussian();
                double drift = 0.3 * r.nextGaussian();  // so that some sequences' products leave [1/3, 3] and some not
                for (int t = 0; t < T; ++t) {
                    int i = b * T + t;
                    sequenceOf[i] = b;
                    mask[i] = t < length ? 1 : 0;
                    advantage[i] = a;
                    oldLogp[i] = (float) (-3 * r.nextDouble());
                    rolloutLogp[i] = mask[i] == 0 ? Float.NaN  // never read
                            : (float) (oldLogp[i] - drift - 0.4 * r.nextGaussian());
                    if (mask[i] != 0 && i % 17 == 5) rolloutLogp[i] = Float.NaN;  // a token the engine did not score
                }
            }
            return new Batch(advantage, oldLogp, rolloutLogp, mask, sequenceOf);
        }

        /** TRL's importance_sampling_ratio, [B, T] (the sequence modes' [B, 1] broadcast over T). */
        double[][] trlRatio(Mode mode, Double clipMin, double clipMax) {
            double[][] diff = new double[B][T], ratio = new double[B][T];
            for (int b = 0; b < B; ++b)
                for (int t = 0; t < T; ++t) {
                    double d = oldLogp[b * T + t] - (double) rolloutLogp[b * T + t];
                    diff[b][t] = mask[b * T + t] == 0 || Double.isNaN(d) ? 0 : d;  // torch.nan_to_num(diff, nan=0.0)
                }
            boolean sequence = mode == Mode.SEQUENCE_MASK || mode == Mode.SEQUENCE_TRUNCATE;
            for (int b = 0; b < B; ++b) {
                double sum = Arrays.stream(diff[b]).sum();
                for (int t = 0; t < T; ++t) {
                    double x = Math.exp(sequence ? sum : diff[b][t]);
                    if (mode == Mode.SEQUENCE_MASK || mode == Mode.TOKEN_MASK) {
                        boolean invalid = (clipMin != null && x < clipMin) || x > clipMax;
                        ratio[b][t] = invalid ? 0 : x;
                    } else {
                        ratio[b][t] = Math.min(clipMin == null ? x : Math.max(x, clipMin), clipMax);
                    }
                }
            }
            return ratio;
        }
    }

    @Test
    void givesTrlsRatiosAndWeightsTheAdvantagesByThem() {
        Batch batch = Batch.random(11);
        for (Mode mode : Mode.values()) {
            for (double[] clip : new double[][] {{0, 3}, {0.5, 2}}) {
                Double clipMin = clip[0] == 0 ? null : clip[0];
                RolloutCorrection c = new RolloutCorrection(mode, clip[0], clip[1]);
                String what = mode.trlName() + " [" + clip[0] + ", " + clip[1] + "]";
                double[][] expected = batch.trlRatio(mode, clipMin, clip[1]);
                float[] f = c.ratios(batch.oldLogp, batch.rolloutLogp, batch.mask, batch.sequenceOf);
                float[] a = c.advantages(batch.advantage, batch.oldLogp, batch.rolloutLogp, batch.mask,
                        batch.sequenceOf);
                int zero = 0, kept = 0;
                for (int i = 0; i < f.length; ++i) {
                    if (batch.mask[i] == 0) {
                        assertEquals(1f, f[i], what + " padding row " + i);
                        assertEquals(batch.advantage[i], a[i], what + " padding row " + i);
                        continue;
                    }
                    double x = expected[i / T][i % T];
                    close(x, f[i], what + " ratio, row " + i);
                    close(x * batch.advantage[i], a[i], what + " advantage, row " + i);
                    zero += x == 0 ? 1 : 0;
                    kept += x > clip[0] && x < clip[1] ? 1 : 0;
                }
                assertTrue(kept > 0, what + ": no row inside the bounds");
                if (mode == Mode.TOKEN_MASK || mode == Mode.SEQUENCE_MASK) assertTrue(zero > 0, what + ": none masked");
            }
        }
    }

    @Test
    void metricsAreTrlsSamplingMetrics() {
        Batch batch = Batch.random(12);
        for (Mode mode : Mode.values()) {
            RolloutCorrection c = new RolloutCorrection(mode, 0.5, 2);
            double[][] ratio = batch.trlRatio(mode, 0.5, 2);
            double[][] raw = batch.trlRatio(mode, 0.0, Double.MAX_VALUE);
            double deltaSum = 0, deltaMax = 0;
            int tokens = 0;
            for (int i = 0; i < batch.mask.length; ++i) {
                double delta = Math.abs(batch.oldLogp[i] - (double) batch.rolloutLogp[i]);
                if (batch.mask[i] == 0 || Double.isNaN(delta)) continue;  // TRL: delta[mask & ~isnan(delta)]
                deltaSum += delta;
                deltaMax = Math.max(deltaMax, delta);
                tokens++;
            }
            // TRL: the ratio over every sequence ([B, 1] flattened) or over the counted tokens (ratio[mask])
            boolean sequence = mode == Mode.SEQUENCE_MASK || mode == Mode.SEQUENCE_TRUNCATE;
            double min = Double.MAX_VALUE, max = -1, sum = 0;
            int units = 0, outside = 0;
            for (int b = 0; b < B; ++b) {
                for (int t = 0; t < (sequence ? 1 : T); ++t) {
                    if (!sequence && batch.mask[b * T + t] == 0) continue;
                    min = Math.min(min, ratio[b][t]);
                    max = Math.max(max, ratio[b][t]);
                    sum += ratio[b][t];
                    units++;
                    outside += raw[b][t] < 0.5 || raw[b][t] > 2 ? 1 : 0;
                }
            }
            RolloutCorrection.Metrics m = c.metrics(batch.oldLogp, batch.rolloutLogp, batch.mask, batch.sequenceOf);
            String what = mode.trlName();
            close(deltaSum / tokens, m.logpDifferenceMean(), what + " logp difference mean");
            close(deltaMax, m.logpDifferenceMax(), what + " logp difference max");
            close(min, m.ratioMin(), what + " ratio min");
            close(sum / units, m.ratioMean(), what + " ratio mean");
            close(max, m.ratioMax(), what + " ratio max");
            assertEquals((double) outside / units, m.correctedFraction(), 1e-15, what + " corrected fraction");
            assertTrue(outside > 0 && outside < units, what + ": " + outside + " of " + units + " outside");
        }
        float[] none = new float[batch.mask.length];
        assertEquals(new RolloutCorrection.Metrics(0, 0, 0, 0, 0, 0), new RolloutCorrection(Mode.TOKEN_MASK, 0, 3)
                .metrics(batch.oldLogp, batch.rolloutLogp, none, null), "no counted token");
        assertEquals(new RolloutCorrection.Metrics(0, 0, 1, 1, 1, 0), RolloutCorrection.defaults()
                .metrics(batch.oldLogp, batch.rolloutLogp, none, batch.sequenceOf), "B sequences of ratio 1");
    }

    /**
     * Through the kernel, with KL (k3) and entropy terms on: TRL's per_token_loss * f + beta kl - lambda H. With A' =
     * f A each row's loss and gradient are f times its pg part plus the rest unchanged; the pg part is the loss with
     * A less the loss with A = 0, which leaves the KL and entropy terms alone.
     */
    @Test
    void throughTheKernelOnlyThePolicyGradientTermIsWeighted() {
        Batch batch = Batch.random(16);
        int rows = batch.mask.length, vocab = 48;
        Random r = new Random(17);
        float[] logits = new float[rows * vocab], refLogp = new float[rows], weight = new float[rows];
        int[] target = new int[rows];
        for (int k = 0; k < logits.length; ++k) logits[k] = (float) (1.5 * r.nextGaussian());
        for (int i = 0; i < rows; ++i) {
            target[i] = r.nextInt(vocab);
            weight[i] = batch.mask[i] / 50f;
        }
        LossConfig config = LossConfig.builder().epsLow(0.2).epsHigh(0.28).klCoef(0.05).klEstimator(KlEstimator.K3)
                .entropyCoef(0.01).build();
        FusedLoss loss = new FusedLoss(config);
        float[] logp = new FusedLoss(LossConfig.builder().build())
                .compute(F32Batches.of(logits, target, new float[rows], null, new float[rows], weight)).logp();
        float[] oldLogp = new float[rows];
        for (int i = 0; i < rows; ++i) {
            oldLogp[i] = (float) (logp[i] - 0.3 * r.nextGaussian());  // ratios on both sides of the clip range
            refLogp[i] = (float) (logp[i] - 0.2 * r.nextGaussian());
        }
        RolloutCorrection c = new RolloutCorrection(Mode.SEQUENCE_MASK, 0.5, 2);
        float[] f = c.ratios(oldLogp, batch.rolloutLogp, batch.mask, batch.sequenceOf);
        float[] corrected = c.advantages(batch.advantage, oldLogp, batch.rolloutLogp, batch.mask, batch.sequenceOf);
        LossResult plain = loss.compute(F32Batches.of(logits, target, oldLogp, refLogp, batch.advantage, weight)
                .gradient(Dtype.F32));
        LossResult rest = loss.compute(F32Batches.of(logits, target, oldLogp, refLogp, new float[rows], weight)
                .gradient(Dtype.F32));
        LossResult weighted = loss.compute(F32Batches.of(logits, target, oldLogp, refLogp, corrected, weight)
                .gradient(Dtype.F32));
        int masked = 0;
        for (int i = 0; i < rows; ++i) {
            if (batch.mask[i] == 0) continue;
            masked += f[i] == 0 ? 1 : 0;
            double pg = plain.loss()[i] - rest.loss()[i];
            assertEquals(f[i] * pg + rest.loss()[i], weighted.loss()[i], 2e-6 * (Math.abs(plain.loss()[i]) + 1e-3),
                    "row " + i + " loss");
            for (int v = 0; v < vocab; ++v) {
                int k = i * vocab + v;
                double g = plain.dlogitsF32()[k] - rest.dlogitsF32()[k];
                assertEquals(f[i] * g + rest.dlogitsF32()[k], weighted.dlogitsF32()[k], 1e-7, "row " + i + " dlogits");
            }
        }
        assertTrue(masked > 0 && masked < rows / 2, masked + " rows masked");
    }

    /**
     * verl's rollout_is_batch_normalize on its [B, T] weights (masked to 0 on padding): the token modes divide by
     * masked_mean(w, mask); the sequence modes by the mean over sequences with a counted token of masked_mean(w, mask,
     * axis=-1), sum / (count + 1e-8); a mean at most 1e-8 leaves the weights as they are.
     */
    @Test
    void batchNormalizationDividesByVerlsMean() {
        Batch batch = Batch.random(18);
        for (Mode mode : Mode.values()) {
            RolloutCorrection c = new RolloutCorrection(mode, 0.5, 2);
            float[] f = c.ratios(batch.oldLogp, batch.rolloutLogp, batch.mask, batch.sequenceOf);
            double[] sequenceWeight = new double[B];
            double tokenSum = 0, tokens = 0, sequenceSum = 0, sequences = 0;
            for (int b = 0; b < B; ++b) {
                double sum = 0, count = 0;
                for (int t = 0; t < T; ++t) {
                    int i = b * T + t;
                    double w = f[i] * batch.mask[i];
                    sum += w;
                    count += batch.mask[i];
                }
                tokenSum += sum;
                tokens += count;
                sequenceWeight[b] = sum / (count + 1e-8);
                if (count > 0) {
                    sequenceSum += sequenceWeight[b];
                    sequences++;
                }
            }
            boolean sequence = mode == Mode.SEQUENCE_MASK || mode == Mode.SEQUENCE_TRUNCATE;
            double mean = sequence ? sequenceSum / sequences : tokenSum / tokens;
            float[] got = c.normalizedToMeanOne(f, batch.mask, batch.sequenceOf);
            for (int i = 0; i < f.length; ++i) {
                if (batch.mask[i] == 0) {
                    assertEquals(f[i], got[i], "a padding row keeps its f");
                    continue;
                }
                if (!(Math.abs(f[i] / mean - got[i]) <= 1e-6 * Math.abs(f[i] / mean) + 1e-7))
                    fail(mode.trlName() + " row " + i + ": " + f[i] / mean + " expected, got " + got[i]);
            }
            assertTrue(Math.abs(mean - 1) > 0.05, mode.trlName() + ": a mean of " + mean + " tests little");
        }
        float[] zero = new float[batch.mask.length];
        assertArrayEquals(zero, RolloutCorrection.defaults().normalizedToMeanOne(zero, batch.mask, batch.sequenceOf),
                "every weight masked: left as it is");
        Refusals.assertMessage("f: row 0: must be finite and >= 0, got -1.0", () -> RolloutCorrection.defaults()
                .normalizedToMeanOne(new float[] {-1f}, new float[] {1}, new int[] {0}));
        Refusals.assertMessage("f: length 1, mask has 2 rows", () -> RolloutCorrection.defaults()
                .normalizedToMeanOne(new float[1], new float[] {1, 1}, new int[] {0, 0}));
    }

    /**
     * Over ranks: the batch in two parts at a sequence's boundary, each part's weight sums added, each part divided by
     * their mean, gives the whole batch's normalization (to the sums' order); each part alone by its own mean does not.
     */
    @Test
    void batchNormalizationOverPartsOfTheBatch() {
        Batch batch = Batch.random(19);
        int split = 7 * T;  // sequences 0-6 and 7-15
        for (Mode mode : Mode.values()) {
            RolloutCorrection c = new RolloutCorrection(mode, 0.5, 2);
            float[] f = c.ratios(batch.oldLogp, batch.rolloutLogp, batch.mask, batch.sequenceOf);
            float[] whole = c.normalizedToMeanOne(f, batch.mask, batch.sequenceOf);
            float[] f1 = Arrays.copyOfRange(f, 0, split), f2 = Arrays.copyOfRange(f, split, f.length);
            float[] m1 = Arrays.copyOfRange(batch.mask, 0, split), m2 = Arrays.copyOfRange(batch.mask, split, f.length);
            int[] s1 = Arrays.copyOfRange(batch.sequenceOf, 0, split);
            int[] s2 = Arrays.stream(batch.sequenceOf, split, f.length).map(b -> b - 7).toArray();
            RolloutCorrection.WeightSums total = RolloutCorrection.WeightSums.ZERO.plus(c.weightSums(f1, m1, s1))
                    .plus(c.weightSums(f2, m2, s2));
            assertEquals(c.weightSums(f, batch.mask, batch.sequenceOf).count(), total.count(), mode.trlName());
            float[] parts = new float[f.length];
            System.arraycopy(c.normalizedBy(f1, m1, total), 0, parts, 0, split);
            System.arraycopy(c.normalizedBy(f2, m2, total), 0, parts, split, f.length - split);
            for (int i = 0; i < f.length; ++i)
                assertEquals(whole[i], parts[i], 1e-6 * Math.abs(whole[i]), mode.trlName() + " row " + i);
            assertFalse(Math.abs(c.weightSums(f1, m1, s1).mean() - total.mean()) < 1e-3 * total.mean(),
                    mode.trlName() + ": a part's own mean would do as well");
        }
        Refusals.assertMessage("f: length 2, mask has 3 rows", () -> RolloutCorrection.defaults()
                .normalizedBy(new float[2], new float[3], RolloutCorrection.WeightSums.ZERO));
    }

    /** TRL masks a ratio strictly outside the bounds: at clipMin = clipMax = 1 only a log-ratio of exactly 0 stays. */
    @Test
    void theBoundsThemselvesAreKept() {
        float[] old = {-1f, -1f, -2f, -2f}, rollout = {-1f, -1.001f, -2f, -1.999f}, mask = {1, 1, 1, 1};
        int[] sequenceOf = {0, 0, 1, 1};
        RolloutCorrection token = new RolloutCorrection(Mode.TOKEN_MASK, 1, 1);
        assertArrayEquals(new float[] {1, 0, 1, 0}, token.ratios(old, rollout, mask, null));
        RolloutCorrection truncate = new RolloutCorrection(Mode.TOKEN_TRUNCATE, 1, 1);
        assertArrayEquals(new float[] {1, 1, 1, 1}, truncate.ratios(old, rollout, mask, null));
        float[] balanced = {-1f, -2f, -2f, -1f};  // each sequence's log-ratios sum to exactly 0
        float[] swapped = {-2f, -1f, -1f, -2f};
        assertArrayEquals(new float[] {1, 1, 1, 1}, new RolloutCorrection(Mode.SEQUENCE_MASK, 1, 1)
                .ratios(balanced, swapped, mask, sequenceOf));
        float[] padded = {1, 0, 1, 0};  // a padding row's f is 1 even where the bounds exclude 1
        assertArrayEquals(new float[] {1.5f, 1, 1.5f, 1}, new RolloutCorrection(Mode.TOKEN_TRUNCATE, 1.5, 2)
                .ratios(old, rollout, padded, null));
    }

    /**
     * verl's token-level TIS (token truncation, no lower bound) on clip-low, clip-high, dual-clipped and unclipped
     * rows, without entropy or KL: with the weighted advantages each row's loss and gradient are its f times those with
     * the advantages as they were, and every row takes the same branch (its clip flags).
     */
    @Test
    void weightingTheAdvantageKeepsEachRowsBranch() {
        int rows = 400, vocab = 64;
        Random r = new Random(3);
        float[] logits = new float[rows * vocab];
        for (int k = 0; k < logits.length; ++k) logits[k] = (float) (2 * r.nextGaussian());
        int[] target = new int[rows];
        float[] advantage = new float[rows], weight = new float[rows], rolloutLogp = new float[rows],
                mask = new float[rows];
        for (int i = 0; i < rows; ++i) {
            target[i] = r.nextInt(vocab);
            advantage[i] = (float) r.nextGaussian();
            weight[i] = 1f / rows;
            mask[i] = 1;
        }
        LossConfig config = LossConfig.builder().epsLow(0.2).epsHigh(0.28).dualClipC(3).build();
        FusedLoss loss = new FusedLoss(config);
        float[] logp = loss.compute(F32Batches.of(logits, target, new float[rows], null, advantage, weight)).logp();
        float[] oldLogp = new float[rows];
        double[] logRatio = {-1.5, -0.5, -0.1, 0.0, 0.1, 0.5, 1.5};  // r across clip-low, unclipped, clip-high, dual
        for (int i = 0; i < rows; ++i) {
            oldLogp[i] = (float) (logp[i] - logRatio[i % logRatio.length]);
            rolloutLogp[i] = (float) (oldLogp[i] + 0.8 * r.nextGaussian());  // weights from 0.1 to the cap
        }
        RolloutCorrection tis = new RolloutCorrection(Mode.TOKEN_TRUNCATE, 0, 2);
        float[] f = tis.ratios(oldLogp, rolloutLogp, mask, null);
        LossResult plain = loss.compute(F32Batches.of(logits, target, oldLogp, null, advantage, weight));
        LossResult weighted = loss.compute(F32Batches.of(logits, target, oldLogp, null,
                tis.advantages(advantage, oldLogp, rolloutLogp, mask, null), weight));
        assertArrayEquals(plain.flags(), weighted.flags(), "the same branch in every row");
        int capped = 0, clipped = 0;
        for (int i = 0; i < rows; ++i) {
            capped += f[i] == 2 ? 1 : 0;
            clipped += plain.flags()[i] != 0 ? 1 : 0;
            assertEquals(f[i] * plain.loss()[i], weighted.loss()[i], 1e-6 * Math.abs(f[i] * plain.loss()[i]) + 1e-12,
                    "row " + i + " loss");
            double rowMax = 0;
            float[] g = plain.dlogitsF32(), gWeighted = weighted.dlogitsF32();
            for (int v = 0; v < vocab; ++v) rowMax = Math.max(rowMax, Math.abs(f[i] * g[i * vocab + v]));
            for (int v = 0; v < vocab; ++v) {
                double expected = f[i] * g[i * vocab + v], actual = gWeighted[i * vocab + v];
                if (!(Math.abs(expected - actual) <= 1e-5 * rowMax + 1e-30))
                    fail("row " + i + " dlogits[" + v + "]: " + expected + " expected, got " + actual);
            }
        }
        assertTrue(capped > 20 && clipped > rows / 3, capped + " rows capped, " + clipped + " clipped");
    }

    /**
     * VESPO takes TRL's ratio into its sequence weight, as TRL's get_gamma_weights does: with the sequence modes'
     * [B, 1] ratio broadcast over the counted tokens, ln w gains |y_b| clamp(ln f_b, ln 1e-8, 20), and a masked
     * sequence's f = 0 counts as 1e-8 per token.
     */
    @Test
    void vespoFoldsTheSequenceRatioOncePerToken() {
        Batch batch = Batch.random(14);
        Random r = new Random(15);
        float[] logp = new float[batch.mask.length];
        for (int i = 0; i < logp.length; ++i) logp[i] = (float) (batch.oldLogp[i] + 0.05 * r.nextGaussian());
        RolloutCorrection c = new RolloutCorrection(Mode.SEQUENCE_MASK, 0, 3);
        Vespo vespo = Vespo.defaults();
        float[] a = vespo.advantages(batch.advantage, logp, batch.oldLogp, batch.mask, batch.sequenceOf,
                c.ratios(batch.oldLogp, batch.rolloutLogp, batch.mask, batch.sequenceOf));
        double[][] ratio = batch.trlRatio(Mode.SEQUENCE_MASK, null, 3);
        int masked = 0;
        for (int b = 0; b < B; ++b) {
            double logW = 0;
            int tokens = 0;
            for (int t = 0; t < T; ++t) {
                int i = b * T + t;
                if (batch.mask[i] == 0) continue;
                logW += Math.min(Math.max((double) logp[i] - batch.oldLogp[i], -20), 20);
                tokens++;
            }
            logW += tokens * Math.min(Math.max(Math.log(ratio[b][0]), Math.log(1e-8)), 20);
            logW = Math.min(Math.max(logW, Math.log(1e-8)), 20);
            masked += ratio[b][0] == 0 && tokens > 0 ? 1 : 0;
            for (int t = 0; t < tokens; ++t) {
                int i = b * T + t;
                boolean positive = batch.advantage[i] >= 0;
                double k = positive ? 2 : 3, lambda = positive ? 3 : 2;
                double phi = Math.exp(lambda + k * logW - lambda * Math.exp(logW));
                close(phi * batch.advantage[i], a[i], "sequence " + b + " row " + i);
            }
        }
        assertTrue(masked > 0, "no sequence masked");
    }

    /**
     * TRL's nan_to_num: a token the engine did not score (a NaN log-prob) has a log-ratio of 0, a ratio of 1 in the
     * token modes and no share in its sequence's, and TRL's logp differences leave it out.
     */
    @Test
    void aTokenTheEngineDidNotScoreHasRatioOne() {
        float[] old = {-1f, -2f, -0.5f}, rollout = {Float.NaN, -2.5f, -0.75f}, mask = {1, 1, 1};
        int[] sequenceOf = {0, 0, 1};
        float half = (float) Math.exp(0.5), quarter = (float) Math.exp(0.25);
        RolloutCorrection token = new RolloutCorrection(Mode.TOKEN_TRUNCATE, 0, 3);
        assertArrayEquals(new float[] {1f, half, quarter}, token.ratios(old, rollout, mask, null));
        assertArrayEquals(new float[] {half, half, quarter},
                new RolloutCorrection(Mode.SEQUENCE_TRUNCATE, 0, 3).ratios(old, rollout, mask, sequenceOf));
        RolloutCorrection.Metrics m = token.metrics(old, rollout, mask, null);
        assertEquals(0.375, m.logpDifferenceMean(), 0, "(0.5 + 0.25) / 2 tokens");
        assertEquals(0.5, m.logpDifferenceMax(), 0);
        assertEquals(1, m.ratioMin(), 0, "the unscored token's ratio");
        RolloutCorrection.Metrics none = token.metrics(new float[] {-1f}, new float[] {Float.NaN}, new float[] {1},
                null);
        assertEquals(0, none.logpDifferenceMean(), 0, "no scored token");
    }

    @Test
    void badArgumentsNameTheArgumentAndRow() {
        assertMessage("clipMax: must be > 0 and at most Float.MAX_VALUE, got 0.0",
                () -> new RolloutCorrection(Mode.TOKEN_MASK, 0, 0));
        assertMessage("clipMax: must be > 0 and at most Float.MAX_VALUE, got NaN",
                () -> new RolloutCorrection(Mode.TOKEN_MASK, 0, Double.NaN));
        assertMessage("clipMax: must be > 0 and at most Float.MAX_VALUE, got Infinity",
                () -> new RolloutCorrection(Mode.SEQUENCE_TRUNCATE, 0, Double.POSITIVE_INFINITY));
        assertMessage("clipMin: must be in [0, clipMax = 3.0], got -0.5",
                () -> new RolloutCorrection(Mode.TOKEN_MASK, -0.5, 3));
        assertMessage("clipMin: must be in [0, clipMax = 3.0], got 4.0",
                () -> new RolloutCorrection(Mode.TOKEN_MASK, 4, 3));
        assertMessage("clipMin: must be in [0, clipMax = 3.0], got NaN",
                () -> new RolloutCorrection(Mode.TOKEN_MASK, Double.NaN, 3));
        try {
            new RolloutCorrection(null, 0, 3);
            fail("a null mode");
        } catch (NullPointerException e) {
            assertEquals("mode", e.getMessage());
        }
        RolloutCorrection token = new RolloutCorrection(Mode.TOKEN_TRUNCATE, 0, 2);
        RolloutCorrection sequence = RolloutCorrection.defaults();
        float[] one = {0f}, two = {0f, 0f}, mask = {1, 1};
        int[] sequenceOf = {0, 0};
        assertMessage("oldLogp: length 1, mask has 2 rows", () -> token.ratios(one, two, mask, null));
        assertMessage("rolloutLogp: length 1, mask has 2 rows", () -> sequence.ratios(two, one, mask, sequenceOf));
        assertMessage("advantage: length 1, mask has 2 rows", () -> token.advantages(one, two, two, mask, null));
        assertMessage("rolloutLogp: row 1: must be finite, or NaN where the engine gave none, got Infinity",
                () -> sequence.ratios(two, new float[] {0f, Float.POSITIVE_INFINITY}, mask, sequenceOf));
        assertMessage("oldLogp: row 0: must be finite, got -Infinity",
                () -> token.metrics(new float[] {Float.NEGATIVE_INFINITY, 0f}, two, mask, null));
        assertMessage("advantage: row 1: must be finite, got NaN",
                () -> token.advantages(new float[] {0f, Float.NaN}, two, two, mask, null));
        assertMessage("mask: row 1: must be 0 or 1, got 0.5",
                () -> token.ratios(two, two, new float[] {1, 0.5f}, null));
        assertMessage("mask: row 1: must be 0 or 1, got 0.5",
                () -> sequence.ratios(two, two, new float[] {1, 0.5f}, sequenceOf));
        assertMessage("sequenceOf: row 1: must be >= 0, got -1",
                () -> sequence.ratios(two, two, mask, new int[] {0, -1}));
    }

    private static void close(double expected, double actual, String what) {
        if (!(Math.abs(expected - actual) <= 2e-6 * Math.abs(expected) + 1e-30))
            fail(what + ": " + expected + " expected, got " + actual);
    }
}
