package io.policyloss.torch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.policyloss.GpuSuite;
import io.policyloss.control.PolicyObjective;
import io.policyloss.control.Sapo;
import io.policyloss.loss.FusedLoss;
import io.policyloss.loss.LossConfig;
import java.util.Random;
import org.bytedeco.pytorch.AdamW;
import org.bytedeco.pytorch.AdamWOptions;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A few training steps with the model, the logits and the loss on CUDA, CurrentPolicyLoss's moved rows there, and
 * FusedLinearPolicyLoss's chunks.
 * Runs where a CUDA device is visible and the GPU build of the PyTorch presets is on the classpath
 * (mvn -Pgpu verify); skips elsewhere.
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

    /** SAPO's two calls on CUDA tensors: the moved rows go back to the device, and the result is the host op's. */
    @Test
    void currentPolicyLossMovesRowsOnCuda() {
        GpuSuite.assumeAvailable("the policyloss CUDA kernel", FusedLoss.cudaDeviceUnusableReason(0).orElse(null));
        assumeTrue(torch.cuda_is_available(), "the PyTorch presets here are the CPU build");
        Device cuda = new Device("cuda:0");
        int rows = 64, vocab = 3000;
        Random r = new Random(3);
        float[] logits = new float[rows * vocab], oldLogp = new float[rows], advantage = new float[rows],
                weight = new float[rows], mask = new float[rows];
        long[] target = new long[rows];
        for (int k = 0; k < logits.length; ++k) logits[k] = (float) (2 * r.nextGaussian());
        for (int i = 0; i < rows; ++i) {
            target[i] = r.nextInt(vocab);
            oldLogp[i] = (float) (-Math.log(vocab) + r.nextGaussian());
            advantage[i] = (float) r.nextGaussian();
            weight[i] = 1f / rows;
            mask[i] = 1;
        }
        CurrentPolicyLoss loss = new CurrentPolicyLoss(new TorchFusedLoss(LossConfig.defaults()),
                PolicyObjective.CLIPPED.with(Sapo.defaults()));
        PolicyRows host = PolicyRows.of(Tensors.longs(target, rows), Tensors.floats(oldLogp, rows),
                Tensors.floats(advantage, rows), Tensors.floats(weight, rows));
        PolicyRows device = PolicyRows.of(onCuda(host.target(), cuda), onCuda(host.oldLogp(), cuda),
                onCuda(host.advantage(), cuda), onCuda(host.weight(), cuda));
        TorchLossResult want = loss.compute(Tensors.floats(logits, rows, vocab), host, mask, null, null);
        TorchLossResult got = loss.compute(onCuda(Tensors.floats(logits, rows, vocab), cuda), device, mask, null,
                null);
        assertTrue(got.dlogits().is_cuda(), "dlogits on the device");
        assertEquals(want.metrics().loss(), got.metrics().loss(), 1e-5 * Math.abs(want.metrics().loss()));
        assertEquals(want.metrics().sumApproxKl(), got.metrics().sumApproxKl(), 1e-4 * rows);
        float[] a = Tensors.toFloats(want.dlogits()), b = Tensors.toFloats(got.dlogits());
        double largest = 0;
        for (float v : a) largest = Math.max(largest, Math.abs(v));
        for (int k = 0; k < a.length; ++k) assertEquals(a[k], b[k], 1e-5 * largest, "dlogits[" + k + "]");
    }

    /** The loss behind a linear head on CUDA: chunks of device logits give the host's loss and gradients. */
    @Test
    void fusedLinearOnCudaGivesTheHostsGradients() {
        GpuSuite.assumeAvailable("the policyloss CUDA kernel", FusedLoss.cudaDeviceUnusableReason(0).orElse(null));
        assumeTrue(torch.cuda_is_available(), "the PyTorch presets here are the CPU build");
        Device cuda = new Device("cuda:0");
        int rows = 64, width = 32, vocab = 3000;
        Random r = new Random(4);
        float[] hidden = new float[rows * width], w = new float[vocab * width], b = new float[vocab],
                oldLogp = new float[rows], advantage = new float[rows], weight = new float[rows];
        long[] target = new long[rows];
        for (int k = 0; k < hidden.length; ++k) hidden[k] = (float) r.nextGaussian();
        for (int k = 0; k < w.length; ++k) w[k] = (float) (0.5 * r.nextGaussian());
        for (int k = 0; k < b.length; ++k) b[k] = (float) (0.1 * r.nextGaussian());
        for (int i = 0; i < rows; ++i) {
            target[i] = r.nextInt(vocab);
            oldLogp[i] = (float) (-Math.log(vocab) + r.nextGaussian());
            advantage[i] = (float) r.nextGaussian();
            weight[i] = 1f / rows;
        }
        FusedLinearPolicyLoss loss = new FusedLinearPolicyLoss(new TorchFusedLoss(LossConfig.builder()
                .entropyCoef(0.01).build()), 16);
        PolicyRows host = PolicyRows.of(Tensors.longs(target, rows), Tensors.floats(oldLogp, rows),
                Tensors.floats(advantage, rows), Tensors.floats(weight, rows));
        PolicyRows device = PolicyRows.of(onCuda(host.target(), cuda), onCuda(host.oldLogp(), cuda),
                onCuda(host.advantage(), cuda), onCuda(host.weight(), cuda));
        Tensor[] hostLeaves = {Tensors.floats(hidden, rows, width), Tensors.floats(w, vocab, width),
                Tensors.floats(b, vocab)};
        Tensor[] deviceLeaves = new Tensor[3];
        for (int k = 0; k < 3; ++k) {
            deviceLeaves[k] = onCuda(hostLeaves[k], cuda).requires_grad_(true);
            hostLeaves[k].requires_grad_(true);
        }
        LinearLossResult want = loss.compute(hostLeaves[0], hostLeaves[1], hostLeaves[2], host);
        LinearLossResult got = loss.compute(deviceLeaves[0], deviceLeaves[1], deviceLeaves[2], device);
        want.backward();
        got.backward();
        assertTrue(got.gradWeight().is_cuda(), "the gradients on the device");
        assertEquals(want.metrics().loss(), got.metrics().loss(), 1e-5 * Math.abs(want.metrics().loss()));
        for (int k = 0; k < 3; ++k) {
            float[] a = Tensors.toFloats(hostLeaves[k].grad()), c = Tensors.toFloats(deviceLeaves[k].grad());
            double largest = 0;
            for (float v : a) largest = Math.max(largest, Math.abs(v));
            for (int j = 0; j < a.length; ++j) assertEquals(a[j], c[j], 1e-4 * largest, "leaf " + k + "[" + j + "]");
        }
    }

    private static Tensor onCuda(Tensor t, Device cuda) {
        return t.to(cuda, t.scalar_type());
    }
}
