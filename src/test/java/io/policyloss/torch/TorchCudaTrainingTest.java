package io.policyloss.torch;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.policyloss.GpuSuite;
import io.policyloss.loss.FusedLoss;
import io.policyloss.loss.LossConfig;
import org.bytedeco.pytorch.AdamW;
import org.bytedeco.pytorch.AdamWOptions;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A few training steps with the model, the logits and the loss on CUDA. Runs where a CUDA device is visible and
 * the GPU build of the PyTorch presets is on the classpath (mvn -Pgpu verify); skips elsewhere.
 */
@Tag("gpu")
class TorchCudaTrainingTest {
    @Test
    void trainingStepsOnCudaLowerTheLoss() {
        GpuSuite.assumeAvailable("the policyloss CUDA kernel", FusedLoss.cudaDeviceUnusableReason(0).orElse(null));
        assumeTrue(torch.cuda_is_available(), "the PyTorch presets here are the CPU build"); // CPU build: false
        Device cuda = new Device("cuda:0");
        TransformerPolicy model = new TransformerPolicy(new ModelConfig(1, 32, 2, 8), 12, 1);
        model.to(cuda, false);
        long[] ids = new long[4 * 6], target = new long[4 * 6];
        float[] advantage = new float[24], weight = new float[24], zeros = new float[24];
        for (int i = 0; i < 24; ++i) {
            ids[i] = i % 11;
            target[i] = (i * 7) % 12;
            advantage[i] = i % 2 == 0 ? 1f : -1f;
            weight[i] = 1f / 24;
        }
        Tensor input = Tensors.longs(ids, 4, 6).to(cuda, ScalarType.Long);
        TorchFusedLoss loss = new TorchFusedLoss(LossConfig.defaults());
        PolicyRows probe = PolicyRows.of(onCuda(Tensors.longs(target, 24), cuda), onCuda(Tensors.floats(zeros, 24), cuda),
                onCuda(Tensors.floats(advantage, 24), cuda), onCuda(Tensors.floats(weight, 24), cuda));
        Tensor oldLogp = loss.evaluate(model.forward(input).detach(), probe).logp();
        PolicyRows rows = PolicyRows.of(probe.target(), oldLogp, probe.advantage(), probe.weight());
        AdamW optimizer = new AdamW(model.parameters(), new AdamWOptions(1e-2));
        double first = Double.NaN, last = Double.NaN;
        for (int step = 0; step < 4; ++step) {
            TorchLossResult r = loss.compute(model.forward(input), rows);
            if (step == 0) first = r.metrics().loss();
            last = r.metrics().loss();
            optimizer.zero_grad();
            r.backward();
            optimizer.step();
        }
        assertTrue(last < first, "loss on CUDA " + first + " -> " + last);
    }

    private static Tensor onCuda(Tensor t, Device cuda) {
        return t.to(cuda, t.scalar_type());
    }
}
