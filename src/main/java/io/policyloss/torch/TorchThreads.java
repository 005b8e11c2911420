package io.policyloss.torch;

import org.bytedeco.pytorch.global.torch;

/**
 * libtorch's intra-op threads. For the small transformers this project trains, one thread is fastest: on the
 * 2-vCPU CI machine a forward and backward pass took 15 ms with one thread and 230 ms with two, where the
 * threads' hand-offs cost far more than ops of a few thousand elements save.
 */
public final class TorchThreads {
    private TorchThreads() {}

    public static void use(int threads) {
        if (threads < 1) throw new IllegalArgumentException("threads: must be >= 1, got " + threads);
        torch.set_num_threads(threads);
    }
}
