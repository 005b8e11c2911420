package io.policyloss;

import io.policyloss.loss.LossConfig;
import io.policyloss.torch.FusedLinearPolicyLoss;
import io.policyloss.torch.LinearLossResult;
import io.policyloss.torch.ModelConfig;
import io.policyloss.torch.PolicyRows;
import io.policyloss.torch.Tensors;
import io.policyloss.torch.TorchFusedLoss;
import io.policyloss.torch.TransformerPolicy;
import org.bytedeco.pytorch.AdamW;
import org.bytedeco.pytorch.AdamWOptions;
import org.bytedeco.pytorch.Tensor;

/** The fused linear example of README.md, verbatim between the markers (ReadmeExampleTest keeps the two equal). */
final class ReadmeFusedLinearExample {
    static LinearLossResult run() {
        TransformerPolicy model = new TransformerPolicy(new ModelConfig(2, 64, 4, 16), 16, 1);
        AdamW optimizer = new AdamW(model.parameters(), new AdamWOptions(1e-3));
        Tensor ids = Tensors.longs(new long[] {3, 1, 4, 1, 5, 9, 2, 6}, 2, 4);
        int rows = 8;
        PolicyRows batch = PolicyRows.of(Tensors.longs(new long[] {1, 4, 1, 5, 9, 2, 6, 5}, rows),
                Tensors.floats(new float[] {-2.8f, -2.7f, -2.9f, -2.8f, -2.7f, -2.8f, -2.6f, -2.8f}, rows),
                Tensors.floats(new float[] {1, 1, 1, 1, -1, -1, -1, -1}, rows),
                Tensors.floats(new float[] {.125f, .125f, .125f, .125f, .125f, .125f, .125f, .125f}, rows));
        // README-BEGIN
        FusedLinearPolicyLoss loss = new FusedLinearPolicyLoss(new TorchFusedLoss(LossConfig.builder().build()));
        Tensor hidden = model.hidden(ids);                      // [batch, time, width]: what the head reads
        LinearLossResult result = loss.compute(hidden, model.head().weight(), model.head().bias(), batch);
        optimizer.zero_grad();
        result.backward();                                      // dL/dhidden into the body, dL/dW and dL/db
        optimizer.step();
        // README-END
        return result;
    }
}
