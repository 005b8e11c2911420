package io.policyloss.control;

import io.policyloss.loss.AggregationWeights;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Rejection sampling of rollouts from another engine by their divergence from the trainer, as verl's rollout
 * correction does it ({@code algorithm.rollout_correction.rollout_rs} and {@code rollout_rs_threshold}): a token, or
 * every token of a sequence, whose divergence estimate between the trainer's policy and the engine's is outside a
 * bound leaves the batch altogether. Unlike an importance weight ({@link RolloutCorrection}), which scales the policy
 * gradient alone, a rejected token is taken out of the response mask: its loss terms and its place in the
 * aggregation's denominators go, as verl's modified response mask takes them. So the rejection gives a new mask, for
 * {@link AggregationWeights#weights} and the controllers.
 *
 * <p>With d = clamp(oldLogp - rolloutLogp, -20, 20) of each counted token (oldLogp the trainer's log-prob of the
 * token under the policy that sampled it, rolloutLogp the engine's), k1 = -d, k2 = d^2 / 2 and k3 = e^d - 1 - d
 * estimate KL(engine || trainer). A criterion bounds one of them per token ({@code token_k*}), or per sequence its
 * sum ({@code seq_sum_k*}), its mean ({@code seq_mean_k*}) or its largest ({@code seq_max_k2}, {@code _k3}) over the
 * counted tokens (0 for a sequence without any). k2 and k3 are kept while at most an upper bound; k1, which has
 * either sign, while its exponent e^k1, the engine's probability over the trainer's, is in [lower, upper]. A token
 * stays when every criterion keeps it.
 *
 * @param criteria the criteria, each at most once, at least one
 */
public record RolloutRejection(List<Criterion> criteria) {
    /** verl's {@code SAFETY_BOUND} on the log-ratio. */
    private static final double MAX_LOG_RATIO = 20;

    /** Which estimate, and over what: verl's option names in upper case. */
    public enum Statistic {
        TOKEN_K1(Over.TOKEN, 1), TOKEN_K2(Over.TOKEN, 2), TOKEN_K3(Over.TOKEN, 3),
        SEQ_SUM_K1(Over.SUM, 1), SEQ_SUM_K2(Over.SUM, 2), SEQ_SUM_K3(Over.SUM, 3),
        SEQ_MEAN_K1(Over.MEAN, 1), SEQ_MEAN_K2(Over.MEAN, 2), SEQ_MEAN_K3(Over.MEAN, 3),
        SEQ_MAX_K2(Over.MAX, 2), SEQ_MAX_K3(Over.MAX, 3);

        /** A token's own estimate, or its sequence's sum, mean or largest of them. */
        private enum Over { TOKEN, SUM, MEAN, MAX }

        private final Over over;
        private final int estimator;

        Statistic(Over over, int estimator) {
            this.over = over;
            this.estimator = estimator;
        }

        /** verl's name, e.g. {@code seq_mean_k3}. */
        public String verlName() {
            return name().toLowerCase(Locale.ROOT);
        }

        boolean k1() {
            return estimator == 1;
        }

        /** The estimate of one token from its clamped log-ratio d: k1, k2 or k3. */
        double estimate(double d) {
            return switch (estimator) {
                case 1 -> -d;
                case 2 -> 0.5 * d * d;
                default -> Math.exp(d) - 1 - d;
            };
        }
    }

    /**
     * One bound.
     *
     * @param statistic what is bounded
     * @param lower for the k1 statistics, the least e^k1 kept, &gt; 0 and at most upper; unused (0) for the others
     * @param upper the largest e^k1 (k1) or k2 or k3 kept, finite and &gt; 0
     */
    public record Criterion(Statistic statistic, double lower, double upper) {
        public Criterion {
            Objects.requireNonNull(statistic, "statistic");
            String name = statistic.verlName();
            if (!(upper > 0) || upper == Double.POSITIVE_INFINITY)
                throw new IllegalArgumentException("upper: " + name + ": must be finite and > 0, got " + upper);
            if (statistic.k1() && !(lower > 0 && lower <= upper))
                throw new IllegalArgumentException("lower: " + name + ": must be > 0 and at most upper = " + upper
                        + ", got " + lower);
            if (!statistic.k1() && lower != 0)
                throw new IllegalArgumentException("lower: " + name + ": only the k1 statistics take a lower bound, "
                        + "got " + lower);
        }

        /** Whether a token or sequence of this estimate stays. */
        boolean keeps(double estimate) {
            return statistic.k1() ? estimate >= Math.log(lower) && estimate <= Math.log(upper) : estimate <= upper;
        }
    }

    public RolloutRejection {
        criteria = List.copyOf(Objects.requireNonNull(criteria, "criteria"));
        if (criteria.isEmpty()) throw new IllegalArgumentException("criteria: must name at least one");
        Set<Statistic> seen = EnumSet.noneOf(Statistic.class);
        for (Criterion c : criteria)
            if (!seen.add(c.statistic()))
                throw new IllegalArgumentException("criteria: " + c.statistic().verlName() + " is given twice");
    }

    /**
     * verl's configuration: {@code rollout_rs}, comma-separated options (e.g. {@code "token_k1,seq_max_k2"}), and
     * {@code rollout_rs_threshold}, one threshold for them all or one each, comma-separated. A k1 option's threshold
     * is {@code lower_upper} (e.g. {@code "0.5_2"}) or an upper bound u alone, with lower 1 / u; the others' an upper
     * bound alone. A repeated option counts once, as in verl.
     */
    public static RolloutRejection parse(String rolloutRs, String threshold) {
        Objects.requireNonNull(rolloutRs, "rolloutRs");
        Objects.requireNonNull(threshold, "threshold");
        Set<Statistic> options = new LinkedHashSet<>();
        for (String option : rolloutRs.split(",")) {
            if (option.isBlank()) continue;
            try {
                options.add(Statistic.valueOf(option.strip().toUpperCase(Locale.ROOT)));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("rolloutRs: unknown option '" + option.strip() + "'; verl's are "
                        + Arrays.stream(Statistic.values()).map(Statistic::verlName).collect(Collectors.joining(", ")));
            }
        }
        if (options.isEmpty()) throw new IllegalArgumentException("rolloutRs: must name at least one option");
        List<String> specs = new ArrayList<>();
        for (String spec : threshold.split(",")) if (!spec.isBlank()) specs.add(spec.strip());
        if (specs.size() != 1 && specs.size() != options.size())
            throw new IllegalArgumentException("threshold: " + specs.size() + " thresholds for " + options.size()
                    + " options; give one for all or one each");
        List<Criterion> criteria = new ArrayList<>();
        int k = 0;
        for (Statistic s : options) {
            String spec = specs.get(specs.size() == 1 ? 0 : k++);
            int underscore = spec.indexOf('_');
            if (underscore >= 0 && !s.k1())
                throw new IllegalArgumentException("threshold: " + s.verlName() + " takes an upper bound alone, got '"
                        + spec + "'");
            double upper = number(underscore < 0 ? spec : spec.substring(underscore + 1), spec);
            double lower = !s.k1() ? 0 : underscore < 0 ? 1 / upper : number(spec.substring(0, underscore), spec);
            criteria.add(new Criterion(s, lower, upper));
        }
        return new RolloutRejection(criteria);
    }

    /**
     * The new mask: each row's mask, 0 where a criterion rejects its token or its sequence. Rows, mask and sequenceOf
     * as in {@link AggregationWeights}; padding rows (mask 0) are not read.
     */
    public float[] mask(float[] oldLogp, float[] rolloutLogp, float[] mask, int[] sequenceOf) {
        boolean[][] keep = keeps(oldLogp, rolloutLogp, mask, sequenceOf);
        float[] out = mask.clone();
        for (boolean[] kept : keep)
            for (int i = 0; i < mask.length; ++i) if (!kept[i]) out[i] = 0;
        return out;
    }

    /**
     * What verl logs of the rejection, for one batch; 0 where no token is counted.
     *
     * @param maskedFraction {@code rollout_rs_masked_fraction}: the fraction of counted tokens rejected
     * @param seqMaskedFraction {@code rollout_rs_seq_masked_fraction}: the fraction of sequences (every one up to the
     *     largest index, as verl's batch has them) with a rejected token
     * @param criterionMaskedFraction {@code rollout_rs_<option>_masked_fraction}: per criterion, in order, the fraction
     *     of counted tokens it rejects
     * @param criterionSeqMaskedFraction {@code rollout_rs_<option>_seq_masked_fraction}: per criterion, the fraction of
     *     sequences with a counted token in which it rejects one
     */
    public record Metrics(double maskedFraction, double seqMaskedFraction, double[] criterionMaskedFraction,
            double[] criterionSeqMaskedFraction) {}

    /** The batch's {@link Metrics}. */
    public Metrics metrics(float[] oldLogp, float[] rolloutLogp, float[] mask, int[] sequenceOf) {
        boolean[][] keep = keeps(oldLogp, rolloutLogp, mask, sequenceOf);
        int sequences = (int) AggregationWeights.Totals.of(mask, sequenceOf).sequences();
        boolean[] counted = new boolean[mask.length], byAny = new boolean[mask.length];
        for (int i = 0; i < mask.length; ++i) counted[i] = mask[i] == 1;
        int[] batch = rowsAndSequences(counted, sequenceOf, sequences);  // counted tokens, sequences with one
        double[] byCriterion = new double[keep.length], seqByCriterion = new double[keep.length];
        for (int c = 0; c < keep.length; ++c) {
            boolean[] rejected = new boolean[mask.length];  // a padding row is kept, so never rejected
            for (int i = 0; i < mask.length; ++i) byAny[i] |= rejected[i] = !keep[c][i];
            int[] r = rowsAndSequences(rejected, sequenceOf, sequences);
            byCriterion[c] = share(r[0], batch[0]);
            seqByCriterion[c] = share(r[1], batch[1]);
        }
        int[] any = rowsAndSequences(byAny, sequenceOf, sequences);
        return new Metrics(share(any[0], batch[0]), share(any[1], sequences), byCriterion, seqByCriterion);
    }

    /** How many rows are marked, and how many sequences have a marked row. */
    private static int[] rowsAndSequences(boolean[] marked, int[] sequenceOf, int sequences) {
        boolean[] sequence = new boolean[sequences];
        int rows = 0, count = 0;
        for (int i = 0; i < marked.length; ++i) {
            if (!marked[i]) continue;
            ++rows;
            if (!sequence[sequenceOf[i]]) ++count;
            sequence[sequenceOf[i]] = true;
        }
        return new int[] {rows, count};
    }

    private static double share(int part, int whole) {
        return whole == 0 ? 0 : (double) part / whole;
    }

    /** Per criterion, whether each counted row stays (padding rows: true). */
    private boolean[][] keeps(float[] oldLogp, float[] rolloutLogp, float[] mask, int[] sequenceOf) {
        int sequences = (int) AggregationWeights.Totals.of(mask, sequenceOf).sequences();
        RowArrays.finiteWhereCounted(mask, new String[] {"oldLogp", "rolloutLogp"}, oldLogp, rolloutLogp);
        double[] d = new double[mask.length];
        int[] tokens = new int[sequences];
        for (int i = 0; i < mask.length; ++i) {
            if (mask[i] == 0) continue;
            d[i] = Math.min(Math.max((double) oldLogp[i] - rolloutLogp[i], -MAX_LOG_RATIO), MAX_LOG_RATIO);
            ++tokens[sequenceOf[i]];
        }
        boolean[][] keep = new boolean[criteria.size()][mask.length];
        for (int c = 0; c < criteria.size(); ++c) {
            Criterion criterion = criteria.get(c);
            Statistic s = criterion.statistic();
            double[] perSequence = new double[sequences];  // k2 and k3 are >= 0, so 0 starts their largest too
            for (int i = 0; i < mask.length; ++i) {
                if (mask[i] == 0 || s.over == Statistic.Over.TOKEN) continue;
                int q = sequenceOf[i];
                double e = s.estimate(d[i]);
                perSequence[q] = s.over == Statistic.Over.MAX ? Math.max(perSequence[q], e) : perSequence[q] + e;
            }
            if (s.over == Statistic.Over.MEAN)
                for (int q = 0; q < sequences; ++q) perSequence[q] /= Math.max(tokens[q], 1);
            for (int i = 0; i < mask.length; ++i)
                keep[c][i] = mask[i] == 0 || criterion.keeps(s.over == Statistic.Over.TOKEN ? s.estimate(d[i])
                        : perSequence[sequenceOf[i]]);
        }
        return keep;
    }

    private static double number(String text, String spec) {
        try {
            return Double.parseDouble(text);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("threshold: '" + spec + "' is not a number or lower_upper");
        }
    }
}
