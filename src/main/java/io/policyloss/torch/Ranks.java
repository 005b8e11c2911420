package io.policyloss.torch;

import io.policyloss.control.HighEntropyTokens;
import io.policyloss.control.ObjectiveMetrics;
import io.policyloss.control.SequenceClips;
import io.policyloss.loss.AggregationWeights.Totals;
import io.policyloss.loss.LossMetrics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.chrono.Milliseconds;
import org.bytedeco.pytorch.Backend;
import org.bytedeco.pytorch.ProcessGroupGloo;
import org.bytedeco.pytorch.Store;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * What the loss needs summed or gathered across data-parallel ranks, over a libtorch process group (c10d, as
 * torch.distributed's all-reduce in verl and TRL): the aggregation weights' global {@link Totals}, so that each
 * rank's weights are those of the whole batch; {@link LossMetrics}, {@link SequenceClips} and {@link ObjectiveMetrics}
 * sums; every rank's rows, and entropy masking's threshold over them all (TRL gathers the entropies whose quantile it
 * takes); and the gradients of a model whose loss took those global weights, which then add up, as each rank's loss is
 * its share of the whole batch's, not a mean of its own.
 *
 * <p>Every rank calls the same methods in the same order, as with any collective. The sums and the gather reduce
 * float64 CPU tensors, which a Gloo group takes (NCCL takes only GPU tensors); {@link #sumGradients} reduces the
 * gradients where they are.
 */
public final class Ranks {
    /** DDP's default {@code bucket_cap_mb}, 25 MiB: {@link #sumGradients(TensorVector)}'s buckets. */
    public static final long BUCKET_BYTES = 25L << 20;

    private final Backend group;
    // The store gloo's group met through, held as long as the group: a TCPStore's server (rank 0's) lives in it, and
    // JavaCPP would free it once unreachable while the group's clone still connects to it.
    private final Store store;

    /**
     * Over a group the caller made (its rank and size are the group's). Make it with {@code store.clone()}, not with a
     * store made by {@code new FileStore(...)} or {@code new TCPStore(...)}, which the group would delete on top of
     * JavaCPP (as {@link #gloo} does), and hold that store as long as the group.
     */
    public Ranks(Backend group) {
        this(group, null);
    }

    private Ranks(Backend group, Store store) {
        this.group = Objects.requireNonNull(group, "group");
        this.store = store;
    }

    /**
     * A Gloo group of {@code size} ranks meeting through {@code store} (a FileStore on one machine, a TCPStore across
     * machines), this one reachable at {@code hostname}; a collective that waits longer than {@code timeout} throws.
     */
    public static Ranks gloo(Store store, int rank, int size, String hostname, Duration timeout) {
        Objects.requireNonNull(store, "store");
        Objects.requireNonNull(hostname, "hostname");
        Objects.requireNonNull(timeout, "timeout");
        if (size < 1) throw new IllegalArgumentException("size: must be >= 1, got " + size);
        if (rank < 0 || rank >= size)
            throw new IllegalArgumentException("rank: must be in [0, " + size + "), got " + rank);
        if (timeout.toMillis() < 1)
            throw new IllegalArgumentException("timeout: must be at least 1 ms, got " + timeout);
        ProcessGroupGloo.Options options = ProcessGroupGloo.Options.create(new Milliseconds(timeout.toMillis()));
        options.devices().push_back(ProcessGroupGloo.createDeviceForHostname(hostname));
        // The group takes a reference-counted store: a clone, since a store made with JavaCPP's `new` has no count of
        // its own, and the group would delete it on top of JavaCPP's deallocator (a double free, seen in tests).
        return new Ranks(new ProcessGroupGloo(store.clone(), rank, size, options), store);
    }

    public int rank() {
        return group.getRank();
    }

    public int size() {
        return group.getSize();
    }

    public Totals sum(Totals local) {
        double[] s = sum(Objects.requireNonNull(local, "local").tokens(), local.sequences());
        return new Totals(s[0], s[1]);
    }

    public LossMetrics sum(LossMetrics local) {
        return LossMetrics.fromSums(sum(Objects.requireNonNull(local, "local").toSums()));
    }

    public SequenceClips sum(SequenceClips local) {
        double[] s = sum(Objects.requireNonNull(local, "local").low(), local.high(), local.sequences());
        return new SequenceClips(s[0], s[1], s[2]);
    }

    public ObjectiveMetrics sum(ObjectiveMetrics local) {
        SequenceClips c = Objects.requireNonNull(local, "local").sequenceClips();
        double[] s = sum(c.low(), c.high(), c.sequences(), local.clipCovChosen(), local.clipCovCounted());
        return new ObjectiveMetrics(new SequenceClips(s[0], s[1], s[2]), s[3], s[4]);
    }

    /**
     * Every rank's {@code rows}, rank 0's first; ranks may hold different numbers of rows, none included. Values come
     * back as they went (NaN and the infinities too), but -0 as +0: each rank adds its rows into zeros at its offset,
     * and the ranks' arrays are summed.
     */
    public float[] gather(float[] rows) {
        Objects.requireNonNull(rows, "rows");
        double[] lengths = new double[size()];
        lengths[rank()] = rows.length;
        lengths = sum(lengths);
        int offset = 0, total = 0;
        for (int r = 0; r < lengths.length; ++r) {
            if (r == rank()) offset = total;
            total += (int) lengths[r];
        }
        double[] all = new double[total];
        for (int i = 0; i < rows.length; ++i) all[offset + i] = rows[i];
        all = sum(all);
        float[] out = new float[total];
        for (int i = 0; i < total; ++i) out[i] = (float) all[i];
        return out;
    }

    /**
     * Entropy masking's threshold over every rank's counted tokens, as TRL gathers them: the (1 - topQuantile)
     * quantile of all ranks' rows of mask 1 ({@link HighEntropyTokens#threshold} of them together), the same on every
     * rank. A {@link HighEntropyTokens.Threshold}, with which {@link CurrentPolicyLoss#acrossRanks} masks. Each rank's
     * rows are checked before the gather (a rank that throws there leaves the others to the group's timeout).
     */
    public double entropyThreshold(float[] entropy, float[] mask, double topQuantile) {
        return HighEntropyTokens.thresholdOf(gather(HighEntropyTokens.counted(entropy, mask)), topQuantile);
    }

    /**
     * Adds every rank's gradients into each rank's, in place, after {@code backward()}: the parameters in the same
     * order on every rank; one without a gradient is passed over (on every rank alike). In buckets of up to
     * {@link #BUCKET_BYTES}, DDP's default (as {@link #sumGradients(TensorVector, long)}).
     */
    public void sumGradients(TensorVector parameters) {
        sumGradients(parameters, BUCKET_BYTES);
    }

    /**
     * As {@link #sumGradients(TensorVector)}, one all-reduce a bucket of gradients, as DDP buckets them: consecutive
     * dense gradients of one dtype and device, flattened into one tensor of at most {@code bucketBytes} (a larger
     * gradient alone; 1 reduces each gradient alone). A collective has a fixed cost, paid once a bucket instead of
     * once a parameter; the bucket's copy in and out is that of its bytes. A sparse gradient is reduced alone.
     */
    public void sumGradients(TensorVector parameters, long bucketBytes) {
        Objects.requireNonNull(parameters, "parameters");
        if (bucketBytes < 1) throw new IllegalArgumentException("bucketBytes: must be >= 1, got " + bucketBytes);
        List<Tensor> bucket = new ArrayList<>();
        long bytes = 0;
        for (long i = 0; i < parameters.size(); ++i) {
            Tensor grad = parameters.get(i).grad();
            if (!grad.defined()) continue;
            long size = grad.is_sparse() ? 0 : grad.nbytes();  // alone in its bucket, whatever its size
            if (!bucket.isEmpty() && (bytes + size > bucketBytes || !fitsWith(bucket.get(0), grad))) {
                reduce(bucket);
                bucket.clear();
                bytes = 0;
            }
            bucket.add(grad);
            bytes += size;
        }
        if (!bucket.isEmpty()) reduce(bucket);
    }

    /**
     * Whether {@code grad} may share a flat tensor with {@code first}: both dense, on one device, and of one dtype, so
     * that each is summed in its own, as alone (a flat tensor of two would take the wider).
     */
    private static boolean fitsWith(Tensor first, Tensor grad) {
        return !first.is_sparse() && !grad.is_sparse() && Tensors.is(grad, first.scalar_type())
                && first.device().equals(grad.device());
    }

    /** All-reduces the bucket's gradients in one flat tensor, and copies each one's sum back into it. */
    private void reduce(List<Tensor> bucket) {
        Tensor first = bucket.get(0);
        // One gradient is reduced where it is, unless it is not contiguous: NCCL refuses such a tensor ("Tensors must
        // be contiguous"), though Gloo takes it.
        if (bucket.size() == 1 && (first.is_sparse() || first.is_contiguous())) {
            allreduce(first);
            return;
        }
        TensorVector flat = new TensorVector();
        for (Tensor g : bucket) flat.push_back(g.reshape(-1));
        Tensor all = torch.cat(flat);
        allreduce(all);
        long offset = 0;
        for (Tensor g : bucket) {
            g.copy_(all.narrow(0, offset, g.numel()).view_as(g));
            offset += g.numel();
        }
    }

    /**
     * Runs {@code work} on this rank, then meets the others: where any rank's work threw, every rank throws, that rank
     * its own exception and the others a {@link RankFailedException} naming it, instead of waiting out the timeout at
     * their next collective (checks that one rank alone makes, say).
     */
    public void together(Runnable work) {
        Objects.requireNonNull(work, "work");
        RuntimeException failure = null;
        try {
            work.run();
        } catch (RuntimeException e) {
            failure = e;
        }
        double[] failed = new double[size()];
        failed[rank()] = failure == null ? 0 : 1;
        failed = sum(failed);
        if (failure != null) throw failure;
        for (int r = 0; r < failed.length; ++r) if (failed[r] != 0) throw new RankFailedException(r);
    }

    /** {@code work} alone where {@code ranks} is null (one process), else {@code ranks.together(work)}. */
    public static void together(Ranks ranks, Runnable work) {
        if (ranks == null) work.run();
        else ranks.together(work);
    }

    /** Another rank's work in {@link #together} threw; its own output says why. */
    public static final class RankFailedException extends IllegalStateException {
        RankFailedException(int rank) {
            super("rank " + rank + " failed (its output says why)");
        }
    }

    /**
     * Sums {@code t} over the ranks in place, every collective of this class: a failure comes back as a {@link
     * CollectiveFailedException}, not libtorch's bare RuntimeException.
     */
    private void allreduce(Tensor t) {
        try {
            group.allreduce(new TensorVector(t))._wait();
        } catch (RuntimeException e) {
            throw new CollectiveFailedException(rank(), e);
        }
    }

    /**
     * A collective failed on this rank: another rank's process ended (Gloo: "Connection reset by peer" or "closed by
     * peer", at once), or a rank missed it past the group's timeout ("Timed out"), as when one threw between
     * collectives and lives on. The group's message ({@link LibtorchErrors#message}) is in this one's; the cause is
     * libtorch's exception.
     */
    public static final class CollectiveFailedException extends IllegalStateException {
        CollectiveFailedException(int rank, RuntimeException cause) {
            super("rank " + rank + ": a collective failed, another rank stopped or is out of step (its output may say "
                    + "why): " + LibtorchErrors.message(cause), cause);
        }
    }

    /** Each of {@code local}'s values summed over the ranks, in float64 (a reward's sum and count, say). */
    public double[] sum(double... local) {
        Objects.requireNonNull(local, "local");
        if (local.length == 0) return local;
        Tensor t = torch.empty(new long[] {local.length}, new TensorOptions(ScalarType.Double), null);
        DoublePointer data = new DoublePointer(t.data_ptr());
        data.put(local);
        allreduce(t);
        double[] out = new double[local.length];
        data.get(out);
        return out;
    }
}
