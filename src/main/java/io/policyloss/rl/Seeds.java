package io.policyloss.rl;

import java.util.SplittableRandom;

/**
 * Every random stream of a run is derived from (seed, purpose, step), never carried from step to step, so a run
 * resumed at step k draws exactly what an uninterrupted run draws there.
 */
final class Seeds {
    private Seeds() {}

    /** Rank {@code rank}'s stream of a data-parallel run: rank 0's is the one-process run's. */
    static SplittableRandom random(long seed, long purpose, long step, int rank) {
        return random(rank == 0 ? seed : seed ^ rank * 0xD6E8FEB86659FD93L, purpose, step);
    }

    static SplittableRandom random(long seed, long purpose, long step) {
        long h = seed * 0x9E3779B97F4A7C15L ^ purpose * 0xBF58476D1CE4E5B9L ^ step * 0x94D049BB133111EBL;
        return new SplittableRandom(new SplittableRandom(h).nextLong());
    }
}
