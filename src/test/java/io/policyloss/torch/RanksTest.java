package io.policyloss.torch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.policyloss.control.HighEntropyTokens;
import io.policyloss.control.ObjectiveMetrics;
import io.policyloss.control.SequenceClips;
import io.policyloss.loss.AggregationMode;
import io.policyloss.loss.AggregationWeights;
import io.policyloss.loss.AggregationWeights.Totals;
import io.policyloss.loss.LossConfig;
import io.policyloss.loss.LossMetrics;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;
import org.bytedeco.pytorch.FileStore;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/**
 * Sums and gathers across ranks, each rank a thread of this JVM on a Gloo group over loopback: a batch split over
 * ranks gives the whole batch's weights, metrics and weight gradients; the gather is every rank's rows in order, and
 * entropy masking's threshold the whole batch's.
 */
class RanksTest {
    private static final int HIDDEN = 8, VOCAB = 24;
    private static final LossConfig CONFIG = LossConfig.builder().epsHigh(0.28).entropyCoef(0.01).build();

    @TempDir
    Path dir;

    /** A batch of sequences under a linear head, split by sequence over two ranks, against the one-rank batch. */
    @Test
    void aBatchSplitOverRanksGivesTheWholeBatchsWeightsMetricsAndGradients() throws Exception {
        Random r = new Random(3);
        int sequences = 6;
        int[] lengths = new int[sequences];
        List<Integer> seq = new ArrayList<>();
        for (int s = 0; s < sequences; ++s) {
            lengths[s] = 1 + r.nextInt(6);
            for (int t = 0; t < lengths[s]; ++t) seq.add(s);
        }
        int rows = seq.size(), split = lengths[0] + lengths[1] + lengths[2];  // rank 0: sequences 0-2
        int[] sequenceOf = seq.stream().mapToInt(Integer::intValue).toArray();
        float[] hidden = gaussian(r, rows * HIDDEN, 1), w = gaussian(r, VOCAB * HIDDEN, 0.5), mask = new float[rows];
        float[] oldLogp = new float[rows], advantage = new float[rows];
        long[] target = new long[rows];
        for (int i = 0; i < rows; ++i) {
            mask[i] = i % 5 == 4 ? 0 : 1;  // padding rows inside sequences too
            target[i] = r.nextInt(VOCAB);
            oldLogp[i] = (float) (-Math.log(VOCAB) + 0.5 * r.nextGaussian());
            advantage[i] = (float) r.nextGaussian();
        }
        Part whole = new Part(hidden, w, mask, sequenceOf, oldLogp, advantage, target, 0, rows);
        float[] wholeWeights = whole.weights(Totals.of(mask, sequenceOf));
        Step one = whole.step(wholeWeights);

        List<Ranked> parts = LoopbackRanks.run(dir, 2, ranks -> {
            Part p = ranks.rank() == 0 ? whole.rows(0, split) : whole.rows(split, rows);
            Totals global = ranks.sum(Totals.of(p.mask, p.sequenceOf));
            assertEquals(Totals.of(mask, sequenceOf), global, "rank " + ranks.rank());
            float[] weights = p.weights(global);
            assertArrayEquals(Arrays.copyOfRange(wholeWeights, p.first, p.end), weights, "the whole batch's weights");
            Step s = p.step(weights);
            ranks.sumGradients(new TensorVector(s.w));
            return new Ranked(s.w, s.metrics, ranks.sum(s.metrics));
        });
        LossMetrics local0 = parts.get(0).local, local1 = parts.get(1).local;
        for (Ranked s : parts) {
            assertEquals(local0.plus(local1), s.summed, "every rank has the sum");
            // Within float rounding: a rank's matmul over fewer rows may round a logit otherwise than the whole's.
            SplitBatches.assertSumsClose(one.metrics, s.summed);
        }
        assertTrue(local0.validRows() > 0 && local1.validRows() > 0, "rows on both ranks");
        float[] grad0 = Tensors.toFloats(parts.get(0).w.grad()), grad1 = Tensors.toFloats(parts.get(1).w.grad());
        assertArrayEquals(grad0, grad1, "both ranks hold the same gradient");
        float[] want = Tensors.toFloats(one.w.grad());
        double scale = 0;
        for (float v : want) scale = Math.max(scale, Math.abs(v));
        for (int i = 0; i < want.length; ++i) assertEquals(want[i], grad0[i], 1e-5 * scale, "dL/dW element " + i);
    }

