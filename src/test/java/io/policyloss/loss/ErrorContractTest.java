package io.policyloss.loss;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.policyloss.nativeapi.PolicyLossNative.pl_data_error;
import java.util.Arrays;
import java.util.function.Consumer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.PointerScope;
import org.junit.jupiter.api.Test;

/**
 * Every error of SPEC section 8: the exception names the argument (and the first bad row for data), and nothing is
 * written: in-place logits, dlogits and per-row outputs keep their contents.
 */
class ErrorContractTest {
    private static final LossConfig CONFIG = LossConfig.builder().entropyCoef(0.01).clampedEntropyCoef(0.01).clampP(0.2)
            .build();
    private static final int ROWS = 6, VOCAB = 40;

    /** A valid batch, changed by {@code spoil}, must fail naming {@code argument} (and {@code row} if >= 0). */
    private static PolicyLossException dataError(Consumer<RandomCase.Generated> spoil, String argument, long row) {
        RandomCase c = RandomCase.of("errors", ROWS, VOCAB, Dtype.F32, CONFIG).gradient(RandomCase.Gradient.IN_PLACE);
        RandomCase.Generated g = c.generate(5);
        spoil.accept(g);
        float[] before = g.logitsF32().clone();
        PolicyLossException e = assertThrows(PolicyLossException.class, () -> new FusedLoss(CONFIG).compute(g.batch()));
        assertEquals(argument, e.argument(), e.getMessage());
        assertEquals(row, e.row(), e.getMessage());
        assertTrue(e.getMessage().startsWith(argument + ": " + (row >= 0 ? "row " + row + ": " : "")), e.getMessage());
        assertEquals(PolicyLossException.Status.INVALID_DATA, e.status());
        assertTrue(Arrays.equals(before, g.logitsF32()), "in-place logits untouched after the error");
        return e;
    }

    @Test
    void targetOutsideTheVocabulary() {
        dataError(g -> g.batch().target32[3] = VOCAB, "target", 3);
        dataError(g -> g.batch().target32[2] = -1, "target", 2);
    }

    @Test
    void targetOnAMaskedLogit() {
        dataError(g -> g.logitsF32()[4 * VOCAB + g.batch().target32[4]] = Float.NEGATIVE_INFINITY, "target", 4);
    }

    @Test
    void nanInAWeightedRow() {
        PolicyLossException e = dataError(g -> g.logitsF32()[1 * VOCAB + 17] = Float.NaN, "logits", 1);
        assertTrue(e.getMessage().contains("column 17"), e.getMessage());
        dataError(g -> g.batch().oldLogp[5] = Float.NaN, "old_logp", 5);
        dataError(g -> g.batch().advantage[0] = Float.NaN, "advantage", 0);
        dataError(g -> g.batch().weight[2] = Float.NaN, "weight", 2);
    }

    @Test
    void theFirstBadRowIsNamed() {
        dataError(g -> {
            g.logitsF32()[4 * VOCAB + 1] = Float.NaN;
            g.batch().target32[2] = 999;
        }, "target", 2);
    }

    @Test
    void aRowWithNoFiniteLogit() {
        dataError(g -> Arrays.fill(g.logitsF32(), 3 * VOCAB, 4 * VOCAB, Float.NEGATIVE_INFINITY), "logits", 3);
    }

    @Test
    void nonPositiveTemperature() {
        float[] temps = new float[ROWS];
        Arrays.fill(temps, 1f);
        temps[4] = 0f;
        dataError(g -> g.batch().temperature(temps), "temperature", 4);
        assertThrows(IllegalArgumentException.class, () -> CONFIG.toBuilder().temperature(0).build());
    }

    @Test
    void invalidParametersNameTheField() {
        expectConfigError("clampP", b -> b.clampP(1.0));
        expectConfigError("clampP", b -> b.clampP(-0.1));
        expectConfigError("epsLow", b -> b.epsLow(-0.1));
        expectConfigError("epsHigh", b -> b.epsHigh(-1));
        expectConfigError("entropyAdvKappa", b -> b.entropyAdvKappa(1.0));
        expectConfigError("dualClipC", b -> b.dualClipC(0.9));
        expectConfigError("dualClipC", b -> b.dualClipC(1.0));
        expectConfigError("temperature", b -> b.temperature(-1));
        expectConfigError("logitScale", b -> b.logitScale(0));
        expectConfigError("softcap", b -> b.softcap(-3));
        expectConfigError("entropyCoef", b -> b.entropyCoef(Double.NaN));
    }

