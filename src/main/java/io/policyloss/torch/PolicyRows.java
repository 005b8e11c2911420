package io.policyloss.torch;

import java.util.Objects;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

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

    /** Checks that each tensor has one element per row, before a caller cuts them into chunks of rows. */
    void checkRows(long rows) {
        checkOnePerRow(target, "target", rows);
        checkOnePerRow(oldLogp, "oldLogp", rows);
        checkOnePerRow(advantage, "advantage", rows);
        checkOnePerRow(weight, "weight", rows);
        if (temperature != null) checkOnePerRow(temperature, "temperature", rows);
        if (refLogp != null) checkOnePerRow(refLogp, "refLogp", rows);
    }

    /** Rows [first, first + length): views of these tensors, which {@link #checkRows} has checked. */
    PolicyRows slice(long first, long length) {
        return new PolicyRows(target.narrow(0, first, length), oldLogp.narrow(0, first, length),
                advantage.narrow(0, first, length), weight.narrow(0, first, length),
                temperature == null ? null : temperature.narrow(0, first, length),
                refLogp == null ? null : refLogp.narrow(0, first, length));
    }

    /** Rows {@code index} (int64, on the rows' device), each of weight 1: an evaluation of those rows alone. */
    PolicyRows select(Tensor index) {
        Tensor old = oldLogp.index_select(0, index);
        return new PolicyRows(target.index_select(0, index), old, advantage.index_select(0, index),
                torch.ones_like(old), temperature == null ? null : temperature.index_select(0, index),
                refLogp == null ? null : refLogp.index_select(0, index));
    }

    static void checkOnePerRow(Tensor t, String name, long rows) {
        if (t.dim() != 1 || t.size(0) != rows)
            throw new IllegalArgumentException(name + ": must be 1-D with one element per row (" + rows + "), got "
                    + t.dim() + "-D with " + t.numel() + " elements");
    }
}
