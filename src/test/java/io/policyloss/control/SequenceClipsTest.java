package io.policyloss.control;

import static io.policyloss.control.Refusals.assertMessage;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.policyloss.loss.AggregationMode;
import io.policyloss.loss.AggregationWeights;
import io.policyloss.loss.FusedLoss;
import io.policyloss.loss.LossConfig;
import io.policyloss.loss.LossResult;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * GSPO's clip counts over sequences, against TRL's {@code clip_ratio/*_mean} at {@code importance_sampling_level=
 * "sequence"} written out on its padded (B, T) tensors, and against the kernel's own flags on the tokens of each
 * sequence.
 */
class SequenceClipsTest {
    private static final double EPS_LOW = 0.2, EPS_HIGH = 0.28;
    private static final LossConfig CONFIG = LossConfig.builder().epsLow(EPS_LOW).epsHigh(EPS_HIGH).build();
    private static final int SEQUENCES = 90, MAX_LENGTH = 14, VOCAB = 32;

    /** TRL's tensors, [sequence][position], and the same batch as rows: one row per position, padding included. */
    private record Batch(double[][] logp, double[][] oldLogp, double[][] completionMask, double[] advantage,
            float[] rowLogp, float[] rowOldLogp, float[] rowAdvantage, float[] mask, int[] sequenceOf) {}

    /**
     * Sequences of 0 to 14 counted tokens (a sequence with none still counts, as in TRL's denominator), advantages
     * of each sign and 0, and each sequence's mean log-ratio spread over clip-low, the unclipped range and clip-high.
     */
    private static Batch batch(Random random) {
        double[][] logp = new double[SEQUENCES][MAX_LENGTH], oldLogp = new double[SEQUENCES][MAX_LENGTH],
                completionMask = new double[SEQUENCES][MAX_LENGTH];
        double[] advantage = new double[SEQUENCES];
        int rows = SEQUENCES * MAX_LENGTH;
        float[] rowLogp = new float[rows], rowOldLogp = new float[rows], rowAdvantage = new float[rows],
                mask = new float[rows];
        int[] sequenceOf = new int[rows];
        for (int s = 0; s < SEQUENCES; ++s) {
            int length = s == 7 ? 0 : 1 + random.nextInt(MAX_LENGTH);
            advantage[s] = (float) (s % 3 == 0 ? 0 : random.nextGaussian());
            double drift = 1.2 * (random.nextDouble() - 0.5);
            for (int t = 0; t < MAX_LENGTH; ++t) {
                int i = s * MAX_LENGTH + t;
                boolean counted = t < length;
                // floats first, so that TRL's tensors and the rows hold the same values
                rowLogp[i] = counted ? (float) (-3 * random.nextDouble()) : 5f;  // padding: a value no logp has
                rowOldLogp[i] = counted ? (float) (rowLogp[i] - drift - 0.4 * random.nextGaussian()) : -7f;
                logp[s][t] = rowLogp[i];
                oldLogp[s][t] = rowOldLogp[i];
                completionMask[s][t] = mask[i] = counted ? 1 : 0;
                rowAdvantage[i] = (float) advantage[s];
                sequenceOf[i] = s;
            }
        }
        return new Batch(logp, oldLogp, completionMask, advantage, rowLogp, rowOldLogp, rowAdvantage, mask,
                sequenceOf);
    }

    /** TRL's coef_1 of each sequence at the sequence level: exp(log_importance_weights). */
    private static double[] trlCoef1(Batch b) {
        double[] coef1 = new double[SEQUENCES];
        for (int s = 0; s < SEQUENCES; ++s) {
            double sum = 0, length = 0;
            for (int t = 0; t < MAX_LENGTH; ++t) {
                sum += (b.logp[s][t] - b.oldLogp[s][t]) * b.completionMask[s][t];
                length += b.completionMask[s][t];
            }
            coef1[s] = Math.exp(sum / Math.max(length, 1));
        }
        return coef1;
    }

    /** TRL's is_low_clipped and is_high_clipped of each sequence: {low, high}. */
    private static boolean[][] trlClipped(Batch b) {
        double[] coef1 = trlCoef1(b);
        boolean[][] clipped = new boolean[SEQUENCES][2];
        for (int s = 0; s < SEQUENCES; ++s) {
            clipped[s][0] = coef1[s] < 1 - EPS_LOW && b.advantage[s] < 0;
            clipped[s][1] = coef1[s] > 1 + EPS_HIGH && b.advantage[s] > 0;
        }
        return clipped;
    }

    @Test
    void countsSequencesAsTrlDoes() {
        Batch b = batch(new Random(5));
        boolean[][] trl = trlClipped(b);
        int low = 0, high = 0;
        for (boolean[] c : trl) {
            low += c[0] ? 1 : 0;
            high += c[1] ? 1 : 0;
        }
        SequenceClips clips = SequenceClips.of(b.rowLogp, b.rowOldLogp, b.rowAdvantage, b.mask, b.sequenceOf, CONFIG);
        assertEquals(new SequenceClips(low, high, SEQUENCES), clips);
        assertEquals((double) low / SEQUENCES, clips.lowFraction());  // global_masked_mean: sum / B
        assertEquals((double) high / SEQUENCES, clips.highFraction());
        assertEquals((double) (low + high) / SEQUENCES, clips.regionFraction());
        assertTrue(low > 5 && high > 5 && low + high < SEQUENCES - 20, "low " + low + ", high " + high);

        // Not the token count: the clipped sequences' share of the counted tokens differs.
        double tokens = 0, lowTokens = 0;
        for (int s = 0; s < SEQUENCES; ++s)
            for (int t = 0; t < MAX_LENGTH; ++t) {
                tokens += b.completionMask[s][t];
                lowTokens += trl[s][0] ? b.completionMask[s][t] : 0;
            }
        assertNotEquals(lowTokens / tokens, clips.lowFraction(), 1e-3);
    }

    /**
     * CISPO at the sequence level: TRL's cispo_clip_ratio, (coef_1 &gt; epsilon_high) &amp; (A &gt; 0) over sequences,
     * and with a least weight the low side as Cispo counts it; SAPO clips nothing.
     */
    @Test
    void countsCisposWeightCapOverSequences() {
        Batch b = batch(new Random(7));
        double[] coef1 = trlCoef1(b);
        int capped = 0, floored = 0;
        for (int s = 0; s < SEQUENCES; ++s) {
            capped += coef1[s] > 1.25 && b.advantage[s] > 0 ? 1 : 0;
            floored += coef1[s] < 0.75 && b.advantage[s] < 0 ? 1 : 0;
        }
        assertTrue(capped > 5 && floored > 5, "capped " + capped + ", floored " + floored);
        assertEquals(new SequenceClips(0, capped, SEQUENCES), SequenceClips.of(b.rowLogp, b.rowOldLogp,
                b.rowAdvantage, b.mask, b.sequenceOf, new Cispo(0, 1.25)));
        assertEquals(new SequenceClips(floored, capped, SEQUENCES), SequenceClips.of(b.rowLogp, b.rowOldLogp,
                b.rowAdvantage, b.mask, b.sequenceOf, new Cispo(0.75, 1.25)));
        assertEquals(new SequenceClips(0, 0, SEQUENCES), SequenceClips.of(b.rowLogp, b.rowOldLogp, b.rowAdvantage,
                b.mask, b.sequenceOf, new Sapo(1, 1.05)));
    }

    /** Under GSPO through the kernel, each counted token carries its sequence's ratio and so its sequence's flag. */
    @Test
    void theKernelFlagsEveryTokenOfAClippedSequence() {
        Random random = new Random(9);
        Batch b = batch(random);
        int rows = b.mask.length;
        float[] logits = new float[rows * VOCAB];
        int[] target = new int[rows];
        for (int k = 0; k < logits.length; ++k) logits[k] = (float) (2 * random.nextGaussian());
        for (int i = 0; i < rows; ++i) target[i] = random.nextInt(VOCAB);
        float[] weight = AggregationWeights.weights(AggregationMode.TOKEN_MEAN, b.mask,
                b.sequenceOf, AggregationWeights.Totals.of(b.mask, b.sequenceOf), MAX_LENGTH);
        FusedLoss kernel = new FusedLoss(CONFIG);
        float[] logp = kernel.compute(F32Batches.of(logits, target, new float[rows], null, b.rowAdvantage, weight)
                .noGradient()).logp();
        // the batch's log-ratios, moved onto the kernel's own logp
        float[] oldLogp = new float[rows];
        for (int i = 0; i < rows; ++i) oldLogp[i] = b.mask[i] == 0 ? 0 : logp[i] - (b.rowLogp[i] - b.rowOldLogp[i]);
        float[] tokenOldLogp = SequenceImportanceRatio.tokenOldLogp(logp, oldLogp, b.mask, b.sequenceOf);
        LossResult gspo = kernel.compute(F32Batches.of(logits, target, tokenOldLogp, null, b.rowAdvantage, weight));

        SequenceClips clips = SequenceClips.of(logp, oldLogp, b.rowAdvantage, b.mask, b.sequenceOf, CONFIG);
        int[] flaggedLow = new int[SEQUENCES], flaggedHigh = new int[SEQUENCES], counted = new int[SEQUENCES];
        for (int i = 0; i < rows; ++i) {
            if (b.mask[i] == 0) continue;
            counted[b.sequenceOf[i]]++;
            flaggedLow[b.sequenceOf[i]] += (gspo.flags()[i] & 1) != 0 ? 1 : 0;
            flaggedHigh[b.sequenceOf[i]] += (gspo.flags()[i] & 2) != 0 ? 1 : 0;
        }
        int low = 0, high = 0;
        for (int s = 0; s < SEQUENCES; ++s) {
            assertTrue(flaggedLow[s] == 0 || flaggedLow[s] == counted[s], "sequence " + s + " split low");
            assertTrue(flaggedHigh[s] == 0 || flaggedHigh[s] == counted[s], "sequence " + s + " split high");
            low += flaggedLow[s] > 0 ? 1 : 0;
            high += flaggedHigh[s] > 0 ? 1 : 0;
        }
        assertEquals(new SequenceClips(low, high, SEQUENCES), clips);
        assertTrue(low > 5 && high > 5, "low " + low + ", high " + high);
    }

    /** Parts of a batch (ranks, micro-batches), each with its own sequence indices, add up to the whole. */
    @Test
    void partsAddUpToTheWhole() {
        Batch b = batch(new Random(13));
        int split = 40 * MAX_LENGTH, rows = b.mask.length;
        SequenceClips whole = SequenceClips.of(b.rowLogp, b.rowOldLogp, b.rowAdvantage, b.mask, b.sequenceOf,
                CONFIG);
        int[] secondSequenceOf = Arrays.stream(b.sequenceOf, split, rows).map(s -> s - 40).toArray();
        SequenceClips first = SequenceClips.of(Arrays.copyOf(b.rowLogp, split), Arrays.copyOf(b.rowOldLogp, split),
                Arrays.copyOf(b.rowAdvantage, split), Arrays.copyOf(b.mask, split), Arrays.copyOf(b.sequenceOf, split),
                CONFIG);
        SequenceClips second = SequenceClips.of(Arrays.copyOfRange(b.rowLogp, split, rows),
                Arrays.copyOfRange(b.rowOldLogp, split, rows), Arrays.copyOfRange(b.rowAdvantage, split, rows),
                Arrays.copyOfRange(b.mask, split, rows), secondSequenceOf, CONFIG);
        assertEquals(whole, SequenceClips.ZERO.plus(first).plus(second));
        assertNotEquals(whole, first);
        assertEquals(0, SequenceClips.ZERO.regionFraction());
    }

    @Test
    void refusesWhatItCannotCount() {
        float[] logp = {-1, -2, -1.5f, 3}, old = {-1.1f, -2, -1.2f, 0}, mask = {1, 1, 1, 0};
        int[] sequenceOf = {0, 0, 1, 1};
        assertMessage("advantage: row 1: 0.5 where row 0 of the same sequence 0 has 0.4; the sequence-level clip "
                + "counts read one advantage a sequence",
                () -> SequenceClips.of(logp, old, new float[] {0.4f, 0.5f, 1, 1}, mask, sequenceOf, CONFIG));
        assertMessage("advantage: row 2: must be finite, got NaN",
                () -> SequenceClips.of(logp, old, new float[] {1, 1, Float.NaN, 1}, mask, sequenceOf, CONFIG));
        assertMessage("advantage: length 3, mask has 4 rows",
                () -> SequenceClips.of(logp, old, new float[] {1, 1, 1}, mask, sequenceOf, CONFIG));
        assertMessage("logp: row 0: must be finite, got Infinity", () -> SequenceClips.of(
                new float[] {Float.POSITIVE_INFINITY, -2, -1.5f, 3}, old, new float[4], mask, sequenceOf, CONFIG));
        // the padding row's advantage, NaN, and its positive logp are not read
        SequenceClips clips = SequenceClips.of(logp, old, new float[] {-1, -1, -2, Float.NaN}, mask, sequenceOf,
                CONFIG);
        assertEquals(new SequenceClips(1, 0, 2), clips);  // s = exp(0.05) and exp(-0.3) = 0.74 < 0.8, with A < 0
    }
}