    /**
     * Gradients of float and double parameters (one transposed, so its gradient is not contiguous; one a sparse
     * embedding's; one without a gradient) summed over three ranks: each rank holds every rank's sum, whether each
     * gradient is reduced alone, in buckets of a few, or all in one. The values are integers, whose sums are exact in
     * any order (the bucket's collective may add a value's parts in another order than the gradient's own).
     */
    @Test
    void gradientsAddUpAloneAndInBuckets() throws Exception {
        long[][] shapes = {{5, 4}, {3}, {40, 30}, {2, 2}, {4, 3}, {7}, {6}};
        ScalarType[] types = {ScalarType.Float, ScalarType.Float, ScalarType.Float, ScalarType.Double,
            ScalarType.Float, ScalarType.Float, ScalarType.Float};
        int size = 3;
        float[][][] grads = new float[size][shapes.length][];  // rank, parameter
        float[][] want = new float[shapes.length][];
        Random r = new Random(14);
        for (int k = 0; k < shapes.length; ++k) {
            int n = (int) Arrays.stream(shapes[k]).reduce(1, (a, b) -> a * b);
            want[k] = new float[n];
            for (int rank = 0; rank < size; ++rank) {
                grads[rank][k] = new float[n];
                for (int i = 0; i < n; ++i) want[k][i] += grads[rank][k][i] = r.nextInt(201) - 100;
            }
        }
        // A sparse embedding's gradient: rank r looks up rows r and 3 of a 4 x 3 table.
        float[][] lookups = new float[size][6];
        float[] embeddingWant = new float[12];
        for (int rank = 0; rank < size; ++rank)
            for (int j = 0; j < 6; ++j) {
                lookups[rank][j] = r.nextInt(201) - 100;
                embeddingWant[(j < 3 ? rank : 3) * 3 + j % 3] += lookups[rank][j];
            }
        for (long bucketBytes : new long[] {1, 64, Ranks.BUCKET_BYTES}) {
            List<float[][]> got = LoopbackRanks.run(dir, size, ranks -> {
                TensorVector parameters = new TensorVector();
                Tensor loss = Tensors.floats(new float[] {0}, 1).sum();
                for (int k = 0; k < shapes.length; ++k) {
                    float[] g = grads[ranks.rank()][k];
                    Tensor p = k == 4  // a transposed leaf: its gradient takes its strides
                            ? Tensors.floats(new float[g.length], 3, 4).t().set_requires_grad(true)
                            : Tensors.floats(new float[g.length], shapes[k]).to(types[k]).set_requires_grad(true);
                    Tensor w = k == 4 ? Tensors.floats(g, 3, 4).t() : Tensors.floats(g, shapes[k]).to(types[k]);
                    parameters.push_back(p);
                    if (k != 5) loss = loss.add(p.mul(w).sum().to(ScalarType.Float));  // parameter 5: no gradient
                }
                Tensor table = Tensors.floats(new float[12], 4, 3).set_requires_grad(true);
                parameters.push_back(table);
                Tensor looked = torch.embedding(table, Tensors.longs(new long[] {ranks.rank(), 3}, 2), -1, false, true);
                loss = loss.add(looked.mul(Tensors.floats(lookups[ranks.rank()], 2, 3)).sum());
                loss.backward();
                assertTrue(table.grad().is_sparse() && !parameters.get(4).grad().is_contiguous());
                ranks.sumGradients(parameters, bucketBytes);
                float[][] out = new float[shapes.length + 1][];
                for (int k = 0; k < shapes.length; ++k) {
                    Tensor g = parameters.get(k).grad();
                    out[k] = g.defined() ? Tensors.toFloats(k == 4 ? g.t() : g) : null;
                }
                out[shapes.length] = Tensors.toFloats(table.grad().to_dense());
                return out;
            });
            for (int rank = 0; rank < size; ++rank)
                for (int k = 0; k < shapes.length; ++k) {
                    if (k == 5) assertEquals(null, got.get(rank)[k], "no gradient stays none");
                    else assertArrayEquals(want[k], got.get(rank)[k], "bucketBytes " + bucketBytes + ", rank "
                            + rank + ", parameter " + k);
                }
            for (int rank = 0; rank < size; ++rank)
                assertArrayEquals(embeddingWant, got.get(rank)[shapes.length], "the sparse gradient, rank " + rank);
        }
    }

