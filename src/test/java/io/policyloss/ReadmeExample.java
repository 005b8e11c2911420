package io.policyloss;

import io.policyloss.loss.FusedLoss;
import io.policyloss.loss.LossBatch;
import io.policyloss.loss.LossConfig;
import io.policyloss.loss.LossResult;

/** The usage example of README.md, verbatim between the markers (ReadmeExampleTest keeps the two equal). */
final class ReadmeExample {
    static LossResult run() {
        // README-BEGIN
        LossConfig config = LossConfig.builder()
                .epsLow(0.2).epsHigh(0.28)              // clip-low / clip-high (DAPO-style asymmetric)
                .clampedEntropyCoef(0.01).clampP(0.2)   // AEnt: entropy over the top 80% of tokens
                .build();
        int rows = 4, vocab = 1000;
        float[] logits = new float[rows * vocab];       // your model's logits, row-major
        for (int k = 0; k < logits.length; ++k) logits[k] = (float) Math.sin(k);

        LossResult result = new FusedLoss(config).compute(LossBatch.f32(logits, rows, vocab)
                .target(new int[] {3, 1, 4, 1})                       // sampled tokens
                .oldLogp(new float[] {-6.9f, -7.2f, -6.5f, -7.0f})    // log-probs at sampling time
                .advantage(new float[] {1f, -1f, 0.5f, -0.5f})        // e.g. GrpoAdvantages.compute(...)
                .weight(new float[] {0.25f, 0.25f, 0.25f, 0.25f}));   // token-mean (see AggregationWeights)

        double loss = result.totalLoss();
        double entropy = result.metrics().meanEntropy();
        float[] dlogits = result.dlogitsF32();          // dL/dlogits: feed to logits.backward(...)
        // README-END
        System.out.printf("loss %.5f, entropy %.3f, |dlogits| = %d%n", loss, entropy, dlogits.length);
        return result;
    }
}
