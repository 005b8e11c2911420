package io.policyloss.loss;

import static org.bytedeco.cuda.global.cudart.*;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;

/**
 * Device buffers for the GPU tests, through the CUDA runtime's Java API (JavaCPP CUDA presets); everything
 * allocated is freed on close. Touch only where {@link FusedLoss#cudaDeviceCount()} is positive: the presets' JNI
 * libraries load the driver.
 */
public final class CudaMemory implements AutoCloseable {
    private final List<Pointer> allocated = new ArrayList<>();

    /** bytes of device memory on the current device (at least one byte, so the pointer is never null). */
    public Pointer allocate(long bytes) {
        PointerPointer<Pointer> out = new PointerPointer<>(1);
        check(cudaMalloc(out, Math.max(bytes, 1)), "cudaMalloc");
        Pointer p = out.get();
        allocated.add(p);
        return p;
    }

    /** A device copy of the host memory from {@code host.position()} on, {@code bytes} long. */
    public Pointer copyOf(Pointer host, long bytes) {
        Pointer d = allocate(bytes);
        if (bytes > 0) check(cudaMemcpy(d, host, bytes, cudaMemcpyHostToDevice), "cudaMemcpy to the device");
        return d;
    }

    /** Device memory with every byte set to {@code value}. */
    public Pointer filled(long bytes, int value) {
        Pointer d = allocate(bytes);
        check(cudaMemset(d, value, Math.max(bytes, 1)), "cudaMemset");
        return d;
    }

    public static void toHost(Pointer host, Pointer device, long bytes) {
        if (bytes > 0) check(cudaMemcpy(host, device, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy to the host");
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