    @Test
    void theGatherIsEveryRanksRowsInRankOrder() throws Exception {
        float[][] rows = {
            {1.5f, Float.NaN, Float.POSITIVE_INFINITY, -0.0f, Float.MIN_VALUE},
            {},
            {-3f, Float.NEGATIVE_INFINITY, 0f, 7e-30f, 2f, 3f, Float.MAX_VALUE},
        };
        float[] want = {1.5f, Float.NaN, Float.POSITIVE_INFINITY, 0.0f, Float.MIN_VALUE,  // -0 as +0
            -3f, Float.NEGATIVE_INFINITY, 0f, 7e-30f, 2f, 3f, Float.MAX_VALUE};
        for (float[] got : LoopbackRanks.run(dir, 3, ranks -> ranks.gather(rows[ranks.rank()])))
            assertArrayEquals(want, got);
        for (float[] got : LoopbackRanks.run(dir, 2, ranks -> ranks.gather(new float[0])))
            assertEquals(0, got.length);
    }

    /**
     * Entropy masking's threshold over three ranks (one with only padding) is the quantile of the whole batch's counted
     * tokens on every rank, where each rank's own rows give another.
     */
    @Test
    void theEntropyThresholdIsTheWholeBatchsOnEveryRank() throws Exception {
        Random r = new Random(12);
        int[] lengths = {9, 4, 13};
        float[][] entropy = new float[3][], mask = new float[3][];
        for (int k = 0; k < 3; ++k) {
            entropy[k] = new float[lengths[k]];
            mask[k] = new float[lengths[k]];
            for (int i = 0; i < lengths[k]; ++i) {
                entropy[k][i] = k == 1 ? Float.NaN : (float) ((k + 1) * r.nextDouble());  // padding is not read
                mask[k][i] = k == 1 || i % 4 == 3 ? 0 : 1;
            }
        }
        float[] wholeEntropy = SplitBatches.concat(entropy), wholeMask = SplitBatches.concat(mask);
        for (double rho : new double[] {0, 0.2, 0.5, 1}) {
            double want = HighEntropyTokens.threshold(wholeEntropy, wholeMask, rho);
            List<Double> got = LoopbackRanks.run(dir, 3, ranks -> ranks.entropyThreshold(entropy[ranks.rank()],
                    mask[ranks.rank()], rho));
            for (double t : got) assertEquals(want, t, "rho " + rho);
            if (rho == 0.2) assertNotEquals(want, HighEntropyTokens.threshold(entropy[2], mask[2], rho),
                    "rank 2's own rows would give another");
        }
        assertEquals(Double.POSITIVE_INFINITY, LoopbackRanks.run(dir, 2, ranks -> ranks.entropyThreshold(
                new float[] {1}, new float[] {0}, 0.3)).get(1), "no counted token: none is kept");
    }

