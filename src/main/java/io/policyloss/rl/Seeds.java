package io.policyloss.rl;

import java.util.SplittableRandom;

/**
 * Every random stream of a run is derived from (seed, purpose, step), never carried from step to step, so a run
 * resumed at step k draws exactly what an uninterrupted run draws there.
 */
final class Seeds {
    private Seeds() {}

    static SplittableRandom random(long seed, long purpose, long step) {
        long h = seed * 0x9E3779B97F4A7C15L ^ purpose * 0xBF58476D1CE4E5B9L ^ step * 0x94D049BB133111EBL;
        return new SplittableRandom(new SplittableRandom(h).nextLong());
    }
}