    private static void expectConfigError(String field, Consumer<LossConfig.Builder> change) {
        LossConfig.Builder b = CONFIG.toBuilder();
        change.accept(b);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, b::build);
        assertTrue(e.getMessage().startsWith(field + ": "), e.getMessage());
    }

    @Test
    void mismatchedLengths() {
        LossBatch b = LossBatch.f32(new float[ROWS * VOCAB], ROWS, VOCAB);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> b.oldLogp(new float[ROWS - 1]));
        assertTrue(e.getMessage().startsWith("oldLogp: length 5, expected 6"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> LossBatch.f32(new float[ROWS * VOCAB - 1], ROWS, VOCAB));
        assertTrue(e.getMessage().startsWith("logits: "), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> LossBatch.f32(new float[ROWS * VOCAB], ROWS, VOCAB, VOCAB - 1));
        assertTrue(e.getMessage().startsWith("stride: "), e.getMessage());
        try (PointerScope scope = new PointerScope()) {
            LossBuffers buffers = LossBuffers.of(ROWS, VOCAB).logits(new FloatPointer(ROWS * VOCAB), Dtype.F32)
                    .target(new IntPointer(ROWS)).oldLogp(new FloatPointer(ROWS)).advantage(new FloatPointer(ROWS))
                    .weight(new FloatPointer(ROWS - 2));
            e = assertThrows(IllegalArgumentException.class, () -> new FusedLoss(CONFIG).compute(buffers));
            assertTrue(e.getMessage().startsWith("weight: holds 16 bytes, the call needs 24"), e.getMessage());
        }
    }

    @Test
    void missingRequiredBuffer() {
        LossBatch b = LossBatch.f32(new float[ROWS * VOCAB], ROWS, VOCAB).target(new int[ROWS])
                .advantage(new float[ROWS]).weight(new float[ROWS]);
        PolicyLossException e = assertThrows(PolicyLossException.class, () -> new FusedLoss(CONFIG).compute(b));
        assertEquals("old_logp", e.argument());
        assertEquals(PolicyLossException.Status.INVALID_ARGUMENT, e.status());
        LossBatch noRef = LossBatch.f32(new float[ROWS * VOCAB], ROWS, VOCAB).target(new int[ROWS])
                .oldLogp(new float[ROWS]).advantage(new float[ROWS]).weight(new float[ROWS]);
        e = assertThrows(PolicyLossException.class,
                () -> new FusedLoss(CONFIG.toBuilder().klCoef(0.1).build()).compute(noRef));
        assertEquals("ref_logp", e.argument());
    }

    @Test
    void unsupportedDtypes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LossBatch.halves(Dtype.F32, new short[4], 1, 4, 4));
        assertTrue(e.getMessage().startsWith("dtype: "), e.getMessage());
        try (PointerScope scope = new PointerScope()) {
            // bf16 logits with an fp16 gradient: the gradient must be F32 or the logits dtype.
            LossBuffers buffers = LossBuffers.of(1, 4).logits(new org.bytedeco.javacpp.ShortPointer(4), Dtype.BF16)
                    .target(new IntPointer(1)).oldLogp(new FloatPointer(1)).advantage(new FloatPointer(1))
                    .weight(new FloatPointer(1)).dlogits(new org.bytedeco.javacpp.ShortPointer(4), Dtype.F16);
            PolicyLossException pe = assertThrows(PolicyLossException.class, () -> new FusedLoss(CONFIG).compute(buffers));
            assertEquals("dlogits_dtype", pe.argument());
            assertEquals(PolicyLossException.Status.UNSUPPORTED, pe.status());
        }
    }

    /**
     * Without a CUDA device, device buffers are refused, naming the device and why none can be used, instead of
     * being dereferenced.
     */
    @Test
    void deviceBuffersWithoutADevice() {
        org.junit.jupiter.api.Assumptions.assumeTrue(FusedLoss.cudaDeviceCount() == 0, "a CUDA device is present");
        try (PointerScope scope = new PointerScope()) {
            LossBuffers buffers = LossBuffers.of(1, 4).logits(new FloatPointer(4), Dtype.F32).target(new IntPointer(1))
                    .oldLogp(new FloatPointer(1)).advantage(new FloatPointer(1)).weight(new FloatPointer(1)).device(0);
            PolicyLossException e = assertThrows(PolicyLossException.class, () -> new FusedLoss(CONFIG).compute(buffers));
            assertEquals("device", e.argument());
            assertEquals(PolicyLossException.Status.NO_DEVICE, e.status());
            String reason = FusedLoss.cudaUnavailableReason().orElseThrow();
            assertTrue(e.getMessage().endsWith("none can be used: " + reason), e.getMessage());
            assertEquals(FusedLoss.cudaDeviceUnusableReason(0).orElseThrow(), e.getMessage());
        }
    }

    /** The asynchronous launch is for device buffers only. */
    @Test
    void launchRefusesHostBuffers() {
        try (PointerScope scope = new PointerScope()) {
            LossBuffers buffers = LossBuffers.of(1, 4).logits(new FloatPointer(4), Dtype.F32);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new FusedLoss(CONFIG).launch(buffers, null, new pl_data_error()));
            assertTrue(e.getMessage().startsWith("buffers:"), e.getMessage());
        }
    }

    /** Per-row outputs and a separate dlogits buffer are untouched by a failed call too. */
    @Test
    void separateOutputsUntouchedOnError() {
        RandomCase.Generated g = RandomCase.of("errors", ROWS, VOCAB, Dtype.F32, CONFIG).generate(9);
        g.batch().target32[5] = VOCAB + 3;
        try (PointerScope scope = new PointerScope()) {
            float[] poison = new float[ROWS * VOCAB];
            Arrays.fill(poison, 42f);
            FloatPointer dlogits = new FloatPointer(poison), logp = new FloatPointer(poison);
            LossBuffers buffers = LossBuffers.of(ROWS, VOCAB).logits(new FloatPointer(g.logitsF32()), Dtype.F32)
                    .target(new IntPointer(g.batch().target32)).oldLogp(new FloatPointer(g.batch().oldLogp))
                    .advantage(new FloatPointer(g.batch().advantage)).weight(new FloatPointer(g.batch().weight))
                    .dlogits(dlogits, Dtype.F32).outLogp(logp);
            assertThrows(PolicyLossException.class, () -> new FusedLoss(CONFIG).compute(buffers));
            float[] after = new float[ROWS * VOCAB];
            dlogits.get(after);
            assertArrayEquals(poison, after);
            logp.get(after, 0, ROWS);
            assertArrayEquals(Arrays.copyOf(poison, ROWS), Arrays.copyOf(after, ROWS));
        }
    }
}