    /**
     * Sums of any length add up over three ranks, value by value: those that ride in the meeting every collective
     * starts with (up to 64) and those after it.
     */
    @Test
    void sumsOfFewAndManyValuesAddUp() throws Exception {
        int[] lengths = {1, 64, 65, 200};
        List<List<double[]>> got = LoopbackRanks.run(dir, 3, ranks -> {
            List<double[]> sums = new ArrayList<>();
            for (int n : lengths) sums.add(ranks.sum(values(ranks.rank(), n)));
            return sums;
        });
        for (int k = 0; k < lengths.length; ++k) {
            double[] want = new double[lengths[k]];
            for (int r = 0; r < 3; ++r)
                for (int i = 0; i < want.length; ++i) want[i] += values(r, lengths[k])[i];
            for (int r = 0; r < 3; ++r) assertArrayEquals(want, got.get(r).get(k), "rank " + r + ", " + lengths[k]);
        }
    }

    /** Rank r's n values: distinct over ranks and positions. */
    private static double[] values(int rank, int n) {
        double[] v = new double[n];
        for (int i = 0; i < n; ++i) v[i] = Math.pow(2, rank) * (i + 1) + 0.25 * rank;
        return v;
    }

    @Test
    void sequenceClipsAddUp() throws Exception {
        SequenceClips[] local = {new SequenceClips(1, 2, 10), new SequenceClips(0, 3, 7)};
        for (SequenceClips got : LoopbackRanks.run(dir, 2, ranks -> ranks.sum(local[ranks.rank()])))
            assertEquals(local[0].plus(local[1]), got);
    }

    @Test
    void objectiveMetricsAddUp() throws Exception {
        ObjectiveMetrics[] local = {new ObjectiveMetrics(new SequenceClips(1, 2, 10), 3, 40),
            new ObjectiveMetrics(new SequenceClips(0, 3, 7), 1, 25)};
        for (ObjectiveMetrics got : LoopbackRanks.run(dir, 2, ranks -> ranks.sum(local[ranks.rank()])))
            assertEquals(local[0].plus(local[1]), got);
    }

    /**
     * Work that one rank's refusal stops on every rank: that rank throws its own exception, the others one naming it,
     * at once rather than at the timeout (a minute here; the futures give up after two).
     */
    @Test
    void aRankThatFailsTogetherStopsEveryRank() throws Exception {
        List<String> outcome = LoopbackRanks.run(dir, 3, ranks -> {
            int[] ran = {0};
            ranks.together(() -> ran[0]++);
            assertEquals(1, ran[0], "the work ran on rank " + ranks.rank());
            RuntimeException e = assertThrows(RuntimeException.class, () -> ranks.together(() -> {
                if (ranks.rank() == 1) throw new IllegalArgumentException("config: not this one");
            }));
            return outcome(e);
        });
        assertEquals(List.of("RankFailedException: rank 1 failed (its output says why), refused",
                "IllegalArgumentException: config: not this one",
                "RankFailedException: rank 1 failed (its output says why), refused"), outcome);
    }

    /**
     * A rank that fails between collectives, guarded, stops the others at their next collective, each with an exception
     * naming it rather than Gloo's at the timeout (10 s here). Told once, though it passes two guards, and the others'
     * exceptions, which a collective raised, not told again: the group stays in step, and the next sum is every rank's.
     */
    @Test
    void aGuardedRankThatFailsStopsTheOthersAtTheirNextCollective() throws Exception {
        List<String> outcome = LoopbackRanks.run(dir, 3, Duration.ofSeconds(10), ranks -> {
            RuntimeException e = assertThrows(RuntimeException.class, () -> ranks.guard(() -> ranks.guard(() -> {
                if (ranks.rank() == 1) throw new IllegalStateException("diverged");
                return ranks.sum(new double[100]);  // more values than the meeting carries: a sum after it
            })));
            assertArrayEquals(new double[] {0 + 1 + 2}, ranks.sum(ranks.rank()), "in step on rank " + ranks.rank());
            return outcome(e);
        });
        assertEquals(List.of("RankFailedException: rank 1 failed (its output says why), failed",
                "IllegalStateException: diverged",
                "RankFailedException: rank 1 failed (its output says why), failed"), outcome);
    }

