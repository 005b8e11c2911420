package io.policyloss.loss;

import static org.bytedeco.cuda.global.cudart.*;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;

/**
 * Device buffers on the current device for the GPU tests, through the CUDA runtime's Java API (JavaCPP CUDA
 * presets); everything allocated is freed on close. Touch only where {@link FusedLoss#cudaDeviceCount()} is
 * positive: the presets' JNI libraries load the driver.
 */
public final class CudaMemory implements CallMemory {
    private final List<Pointer> allocated = new ArrayList<>();

    /** Device 0: cudaMalloc allocates on the thread's current device, which the tests leave at 0. */
    @Override
    public int device() {
        return 0;
    }

    /** bytes of device memory on the current device (at least one byte, so the pointer is never null). */
    public Pointer allocate(long bytes) {
        PointerPointer<Pointer> out = new PointerPointer<>(1);
        check(cudaMalloc(out, Math.max(bytes, 1)), "cudaMalloc");
        Pointer p = out.get();
        allocated.add(p);
        return p;
    }

    @Override
    public Pointer copyOf(Pointer host, long bytes) {
        Pointer d = allocate(bytes);
        if (bytes > 0) check(cudaMemcpy(d, host, bytes, cudaMemcpyHostToDevice), "cudaMemcpy to the device");
        return d;
    }

    @Override
    public Pointer filled(long bytes, int value) {
        Pointer d = allocate(bytes);
        check(cudaMemset(d, value, Math.max(bytes, 1)), "cudaMemset");
        return d;
    }

    @Override
    public void toHost(Pointer host, Pointer source, long bytes) {
        if (bytes > 0) check(cudaMemcpy(host, source, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy to the host");
    }

    public static void check(int status, String what) {
        if (status != cudaSuccess)
            throw new IllegalStateException(what + ": " + cudaGetErrorString(status).getString());
    }

    @Override
    public void close() {
        for (Pointer p : allocated) cudaFree(p);
        allocated.clear();
    }
}
