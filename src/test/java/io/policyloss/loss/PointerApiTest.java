package io.policyloss.loss;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.javacpp.ShortPointer;
import org.junit.jupiter.api.Test;

/**
 * The zero-copy pointer API gives bitwise the array API's results, separate and in place, with positioned pointers,
 * and from a loss made inside a PointerScope that has since closed.
 */
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

    @Test
    void aPointersPositionCountsElements() {
        // Rows 3.. of a batch, given as pointers positioned at row 3 of the whole batch's buffers, are that
        // sub-batch: a position counts elements of the pointer's type (bf16 logits: 2 bytes each, int targets: 4).
        RandomCase c = RandomCase.of("positions", 10, 500, Dtype.BF16, CONFIG);
        LossBatch whole = c.generate(5).batch();
        int skip = 3, rows = c.rows() - skip;
        short[] tailLogits = Arrays.copyOfRange(whole.logits16, skip * c.vocab(), c.rows() * c.vocab());
        LossBatch tail = LossBatch.halves(Dtype.BF16, tailLogits, rows, c.vocab(), c.vocab()).target(Arrays.copyOfRange(whole.target32, skip, c.rows()))
                .oldLogp(Arrays.copyOfRange(whole.oldLogp, skip, c.rows()))
                .advantage(Arrays.copyOfRange(whole.advantage, skip, c.rows()))
                .weight(Arrays.copyOfRange(whole.weight, skip, c.rows()));
        LossResult expected = new FusedLoss(CONFIG).compute(tail);
        try (PointerScope scope = new PointerScope()) {
            FloatPointer entropy = new FloatPointer(c.rows());
            LossBuffers b = LossBuffers.of(rows, c.vocab())
                    .logits(new ShortPointer(whole.logits16).position((long) skip * c.vocab()), Dtype.BF16)
                    .target(new IntPointer(whole.target32).position(skip))
                    .oldLogp(new FloatPointer(whole.oldLogp).position(skip))
                    .advantage(new FloatPointer(whole.advantage).position(skip))
                    .weight(new FloatPointer(whole.weight).position(skip)).outEntropy(entropy.position(skip));
            assertEquals(expected.metrics(), new FusedLoss(CONFIG).compute(b));
            float[] h = new float[rows];
            entropy.get(h);
            assertArrayEquals(expected.entropy(), h);
        }
    }

    @Test
    void aLossMadeInsideAClosedScopeStillWorks() {
        // The loss's native params are Java's memory, not attached to the PointerScope open when it was made.
        FusedLoss loss;
        try (PointerScope scope = new PointerScope()) {
            loss = new FusedLoss(CONFIG);
        }
        LossBatch batch = RandomCase.of("scope", 4, 300, Dtype.F32, CONFIG).generate(2).batch();
        assertEquals(new FusedLoss(CONFIG).compute(batch).metrics(), loss.compute(batch).metrics());
    }
}