    /**
     * A rank that fails before the gradients' sum (in its backward pass, say) stops the others there too, and the next
     * sum of gradients is both ranks'.
     */
    @Test
    void aGuardedRankThatFailsStopsTheOthersSummingGradients() throws Exception {
        List<String> outcome = LoopbackRanks.run(dir, 2, Duration.ofSeconds(10), ranks -> {
            Tensor p = Tensors.floats(new float[2], 2).set_requires_grad(true);
            p.mul(Tensors.floats(new float[] {1 + ranks.rank(), 10}, 2)).sum().backward();
            TensorVector parameters = new TensorVector(p);
            RuntimeException e = assertThrows(RuntimeException.class, () -> ranks.guard(() -> {
                if (ranks.rank() == 1) throw new IllegalStateException("backward: out of memory");
                ranks.sumGradients(parameters);
                return null;
            }));
            ranks.sumGradients(parameters);
            assertArrayEquals(new float[] {1 + 2, 20}, Tensors.toFloats(p.grad()), "rank " + ranks.rank());
            return outcome(e);
        });
        assertEquals(List.of("RankFailedException: rank 1 failed (its output says why), failed",
                "IllegalStateException: backward: out of memory"), outcome);
    }

    /**
     * Ranks in different collectives (a sum of 2 values and one of 3, a sum and a gather, sums of gradients of other
     * counts, shapes or dtypes, a sum of more values than the meeting carries) each throw at the meeting, naming what
     * each rank called, before any sends what another would read at another size (which Gloo answers by ending the
     * process); the group stays in step, and the next sum is both ranks'.
     */
    @Test
    void ranksOutOfStepThrowAtTheMeeting() throws Exception {
        List<Function<Ranks, Object>> calls = List.of(
            r -> r.sum(new double[2 + r.rank()]),
            r -> r.rank() == 0 ? r.sum(1.0) : r.gather(new float[3]),
            r -> {
                long[][] shapes = r.rank() == 0 ? new long[][] {{3}} : new long[][] {{3}, {2}};
                r.sumGradients(gradients(shapes, ScalarType.Float));
                return null;
            },
            r -> {
                r.sumGradients(gradients(new long[][] {{3 + r.rank()}}, ScalarType.Float));
                return null;
            },
            r -> {
                r.sumGradients(gradients(new long[][] {{3}}, r.rank() == 0 ? ScalarType.Float : ScalarType.Double));
                return null;
            },
            r -> r.sum(new double[100 + r.rank()]));
        List<String> want = List.of(
            "ranks out of step: rank 0 sums 2 values, rank 1 sums 3 values",
            "ranks out of step: rank 0 sums 1 value, rank 1 gathers rows",
            "ranks out of step: rank 0 sums 1 gradient of 12 dense bytes, rank 1 sums 2 gradients of 20 dense bytes",
            "ranks out of step: rank 0 sums 1 gradient of 12 dense bytes, rank 1 sums 1 gradient of 16 dense bytes",
            "ranks out of step: rank 0 sums 1 gradient of 12 dense bytes, rank 1 sums 1 gradient of 24 dense bytes",
            "ranks out of step: rank 0 sums 100 values, rank 1 sums 101 values");
        List<List<String>> outcome = LoopbackRanks.run(dir, 2, Duration.ofSeconds(10), ranks -> {
            List<String> messages = new ArrayList<>();
            for (Function<Ranks, Object> call : calls) {
                messages.add(assertThrows(Ranks.OutOfStepException.class, () -> ranks.guard(() -> call.apply(ranks)))
                        .getMessage());
                assertArrayEquals(new double[] {1}, ranks.sum(ranks.rank()), "in step on rank " + ranks.rank());
            }
            return messages;
        });
        assertEquals(List.of(want, want), outcome);
    }

