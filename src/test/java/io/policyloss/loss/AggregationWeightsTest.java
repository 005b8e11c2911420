package io.policyloss.loss;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.policyloss.loss.AggregationWeights.Totals;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The weights of SPEC section 6 reproduce each mode's definition written as its own loop (token mean, mean of
 * sequence means, ...), and a batch split in two halves with global totals sums to the whole.
 */
class AggregationWeightsTest {
    private static final int SEQUENCES = 7, MAX_LENGTH = 12;
    private final Random rnd = new Random(4);
    private final int[] sequenceOf;
    private final float[] mask;
    private final double[] loss;

    AggregationWeightsTest() {
        int rows = SEQUENCES * MAX_LENGTH;
        sequenceOf = new int[rows];
        mask = new float[rows];
        loss = new double[rows];
        for (int i = 0; i < rows; ++i) {
            sequenceOf[i] = i / MAX_LENGTH;
            int length = 3 + sequenceOf[i];  // sequence s has 3 + s tokens, then padding
            mask[i] = i % MAX_LENGTH < length ? 1 : 0;
            loss[i] = rnd.nextGaussian();
        }
    }

    private double expected(AggregationMode mode) {
        double tokenSum = 0, tokens = 0, seqMeanSum = 0, seqSumSum = 0;
        for (int s = 0; s < SEQUENCES; ++s) {
            double sum = 0, n = 0;
            for (int i = 0; i < loss.length; ++i) {
                if (sequenceOf[i] != s || mask[i] == 0) continue;
                sum += loss[i];
                n += 1;
            }
            tokenSum += sum;
            tokens += n;
            seqMeanSum += sum / n;
            seqSumSum += sum;
        }
        return switch (mode) {
            case TOKEN_MEAN -> tokenSum / tokens;
            case SEQ_MEAN_TOKEN_MEAN -> seqMeanSum / SEQUENCES;
            case SEQ_MEAN_TOKEN_SUM -> seqSumSum / SEQUENCES;
            case SEQ_MEAN_TOKEN_SUM_NORM -> seqSumSum / (SEQUENCES * (double) MAX_LENGTH);
        };
    }

    private double weighted(float[] w, int from, int to) {
        double sum = 0;
        for (int i = from; i < to; ++i) sum += w[i] * loss[i];
        return sum;
    }

    @ParameterizedTest
    @EnumSource(AggregationMode.class)
    void weightsReproduceTheMode(AggregationMode mode) {
        float[] w = AggregationWeights.weights(mode, mask, sequenceOf, Totals.of(mask, sequenceOf), MAX_LENGTH);
        assertEquals(expected(mode), weighted(w, 0, w.length), 1e-6);
        for (int i = 0; i < w.length; ++i) if (mask[i] == 0) assertEquals(0f, w[i]);
    }

    @ParameterizedTest
    @EnumSource(AggregationMode.class)
    void twoHalvesWithGlobalTotalsSumToTheWhole(AggregationMode mode) {
        int half = 4 * MAX_LENGTH;  // sequences 0-3 on one rank, 4-6 on the other
        float[] maskA = Arrays.copyOfRange(mask, 0, half), maskB = Arrays.copyOfRange(mask, half, mask.length);
        int[] seqA = Arrays.copyOfRange(sequenceOf, 0, half), seqB = new int[mask.length - half];
        for (int i = 0; i < seqB.length; ++i) seqB[i] = sequenceOf[half + i] - 4;  // local numbering on each rank
        Totals global = Totals.of(maskA, seqA).plus(Totals.of(maskB, seqB));
        float[] wA = AggregationWeights.weights(mode, maskA, seqA, global, MAX_LENGTH);
        float[] wB = AggregationWeights.weights(mode, maskB, seqB, global, MAX_LENGTH);
        double split = 0;
        for (int i = 0; i < wA.length; ++i) split += wA[i] * loss[i];
        for (int i = 0; i < wB.length; ++i) split += wB[i] * loss[half + i];
        float[] whole = AggregationWeights.weights(mode, mask, sequenceOf, Totals.of(mask, sequenceOf), MAX_LENGTH);
        assertEquals(weighted(whole, 0, whole.length), split, 1e-6);
    }

    @Test
    void badInputsNameTheArgument() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> AggregationWeights.weights(AggregationMode.TOKEN_MEAN, new float[] {1, 0.5f}, new int[] {0, 0},
                        new Totals(2, 1), 4));
        assertTrue(e.getMessage().startsWith("mask: row 1"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> AggregationWeights.weights(AggregationMode.TOKEN_MEAN,
                new float[] {1}, new int[] {0, 0}, new Totals(1, 1), 4));
        assertTrue(e.getMessage().startsWith("sequenceOf: length 2"), e.getMessage());
    }
}
