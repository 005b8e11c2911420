package io.policyloss.loss;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.policyloss.nativeapi.PolicyLossNative;
import io.policyloss.nativeapi.PolicyLossNative.pl_loss_args;
import io.policyloss.nativeapi.PolicyLossNative.pl_loss_params;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.PointerScope;

/**
 * Thousands of random, mostly invalid, argument sets thrown at every layer. Each call either succeeds or fails
 * with an exception (or status) that names an argument; none may crash the JVM or throw anything else.
 */
class InvalidArgumentsPropertyTest {
    @Provide
    Arbitrary<Float> wild() {
        return Arbitraries.oneOf(Arbitraries.floats().between(-5f, 5f),
                Arbitraries.of(Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 0f, -0f, 1f, 1.0000001f,
                        -1e-30f, Float.MAX_VALUE, Float.MIN_VALUE));
    }

    /** The C ABI directly: random parameters, dtypes, enums and shapes within the buffers it is given. */
    @Property(tries = 3000)
    void nativeCallsNeverCrash(@ForAll("wild") float eps, @ForAll("wild") float epsHigh, @ForAll("wild") float dual,
            @ForAll("wild") float clampP, @ForAll("wild") float kappa, @ForAll("wild") float temperature,
            @ForAll("wild") float scale, @ForAll("wild") float softcap, @ForAll("wild") float logit,
            @ForAll("wild") float oldLogp, @ForAll("wild") float weight,
            @ForAll("smallInts") int klEstimator, @ForAll("smallInts") int clampMode, @ForAll("smallInts") int dtype,
            @ForAll("smallInts") int targetDtype, @ForAll("smallInts") int target, @ForAll("smallInts") int rows,
            @ForAll("smallInts") int vocab, @ForAll("smallInts") int ldExtra, @ForAll("smallInts") int device,
            @ForAll("smallInts") int klBiasCorrection) {
        final int capacity = 64;  // every buffer holds 64 elements of 8 bytes: no shape below can reach past it
        try (PointerScope scope = new PointerScope()) {
            FloatPointer logits = new FloatPointer(2 * capacity);
            for (int k = 0; k < 2 * capacity; ++k) logits.put(k, k % 5 == 0 ? logit : k * 0.1f);
            FloatPointer rowsF = new FloatPointer(2 * capacity), weights = new FloatPointer(2 * capacity);
            for (int k = 0; k < 2 * capacity; ++k) {
                rowsF.put(k, oldLogp);
                weights.put(k, weight);
            }
            IntPointer targets = new IntPointer(2 * capacity);
            for (int k = 0; k < 2 * capacity; ++k) targets.put(k, target);
            int n = Math.floorMod(rows, 4), v = 1 + Math.floorMod(vocab, 4), ld = v + Math.floorMod(ldExtra, 3);
            pl_loss_params p = new pl_loss_params().eps_low(eps).eps_high(epsHigh).dual_clip_c(dual).clamp_p(clampP)
                    .entropy_adv_kappa(kappa).temperature(temperature).logit_scale(scale).softcap(softcap)
                    .kl_estimator(klEstimator).clamp_mode(clampMode).clamped_entropy_coef(0.1f).entropy_coef(0.1f)
                    .kl_bias_correction(klBiasCorrection);
            pl_loss_args a = new pl_loss_args().n_rows(n).vocab(v).ld(ld).logits_dtype(dtype).logits(logits)
                    .target_dtype(targetDtype).target(targets).old_logp(rowsF).advantage(rowsF).weight(weights)
                    .temperature(device % 2 == 0 ? null : rowsF).dlogits(new FloatPointer(2 * capacity))
                    .ld_dlogits(ld).metrics(new DoublePointer(16)).device(Math.floorMod(device, 3) - 2);
            int status = PolicyLossNative.pl_fused_loss(p, a);
            if (status != PolicyLossNative.PL_OK) {
                String argument = PolicyLossNative.pl_last_error_argument().getString();
                assertFalse(argument.isEmpty(), "a failed call names its argument");
                assertTrue(PolicyLossNative.pl_last_error().getString().startsWith(argument + ": "));
            }
        }
    }

    @Provide
    Arbitrary<Integer> smallInts() {
        return Arbitraries.integers().between(-3, 8);
    }

    /** The Java API: random configs either build or fail naming their field. */
    @Property(tries = 2000)
    void configsValidateOrNameTheField(@ForAll("wild") float epsLow, @ForAll("wild") float epsHigh,
            @ForAll("wild") float dual, @ForAll("wild") float clampP, @ForAll("wild") float kappa,
            @ForAll("wild") float temperature, @ForAll("wild") float beta, @ForAll("wild") float softcap) {
        try {
            LossConfig c = LossConfig.builder().epsLow(epsLow).epsHigh(epsHigh).dualClipC(dual).clampP(clampP)
                    .entropyAdvKappa(kappa).temperature(temperature).entropyAdvBeta(beta).softcap(softcap).build();
            assertTrue(c.clampP() >= 0 && c.clampP() < 1 && c.temperature() > 0);
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage().matches("^(epsLow|epsHigh|dualClipC|clampP|entropyAdvKappa|temperature|"
                    + "entropyAdvBeta|softcap): .*"), e.getMessage());
        }
    }
}
