package io.policyloss.loss;

import static io.policyloss.nativeapi.PolicyLossNative.PL_METRICS_LEN;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.bytedeco.cuda.global.cudart.cudaDeviceSynchronize;

import io.policyloss.GpuSuite;
import io.policyloss.nativeapi.PolicyLossNative.pl_data_error;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.PointerScope;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** The Java API on device buffers: the asynchronous launch, its data check, and errors naming the argument. */
@Tag("gpu")
class CudaDeviceApiTest {
    private static final LossConfig CONFIG = LossConfig.builder().entropyCoef(0.01).clampedEntropyCoef(0.02).clampP(0.3)
            .build();

    @BeforeEach
    void deviceIsPresent() {
        GpuSuite.assumeAvailable("the CUDA device API", BuffersBackend.CUDA.unavailableReason());
    }

    /** What launch leaves in device memory equals what the synchronous call returns, bit for bit. */
    @Test
    void launchMatchesTheSynchronousCall() {
        RandomCase c = RandomCase.of("launch", 40, 5000, Dtype.BF16, CONFIG);
        LossMetrics sync = BuffersBackend.CUDA.run(CONFIG, c.generate(3).batch()).metrics();
        try (PointerScope scope = new PointerScope(); CudaMemory mem = new CudaMemory()) {
            LossBuffers b = BuffersBackend.upload(mem, c.generate(3).batch());
            DoublePointer metrics = new DoublePointer(mem.filled(8L * PL_METRICS_LEN, 0xff));
            pl_data_error record = new pl_data_error(mem.filled(24, 0xff));
            new FusedLoss(CONFIG).launch(b, metrics, record);
            CudaMemory.check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
            double[] sums = new double[PL_METRICS_LEN];
            DoublePointer host = new DoublePointer(PL_METRICS_LEN);
            mem.toHost(host, metrics, 8L * PL_METRICS_LEN);
            host.get(sums);
            pl_data_error hostRecord = new pl_data_error();
            mem.toHost(hostRecord, record, 24);
            assertEquals(-1, hostRecord.row());
            FusedLoss.checkDataError(hostRecord, 5000);
            assertEquals(sync, LossMetrics.fromSums(sums));
        }
    }

    /** A NaN logit: the synchronous call throws; launch returns, and its record throws the same message. */
    @Test
    void dataErrorsNameTheRowInBothForms() {
        RandomCase c = RandomCase.of("NaN", 10, 3000, Dtype.F32, CONFIG);
        RandomCase.Generated g = c.generate(4);
        g.batch().logitsF32[6 * 3000 + 17] = Float.NaN;
        PolicyLossException sync = assertThrows(PolicyLossException.class,
                () -> BuffersBackend.CUDA.run(CONFIG, g.batch()));
        assertEquals(PolicyLossException.Status.INVALID_DATA, sync.status());
        assertEquals(6, sync.row());
        assertEquals("logits", sync.argument());
        assertTrue(sync.getMessage().contains("column 17"), sync.getMessage());
        try (PointerScope scope = new PointerScope(); CudaMemory mem = new CudaMemory()) {
            LossBuffers b = BuffersBackend.upload(mem, g.batch());
            pl_data_error record = new pl_data_error(mem.filled(24, 0));
            new FusedLoss(CONFIG).launch(b, null, record);
            CudaMemory.check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
            pl_data_error hostRecord = new pl_data_error();
            mem.toHost(hostRecord, record, 24);
            PolicyLossException async = assertThrows(PolicyLossException.class,
                    () -> FusedLoss.checkDataError(hostRecord, 3000));
            assertEquals(sync.getMessage(), async.getMessage());
            assertEquals(6, async.row());
        }
    }

    /** A host buffer in a device call is refused before anything runs, naming it. */
    @Test
    void hostBufferInADeviceCall() {
        RandomCase.Generated g = RandomCase.of("sides", 4, 100, Dtype.F32, CONFIG).generate(5);
        try (PointerScope scope = new PointerScope(); CudaMemory mem = new CudaMemory()) {
            LossBuffers b = BuffersBackend.upload(mem, g.batch()).advantage(new FloatPointer(g.batch().advantage));
            PolicyLossException e = assertThrows(PolicyLossException.class, () -> new FusedLoss(CONFIG).compute(b));
            assertEquals(PolicyLossException.Status.INVALID_ARGUMENT, e.status());
            assertEquals("advantage", e.argument());
            assertTrue(e.getMessage().contains("host pointer"), e.getMessage());
        }
    }

    /**
     * A failure of CUDA inside a call is a PolicyLossException with CUDA's message: 2^40 rows need 32 TiB of row
     * records, which the scratch pool cannot allocate (before any kernel runs, so the small buffers are never read).
     * The error is not left behind: the next call gives what the call before it gave.
     */
    @Test
    void cudaFailuresCarryCudasMessage() {
        RandomCase.Generated g = RandomCase.of("CUDA failure", 4, 100, Dtype.F32, CONFIG).generate(7);
        LossMetrics before = BuffersBackend.CUDA.run(CONFIG, g.batch()).metrics();
        try (PointerScope scope = new PointerScope(); CudaMemory mem = new CudaMemory()) {
            LossBuffers small = BuffersBackend.upload(mem, g.batch());
            LossBuffers huge = LossBuffers.of(1L << 40, 100).logits(small.logits, Dtype.F32).oldLogp(small.oldLogp)
                    .advantage(small.advantage).weight(small.weight).device(0);
            huge.target = small.target;
            huge.target64 = small.target64;
            PolicyLossException e = assertThrows(PolicyLossException.class, () -> new FusedLoss(CONFIG).compute(huge));
            assertEquals(PolicyLossException.Status.CUDA, e.status());
            assertEquals("device", e.argument());
            assertTrue(e.getMessage().contains("allocating scratch memory") && e.getMessage().contains("cudaError"),
                    e.getMessage());
        }
        assertEquals(before, BuffersBackend.CUDA.run(CONFIG, g.batch()).metrics(), "the call after the failure");
    }

    /** A call's scratch is its 32-byte row records plus a few sums (the budget: 64 bytes a row). */
    @Test
    void aCallsScratchIsThirtyTwoBytesARow() {
        int rows = 8192;
        RandomCase.Generated g = RandomCase.of("scratch", rows, 64, Dtype.BF16, CONFIG).generate(6);
        FusedLoss.deviceScratch(0, true);
        BuffersBackend.CUDA.run(CONFIG, g.batch());
        DeviceScratch s = FusedLoss.deviceScratch(0, true);
        assertTrue(s.peakBytes() >= 32L * rows && s.peakBytes() <= 64L * rows, s.toString());
        assertTrue(s.reservedBytes() >= s.peakBytes(), s.toString());
        assertEquals(0, FusedLoss.deviceScratch(0, false).peakBytes(), "the peak after a reset between calls");
    }
}
