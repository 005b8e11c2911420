package io.policyloss.loss;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.javacpp.ShortPointer;
import org.junit.jupiter.api.Test;

/** The zero-copy pointer API gives bitwise the array API's results, separate and in place. */
class PointerApiTest {
    private static final LossConfig CONFIG = LossConfig.builder().entropyCoef(0.02).clampedEntropyCoef(0.02).clampP(0.25)
            .build();

    @Test
    void pointersMatchArraysSeparateAndInPlace() {
        RandomCase c = RandomCase.of("pointers", 16, 3000, Dtype.BF16, CONFIG).gradient(RandomCase.Gradient.LOGITS_DTYPE);
        RandomCase.Generated g = c.generate(21);
        LossResult viaArrays = new FusedLoss(CONFIG).compute(g.batch());
        try (PointerScope scope = new PointerScope()) {
            ShortPointer logits = new ShortPointer(g.logits16());
            ShortPointer dlogits = new ShortPointer((long) g.logits16().length);
            FloatPointer entropy = new FloatPointer(c.rows());
            LossBuffers b = LossBuffers.of(c.rows(), c.vocab()).logits(logits, Dtype.BF16)
                    .target(new IntPointer(g.batch().target32)).oldLogp(new FloatPointer(g.batch().oldLogp))
                    .advantage(new FloatPointer(g.batch().advantage)).weight(new FloatPointer(g.batch().weight))
                    .dlogits(dlogits, Dtype.BF16).outEntropy(entropy);
            LossMetrics separate = new FusedLoss(CONFIG).compute(b);
            assertEquals(viaArrays.metrics(), separate);
            short[] d = new short[g.logits16().length];
            dlogits.get(d);
            assertArrayEquals(viaArrays.dlogits16(), d);
            float[] h = new float[c.rows()];
            entropy.get(h);
            assertArrayEquals(viaArrays.entropy(), h);

            LossMetrics inPlace = new FusedLoss(CONFIG).compute(b.dlogitsInPlace());
            assertEquals(separate, inPlace);
            logits.get(d);
            assertArrayEquals(viaArrays.dlogits16(), d);
        }
    }
}
