package io.policyloss.torch;

import io.policyloss.control.HighEntropyTokens;
import io.policyloss.control.ObjectiveMetrics;
import io.policyloss.control.SequenceClips;
import io.policyloss.loss.AggregationWeights.Totals;
import io.policyloss.loss.LossMetrics;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.function.Supplier;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.chrono.Milliseconds;
import org.bytedeco.pytorch.Backend;
import org.bytedeco.pytorch.ProcessGroupGloo;
import org.bytedeco.pytorch.Store;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.Work;
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
 * <p>Every rank calls the same methods in the same order, as with any collective. Each collective starts with a
 * meeting, where a rank whose own work failed since the last one says so ({@link #guard}, {@link #abandon}) and the
 * others throw, rather than wait for it until the group's timeout; and where ranks called different collectives,
 * every rank throws an {@link OutOfStepException}, rather than send what another would read at another size, which
 * Gloo answers by ending the process. The sums and the gather reduce float64 CPU tensors, which a Gloo group takes
 * (NCCL takes only GPU tensors); {@link #sumGradients} reduces the gradients where they are.
 *
 * <p>Ranks that must run one configuration say so first ({@link #requireSame}); a rank that fails and then ends its
 * process lets the others hear it first ({@link #heard}); {@link #close} ends a rank's part in the group.
 */
public final class Ranks implements AutoCloseable {
    /** DDP's default {@code bucket_cap_mb}, 25 MiB: {@link #sumGradients(TensorVector)}'s buckets. */
    public static final long BUCKET_BYTES = 25L << 20;
    // What a rank says at a meeting (meet): nothing to report, failed, or refused its input.
    private static final double WELL = 0, FAILED = 1, REFUSED = 2;
    // The values a meeting sums besides (a metric's sums, the gather's lengths): their collective costs no more.
    private static final int MEETING_VALUES = 64;
    // A meeting's slots a rank: what it says, then its collective (Signature's kind, a, b).
    private static final int SLOTS = 4;
    // requireSame's hash in 16-bit parts, each exact in a float.
    private static final int HASH_PARTS = 4;

    private final Backend group;
    // The store gloo's group met through, held as long as the group: a TCPStore's server (rank 0's) lives in it, and
    // JavaCPP would free it once unreachable while the group's clone still connects to it.
    private final Store store;
    // Whether the group takes the meeting's CPU tensor (Gloo), so that sumGradients meets and abandon tells; the sums
    // and the gather take CPU tensors anyway. NCCL's group, which takes only GPU tensors, sums gradients alone.
    private final boolean meets;
    // The last failure told to the others (abandon), so that one failure, rethrown through nested guards, meets once.
    private Throwable told;
    // Its meeting, which abandon posts without waiting (heard waits for it).
    private Work toldMeeting;
    // Between a collective's meeting and its end (afterMeeting), where the others are inside it: a meeting told there
    // would meet their sum of another size, which Gloo refuses by ending the process. Left set where the collective
    // threw, so that the guard its exception passes next tells nothing.
    private boolean midCollective;
    // The group's, read once: they stay readable after close.
    private final int rank, size;
    // Set by close, after which every collective throws instead of reaching a freed group.
    private boolean closed;

    /**
     * Over a group the caller made (its rank and size are the group's), which stays the caller's: {@link #close} ends
     * this object's use of it, and the caller frees it. Make it with {@code store.clone()}, not with a store made by
     * {@code new FileStore(...)} or {@code new TCPStore(...)}, which the group would delete on top of JavaCPP (as
     * {@link #gloo} does), and hold that store as long as the group.
     */
    public Ranks(Backend group) {
        this(group, null);
    }

    private Ranks(Backend group, Store store) {
        this.group = Objects.requireNonNull(group, "group");
        this.store = store;
        this.meets = group.getBackendName().getString().equals("gloo");
        this.rank = group.getRank();
        this.size = group.getSize();
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
        try {
            options.devices().push_back(ProcessGroupGloo.createDeviceForHostname(hostname));
        } catch (RuntimeException e) {  // not an address of this machine: the argument's fault, in Gloo's line
            throw new IllegalArgumentException("hostname: " + LibtorchErrors.message(e), e);
        }
        // The group takes a reference-counted store: a clone, since a store made with JavaCPP's `new` has no count of
        // its own, and the group would delete it on top of JavaCPP's deallocator (a double free, seen in tests).
        return new Ranks(new ProcessGroupGloo(store.clone(), rank, size, options), store);
    }

    public int rank() {
        return rank;
    }

    public int size() {
        return size;
    }

    /**
     * Ends this rank's part in the group: frees the group {@link #gloo} made, after its pending collectives (a told
     * failure's meeting among them, which lasts until the others meet it or the timeout: {@link #heard}), closing its
     * connections and threads; the others' next collective then throws a {@link CollectiveFailedException} at once.
     * A group given to the constructor stays the caller's to free. Every collective after it throws an
     * IllegalStateException; a second close does nothing. Without it, the group lives until the garbage collector
     * frees it.
     */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        if (store != null) group.deallocate();  // ~ProcessGroupGloo waits for its queued work, then joins its threads
        if (toldMeeting != null) toldMeeting.close();
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("ranks: closed");
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
        double[] counts = meetAndSum(Signature.GATHER, lengths);
        return afterMeeting(() -> {
            int offset = 0, total = 0;
            for (int r = 0; r < counts.length; ++r) {
                if (r == rank()) offset = total;
                total += (int) counts[r];
            }
            double[] all = new double[total];
            for (int i = 0; i < rows.length; ++i) all[offset + i] = rows[i];
            all = summed(all);
            float[] out = new float[total];
            for (int i = 0; i < total; ++i) out[i] = (float) all[i];
            return out;
        });
    }

    /**
     * Checks that every rank holds the same {@code value} (its configuration, say), which ranks started apart may not:
     * each rank's 64-bit hash of it gathered in 16-bit parts, which floats hold exactly. Where one differs, every rank
     * throws an IllegalArgumentException naming the ranks that differ from rank 0, so that no rank trains apart from
     * the others or calls collectives out of step with them.
     */
    public void requireSame(String name, String value) {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(value, "value");
        long hash = ByteBuffer.wrap(sha256(value)).getLong();
        float[] parts = new float[HASH_PARTS];
        for (int k = 0; k < HASH_PARTS; ++k) parts[k] = (hash >>> (16 * k)) & 0xFFFF;
        float[] all = gather(parts);
        List<Integer> differ = new ArrayList<>();
        for (int r = 1; r < size(); ++r)
            if (!Arrays.equals(all, r * HASH_PARTS, (r + 1) * HASH_PARTS, all, 0, HASH_PARTS)) differ.add(r);
        if (!differ.isEmpty())
            throw new IllegalArgumentException(name + ": " + named(differ) + (differ.size() == 1 ? " differs"
                    : " differ") + " from rank 0 (start every rank with the same " + name + ")");
    }

    /** "rank 1", or "ranks 1, 3": the ranks a message names. */
    private static String named(List<Integer> ranks) {
        return ranks.size() == 1 ? "rank " + ranks.get(0)
                : "ranks " + ranks.stream().map(String::valueOf).collect(Collectors.joining(", "));
    }

    private static byte[] sha256(String value) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(value.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {  // every JVM has SHA-256
            throw new IllegalStateException(e);
        }
    }

    /**
     * Entropy masking's threshold over every rank's counted tokens, as TRL gathers them: the (1 - topQuantile)
     * quantile of all ranks' rows of mask 1 ({@link HighEntropyTokens#threshold} of them together), the same on every
     * rank. A {@link HighEntropyTokens.Threshold}, with which {@link CurrentPolicyLoss#acrossRanks} masks. Each rank's
     * rows are checked before the gather (a rank that throws there, guarded, stops the others at the gather).
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
        List<Tensor> grads = new ArrayList<>();  // one without a gradient is passed over
        for (long i = 0; i < parameters.size(); ++i) {
            Tensor grad = parameters.get(i).grad();
            if (grad.defined()) grads.add(grad);
        }
        if (meets) meet(Signature.gradients(grads), new double[0]);
        afterMeeting(() -> {
            List<Tensor> bucket = new ArrayList<>();
            long bytes = 0;
            for (Tensor grad : grads) {
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
            return null;
        });
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
     * its own exception and the others a {@link RankFailedException} naming it, all at the end of the work (checks
     * that one rank alone makes, say, before any rank goes on).
     */
    public void together(Runnable work) {
        Objects.requireNonNull(work, "work");
        guard(() -> {
            work.run();
            return null;
        });
        meet(Signature.TOGETHER, new double[0]);
    }

    /** {@code work} alone where {@code ranks} is null (one process), else {@code ranks.together(work)}. */
    public static void together(Ranks ranks, Runnable work) {
        if (ranks == null) work.run();
        else ranks.together(work);
    }

    /**
     * Runs {@code work}, collectives included; where it throws, tells the others ({@link #abandon}) and throws on, so
     * that they stop at their next collective instead of waiting out the group's timeout there.
     */
    public <T> T guard(Supplier<T> work) {
        Objects.requireNonNull(work, "work");
        try {
            return work.get();
        } catch (RuntimeException | Error e) {
            abandon(e);
            throw e;
        }
    }

    /** {@code work} alone where {@code ranks} is null (one process), else {@code ranks.guard(work)}. */
    public static <T> T guard(Ranks ranks, Supplier<T> work) {
        return ranks == null ? work.get() : ranks.guard(work);
    }

    /**
     * This rank failed between collectives (a check, a write, a step's own work): tells the others, whose current or
     * next collective then throws a {@link RankFailedException} naming this rank. Call it before this rank's next
     * collective, and throw on; it does not wait for the others. Every collective of this class starts with a meeting
     * of the ranks, this one's meeting among them, so the group stays in step. Nothing for a failure already told (as
     * it passes through nested guards) or one that a collective raised (every rank saw it: {@link RankFailedException},
     * {@link CollectiveFailedException}, here or as a cause), nothing for a failure inside a collective of this class
     * after its meeting (the others are inside it too, and wait there until the timeout, as for a lost rank), and
     * nothing on a group other than Gloo (NCCL takes no CPU tensor: its collectives do not meet).
     */
    public void abandon(Throwable failure) {
        Objects.requireNonNull(failure, "failure");
        for (Throwable t = failure; t != null; t = t.getCause())
            if (t == told || t instanceof RankFailedException || t instanceof CollectiveFailedException
                    || t instanceof OutOfStepException)
                return;
        if (!meets || midCollective || closed) return;
        told = failure;
        if (toldMeeting != null) toldMeeting.close();  // this rank has met the others since (Gloo holds it if not)
        // Not waited for: the work holds the tensor and completes as the others meet (if any rank is left to).
        toldMeeting = group.allreduce(new TensorVector(meeting(failure instanceof IllegalArgumentException ? REFUSED
                : FAILED, Signature.TOLD, new double[0])));
    }

    /**
     * Waits at most {@code within} for the others to meet the failure this rank last told ({@link #abandon}), and says
     * whether they did; true where none was told. A process that ends after its failure calls it first, so that its
     * meeting reaches the others while its connections are open, though they come to their next collective after it
     * has thrown; without it, the others may find the connections closed instead ({@link CollectiveFailedException})
     * and never learn which rank failed or whether it refused its input. False where the others did not come within
     * the bound, or the group failed first (a rank gone).
     */
    public boolean heard(Duration within) {
        Objects.requireNonNull(within, "within");
        checkOpen();
        if (toldMeeting == null) return true;
        try {
            return toldMeeting._wait(new Milliseconds(Math.max(within.toMillis(), 1)));
        } catch (RuntimeException e) {  // c10d's "Operation timed out!", or the group's own failure
            return false;
        }
    }

    /**
     * The meeting every collective starts with: each rank says whether it failed since the last one (only {@link
     * #abandon} says so), and where one did, the others throw; then which collective it is in ({@code signature}), and
     * where the ranks are in different ones, every rank throws an {@link OutOfStepException}, before any sends what
     * another would read at another size; else {@code values} (at most MEETING_VALUES) summed over the ranks. One
     * all-reduce of a fixed size, whatever the collective, so that an abandoning rank's meeting meets the others' next
     * one; a sum of a few values is the meeting itself and costs no more than without it.
     */
    private double[] meet(Signature signature, double[] values) {
        Tensor t = meeting(WELL, signature, values);
        allreduce(t);
        int n = size();
        double[] all = new double[SLOTS * n + MEETING_VALUES];
        new DoublePointer(t.data_ptr()).get(all);
        List<Integer> failed = new ArrayList<>();
        boolean refused = true;
        for (int r = 0; r < n; ++r) {
            if (all[r] == WELL) continue;
            failed.add(r);
            refused &= all[r] == REFUSED;
        }
        if (!failed.isEmpty()) throw new RankFailedException(failed, refused);
        Signature[] each = new Signature[n];
        for (int r = 0; r < n; ++r)
            each[r] = new Signature(Signature.Kind.values()[(int) all[n + r]], (long) all[2 * n + r],
                    (long) all[3 * n + r]);
        if (Arrays.stream(each).distinct().count() > 1) throw new OutOfStepException(each);
        return Arrays.copyOfRange(all, SLOTS * n, SLOTS * n + values.length);
    }

    /**
     * A meeting's tensor: at this rank's slots what it says and its collective's signature (zeros at the others'),
     * then the values.
     */
    private Tensor meeting(double said, Signature signature, double[] values) {
        int n = size();
        double[] m = new double[SLOTS * n + MEETING_VALUES];
        m[rank()] = said;
        m[n + rank()] = signature.kind().ordinal();
        m[2 * n + rank()] = signature.a();
        m[3 * n + rank()] = signature.b();
        System.arraycopy(values, 0, m, SLOTS * n, values.length);
        return doubles(m);
    }

    /**
     * Which collective a rank is in, as it says at the meeting: its kind and two sizes that every rank's call of it
     * must share (a sum's length; the gradients' count and their dense bytes).
     */
    private record Signature(Kind kind, long a, long b) {
        /** TOLD: an abandoning rank's, which the others never compare (they throw first). */
        enum Kind { TOLD, TOGETHER, SUM, GATHER, GRADIENTS }

        static final Signature TOLD = new Signature(Kind.TOLD, 0, 0), TOGETHER = new Signature(Kind.TOGETHER, 0, 0),
                GATHER = new Signature(Kind.GATHER, 0, 0);

        static Signature sum(int length) {
            return new Signature(Kind.SUM, length, 0);
        }

        /** The gradients, and the bytes of the dense ones (a sparse one's differ from rank to rank). */
        static Signature gradients(List<Tensor> grads) {
            long bytes = 0;
            for (Tensor grad : grads) if (!grad.is_sparse()) bytes += grad.nbytes();
            return new Signature(Kind.GRADIENTS, grads.size(), bytes);
        }

        @Override
        public String toString() {
            return switch (kind) {
                case TOLD -> "says it failed";
                case TOGETHER -> "meets after its work (together)";
                case SUM -> "sums " + count(a, "value");
                case GATHER -> "gathers rows";
                case GRADIENTS -> "sums " + count(a, "gradient") + " of " + count(b, "dense byte");
            };
        }

        private static String count(long n, String noun) {
            return n + " " + noun + (n == 1 ? "" : "s");
        }
    }

    /**
     * The ranks met in different collectives (a sum of another length, a gather where another sums, gradients of other
     * shapes): every rank throws this at the meeting, rather than send what another would read at another size. A bug
     * in the callers' order of collectives; the group stays in step.
     */
    public static final class OutOfStepException extends IllegalStateException {
        OutOfStepException(Object[] each) {
            super("ranks out of step: " + IntStream.range(0, each.length)
                    .mapToObj(r -> "rank " + r + " " + each[r]).collect(Collectors.joining(", ")));
        }
    }

    /** Another rank's work threw ({@link #together}, {@link #guard}, {@link #abandon}); its own output says why. */
    public static final class RankFailedException extends IllegalStateException {
        private final boolean refused;

        RankFailedException(List<Integer> ranks, boolean refused) {
            super(named(ranks) + (ranks.size() == 1 ? " failed (its output says why)"
                    : " failed (their output says why)"));
            this.refused = refused;
        }

        /** Whether each rank that failed refused its input (threw an IllegalArgumentException): a bad input. */
        public boolean refused() {
            return refused;
        }
    }

    /**
     * Sums {@code t} over the ranks in place, every collective of this class: a failure comes back as a {@link
     * CollectiveFailedException}, not libtorch's bare RuntimeException.
     */
    private void allreduce(Tensor t) {
        checkOpen();
        try (TensorVector tensors = new TensorVector(t); Work work = group.allreduce(tensors)) {
            work._wait();
        } catch (RuntimeException e) {
            throw new CollectiveFailedException(rank(), e);
        }
    }

    /**
     * A collective failed on this rank: another rank's process ended (Gloo: "Connection reset by peer" or "closed by
     * peer", at once), or a rank missed it past the group's timeout ("Timed out"), as when one threw between
     * collectives, unguarded ({@link #guard}), and lives on. The group's message ({@link LibtorchErrors#message}) is in
     * this one's; the cause is libtorch's exception.
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
        return meetAndSum(Signature.sum(local.length), local);
    }

    /** A meeting, and {@code values} summed in it where they fit, else after it. */
    private double[] meetAndSum(Signature signature, double[] values) {
        if (values.length <= MEETING_VALUES) return meet(signature, values);
        meet(signature, new double[0]);
        return afterMeeting(() -> summed(values));
    }

    /** A collective's work after its meeting, where a failure is not told ({@link #abandon}). */
    private <T> T afterMeeting(Supplier<T> work) {
        midCollective = true;
        T out = work.get();
        midCollective = false;
        return out;
    }

    /** {@code local} summed over the ranks, without a meeting (none where it is empty, as on every rank). */
    private double[] summed(double[] local) {
        if (local.length == 0) return local;
        Tensor t = doubles(local);
        allreduce(t);
        double[] out = new double[local.length];
        new DoublePointer(t.data_ptr()).get(out);
        return out;
    }

    private static Tensor doubles(double[] values) {
        Tensor t = torch.empty(new long[] {values.length}, new TensorOptions(ScalarType.Double), null);
        new DoublePointer(t.data_ptr()).put(values);
        return t;
    }
}
