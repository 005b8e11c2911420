package io.policyloss;

import io.policyloss.loss.Dtype;
import io.policyloss.loss.FusedLoss;
import io.policyloss.loss.HalfFloats;
import io.policyloss.loss.LossBatch;
import io.policyloss.loss.LossConfig;
import io.policyloss.loss.LossMetrics;
import io.policyloss.loss.LossResult;
import java.util.Random;

/**
 * The README's first run: the fused loss on a random bf16 batch of the shape an LLM step has (rows x a 151,936
 * token vocabulary), printed as the metrics a trainer logs. Arguments: [rows] [vocab].
 */
public final class Quickstart {
    private Quickstart() {}

    public static void main(String[] args) {
        int rows = args.length > 0 ? Integer.parseInt(args[0]) : 64;
        int vocab = args.length > 1 ? Integer.parseInt(args[1]) : 151_936;
        System.out.println(FusedLoss.buildInfo());

        Random rnd = new Random(0);
        short[] logits = new short[rows * vocab];
        for (int k = 0; k < logits.length; ++k) logits[k] = HalfFloats.floatToBf16((float) (2 * rnd.nextGaussian()));
        int[] target = new int[rows];
        float[] advantage = new float[rows], weight = new float[rows];
        for (int i = 0; i < rows; ++i) {
            target[i] = rnd.nextInt(vocab);
            advantage[i] = (float) rnd.nextGaussian();
            weight[i] = 1f / rows;  // token-mean
        }
        LossConfig config = LossConfig.builder().epsLow(0.2).epsHigh(0.28).entropyCoef(0.001)
                .clampedEntropyCoef(0.01).clampP(0.33).build();
        FusedLoss loss = new FusedLoss(config);
        LossBatch batch = LossBatch.halves(Dtype.BF16, logits, rows, vocab, vocab).target(target)
                .oldLogp(new float[rows]).advantage(advantage).weight(weight).noGradient();

        // The rollout's log-probs: this policy's, a little off (the policy has moved since sampling).
        float[] oldLogp = loss.compute(batch).logp();
        for (int i = 0; i < rows; ++i) oldLogp[i] += (float) (0.15 * rnd.nextGaussian());
        batch.oldLogp(oldLogp).gradient(Dtype.BF16);
        loss.compute(batch);  // warm-up
        long start = System.nanoTime();
        LossResult r = loss.compute(batch);
        double ms = (System.nanoTime() - start) / 1e6;

        LossMetrics m = r.metrics();
        System.out.printf("rows %d x vocab %d, bf16 logits, bf16 dlogits: %.1f ms for forward + backward (Java arrays, copies included)%n", rows, vocab, ms);
        System.out.printf("loss %.6f | entropy %.4f | clamped entropy (p = 0.33) %.4f%n", m.loss(), m.meanEntropy(),
                m.meanClampedEntropy());
        System.out.printf("clip-low %.3f | clip-high %.3f | mean ratio %.4f | approx KL %.4f%n", m.clipLowFraction(),
                m.clipHighFraction(), m.meanRatio(), m.approxKl());
    }
}
