package io.policyloss;

import io.policyloss.loss.LossConfig;
import io.policyloss.torch.ModelConfig;
import io.policyloss.torch.PolicyRows;
import io.policyloss.torch.Tensors;
import io.policyloss.torch.TorchFusedLoss;
import io.policyloss.torch.TorchLossResult;
import io.policyloss.torch.TransformerPolicy;
import org.bytedeco.pytorch.AdamW;
import org.bytedeco.pytorch.AdamWOptions;
import org.bytedeco.pytorch.Tensor;

/** The libtorch example of README.md, verbatim between the markers (ReadmeExampleTest keeps the two equal). */
final class ReadmeTorchExample {
    static TorchLossResult run() {
        // README-BEGIN
        TorchFusedLoss loss = new TorchFusedLoss(LossConfig.builder().epsHigh(0.28).entropyCoef(0.001).build());
        TransformerPolicy model = new TransformerPolicy(new ModelConfig(2, 64, 4, 16), 16, 1); // or your Module
        AdamW optimizer = new AdamW(model.parameters(), new AdamWOptions(1e-3));

        Tensor ids = Tensors.longs(new long[] {3, 1, 4, 1, 5, 9, 2, 6}, 2, 4);   // [batch, time] token ids
        Tensor logits = model.forward(ids);                                       // [batch, time, vocab]
        int rows = 8;                                                             // batch x time, flattened
        PolicyRows batch = PolicyRows.of(
                Tensors.longs(new long[] {1, 4, 1, 5, 9, 2, 6, 5}, rows),         // the sampled next tokens
                Tensors.floats(new float[] {-2.8f, -2.7f, -2.9f, -2.8f, -2.7f, -2.8f, -2.6f, -2.8f}, rows), // old
                Tensors.floats(new float[] {1, 1, 1, 1, -1, -1, -1, -1}, rows),   // advantages
                Tensors.floats(new float[] {.125f, .125f, .125f, .125f, .125f, .125f, .125f, .125f}, rows));

        TorchLossResult result = loss.compute(logits, batch);   // one kernel call: loss, metrics, dL/dlogits
        optimizer.zero_grad();
        result.backward();                                      // logits.backward(dlogits), down to the weights
        optimizer.step();
        double entropy = result.metrics().meanEntropy();
        // README-END
        System.out.printf("loss %.5f, entropy %.3f%n", result.loss().item_double(), entropy);
        return result;
    }
}
