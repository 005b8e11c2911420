package io.policyloss.torch;

import io.policyloss.control.HighEntropyTokens;
import io.policyloss.control.PolicyObjective;
import io.policyloss.loss.LossMetrics;
import java.util.Arrays;
import java.util.Objects;
import java.util.function.Supplier;
import java.util.function.UnaryOperator;
import java.util.random.RandomGenerator;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The fused loss with a {@link PolicyObjective} in one call, as Liger-Kernel's and TRL's {@code loss_type} offer it.
 * For GSPO, entropy masking, off-policy sequence masking, Clip-Cov, CISPO, SAPO, KL-Cov, GMPO, VESPO and DPPO: a
 * first kernel call without a gradient on the logits ({@link TorchFusedLoss#evaluate}), the objective's helpers on its
 * logp and entropy (N floats brought to the host and back), then the call with a gradient on the moved rows, one more
 * read of the logits than PPO's clipped loss, which takes the one call (with rollout weights f, and the rows of f = 0
 * read once more, alone, for their clip counts). The gradient is the objective's; {@code metrics()} are of its own
 * ratios and loss, and {@link TorchLossResult#loss()} is the kernel's value (for CISPO, SAPO, KL-Cov, GMPO, VESPO and
 * DPPO, one with the same gradient: use {@code metrics().loss()} to log). Behind a linear head
 * ({@link #compute(Tensor, Tensor, Tensor, PolicyRows, float[], int[], RandomGenerator)}), both calls go through
 * {@link FusedLinearPolicyLoss}'s chunks of logits.
 */
public final class CurrentPolicyLoss {
    private final TorchFusedLoss loss;
    private final FusedLinearPolicyLoss linear;
    private final PolicyObjective objective;
    private final HighEntropyTokens.Threshold entropyThreshold;

    /** The objective over logits, and behind a linear head in FusedLinearPolicyLoss's default chunks. */
    public CurrentPolicyLoss(TorchFusedLoss loss, PolicyObjective objective) {
        this(new FusedLinearPolicyLoss(loss), objective);
    }

    /** The objective over logits, and behind a linear head in {@code linear}'s chunks. */
    public CurrentPolicyLoss(FusedLinearPolicyLoss linear, PolicyObjective objective) {
        this(linear, objective, HighEntropyTokens.OWN_ROWS);
    }

    private CurrentPolicyLoss(FusedLinearPolicyLoss linear, PolicyObjective objective,
            HighEntropyTokens.Threshold entropyThreshold) {
        this.linear = Objects.requireNonNull(linear, "linear");
        this.loss = linear.kernel();
        this.objective = Objects.requireNonNull(objective, "objective");
        this.entropyThreshold = entropyThreshold;
        objective.check(loss.config());
    }

    /**
     * This loss on one data-parallel rank's share of the batch: entropy masking's quantile is over every rank's
     * counted tokens ({@link Ranks#entropyThreshold}), as TRL's is, where this one takes it over the rows of its call.
     * Every rank then calls it in the same order, as a collective (with entropy masking, each call gathers). What else
     * the objective takes over several rows stays the rank's own: a sequence's rows are on one rank, and Clip-Cov's and
     * KL-Cov's choices are each rank's in verl too. The aggregation weights' global denominators are the caller's
     * ({@link Ranks#sum(io.policyloss.loss.AggregationWeights.Totals)}).
     */
    public CurrentPolicyLoss acrossRanks(Ranks ranks) {
        return new CurrentPolicyLoss(linear, objective, Objects.requireNonNull(ranks, "ranks")::entropyThreshold);
    }

    public PolicyObjective objective() {
        return objective;
    }

    /**
     * As {@link TorchFusedLoss#compute}, on the objective's rows.
     *
     * @param mask 1 for a counted token, 0 for padding, over the first mask.length rows: those the objective moves,
     *     and whose quantiles, covariances and sequence ratios it takes; the rows after them pass as they are (the
     *     trainer's AEPO rows)
     * @param sequenceOf each of those rows' sequence, read with sequenceRatio, GMPO, VESPO or off-policy
     *     sequence masking (else may be null)
     * @param random Clip-Cov's choice, read with clipCov (else may be null)
     */
    public TorchLossResult compute(Tensor logits, PolicyRows rows, float[] mask, int[] sequenceOf,
            RandomGenerator random) {
        return compute(logits, rows, mask, sequenceOf, random, null);
    }

    /**
     * As {@link #compute(Tensor, PolicyRows, float[], int[], RandomGenerator)}, for rollouts from another engine:
     * each moved row's policy-gradient term weighted by its rolloutRatio, TRL's and verl's importance weight, as
     * {@link PolicyObjective#move(io.policyloss.loss.LossConfig, float[], float[], float[], float[], float[], float[],
     * int[], RandomGenerator, float[])} weighs it (VESPO folds it into its sequence weight; GMPO weighs each sequence
     * by the geometric mean of its f).
     *
     * @param rolloutRatio f of each of the mask's rows ({@code RolloutCorrection.ratios}), or null for none
     */
    public TorchLossResult compute(Tensor logits, PolicyRows rows, float[] mask, int[] sequenceOf,
            RandomGenerator random, float[] rolloutRatio) {
        MovedRows m = move(() -> loss.evaluate(logits, rows), logpOfRows(logits, rows), rows, mask, sequenceOf, random,
                rolloutRatio);
        return loss.compute(logits, m.rows()).with(m);
    }

    /** As {@link TorchFusedLoss#computeInPlace}, on the objective's rows (arguments as {@link #compute}'s). */
    public TorchLossResult computeInPlace(Tensor logits, PolicyRows rows, float[] mask, int[] sequenceOf,
            RandomGenerator random) {
        return computeInPlace(logits, rows, mask, sequenceOf, random, null);
    }

    /** As {@link TorchFusedLoss#computeInPlace}, on the objective's rows, rolloutRatio as {@link #compute}'s. */
    public TorchLossResult computeInPlace(Tensor logits, PolicyRows rows, float[] mask, int[] sequenceOf,
            RandomGenerator random, float[] rolloutRatio) {
        MovedRows m = move(() -> loss.evaluate(logits, rows), logpOfRows(logits, rows), rows, mask, sequenceOf, random,
                rolloutRatio);
        return loss.computeInPlace(logits, m.rows()).with(m);
    }

    /**
     * As {@link FusedLinearPolicyLoss#compute}, on the objective's rows. Where the objective moves each row alone
     * (CISPO or SAPO on token ratios: {@link PolicyObjective#movesEachRowAlone}), both calls read each chunk's logits
     * as it is made, one matmul for both; otherwise the first call goes through all the chunks first, and the second
     * makes them again. Arguments as {@link #compute}'s.
     */
    public LinearLossResult compute(Tensor hidden, Tensor weight, Tensor bias, PolicyRows rows, float[] mask,
            int[] sequenceOf, RandomGenerator random) {
        return compute(hidden, weight, bias, rows, mask, sequenceOf, random, null);
    }

    /** As {@link FusedLinearPolicyLoss#compute}, on the objective's rows, rolloutRatio as {@link #compute}'s. */
    public LinearLossResult compute(Tensor hidden, Tensor weight, Tensor bias, PolicyRows rows, float[] mask,
            int[] sequenceOf, RandomGenerator random, float[] rolloutRatio) {
        if (objective.movesEachRowAlone()) {
            Objects.requireNonNull(mask, "mask");
            Objects.requireNonNull(rows, "rows");
            checkMask(mask.length, rows.oldLogp().numel());
            if (rolloutRatio != null && rolloutRatio.length != mask.length)  // before it is cut with the mask
                throw new IllegalArgumentException("rolloutRatio: length " + rolloutRatio.length + ", mask has "
                        + mask.length + " rows");
            // Moving each row alone, the objective counts nothing beyond the kernel's metrics (no sequence ratio, no
            // Clip-Cov): the result's objectiveMetrics are ZERO.
            return linear.compute(hidden, weight, bias, rows, (first, chunk, firstCall) -> {
                long moved = Math.min(mask.length - first, chunk.oldLogp().numel());
                if (moved <= 0) return MovedRows.unmoved(chunk);  // the rows after the mask pass as they are
                int from = (int) first, to = (int) (first + moved);
                return move(() -> firstCall, null, chunk, Arrays.copyOfRange(mask, from, to), null, random,
                        rolloutRatio == null ? null : Arrays.copyOfRange(rolloutRatio, from, to));
            });
        }
        MovedRows m = move(() -> linear.evaluate(hidden, weight, bias, rows), index -> linear.evaluate(
                rowsOf(hidden.detach(), index), weight, bias, rows.select(index)).logp(), rows, mask, sequenceOf,
                random, rolloutRatio);
        return linear.compute(hidden, weight, bias, m.rows()).with(m);
    }

    /**
     * The objective's rows, from the first call's logp and entropy, which {@code firstCall} computes when the
     * objective needs them. PPO's clipped loss with rollout ratios only weighs the advantages: {@code logpOfRows}
     * evaluates the rows f zeroes alone, whose clips are counted by their ratio (PolicyObjective.move; none, or null
     * where the caller moves each chunk with its own first call).
     */
    private MovedRows move(Supplier<TorchFusedLoss.RowOutputs> firstCall, UnaryOperator<Tensor> logpOfRows,
            PolicyRows rows, float[] mask, int[] sequenceOf, RandomGenerator random, float[] rolloutRatio) {
        boolean firstNeeded = objective.needsCurrentPolicy();
        if (!firstNeeded && rolloutRatio == null) return MovedRows.unmoved(rows);
        Objects.requireNonNull(mask, "mask");
        Objects.requireNonNull(rows, "rows");
        float[] oldLogp = Tensors.toFloats(rows.oldLogp()), advantage = Tensors.toFloats(rows.advantage());
        int n = mask.length;
        checkMask(n, oldLogp.length);
        TorchFusedLoss.RowOutputs first = firstNeeded ? firstCall.get() : null;
        float[] logp = first != null ? prefix(first.logp(), n)
                : zeroedRowsLogp(logpOfRows, rows.oldLogp(), Arrays.copyOf(advantage, n), mask, rolloutRatio);
        PolicyObjective.Moved m = objective.move(loss.config(), logp,
                first == null ? null : prefix(first.entropy(), n), Arrays.copyOf(oldLogp, n),
                loss.config().klBiasCorrection() && rows.refLogp() != null ? prefix(rows.refLogp(), n) : null,
                Arrays.copyOf(advantage, n), prefix(rows.weight(), n), mask, sequenceOf, random, rolloutRatio,
                entropyThreshold);
        System.arraycopy(m.oldLogp(), 0, oldLogp, 0, n);
        System.arraycopy(m.advantage(), 0, advantage, 0, n);
        return new MovedRows(new PolicyRows(rows.target(), onDeviceOf(rows.oldLogp(), oldLogp),
                onDeviceOf(rows.advantage(), advantage), rows.weight(), rows.temperature(), rows.refLogp()),
                m.metricsCorrection(), m.objectiveMetrics());
    }

    /** logp on the rows f zeroes (0 elsewhere, not read), or null where there are none. */
    private float[] zeroedRowsLogp(UnaryOperator<Tensor> logpOfRows, Tensor like, float[] advantage, float[] mask,
            float[] rolloutRatio) {
        int[] zeroed = objective.rowsZeroedByRolloutRatio(advantage, mask, rolloutRatio);
        if (zeroed.length == 0) return null;
        long[] index = Arrays.stream(zeroed).asLongStream().toArray();
        Tensor rows = Tensors.longs(index, index.length);
        float[] values = Tensors.toFloats(logpOfRows.apply(like.is_cuda() ? rows.to(like.device(), ScalarType.Long)
                : rows));
        float[] logp = new float[mask.length];
        for (int k = 0; k < zeroed.length; ++k) logp[zeroed[k]] = values[k];
        return logp;
    }

    /** The logp of the logits' rows {@code index}, evaluated alone. */
    private UnaryOperator<Tensor> logpOfRows(Tensor logits, PolicyRows rows) {
        return index -> loss.evaluate(rowsOf(logits, index), rows.select(index)).logp();
    }

    /** Rows {@code index} of {@code t} flattened to rows x its last dimension. */
    private static Tensor rowsOf(Tensor t, Tensor index) {
        return t.reshape(-1, t.size(-1)).index_select(0, index);
    }

    private static void checkMask(long length, long rows) {
        if (length > rows)
            throw new IllegalArgumentException("mask: length " + length + ", rows has " + rows + " rows");
    }

    private static float[] prefix(Tensor t, int n) {
        return Arrays.copyOf(Tensors.toFloats(t), n);
    }

    /** The values as an fp32 tensor on the device of {@code like}. */
    private static Tensor onDeviceOf(Tensor like, float[] values) {
        Tensor t = Tensors.floats(values, values.length);
        return like.is_cuda() ? t.to(like.device(), ScalarType.Float) : t;
    }
}
