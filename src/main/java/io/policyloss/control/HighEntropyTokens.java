package io.policyloss.control;

import java.util.Arrays;
import java.util.Objects;

/**
 * Entropy masking: the policy gradient through the high-entropy minority of tokens alone, the forking tokens of
 * "Beyond the 80/20 Rule" (TRL's {@code top_entropy_quantile} rho). A counted token keeps its policy-gradient term
 * where its entropy is at least the (1 - rho) quantile of the batch's counted tokens' entropies.
 *
 * <p>As TRL multiplies the clipped term alone by this mask and adds the KL term after, the other tokens get an
 * advantage of 0 here: the clipped loss is linear in the advantage, so their pg term and its gradient are 0 while
 * their KL and entropy terms stay (Entropy-Adv's shaping, min(beta H, |A| / kappa), is 0 at A = 0 too). Their
 * aggregation weights stay as they were: the denominators count every token, as TRL's do. The kernel counts their
 * clips by the sign of 0, nowhere; TRL counts them by A, as {@link PolicyObjective} does. With GMPO, TRL's
 * GMPOTrainer leaves them out of each sequence's geometric mean instead ({@link #kept},
 * {@link Gmpo#entropyMaskedAdvantages}; {@link PolicyObjective} does so). Not with GSPO
 * ({@link SequenceImportanceRatio}): there TRL's kept tokens pass gradient to every token of their sequence through
 * its ratio, and GSPO-token with zeroed advantages gives the masked tokens none.
 *
 * <p>The entropy is the current policy's at each row's temperature, which is the kernel's H: a first call without a
 * gradient ({@code LossBatch.noGradient()}) gives it, as it gives GSPO's logp
 * ({@link SequenceImportanceRatio}). Over data-parallel ranks the quantile is over every rank's counted tokens, as
 * TRL gathers them: {@code Ranks.entropyThreshold} gathers each rank's {@link #counted} tokens and takes
 * {@link #thresholdOf} them all, and {@code CurrentPolicyLoss.acrossRanks} masks each rank's rows with it.
 */
public final class HighEntropyTokens {
    private HighEntropyTokens() {}

    /**
     * Where entropy masking's threshold comes from, given the rows' entropies, their mask and rho: {@link #OWN_ROWS},
     * or every data-parallel rank's counted tokens ({@code Ranks.entropyThreshold}), as TRL gathers them.
     */
    @FunctionalInterface
    public interface Threshold {
        double of(float[] entropy, float[] mask, double topQuantile);
    }

    /** The quantile over the rows given alone: {@link #threshold}. */
    public static final Threshold OWN_ROWS = HighEntropyTokens::threshold;

    /**
     * The (1 - topQuantile) quantile of the counted tokens' (mask 1) entropies, interpolated linearly between
     * order statistics as torch.quantile does: topQuantile 1 keeps every counted token, 0 those at the maximum.
     * +inf where no token is counted: none is kept.
     */
    public static double threshold(float[] entropy, float[] mask, double topQuantile) {
        return thresholdOf(counted(entropy, mask), topQuantile);
    }

    /** The counted tokens' (mask 1) entropies, in row order: what a rank gives to the gather of every rank's. */
    public static float[] counted(float[] entropy, float[] mask) {
        RowArrays.mask(mask);
        RowArrays.sameLength(entropy, "entropy", mask.length, "mask");
        float[] counted = new float[mask.length];
        int n = 0;
        for (int i = 0; i < mask.length; ++i) {
            if (mask[i] == 0) continue;
            RowArrays.finite(entropy[i], "entropy", i);
            counted[n++] = entropy[i];
        }
        return Arrays.copyOf(counted, n);
    }

    /** {@link #threshold} of tokens that are all counted: {@code counted}, every rank's for instance. */
    public static double thresholdOf(float[] counted, double topQuantile) {
        checkTopQuantile(topQuantile);
        int n = Objects.requireNonNull(counted, "counted").length;
        for (int i = 0; i < n; ++i) RowArrays.finite(counted[i], "counted", i);
        if (n == 0) return Double.POSITIVE_INFINITY;
        float[] sorted = counted.clone();
        Arrays.sort(sorted);
        double position = (1 - topQuantile) * (n - 1);
        int below = (int) Math.floor(position), above = Math.min(below + 1, n - 1);
        return sorted[below] + (position - below) * ((double) sorted[above] - sorted[below]);
    }

    private static void checkTopQuantile(double topQuantile) {
        if (!(topQuantile >= 0 && topQuantile <= 1))
            throw new IllegalArgumentException("topQuantile: must be in [0, 1], got " + topQuantile);
    }

    /** Each row's advantage where it is counted and its entropy is at least the threshold; 0 elsewhere. */
    public static float[] advantages(float[] advantage, float[] entropy, float[] mask, double threshold) {
        float[] keep = kept(entropy, mask, threshold);
        RowArrays.sameLength(advantage, "advantage", mask.length, "mask");
        float[] out = new float[mask.length];
        for (int i = 0; i < mask.length; ++i) if (keep[i] != 0) out[i] = advantage[i];
        return out;
    }

    /** TRL's entropy mask: 1 on the counted rows whose entropy is at least the threshold, 0 elsewhere. */
    public static float[] kept(float[] entropy, float[] mask, double threshold) {
        RowArrays.mask(mask);
        RowArrays.sameLength(entropy, "entropy", mask.length, "mask");
        if (Double.isNaN(threshold)) throw new IllegalArgumentException("threshold: must not be NaN");
        float[] out = new float[mask.length];
        for (int i = 0; i < mask.length; ++i) {
            if (mask[i] == 0) continue;
            RowArrays.finite(entropy[i], "entropy", i);
            if (entropy[i] >= threshold) out[i] = 1;
        }
        return out;
    }
}
