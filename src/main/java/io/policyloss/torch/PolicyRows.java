package io.policyloss.torch;

import java.util.Objects;
import org.bytedeco.pytorch.Tensor;

/**
 * The per-row inputs of the fused loss as libtorch tensors, one element per row of the flattened logits, on the
 * logits' device (SPEC section 1). Each is 1-D and contiguous: target int64 or int32; the others fp32.
 *
 * @param target the sampled token of each row
 * @param oldLogp the log-prob of the target under the behaviour policy, at the row's temperature
 * @param advantage the per-token advantage
 * @param weight the aggregation weight; 0 marks padding (such rows are never read)
 * @param temperature per-row temperatures, or null for the config's temperature
 * @param refLogp the reference policy's log-prob, or null (needed when klCoef != 0)
 */
public record PolicyRows(Tensor target, Tensor oldLogp, Tensor advantage, Tensor weight, Tensor temperature,
        Tensor refLogp) {
    public PolicyRows {
        Objects.requireNonNull(target, "target");
        Objects.requireNonNull(oldLogp, "oldLogp");
        Objects.requireNonNull(advantage, "advantage");
        Objects.requireNonNull(weight, "weight");
    }

    /** Rows at the config's temperature, without a reference policy. */
    public static PolicyRows of(Tensor target, Tensor oldLogp, Tensor advantage, Tensor weight) {
        return new PolicyRows(target, oldLogp, advantage, weight, null, null);
    }

    public PolicyRows withTemperature(Tensor t) {
        return new PolicyRows(target, oldLogp, advantage, weight, t, refLogp);
    }

    public PolicyRows withRefLogp(Tensor r) {
        return new PolicyRows(target, oldLogp, advantage, weight, temperature, r);
    }
}
