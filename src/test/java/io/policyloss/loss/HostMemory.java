package io.policyloss.loss;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.Pointer;

/** Host buffers from malloc, for the CPU kernel under {@link BuffersBackend}; everything allocated is freed on close. */
public final class HostMemory implements CallMemory {
    private final List<Pointer> allocated = new ArrayList<>();

    @Override
    public int device() {
        return -1;
    }

    @Override
    public Pointer copyOf(Pointer host, long bytes) {
        Pointer p = allocate(bytes);
        if (bytes > 0) Pointer.memcpy(p, host, bytes);  // an empty batch's arrays may give null pointers
        return p;
    }

    @Override
    public Pointer filled(long bytes, int value) {
        Pointer p = allocate(bytes);
        Pointer.memset(p, value, bytes);
        return p;
    }

    @Override
    public void toHost(Pointer host, Pointer source, long bytes) {
        if (bytes > 0) Pointer.memcpy(host, source, bytes);
    }

    /** At least one byte, so the pointer is never null (a buffer of an empty batch is still given). */
    private Pointer allocate(long bytes) {
        Pointer p = Pointer.malloc(Math.max(bytes, 1));
        if (p.isNull()) throw new OutOfMemoryError("malloc of " + bytes + " bytes");
        allocated.add(p);
        return p;
    }

    @Override
    public void close() {
        for (Pointer p : allocated) Pointer.free(p);
        allocated.clear();
    }
}
