package io.policyloss;

import io.policyloss.control.PolicyObjective;
import io.policyloss.loss.AggregationMode;
import io.policyloss.loss.AggregationWeights;
import io.policyloss.loss.AggregationWeights.Totals;
import io.policyloss.loss.LossConfig;
import io.policyloss.loss.LossMetrics;
import io.policyloss.torch.CurrentPolicyLoss;
import io.policyloss.torch.ModelConfig;
import io.policyloss.torch.PolicyRows;
import io.policyloss.torch.Ranks;
import io.policyloss.torch.Tensors;
import io.policyloss.torch.TorchFusedLoss;
import io.policyloss.torch.TorchLossResult;
import io.policyloss.torch.TransformerPolicy;
import java.time.Duration;
import org.bytedeco.pytorch.AdamW;
import org.bytedeco.pytorch.AdamWOptions;
import org.bytedeco.pytorch.FileStore;
import org.bytedeco.pytorch.Tensor;

/**
 * The data-parallel example of README.md, verbatim between the markers (ReadmeExampleTest keeps the two equal), run
 * here as the only rank of its group.
 */
final class ReadmeRanksExample {
    record Outcome(Totals global, LossMetrics local, LossMetrics metrics) {}

    static Outcome run(String storeFile) {
        int size = 1, rank = 0, rows = 8;
        TorchFusedLoss loss = new TorchFusedLoss(LossConfig.builder().entropyCoef(0.001).build());
        TransformerPolicy model = new TransformerPolicy(new ModelConfig(2, 64, 4, 16), 16, 1);
        AdamW optimizer = new AdamW(model.parameters(), new AdamWOptions(1e-3));
        Tensor logits = model.forward(Tensors.longs(new long[] {3, 1, 4, 1, 5, 9, 2, 6}, 2, 4));
        Tensor target = Tensors.longs(new long[] {1, 4, 1, 5, 9, 2, 6, 5}, rows);
        Tensor oldLogp = Tensors.floats(new float[] {-2.8f, -2.7f, -2.9f, -2.8f, -2.7f, -2.8f, -2.6f, -2.8f}, rows);
        Tensor advantage = Tensors.floats(new float[] {1, 1, 1, 1, -1, -1, -1, -1}, rows);
        float[] mask = {1, 1, 1, 0, 1, 1, 1, 1};
        int[] sequenceOf = {0, 0, 0, 0, 1, 1, 1, 1};
        // README-BEGIN
        Ranks ranks = Ranks.gloo(new FileStore(storeFile, size), rank, size, "127.0.0.1", Duration.ofMinutes(5));
        Totals global = ranks.sum(Totals.of(mask, sequenceOf));          // every rank's tokens and sequences
        float[] weight = AggregationWeights.weights(AggregationMode.SEQ_MEAN_TOKEN_MEAN, mask, sequenceOf, global, 1);
        CurrentPolicyLoss masked = new CurrentPolicyLoss(loss, PolicyObjective.CLIPPED.withTopEntropyQuantile(0.2))
                .acrossRanks(ranks);                                     // the quantile of every rank's tokens
        TorchLossResult result = masked.compute(logits, PolicyRows.of(target, oldLogp, advantage,
                Tensors.floats(weight, rows)), mask, sequenceOf, null);
        optimizer.zero_grad();
        result.backward();
        ranks.sumGradients(model.parameters());                          // added, not averaged: the weights are global
        optimizer.step();
        LossMetrics metrics = ranks.sum(result.metrics());               // the whole batch's sums, on every rank
        // README-END
        return new Outcome(global, result.metrics(), metrics);
    }
}