    /** Parameters of these shapes and dtype, each with a gradient of ones. */
    private static TensorVector gradients(long[][] shapes, ScalarType dtype) {
        TensorVector parameters = new TensorVector();
        for (long[] shape : shapes) {
            Tensor p = torch.zeros(shape).to(dtype).set_requires_grad(true);
            p.sum().backward();
            parameters.push_back(p);
        }
        return parameters;
    }

    /**
     * A rank whose gradients libtorch refuses before the meeting (rank 1's parameter is an undefined tensor) stops the
     * other there.
     */
    @Test
    void aRankWhoseGradientsFailStopsTheOther() throws Exception {
        List<String> outcome = LoopbackRanks.run(dir, 2, Duration.ofSeconds(10), ranks -> {
            Tensor p = Tensors.floats(new float[2], 2).set_requires_grad(true);
            p.sum().backward();
            TensorVector parameters = new TensorVector(ranks.rank() == 0 ? p : new Tensor());
            RuntimeException e = assertThrows(RuntimeException.class, () -> ranks.guard(() -> {
                ranks.sumGradients(parameters);
                return null;
            }));
            return e instanceof Ranks.RankFailedException ? outcome(e) : "libtorch's";
        });
        assertEquals(List.of("RankFailedException: rank 1 failed (its output says why), failed", "libtorch's"),
                outcome);
    }

    /**
     * Where two ranks fail between the same collectives, the others' exception names both, a bad input only where both
     * refused theirs.
     */
    @Test
    void twoRanksThatFailAreToldTogether() throws Exception {
        List<String> outcome = LoopbackRanks.run(dir, 3, Duration.ofSeconds(10), ranks -> {
            RuntimeException e = assertThrows(RuntimeException.class, () -> ranks.guard(() -> {
                if (ranks.rank() == 1) throw new IllegalArgumentException("refused on 1");
                if (ranks.rank() == 2) throw new IllegalStateException("diverged on 2");
                return ranks.gather(new float[] {1});
            }));
            assertArrayEquals(new float[] {0, 1, 2}, ranks.gather(new float[] {ranks.rank()}));
            return outcome(e);
        });
        assertEquals(List.of("RankFailedException: ranks 1, 2 failed (their output says why), failed",
                "IllegalArgumentException: refused on 1", "IllegalStateException: diverged on 2"), outcome);
    }

    /**
     * A failing rank about to end waits until the others met its failure ({@link Ranks#heard}): while rank 0 is held
     * back, rank 1's wait ends at its bound, unheard; once rank 0 comes to its next collective, it ends heard, and
     * only then. Nothing told: heard at once.
     */
    @Test
    void aFailingRankWaitsUntilTheOthersHeardIt() throws Exception {
        CountDownLatch rank1Waited = new CountDownLatch(1);
        AtomicBoolean rank0Came = new AtomicBoolean();
        List<String> outcome = LoopbackRanks.run(dir, 2, Duration.ofSeconds(20), ranks -> {
            if (ranks.rank() == 0) {
                assertTrue(ranks.heard(Duration.ZERO), "nothing told");
                assertTrue(rank1Waited.await(60, TimeUnit.SECONDS));
                Thread.sleep(200);  // so that rank 1's second wait starts before rank 0 comes
                rank0Came.set(true);
                return outcome(assertThrows(RuntimeException.class, () -> ranks.sum(LossMetrics.ZERO)));
            }
            assertThrows(IllegalStateException.class, () -> ranks.guard(() -> {
                throw new IllegalStateException("diverged on 1");
            }));
            boolean early = ranks.heard(Duration.ofMillis(300));
            rank1Waited.countDown();
            boolean later = ranks.heard(Duration.ofSeconds(20));
            return "heard " + early + ", then " + later + (rank0Came.get() ? " after rank 0 came" : " before");
        });
        assertEquals(List.of("RankFailedException: rank 1 failed (its output says why), failed",
                "heard false, then true after rank 0 came"), outcome);
    }

