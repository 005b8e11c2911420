package io.policyloss.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigInteger;
import org.junit.jupiter.api.Test;

/** The host-side controllers of SPEC section 7 against their definitions. */
class ControllersTest {
    @Test
    void grpoAdvantagesAreGroupNormalised() {
        float[] rewards = {1, 0, 0, 1, 1, 1, 1, 1};
        float[] a = GrpoAdvantages.compute(rewards, 4, true);
        // group 0: mean 0.5, unbiased std sqrt(1/3)
        double std = Math.sqrt(1.0 / 3);
        assertEquals(0.5 / (std + 1e-6), a[0], 1e-5);
        assertEquals(-0.5 / (std + 1e-6), a[1], 1e-5);
        for (int i = 4; i < 8; ++i) assertEquals(0f, a[i], "a group with one reward value has no signal");
        float[] dr = GrpoAdvantages.compute(rewards, 4, false);
        assertEquals(0.5f, dr[0], 1e-7);
        assertEquals(-0.5f, dr[2], 1e-7);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> GrpoAdvantages.compute(new float[5], 4, true));
        assertTrue(e.getMessage().startsWith("rewards: length 5"), e.getMessage());
    }

    @Test
    void aepoSwitchesTemperatureAroundTheTarget() {
        AepoTemperature t = AepoTemperature.paper(0.6);
        assertEquals(1.2, t.choose(0.3), "entropy below target: sample hotter");
        assertEquals(0.8, t.choose(0.9), "entropy above target: sample colder");
        assertEquals(0.8, t.choose(0.6), "at the target: T_low");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new AepoTemperature(0.5, 0.7, 0.8));
        assertTrue(e.getMessage().startsWith("temperatureHigh: "), e.getMessage());
    }

    @Test
    void aentCoefficientFollowsEquation41() {
        AentCoefficient c = new AentCoefficient(0.01, 0.001, 0.2, 0.4, 0.0, 0.05, 3);
        assertEquals(c, c.update(2, 0.0), "before the start step nothing changes");
        assertEquals(0.01 + 0.001 * 0.15, c.update(3, 0.05).lambda(), 1e-15, "below the band lambda grows");
        assertEquals(0.01 - 0.001 * 0.3, c.update(3, 0.7).lambda(), 1e-15, "above the band lambda shrinks");
        assertEquals(0.01, c.update(3, 0.3).lambda(), 0.0, "inside the band lambda stays");
        AentCoefficient atTop = new AentCoefficient(0.05, 1.0, 0.2, 0.4, 0.0, 0.05, 0);
        assertEquals(0.05, atTop.update(0, 0.0).lambda(), "clipped to lambda_high");
        assertEquals(0.0, atTop.update(0, 10.0).lambda(), "clipped to lambda_low");
        assertThrows(IllegalArgumentException.class, () -> new AentCoefficient(0.1, 0.001, 0.4, 0.2, 0, 1, 0));
    }

    private static BigInteger choose(int n, int k) {
        BigInteger r = BigInteger.ONE;
        for (int i = 0; i < k; ++i) r = r.multiply(BigInteger.valueOf(n - i)).divide(BigInteger.valueOf(i + 1));
        return r;
    }

    @Test
    void passAtKMatchesTheBinomialDefinition() {
        for (int n : new int[] {1, 5, 16, 64}) {
            for (int c = 0; c <= n; ++c) {
                for (int k = 1; k <= n; k = k * 2 + 1) {
                    double exact = n - c < k ? 1.0
                            : 1.0 - new java.math.BigDecimal(choose(n - c, k)).divide(new java.math.BigDecimal(choose(n, k)),
                                    java.math.MathContext.DECIMAL64).doubleValue();
                    assertEquals(exact, PassAtK.estimate(n, c, k), 1e-12, "n=" + n + " c=" + c + " k=" + k);
                }
            }
        }
        assertEquals(0.5, PassAtK.estimate(2, 1, 1), 1e-15);
        assertEquals(0.75, PassAtK.mean(2, new int[] {1, 2}, 1), 1e-15);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PassAtK.estimate(4, 5, 1));
        assertTrue(e.getMessage().startsWith("c: "), e.getMessage());
    }
}
