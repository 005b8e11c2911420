package io.policyloss;

import io.policyloss.control.RolloutCorrection;
import io.policyloss.loss.Dtype;
import io.policyloss.loss.FusedLoss;
import io.policyloss.loss.LossBatch;
import io.policyloss.loss.LossConfig;
import io.policyloss.loss.LossResult;

/** The rollout correction example of README.md, verbatim between the markers (ReadmeExampleTest keeps them equal). */
final class ReadmeRolloutExample {
    /** The example's loss and metrics. */
    record Outcome(LossResult corrected, RolloutCorrection.Metrics metrics) {}

    static Outcome run() {
        int rows = 6, vocab = 50;
        float[] logits = new float[rows * vocab];
        for (int k = 0; k < logits.length; ++k) logits[k] = (float) Math.sin(0.7 * k);
        float[] oldLogp = {-3.9f, -4.1f, -3.8f, -4.0f, -3.7f, 0f};
        float[] rolloutLogp = {-3.8f, -4.2f, -3.9f, -6.0f, -3.7f, 0f};
        float[] advantage = {1f, 1f, 1f, -1f, -1f, 0f}, mask = {1, 1, 1, 1, 1, 0};  // two sequences, then padding
        int[] sequenceOf = {0, 0, 0, 1, 1, 1};
        FusedLoss loss = new FusedLoss(LossConfig.builder().build());
        LossBatch batch = LossBatch.f32(logits, rows, vocab).target(new int[] {3, 1, 4, 1, 5, 9}).oldLogp(oldLogp)
                .weight(new float[] {.2f, .2f, .2f, .2f, .2f, 0f});
        // README-BEGIN
        // oldLogp: the trainer's log-probs of the sampled tokens under the sampling policy; rolloutLogp: the engine's
        RolloutCorrection correction = RolloutCorrection.defaults();  // TRL's: sequence_mask, clip_max 3
        float[] a = correction.advantages(advantage, oldLogp, rolloutLogp, mask, sequenceOf);
        LossResult corrected = loss.compute(batch.advantage(a).gradient(Dtype.F32));
        RolloutCorrection.Metrics m = correction.metrics(oldLogp, rolloutLogp, mask, sequenceOf);  // TRL's sampling/...
        // README-END
        return new Outcome(corrected, m);
    }
}