    /**
     * requireSame: every rank passes where all hold one value; where ranks 1 and 3 of four hold others (one value
     * apart by a character), every rank throws the same message naming them, and the group stays in step.
     */
    @Test
    void ranksHoldingOtherValuesAreNamedOnEveryRank() throws Exception {
        List<String> outcome = LoopbackRanks.run(dir, 4, Duration.ofSeconds(20), ranks -> {
            ranks.requireSame("config", "{\"steps\": 10}");
            String mine = switch (ranks.rank()) {
                case 1 -> "{\"steps\": 11}";
                case 3 -> "{\"steps\": 10, \"seed\": 2}";
                default -> "{\"steps\": 10}";
            };
            String message = assertThrows(IllegalArgumentException.class, () -> ranks.requireSame("config", mine))
                    .getMessage();
            assertArrayEquals(new float[] {0, 1, 2, 3}, ranks.gather(new float[] {ranks.rank()}));
            return message;
        });
        assertEquals(Collections.nCopies(4, "config: ranks 1, 3 differ from rank 0 (start every rank with the same "
                + "config)"), outcome);
        assertEquals(Collections.nCopies(2, "config: rank 1 differs from rank 0 (start every rank with the same "
                + "config)"), LoopbackRanks.run(dir, 2, ranks -> assertThrows(IllegalArgumentException.class,
                        () -> ranks.requireSame("config", ranks.rank() == 0 ? "a" : "b")).getMessage()));
    }

    /**
     * close: the closed rank's collectives throw, its rank and size stay, a second close does nothing; the other
     * rank's next collective fails at once (its group's connections closed), well inside the 20 s timeout.
     */
    @Test
    void aClosedRankRefusesCollectivesAndTheOthersFailAtOnce() throws Exception {
        CountDownLatch closed = new CountDownLatch(1);
        List<String> outcome = LoopbackRanks.run(dir, 2, Duration.ofSeconds(20), ranks -> {
            assertArrayEquals(new float[] {0, 1}, ranks.gather(new float[] {ranks.rank()}));
            if (ranks.rank() == 1) {
                ranks.close();
                ranks.close();
                closed.countDown();
                return ranks.rank() + " of " + ranks.size() + ": " + outcome(assertThrows(
                        IllegalStateException.class, () -> ranks.sum(LossMetrics.ZERO)));
            }
            assertTrue(closed.await(60, TimeUnit.SECONDS));
            long start = System.nanoTime();
            String failed = outcome(assertThrows(Ranks.CollectiveFailedException.class, () -> ranks.sum(1.0)));
            ranks.close();
            return (System.nanoTime() - start < 10e9 ? "at once: " : "late: ") + failed.substring(0, failed.indexOf(
                    " (its output"));
        });
        assertEquals(List.of("at once: CollectiveFailedException: rank 0: a collective failed, another rank stopped or"
                + " is out of step", "1 of 2: IllegalStateException: ranks: closed"), outcome);
    }

    /** The exception's class and message, and for another rank's failure whether it was a refusal. */
    private static String outcome(RuntimeException e) {
        String s = e.getClass().getSimpleName() + ": " + e.getMessage();
        return e instanceof Ranks.RankFailedException f ? s + (f.refused() ? ", refused" : ", failed") : s;
    }

    @Test
    void aCollectiveAnotherRankMissesThrowsAtTheTimeout() throws Exception {
        List<String> outcome = LoopbackRanks.run(dir, 2, Duration.ofSeconds(5), ranks -> {
            if (ranks.rank() == 1) return "left";
            return assertThrows(Ranks.CollectiveFailedException.class, () -> ranks.sum(LossMetrics.ZERO)).getMessage();
        });
        assertTrue(outcome.get(0).startsWith("rank 0: a collective failed, another rank stopped or is out of step"),
                outcome.get(0));
        assertTrue(outcome.get(0).contains("Timed out waiting 5000ms"), "Gloo's message: " + outcome.get(0));
        assertFalse(outcome.get(0).contains(".cc:"), "without Gloo's source file: " + outcome.get(0));
    }

