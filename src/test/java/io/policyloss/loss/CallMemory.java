package io.policyloss.loss;

import org.bytedeco.javacpp.Pointer;

/**
 * Where {@link BuffersBackend} puts a call's buffers: host memory for the CPU kernel ({@link HostMemory}), a CUDA
 * device's for the CUDA kernel ({@link CudaMemory}). Everything allocated is freed on close.
 */
public interface CallMemory extends AutoCloseable {
    /** The {@link LossBuffers#device} of buffers in this memory: -1 for the host. */
    int device();

    /** A copy, in this memory, of {@code bytes} bytes of host memory from {@code host}'s address on. */
    Pointer copyOf(Pointer host, long bytes);

    /** {@code bytes} bytes of this memory, every one set to {@code value}. */
    Pointer filled(long bytes, int value);

    /** Copies {@code bytes} bytes from {@code source}, in this memory, to host memory at {@code host}. */
    void toHost(Pointer host, Pointer source, long bytes);

    @Override
    void close();
}
