package io.policyloss.control;

import io.policyloss.loss.LossBatch;

/** The kernel calls of the controllers' tests: fp32 logits, copied so that a call cannot change the caller's. */
final class F32Batches {
    private F32Batches() {}

    /** refLogp may be null (no KL term). */
    static LossBatch of(float[] logits, int[] target, float[] oldLogp, float[] refLogp, float[] advantage,
            float[] weight) {
        return LossBatch.f32(logits.clone(), target.length, logits.length / target.length).target(target)
                .oldLogp(oldLogp).refLogp(refLogp).advantage(advantage).weight(weight);
    }
}