    @Test
    void badArgumentsNameTheArgument() throws Exception {
        FileStore store = new FileStore(dir.resolve("unused").toString(), 2);
        Duration second = Duration.ofSeconds(1);
        assertMessage("rank: must be in [0, 2), got 2", () -> Ranks.gloo(store, 2, 2, "127.0.0.1", second));
        assertMessage("rank: must be in [0, 2), got -1", () -> Ranks.gloo(store, -1, 2, "127.0.0.1", second));
        assertMessage("size: must be >= 1, got 0", () -> Ranks.gloo(store, 0, 0, "127.0.0.1", second));
        assertMessage("timeout: must be at least 1 ms, got PT0S",
                () -> Ranks.gloo(store, 0, 2, "127.0.0.1", Duration.ZERO));
        assertMessage("hostname", () -> Ranks.gloo(store, 0, 2, null, second));
        // 192.0.2.1 is documentation's address (RFC 5737), no machine's own
        assertMessage("hostname: Cannot resolve 192.0.2.1 to a (local) address",
                () -> Ranks.gloo(store, 0, 2, "192.0.2.1", second));
        assertMessage("group", () -> new Ranks(null));
        LoopbackRanks.run(dir, 1, ranks -> {
            assertMessage("bucketBytes: must be >= 1, got 0", () -> ranks.sumGradients(new TensorVector(), 0));
            assertMessage("parameters", () -> ranks.sumGradients(null));
            assertMessage("within", () -> ranks.heard(null));
            return null;
        });
    }

    /** Rows [first, end) of a batch: hidden states, the shared head W, and the loss's row inputs. */
    private record Part(float[] hidden, float[] w, float[] mask, int[] sequenceOf, float[] oldLogp,
            float[] advantage, long[] target, int first, int end) {
        Part rows(int from, int to) {
            return new Part(Arrays.copyOfRange(hidden, from * HIDDEN, to * HIDDEN), w,
                    Arrays.copyOfRange(mask, from, to), SplitBatches.sequencesFromZero(sequenceOf, from, to),
                    Arrays.copyOfRange(oldLogp, from, to),
                    Arrays.copyOfRange(advantage, from, to), Arrays.copyOfRange(target, from, to), from, to);
        }

        float[] weights(Totals global) {
            return AggregationWeights.weights(AggregationMode.SEQ_MEAN_TOKEN_MEAN, mask, sequenceOf, global, 1);
        }

        /** logits = hidden W^T through the fused loss, and backward into a fresh leaf W. */
        Step step(float[] weights) {
            int n = mask.length;
            Tensor head = Tensors.floats(w, VOCAB, HIDDEN).set_requires_grad(true);
            Tensor logits = Tensors.floats(hidden, n, HIDDEN).matmul(head.t());
            TorchLossResult result = new TorchFusedLoss(CONFIG).compute(logits, PolicyRows.of(Tensors.longs(target, n),
                    Tensors.floats(oldLogp, n), Tensors.floats(advantage, n), Tensors.floats(weights, n)));
            result.backward();
            return new Step(head, result.metrics());
        }
    }

    private record Step(Tensor w, LossMetrics metrics) {}

    /** A rank's step: its W (the gradient summed over ranks), its own metrics and their sum over ranks. */
    private record Ranked(Tensor w, LossMetrics local, LossMetrics summed) {}

    private static void assertMessage(String expected, Executable call) {
        RuntimeException e = assertThrows(RuntimeException.class, call);
        assertEquals(expected, e.getMessage());
    }

    private static float[] gaussian(Random r, int n, double scale) {
        float[] out = new float[n];
        for (int i = 0; i < n; ++i) out[i] = (float) (scale * r.nextGaussian());
        return out;
    }
}
