package io.policyloss.torch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.policyloss.control.Gmpo;
import io.policyloss.control.PolicyObjective;
import io.policyloss.loss.AggregationMode;
import io.policyloss.loss.AggregationWeights;
import io.policyloss.loss.AggregationWeights.Totals;
import io.policyloss.loss.LossConfig;
import io.policyloss.loss.LossMetrics;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Entropy masking over data-parallel ranks (CurrentPolicyLoss.acrossRanks): a batch split by sequence over two ranks
 * (threads on a Gloo group over loopback) gets the one-rank batch's gradient, row for row, and its metrics, because
 * the quantile is over both ranks' tokens, as TRL gathers them.
 */
public class CurrentPolicyLossAcrossRanksTest {
    /** The loss configuration of every case. */
    public static final LossConfig CONFIG = LossConfig.builder().epsHigh(0.28).entropyCoef(0.01).build();
    private static final int VOCAB = 24, SEQUENCES = 8;

    @TempDir
    Path dir;

    @BeforeAll
    static void oneThread() {
        TorchThreads.use(1);
    }

    @Test
    void entropyMaskingOverTwoRanksIsTheWholeBatchs() throws Exception {
        PolicyObjective objective = PolicyObjective.CLIPPED.withTopEntropyQuantile(0.3);
        sameAsTheWholeBatch(dir, objective, ranks -> own(objective).acrossRanks(ranks));
    }

    /** TRL's GMPOTrainer leaves the masked tokens out of each sequence's geometric mean: the same mask, other rows. */
    @Test
    void gmpoUnderEntropyMaskingOverTwoRanksIsTheWholeBatchs() throws Exception {
        PolicyObjective objective = PolicyObjective.CLIPPED.with(Gmpo.defaults()).withTopEntropyQuantile(0.3);
        sameAsTheWholeBatch(dir, objective, ranks -> own(objective).acrossRanks(ranks));
    }

    private static CurrentPolicyLoss own(PolicyObjective objective) {
        return new CurrentPolicyLoss(new TorchFusedLoss(CONFIG), objective);
    }

    @Test
    void ranksMustBeGiven() {
        NullPointerException e = assertThrows(NullPointerException.class, () -> new CurrentPolicyLoss(
                new TorchFusedLoss(CONFIG), PolicyObjective.CLIPPED.withTopEntropyQuantile(0.3)).acrossRanks(null));
        assertEquals("ranks", e.getMessage());
    }

    /**
     * Rank 0 holds the first half of the sequences, with flat logits (high entropy), rank 1 the rest, with peaked
     * ones: the whole batch's top tokens lie mostly on rank 0, where each rank's own quantile would keep its own top
     * share. With each rank's loss made by {@code acrossRanks} (under {@link #CONFIG}, the loss configuration), the
     * gradient rows are the whole batch's under {@code objective} bit for bit; the metrics' sums to float rounding
     * (they are added in another order). Also used for the trainer's loss.
     */
    public static void sameAsTheWholeBatch(Path dir, PolicyObjective objective,
            Function<Ranks, CurrentPolicyLoss> acrossRanks) throws Exception {
        Random r = new Random(21);
        int[] lengths = new int[SEQUENCES], firstRow = new int[SEQUENCES + 1];
        for (int s = 0; s < SEQUENCES; ++s) {
            lengths[s] = 2 + r.nextInt(6);
            firstRow[s + 1] = firstRow[s] + lengths[s];
        }
        int rows = firstRow[SEQUENCES], split = firstRow[SEQUENCES / 2];
        float[] logits = new float[rows * VOCAB], oldLogp = new float[rows], advantage = new float[rows],
                mask = new float[rows];
        long[] target = new long[rows];
        int[] sequenceOf = new int[rows];
        for (int s = 0; s < SEQUENCES; ++s) {
            float a = (float) r.nextGaussian();  // GRPO's: one advantage a sequence
            for (int i = firstRow[s]; i < firstRow[s + 1]; ++i) {
                sequenceOf[i] = s;
                mask[i] = i == firstRow[s + 1] - 1 && s % 3 == 0 ? 0 : 1;  // some sequences end in padding
                advantage[i] = a;
                target[i] = r.nextInt(VOCAB);
                oldLogp[i] = (float) (-Math.log(VOCAB) + 0.4 * r.nextGaussian());
                double scale = i < split ? 0.5 + 0.5 * r.nextDouble() : 3 + 3 * r.nextDouble();
                for (int v = 0; v < VOCAB; ++v) logits[i * VOCAB + v] = (float) (scale * r.nextGaussian());
            }
        }
        Rows whole = new Rows(logits, target, oldLogp, advantage, mask, sequenceOf, 0, rows);
        Outcome one = whole.compute(own(objective), Totals.of(mask, sequenceOf));

        List<Outcome[]> parts = LoopbackRanks.run(dir, 2, ranks -> {
            Rows p = ranks.rank() == 0 ? whole.rows(0, split) : whole.rows(split, rows);
            Totals global = ranks.sum(Totals.of(p.mask, p.sequenceOf));
            return new Outcome[] {p.compute(acrossRanks.apply(ranks), global), p.compute(own(objective), global)};
        });
        float[] across = SplitBatches.concat(parts.get(0)[0].dlogits, parts.get(1)[0].dlogits);
        assertArrayEquals(one.dlogits, across, "each rank's rows of the whole batch's gradient");
        SplitBatches.assertSumsClose(one.metrics, parts.get(0)[0].metrics.plus(parts.get(1)[0].metrics));
        float[] own = SplitBatches.concat(parts.get(0)[1].dlogits, parts.get(1)[1].dlogits);
        assertFalse(Arrays.equals(one.dlogits, own), "each rank's own quantile masks other tokens");
    }

    /** Rows [first, end) of a batch of logits with their loss inputs. */
    private record Rows(float[] logits, long[] target, float[] oldLogp, float[] advantage, float[] mask,
            int[] sequenceOf, int first, int end) {
        Rows rows(int from, int to) {
            return new Rows(Arrays.copyOfRange(logits, from * VOCAB, to * VOCAB), Arrays.copyOfRange(target, from, to),
                    Arrays.copyOfRange(oldLogp, from, to), Arrays.copyOfRange(advantage, from, to),
                    Arrays.copyOfRange(mask, from, to), SplitBatches.sequencesFromZero(sequenceOf, from, to), from, to);
        }

        /** The loss on these rows, weighted with the batch's global totals (TRL's sequence-mean-token-mean). */
        Outcome compute(CurrentPolicyLoss loss, Totals global) {
            int n = mask.length;
            float[] weight = AggregationWeights.weights(AggregationMode.SEQ_MEAN_TOKEN_MEAN, mask, sequenceOf, global,
                    1);
            TorchLossResult result = loss.compute(Tensors.floats(logits, n, VOCAB), PolicyRows.of(
                    Tensors.longs(target, n), Tensors.floats(oldLogp, n), Tensors.floats(advantage, n),
                    Tensors.floats(weight, n)), mask, sequenceOf, null);
            return new Outcome(Tensors.toFloats(result.dlogits()), result.metrics());
        }
    }

    private record Outcome(float[] dlogits, LossMetrics metrics) {}
}
