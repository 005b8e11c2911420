package io.policyloss.oracle;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.policyloss.loss.ClampMode;
import io.policyloss.loss.KlEstimator;
import io.policyloss.loss.LossConfig;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The oracle's dlogits against central finite differences of its own loss, g L(z), so the gradient formulas of
 * SPEC section 4 are checked against the loss formulas of section 3 rather than trusted. Inputs stay away from the
 * kinks (clip boundaries, clamp ties), where the loss has no derivative.
 */
class OracleGradientTest {
    static Stream<Arguments> configs() {
        LossConfig base = LossConfig.builder().entropyCoef(0.05).clampedEntropyCoef(0.07).clampP(0.4).build();
        return Stream.of(
                Arguments.of("entropy and clamped entropy", base, 0.0),
                Arguments.of("probability mass", base.toBuilder().clampMode(ClampMode.PROBABILITY_MASS).clampP(0.3).build(), 0.0),
                Arguments.of("unclipped, clip-low, clip-high rows", base.toBuilder().epsLow(0.1).epsHigh(0.28).build(), 0.0),
                Arguments.of("dual clip", base.toBuilder().dualClipC(1.5).build(), 0.0),
                Arguments.of("KL k1", base.toBuilder().klCoef(0.3).klEstimator(KlEstimator.K1).build(), 0.0),
                Arguments.of("KL k2", base.toBuilder().klCoef(0.3).klEstimator(KlEstimator.K2).build(), 0.0),
                Arguments.of("KL k3", base.toBuilder().klCoef(0.3).klEstimator(KlEstimator.K3).build(), 0.0),
                Arguments.of("KL abs", base.toBuilder().klCoef(0.3).klEstimator(KlEstimator.ABS).build(), 0.0),
                // beta large: the cap |A| / kappa binds, so A' is locally constant and differentiable.
                Arguments.of("Entropy-Adv at its cap", base.toBuilder().entropyAdvBeta(50).entropyAdvKappa(3).build(), 0.0),
                Arguments.of("softcap, scale, temperature, grad scale",
                        base.toBuilder().softcap(3).logitScale(1.7).temperature(0.6).gradScale(2.5).build(), 0.0),
                Arguments.of("masked entries", base, 0.3));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("configs")
    void gradientMatchesCentralDifferences(String name, LossConfig config, double maskFraction) {
        Random rnd = new Random(name.hashCode());
        int rows = 6, vocab = 9;
        double[][] z = new double[rows][vocab];
        long[] target = new long[rows];
        double[] old = new double[rows], ref = new double[rows], adv = new double[rows], w = new double[rows],
                temp = new double[rows];
        double[] logRatio = {-0.6, -0.05, 0.05, 0.6, 30};  // clip-low side, unclipped, clip-high side, ratio clamp
        for (int i = 0; i < rows; ++i) {
            for (int v = 0; v < vocab; ++v)
                z[i][v] = v > 0 && rnd.nextDouble() < maskFraction ? Double.NEGATIVE_INFINITY : 1.5 * rnd.nextGaussian();
            target[i] = 0;
            adv[i] = (float) (i % 2 == 0 ? 1 + rnd.nextDouble() : -1 - rnd.nextDouble());
            w[i] = (float) (0.2 + rnd.nextDouble());
            temp[i] = (float) (0.7 + 0.6 * rnd.nextDouble());
        }
        Oracle.Inputs probe = new Oracle.Inputs(z, target, new double[rows], null, adv, w, temp);
        Oracle.Output truth = Oracle.compute(config, probe);
        for (int i = 0; i < rows; ++i) {
            old[i] = truth.rows()[i].logp() - logRatio[i % logRatio.length];
            ref[i] = truth.rows()[i].logp() + 0.4 * rnd.nextGaussian();
        }
        Oracle.Inputs in = new Oracle.Inputs(z, target, old, ref, adv, w, temp);
        Oracle.Output out = Oracle.compute(config, in);
        double g = (float) config.gradScale();
        double h = 1e-6;
        for (int i = 0; i < rows; ++i) {
            for (int v = 0; v < vocab; ++v) {
                if (z[i][v] == Double.NEGATIVE_INFINITY) {
                    assertEquals(0.0, out.rows()[i].dlogits()[v], name + ": masked entries get no gradient");
                    continue;
                }
                double keep = z[i][v];
                z[i][v] = keep + h;
                double plus = Oracle.compute(config, in).loss();
                z[i][v] = keep - h;
                double minus = Oracle.compute(config, in).loss();
                z[i][v] = keep;
                double numeric = g * (plus - minus) / (2 * h);
                assertEquals(numeric, out.rows()[i].dlogits()[v], 1e-7 + 1e-6 * Math.abs(numeric),
                        name + ": dL/dz[" + i + "][" + v + "]");
            }
        }
    }

    /** SPEC: A' uses H as a constant, so the gradient equals that of the plain loss with advantage A'. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("configs")
    void entropyAdvGradientTreatsEntropyAsConstant(String name, LossConfig config, double unused) {
        LossConfig shaped = config.toBuilder().entropyAdvBeta(0.3).entropyAdvKappa(2).build();
        LossConfig plain = config.toBuilder().entropyAdvBeta(0).build();
        Random rnd = new Random(3);
        int vocab = 12;
        double[][] z = {new double[vocab]};
        for (int v = 0; v < vocab; ++v) z[0][v] = rnd.nextGaussian();
        double a = 0.8;
        Oracle.Row first = Oracle.compute(shaped, new Oracle.Inputs(z, new long[] {2}, new double[] {-2.3}, new double[] {-2.0},
                new double[] {a}, new double[] {1}, null)).rows()[0];
        double aPrime = a + Math.min((float) 0.3 * first.entropy(), a / 2);
        Oracle.Row second = Oracle.compute(plain, new Oracle.Inputs(z, new long[] {2}, new double[] {-2.3}, new double[] {-2.0},
                new double[] {aPrime}, new double[] {1}, null)).rows()[0];
        for (int v = 0; v < vocab; ++v) assertEquals(second.dlogits()[v], first.dlogits()[v], 1e-12, name + " column " + v);
    }
}
