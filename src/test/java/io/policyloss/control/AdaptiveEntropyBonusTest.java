package io.policyloss.control;

import static io.policyloss.control.Refusals.assertMessage;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The controller against TRL's GRPOTrainer written out: its entropy_coef and _last_world_entropy, the coefficient
 * applied while the last window's entropy is at or below the target, and the update at each optimizer step.
 */
class AdaptiveEntropyBonusTest {
    /** TRL's state and rule (GRPOTrainer._compute_loss, use_adaptive_entropy), one optimizer step at a time. */
    private static final class Trl {
        double entropyCoef, lastWorldEntropy = Double.POSITIVE_INFINITY;
        final double target, delta, min, max;

        Trl(double entropyCoef, double target, double delta, double min, double max) {
            this.entropyCoef = entropyCoef;
            this.target = target;
            this.delta = delta;
            this.min = min;
            this.max = max;
        }

        double applyCoef() {
            return lastWorldEntropy <= target ? entropyCoef : 0.0;
        }

        void step(double worldEntropy) {
            if (worldEntropy <= target) entropyCoef = Math.min(entropyCoef + delta, max);
            else entropyCoef = Math.max(entropyCoef - delta, min);
            lastWorldEntropy = worldEntropy;
        }
    }

    @Test
    void itAppliesAndMovesTheCoefficientAsTrlDoes() {
        Random r = new Random(3);
        for (double[] p : new double[][] {{0, 0.8, 0.005, 0, 0.1}, {0.3, 0.8, 0.05, 0.1, 0.4}, {0, 0.5, 0.2, 0, 0.5}}) {
            Trl trl = new Trl(p[0], p[1], p[2], p[3], p[4]);
            AdaptiveEntropyBonus bonus = new AdaptiveEntropyBonus(p[0], p[1], p[2], p[3], p[4], false);
            int engaged = 0, atMax = 0, atMin = 0;
            for (int step = 0; step < 400; ++step) {
                assertEquals(trl.applyCoef(), bonus.applied(), 1e-12, "step " + step);
                // an entropy that drifts across the target, and sits on it now and then
                double entropy = step % 37 == 0 ? p[1] : p[1] + 0.3 * Math.sin(step / 15.0) + 0.05 * r.nextGaussian();
                trl.step(entropy);
                bonus = bonus.update(entropy);
                assertEquals(trl.entropyCoef, bonus.coefficient(), 1e-12, "step " + step);
                engaged += bonus.applied() > 0 ? 1 : 0;
                atMax += bonus.coefficient() == p[4] ? 1 : 0;
                atMin += bonus.coefficient() == p[3] ? 1 : 0;
            }
            assertTrue(engaged > 50 && atMax > 0 && atMin > 0, engaged + " engaged, " + atMax + " at max, " + atMin
                    + " at min");
        }
    }

    @Test
    void itIsOffUntilTheEntropyReachesTheTarget() {
        AdaptiveEntropyBonus bonus = new AdaptiveEntropyBonus(0.2, 1.0, 0.1, 0, 1, false);
        assertEquals(0.0, bonus.applied(), "no measurement yet");
        bonus = bonus.update(1.5);
        assertEquals(0.0, bonus.applied(), "above the target");
        assertEquals(0.1, bonus.coefficient(), 1e-15, "and walking down");
        bonus = bonus.update(1.0);
        assertEquals(0.2, bonus.applied(), 1e-15, "at the target: engaged, one step up");
        assertEquals(AdaptiveEntropyBonus.trl(0.2), new AdaptiveEntropyBonus(0, 0.2, 0.005, 0, 1, false));
    }

    @Test
    void badArgumentsNameTheArgument() {
        assertMessage("target: must be finite, got NaN", () -> new AdaptiveEntropyBonus(0, Double.NaN, 0, 0, 1, false));
        assertMessage("delta: must be >= 0, got -0.1", () -> new AdaptiveEntropyBonus(0, 1, -0.1, 0, 1, false));
        assertMessage("max: must be >= min (0.5), got 0.2", () -> new AdaptiveEntropyBonus(0.3, 1, 0, 0.5, 0.2, false));
        assertMessage("coefficient: must be in [min, max] = [0.0, 1.0], got 2.0",
                () -> new AdaptiveEntropyBonus(2, 1, 0, 0, 1, false));
        assertMessage("entropy: must be finite, got Infinity",
                () -> AdaptiveEntropyBonus.trl(0.2).update(Double.POSITIVE_INFINITY));
    }
}
