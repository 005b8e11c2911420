package io.policyloss.loss;

import java.util.Random;

/**
 * Random f32 rows for the KL estimators' tests: Gaussian logits, uniform targets, Gaussian advantages, token-mean
 * weights, and each row's logp (from a call without KL or gradient), around which a test sets old_logp and ref_logp.
 */
record KlRows(int vocab, float[] logits, int[] target, float[] advantage, float[] weight, float[] logp) {
    static KlRows random(int rows, int vocab, double logitSd, long seed) {
        Random rnd = new Random(seed);
        float[] logits = new float[rows * vocab], advantage = new float[rows], weight = new float[rows];
        int[] target = new int[rows];
        for (int k = 0; k < logits.length; ++k) logits[k] = (float) (logitSd * rnd.nextGaussian());
        for (int i = 0; i < rows; ++i) {
            target[i] = rnd.nextInt(vocab);
            advantage[i] = (float) rnd.nextGaussian();
            weight[i] = 1f / rows;
        }
        KlRows r = new KlRows(vocab, logits, target, advantage, weight, null);
        float[] logp = new FusedLoss(LossConfig.defaults()).compute(r.batch(new float[rows], null).noGradient()).logp();
        return new KlRows(vocab, logits, target, advantage, weight, logp);
    }

    int rows() {
        return target.length;
    }

    /** The rows with these log-probs (refLogp null for none), on a copy of the logits. */
    LossBatch batch(float[] oldLogp, float[] refLogp) {
        LossBatch b = LossBatch.f32(logits.clone(), rows(), vocab).target(target).oldLogp(oldLogp)
                .advantage(advantage).weight(weight);
        return refLogp == null ? b : b.refLogp(refLogp);
    }

    /** pi_v of row i, in double. */
    double[] probabilities(int i) {
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        double[] p = new double[vocab];
        for (int v = 0; v < vocab; ++v) max = Math.max(max, logits[i * vocab + v]);
        for (int v = 0; v < vocab; ++v) sum += p[v] = Math.exp(logits[i * vocab + v] - max);
        for (int v = 0; v < vocab; ++v) p[v] /= sum;
        return p;
    }
}
