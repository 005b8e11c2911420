package io.policyloss.control;

import io.policyloss.loss.LossConfig;

/**
 * PPO's clipped loss (SPEC section 3) decided here and run by the kernel at ratio 1, as the surrogates are
 * ({@link ReweightedPolicyGradient}): GSPO under the KL weighted by the ratio ({@link LossConfig#klBiasCorrection}),
 * whose gradient through the sequence's ratio reaches every token of the sequence ({@link RatioOneKlBiasCorrection}).
 * Only the advantage can carry that, and at GSPO's own ratio the kernel drops the advantage of every clipped token; at
 * ratio 1 it drops none.
 *
 * <p>The loss's gradient is -A r grad logp where the unclipped branch is the one taken, the dual clip is not and the
 * log-ratio is not clamped, else 0: the advantage r A or 0 at ratio 1 ({@link #of}). Every decision is the kernel's,
 * in its float arithmetic ({@code row_loss.hpp}), on the ratio its GSPO-token rows would carry, so the loss, the
 * gradient and the counts are those of GSPO in the kernel. Not with Entropy-Adv, which would shape these advantages by
 * their size ({@link PolicyObjective#check} refuses it).
 */
final class PpoClipAtRatioOne {
    private PpoClipAtRatioOne() {}

    /**
     * One row under PPO's clip: its loss (-A r, -A clip(r), or the dual clip's -A c), the ratio its gradient takes (r
     * on the unclipped branch where the log-ratio is not clamped, else 0) and its clip counts.
     */
    private record Branch(double loss, double weight, ZeroedRowClips.RowClips clips) {
        static Branch of(LossConfig config, double ratio, double advantage, boolean clamped) {
            float a = (float) advantage, r = (float) ratio;
            float rClipped = Math.min(Math.max(r, 1f - (float) config.epsLow()), 1f + (float) config.epsHigh());
            float pg1 = -a * r, pg2 = -a * rClipped;
            boolean unclipped = pg1 >= pg2;  // a tie counts as unclipped
            float pg = unclipped ? pg1 : pg2, c = (float) config.dualClipC();
            boolean dual = false;
            if (c > 0 && a < 0 && -a * c < pg) {
                pg = -a * c;
                dual = true;
            }
            double weight = unclipped && !dual && !clamped ? r : 0;
            return new Branch(pg, weight, new ZeroedRowClips.RowClips(a < 0 && r < 1f - (float) config.epsLow(),
                    a > 0 && r > 1f + (float) config.epsHigh(), dual));
        }
    }

    /**
     * Each counted row's advantage times the ratio its gradient takes (r, or 0 where clipped), and what the kernel's
     * metrics miss at ratio 1 ({@link RatioOneMetrics}): each row's loss and clips, and its ratio - 1 and oldLogp -
     * logp. Padding rows keep their advantage.
     *
     * @param ratio each row's ratio, the sequence's under GSPO ({@link ImportanceRatios#sequence})
     * @param clamped whether each row's log-ratio is clamped ({@link ImportanceRatios#clamped(float[], float[],
     *     float[], int[])})
     * @param weight the kernel's aggregation weights
     */
    static RatioOneMetrics.Rows of(LossConfig config, float[] advantage, double[] ratio, boolean[] clamped,
            float[] logp, float[] oldLogp, float[] weight, float[] mask) {
        RowArrays.mask(mask);
        RowArrays.sameLength(advantage, "advantage", mask.length, "mask");
        RowArrays.sameLength(ratio, "ratio", mask.length, "mask");
        Branch[] branch = new Branch[mask.length];
        float[] out = advantage.clone();
        for (int i = 0; i < mask.length; ++i) {
            if (mask[i] == 0) continue;
            RowArrays.finite(advantage[i], "advantage", i);
            branch[i] = Branch.of(config, ratio[i], advantage[i], clamped[i]);
            out[i] = (float) (branch[i].weight() * advantage[i]);
        }
        return new RatioOneMetrics.Rows(out, RatioOneMetrics.correction(i -> branch[i].loss() + out[i],
                i -> branch[i].clips().low(), i -> branch[i].clips().high(), i -> branch[i].clips().dual(), ratio, logp,
                oldLogp, weight, mask));
    }
}
