package io.policyloss.torch;

import org.bytedeco.pytorch.global.torch;

/**
 * libtorch's intra-op threads. For the small transformers this project trains, one thread is fastest: on the
 * 2-vCPU CI machine a forward and backward pass took 15 ms with one thread and 230 ms with two, where the
 * threads' hand-offs cost far more than ops of a few thousand elements save.
 */
public final class TorchThreads {
    private TorchThreads() {}

    /**
     * At most the processors this JVM may use: more only contend for them, and libtorch starts every thread asked
     * for (100,000 kept a run from making progress here).
     */
    public static void use(int threads) {
        int processors = Runtime.getRuntime().availableProcessors();
        if (threads < 1 || threads > processors)
            throw new IllegalArgumentException("threads: must be in [1, " + processors + "] (this machine's "
                    + "processors), got " + threads);
        torch.set_num_threads(threads);
    }
}
