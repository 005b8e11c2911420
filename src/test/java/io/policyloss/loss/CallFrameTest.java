package io.policyloss.loss;

import static io.policyloss.nativeapi.PolicyLossNative.PL_I32;
import static io.policyloss.nativeapi.PolicyLossNative.PL_I64;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.policyloss.nativeapi.PolicyLossNative.pl_loss_args;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.javacpp.ShortPointer;
import org.junit.jupiter.api.Test;

/**
 * The argument block that CallFrame writes through a ByteBuffer, read back field by field through JavaCPP's
 * getters: compiled C++ member accesses, so a wrong offset or width shows here.
 */
class CallFrameTest {
    @Test
    void everyFieldLandsWhereTheStructHasIt() {
        try (PointerScope scope = new PointerScope()) {
            ShortPointer logits = new ShortPointer(64);
            FloatPointer[] rows = new FloatPointer[12];
            for (int k = 0; k < rows.length; ++k) rows[k] = new FloatPointer(4);
            BytePointer flags = new BytePointer(4);
            ShortPointer dlogits = new ShortPointer(64);
            Pointer stream = new Pointer(new BytePointer(1));
            LossBuffers b = LossBuffers.of(3, 9).logits(logits, Dtype.F16).logitsStride(11)
                    .target(new LongPointer(4)).oldLogp(rows[0]).refLogp(rows[1]).advantage(rows[2]).weight(rows[3])
                    .temperature(rows[4]).dlogits(dlogits, Dtype.F32).dlogitsStride(13).outLogp(rows[5])
                    .outEntropy(rows[6]).outClampedEntropy(rows[7]).outRatio(rows[8]).outLoss(rows[9])
                    .outKl(rows[10]).outFlags(flags).device(2).stream(stream);
            pl_loss_args a = CallFrame.current().args(b, 0x1234_5678_9abcL, 0x0fed_cba9_8760L);
            assertEquals(3, a.n_rows());
            assertEquals(9, a.vocab());
            assertEquals(11, a.ld());
            assertEquals(Dtype.F16.code(), a.logits_dtype());
            assertEquals(logits.address(), a.logits().address());
            assertEquals(PL_I64, a.target_dtype());
            assertEquals(b.target.address(), a.target().address());
            assertEquals(rows[0].address(), a.old_logp().address());
            assertEquals(rows[1].address(), a.ref_logp().address());
            assertEquals(rows[2].address(), a.advantage().address());
            assertEquals(rows[3].address(), a.weight().address());
            assertEquals(rows[4].address(), a.temperature().address());
            assertEquals(dlogits.address(), a.dlogits().address());
            assertEquals(Dtype.F32.code(), a.dlogits_dtype());
            assertEquals(13, a.ld_dlogits());
            assertEquals(rows[5].address(), a.out_logp().address());
            assertEquals(rows[6].address(), a.out_entropy().address());
            assertEquals(rows[7].address(), a.out_clamped_entropy().address());
            assertEquals(rows[8].address(), a.out_ratio().address());
            assertEquals(rows[9].address(), a.out_loss().address());
            assertEquals(rows[10].address(), a.out_kl().address());
            assertEquals(flags.address(), a.out_flags().address());
            assertEquals(0x1234_5678_9abcL, a.metrics().address());
            assertEquals(2, a.device());
            assertEquals(stream.address(), a.stream().address());
            assertEquals(0x0fed_cba9_8760L, a.data_error().address());

            // The next call leaves nothing of this one: unset buffers read as NULL, the 32-bit target as PL_I32.
            pl_loss_args next = CallFrame.current().args(LossBuffers.of(1, 5).target(new IntPointer(1)), 0, 0);
            assertEquals(PL_I32, next.target_dtype());
            assertEquals(-1, next.device());
            for (Pointer p : new Pointer[] {next.logits(), next.old_logp(), next.ref_logp(), next.dlogits(),
                    next.out_flags(), next.metrics(), next.stream(), next.data_error()})
                assertEquals(null, p);
        }
    }
}
