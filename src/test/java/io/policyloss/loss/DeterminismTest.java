package io.policyloss.loss;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/**
 * Bitwise reproducibility: the same call twice, with one or all threads, from four threads at once, and four threads
 * sharing one FusedLoss.
 */
class DeterminismTest {
    private static final LossConfig CONFIG = LossConfig.builder().entropyCoef(0.01).clampedEntropyCoef(0.02).clampP(0.33)
            .dualClipC(3).build();

    private static LossResult run(RandomCase c, long seed, int threads) {
        return new FusedLoss(CONFIG, threads).compute(c.generate(seed).batch());
    }

    private static final RandomCase CASE = RandomCase.of("determinism", 96, 5000, Dtype.F32, CONFIG).masked(0.1);

    @Test
    void twoIdenticalCallsAreBitwiseIdentical() {
        SameBits.assertSameBits("twice", CASE, run(CASE, 1, 0), run(CASE, 1, 0));
    }

    @Test
    void oneThreadEqualsAllThreads() {
        SameBits.assertSameBits("all threads", CASE, run(CASE, 2, 1), run(CASE, 2, 0));
    }

    @Test
    void fourConcurrentCallersGetTheSingleCallResult() throws Exception {
        LossResult alone = run(CASE, 3, 0);
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<LossResult>> futures = new ArrayList<>();
            for (int t = 0; t < 4; ++t) futures.add(pool.submit(() -> run(CASE, 3, 0)));
            for (Future<LossResult> f : futures) SameBits.assertSameBits("concurrent", CASE, alone, f.get());
        } finally {
            pool.shutdown();
        }
    }

    @Test
    void oneLossSharedByFourThreadsKeepsTheirCallsApart() throws Exception {
        // Each thread fills its own argument block (CallFrame): four threads on one FusedLoss, each on its own
        // inputs, many times over, must each get what a lone call on those inputs gets.
        FusedLoss shared = new FusedLoss(CONFIG, 1);
        RandomCase small = RandomCase.of("shared", 8, 700, Dtype.F32, CONFIG);
        List<LossBatch> batches = new ArrayList<>();
        List<LossResult> alone = new ArrayList<>();
        for (int t = 0; t < 4; ++t) {
            batches.add(small.generate(10 + t).batch());
            alone.add(shared.compute(batches.get(t)));
        }
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<List<LossResult>>> futures = new ArrayList<>();
            for (int t = 0; t < 4; ++t) {
                LossBatch mine = batches.get(t);
                futures.add(pool.submit(() -> {
                    List<LossResult> results = new ArrayList<>();
                    for (int k = 0; k < 50; ++k) results.add(shared.compute(mine));
                    return results;
                }));
            }
            for (int t = 0; t < 4; ++t)
                for (LossResult r : futures.get(t).get()) SameBits.assertSameBits("shared", small, alone.get(t), r);
        } finally {
            pool.shutdown();
        }
    }
}
