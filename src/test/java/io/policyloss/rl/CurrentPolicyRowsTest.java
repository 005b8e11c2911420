package io.policyloss.rl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.policyloss.torch.Tensors;
import io.policyloss.torch.TorchThreads;
import io.policyloss.torch.TransformerPolicy;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.bytedeco.pytorch.TensorVector;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The trainer's GSPO, entropy masking, off-policy sequence masking, Clip-Cov, CISPO, SAPO, KL-Cov, GMPO, VESPO and
 * DPPO, which move each update's rows after a first pass of the loss over its logits: at their settings that change
 * nothing they train as GRPO does, Clip-Cov choosing every token leaves no policy gradient, and the metrics of the
 * losses at ratio 1 are of their own ratios, clips and losses.
 */
class CurrentPolicyRowsTest {
    private static final String SHAPE = "{\"task\": {\"name\": \"digit-sum\", \"size\": 2}, \"model\":"
            + " {\"layers\": 1, \"width\": 16, \"heads\": 2, \"context\": 8}, \"promptsPerStep\": 4,"
            + " \"groupSize\": 4, \"miniBatches\": 2, \"randomReward\": true}";  // rewards for an untrained model

    @BeforeAll
    static void oneThread() {
        TorchThreads.use(1);
    }

    /** rho = 1 keeps every token: the first pass and the rebuilt rows must leave the run GRPO's, bit for bit. */
    @Test
    void entropyMaskingThatKeepsEveryTokenIsGrpo() {
        TrainConfig grpo = TrainConfigs.withOverrides(TrainConfigs.preset("grpo"), SHAPE);
        TrainConfig masked = TrainConfigs.withOverrides(grpo, "{\"topEntropyQuantile\": 1.0}");
        assertEquals(steps(grpo, 3), steps(masked, 3));
        TrainConfig top = TrainConfigs.withOverrides(grpo, "{\"topEntropyQuantile\": 0.2}");
        assertFalse(steps(grpo, 3).equals(steps(top, 3)), "the top 20% alone train otherwise");
    }

    /**
     * Off-policy sequence masking at a threshold that no sequence's mean KL reaches leaves the run GRPO's, bit for
     * bit (two updates a step, so the second is off-policy); at one below every KL it drops every sequence of
     * negative advantage, and trains otherwise.
     */
    @Test
    void offPolicyMaskingThatMasksNothingIsGrpo() {
        TrainConfig grpo = TrainConfigs.withOverrides(TrainConfigs.preset("grpo"), SHAPE);
        TrainConfig loose = TrainConfigs.withOverrides(grpo, "{\"offPolicyMaskThreshold\": 1e9}");
        assertEquals(steps(grpo, 2), steps(loose, 2));
        TrainConfig tight = TrainConfigs.withOverrides(grpo, "{\"offPolicyMaskThreshold\": -1e9}");
        assertFalse(steps(grpo, 2).equals(steps(tight, 2)), "without the negative sequences it trains otherwise");
    }

    /**
     * One update per step, so the ratios are 1 up to the rounding of logits recomputed on the update's batch: each
     * sequence's ratio is then its tokens' too, and GSPO's step is GRPO's to within that rounding.
     */
    @Test
    void gspoOnPolicyIsGrpo() {
        TrainConfig grpo = TrainConfigs.withOverrides(TrainConfigs.preset("grpo"),
                SHAPE.replace("\"miniBatches\": 2", "\"miniBatches\": 1"));
        TrainConfig gspo = TrainConfigs.withOverrides(grpo, "{\"sequenceRatio\": true}");
        StepMetrics a = steps(grpo, 1).get(0), b = steps(gspo, 1).get(0);
        assertTrue(Math.abs(a.loss()) > 1e-3, "a loss to compare: " + a);
        assertEquals(a.loss(), b.loss(), 1e-5 * Math.abs(a.loss()));
        assertEquals(a.approxKl(), b.approxKl(), 1e-6);
        assertEquals(0.0, b.clipLowFraction() + b.clipHighFraction());
        TrainConfig offPolicy = TrainConfigs.withOverrides(TrainConfigs.preset("grpo"), SHAPE);  // 2 updates a step
        TrainConfig gspoOffPolicy = TrainConfigs.withOverrides(offPolicy, "{\"sequenceRatio\": true}");
        assertFalse(steps(offPolicy, 1).equals(steps(gspoOffPolicy, 1)),
                "the second update's ratios are no longer 1: GSPO's differ from GRPO's");
    }

    @Test
    void clipCovChoosingEveryTokenLeavesNoPolicyGradient() {
        TrainConfig grpo = TrainConfigs.withOverrides(TrainConfigs.preset("grpo"),
                SHAPE.replace("\"miniBatches\": 2", "\"miniBatches\": 1"));
        TrainConfig all = TrainConfigs.withOverrides(grpo,
                "{\"clipCov\": {\"clipRatio\": 1, \"lower\": \"-Infinity\", \"upper\": \"Infinity\"}}");
        for (TrainConfig c : List.of(all, grpo)) {
            TransformerPolicy policy = BaseModel.newPolicy(c);
            List<float[]> before = parameters(policy);
            StepMetrics m = new Trainer(c, policy, null).step(0);
            boolean unchanged = true;
            List<float[]> after = parameters(policy);
            for (int i = 0; i < before.size(); ++i) unchanged &= Arrays.equals(before.get(i), after.get(i));
            assertEquals(c == all, unchanged, c.clipCov() + ": parameters unchanged");
            if (c == all) assertEquals(0.0, Math.abs(m.loss()), "every advantage zeroed: " + m);
        }
    }

    /**
     * On-policy the ratios are 1 to within rounding: SAPO's weight 4 s (1 - s) r is then 1, so it trains as GRPO
     * does, and its loss -f(1) A = -(2 / tau) A logs twice GRPO's -A r at tau 1.
     */
    @Test
    void sapoOnPolicyTrainsAsGrpoAndLogsItsOwnLoss() {
        TrainConfig grpo = TrainConfigs.withOverrides(TrainConfigs.preset("grpo"),
                SHAPE.replace("\"miniBatches\": 2", "\"miniBatches\": 1"));
        TrainConfig sapo = TrainConfigs.withOverrides(grpo, "{\"sapo\": {\"tauPos\": 1, \"tauNeg\": 1}}");
        TransformerPolicy a = BaseModel.newPolicy(grpo), b = BaseModel.newPolicy(sapo);
        StepMetrics ma = new Trainer(grpo, a, null).step(0), mb = new Trainer(sapo, b, null).step(0);
        assertTrue(Math.abs(ma.loss()) > 1e-3, "a loss to compare: " + ma);
        assertEquals(2 * ma.loss(), mb.loss(), 1e-5 * Math.abs(ma.loss()));
        List<float[]> pa = parameters(a), pb = parameters(b);
        for (int i = 0; i < pa.size(); ++i)
            for (int j = 0; j < pa.get(i).length; ++j)
                assertEquals(pa.get(i)[j], pb.get(i)[j], 1e-6, "parameter " + i + "[" + j + "]");
    }

    /** On-policy each sequence's ratio is 1 to within rounding, where VESPO's weight phi(1) is 1: it trains as GRPO. */
    @Test
    void vespoOnPolicyTrainsAsGrpo() {
        TrainConfig grpo = TrainConfigs.withOverrides(TrainConfigs.preset("grpo"),
                SHAPE.replace("\"miniBatches\": 2", "\"miniBatches\": 1"));
        TrainConfig vespo = TrainConfigs.withOverrides(grpo,
                "{\"vespo\": {\"kPos\": 2, \"lambdaPos\": 3, \"kNeg\": 3, \"lambdaNeg\": 2}}");
        TransformerPolicy a = BaseModel.newPolicy(grpo), b = BaseModel.newPolicy(vespo);
        List<float[]> initial = parameters(a);
        new Trainer(grpo, a, null).step(0);
        new Trainer(vespo, b, null).step(0);
        assertSameStepsOfLrsOrder(initial, a, b, grpo.learningRate());
        TrainConfig offPolicy = TrainConfigs.withOverrides(TrainConfigs.preset("grpo"), SHAPE);  // 2 updates a step
        TrainConfig vespoOffPolicy = TrainConfigs.withOverrides(offPolicy,
                "{\"vespo\": {\"kPos\": 2, \"lambdaPos\": 3, \"kNeg\": 3, \"lambdaNeg\": 2}}");
        assertFalse(steps(offPolicy, 1).equals(steps(vespoOffPolicy, 1)), "off-policy its weights are not 1");
    }

    /**
     * Off-policy (two updates a step), CISPO without bounds has GRPO's gradient -r A grad logp where GRPO clips
     * nothing (epsLow 1, no clip-high): the two runs' approx-KL, which the kernel sees as 0 at ratio 1, must agree.
     * Capped at 1, CISPO counts the positive tokens whose ratio rose as clipped high.
     */
    @Test
    void cispoReportsItsOwnRatiosAndClips() {
        TrainConfig grpo = TrainConfigs.withOverrides(TrainConfigs.preset("grpo"), SHAPE);
        TrainConfig unclipped =
                TrainConfigs.withOverrides(grpo, "{\"loss\": {\"epsLow\": 1, \"epsHigh\": \"Infinity\"}}");
        TrainConfig cispo =
                TrainConfigs.withOverrides(grpo, "{\"cispo\": {\"minWeight\": 0, \"maxWeight\": \"Infinity\"}}");
        StepMetrics a = steps(unclipped, 2).get(1), b = steps(cispo, 2).get(1);
        assertTrue(Math.abs(a.approxKl()) > 1e-6, "an approx-KL to compare: " + a);
        assertEquals(a.approxKl(), b.approxKl(), 1e-3 * Math.abs(a.approxKl()));
        assertEquals(0.0, b.clipLowFraction() + b.clipHighFraction());
        TrainConfig capped = TrainConfigs.withOverrides(cispo, "{\"cispo\": {\"maxWeight\": 1}}");
        StepMetrics c = steps(capped, 2).get(1);
        assertTrue(c.clipHighFraction() > 0.05 && c.clipLowFraction() == 0, c.toString());
    }

    /**
     * Off-policy (two updates a step), DPPO with a region no probability leaves (a TV of at most 1) and no truncation
     * is CISPO without bounds, -sg(r) A logp, bit for bit. A narrow region masks tokens on both sides, and a
     * truncation at 1 counts the unmasked tokens whose ratio rose (verl's pg_clipfrac_lower).
     */
    @Test
    void dppoWithARegionNothingLeavesIsUnboundedCispo() {
        TrainConfig grpo = TrainConfigs.withOverrides(TrainConfigs.preset("grpo"), SHAPE);
        TrainConfig cispo =
                TrainConfigs.withOverrides(grpo, "{\"cispo\": {\"minWeight\": 0, \"maxWeight\": \"Infinity\"}}");
        TrainConfig wide = TrainConfigs.withOverrides(grpo, "{\"dppo\": {\"divergence\": \"BINARY_TV\", \"low\": 1,"
                + " \"high\": 1, \"maxWeight\": \"Infinity\"}}");
        List<StepMetrics> a = steps(cispo, 2), b = steps(wide, 2);
        assertTrue(Math.abs(a.get(1).approxKl()) > 1e-6, "an off-policy update: " + a.get(1));
        assertEquals(a, b);
        TrainConfig narrow = TrainConfigs.withOverrides(wide, "{\"dppo\": {\"low\": 1e-4, \"high\": 1e-4,"
                + " \"maxWeight\": 1}}");
        StepMetrics c = steps(narrow, 2).get(1);
        assertTrue(c.clipLowFraction() > 0.05 && c.clipHighFraction() > 0.05 && c.dualClipFraction() > 0.05,
                c.toString());
    }

    /**
     * KL-Cov's loss is -A r on every token, unclipped, plus its penalty: with a coefficient of 0 an update is GRPO's
     * without a clip range, off-policy too (the second update of each step), in its loss and its approx-KL.
     */
    @Test
    void klCovWithoutItsPenaltyIsGrpoWithoutItsClip() {
        TrainConfig grpo = TrainConfigs.withOverrides(TrainConfigs.preset("grpo"), SHAPE);
        TrainConfig unclipped =
                TrainConfigs.withOverrides(grpo, "{\"loss\": {\"epsLow\": 1, \"epsHigh\": \"Infinity\"}}");
        TrainConfig free = TrainConfigs.withOverrides(grpo, "{\"klCov\": {\"klCovRatio\": 0.2, \"klCoef\": 0}}");
        StepMetrics a = steps(unclipped, 1).get(0), b = steps(free, 1).get(0);
        assertTrue(Math.abs(a.loss()) > 1e-3 && Math.abs(a.approxKl()) > 1e-6, "values to compare: " + a);
        assertEquals(a.loss(), b.loss(), 1e-5 * Math.abs(a.loss()));
        assertEquals(a.approxKl(), b.approxKl(), 1e-4 * Math.abs(a.approxKl()));
        TrainConfig penalised = TrainConfigs.withOverrides(free, "{\"klCov\": {\"klCoef\": 1}}");
        assertTrue(steps(penalised, 1).get(0).loss() > b.loss() + 1e-6, "the penalty adds to the loss");
    }

    /**
     * On-policy every log-ratio is 0 to within rounding: no token is clipped and each sequence's geometric mean is 1,
     * so GMPO trains as GRPO over the same seq-mean-token-mean. (Both losses are then -mean A over the sequences, 0
     * to within rounding: a group's advantages sum to 0.) Off-policy (two updates a step), a narrow clip counts tokens
     * on both sides.
     */
    @Test
    void gmpoOnPolicyTrainsAsGrpoAndCountsItsClips() {
        TrainConfig grpo = TrainConfigs.withOverrides(TrainConfigs.preset("grpo"), SHAPE.replace("\"miniBatches\": 2",
                "\"miniBatches\": 1, \"aggregation\": \"SEQ_MEAN_TOKEN_MEAN\""));
        TrainConfig gmpo = TrainConfigs.withOverrides(grpo, "{\"gmpo\": {\"clipLow\": 0.4, \"clipHigh\": 0.4}}");
        TransformerPolicy a = BaseModel.newPolicy(grpo), b = BaseModel.newPolicy(gmpo);
        List<float[]> initial = parameters(a);
        StepMetrics ma = new Trainer(grpo, a, null).step(0), mb = new Trainer(gmpo, b, null).step(0);
        assertEquals(ma.loss(), mb.loss(), 1e-6);
        assertSameStepsOfLrsOrder(initial, a, b, grpo.learningRate());
        TrainConfig offPolicy = TrainConfigs.withOverrides(TrainConfigs.preset("grpo"), SHAPE);  // 2 updates a step
        TrainConfig narrow =
                TrainConfigs.withOverrides(offPolicy, "{\"gmpo\": {\"clipLow\": 1e-3, \"clipHigh\": 1e-3}}");
        StepMetrics c = steps(narrow, 2).get(1);
        assertTrue(c.clipLowFraction() > 0.05 && c.clipHighFraction() > 0.05, c.toString());
    }

    /**
     * TRL's KL weighted by the ratio (klBiasCorrection) under CISPO: the trainer's rows carry the reference log-probs
     * from which its advantages take the term's gradient. On-policy CISPO's weight and every ratio are 1 to within
     * rounding, so it trains as GRPO with the kernel's own weighted KL does, and logs the same KL.
     */
    @Test
    void cispoOnPolicyWithTheWeightedKlTrainsAsGrpo() {
        TrainConfig grpo = TrainConfigs.withOverrides(TrainConfigs.withOverrides(TrainConfigs.preset("grpo"),
                SHAPE.replace("\"miniBatches\": 2", "\"miniBatches\": 1")),
                "{\"loss\": {\"klCoef\": 0.5, \"klBiasCorrection\": true}}");
        TrainConfig cispo = TrainConfigs.withOverrides(grpo, "{\"cispo\": {\"minWeight\": 0, \"maxWeight\": 5}}");
        TransformerPolicy reference = BaseModel.newPolicy(TrainConfigs.withOverrides(grpo, "{\"seed\": 7}"));
        TransformerPolicy a = BaseModel.newPolicy(grpo), b = BaseModel.newPolicy(cispo);
        List<float[]> initial = parameters(a);
        StepMetrics ma = new Trainer(grpo, a, reference).step(0), mb = new Trainer(cispo, b, reference).step(0);
        assertTrue(ma.kl() > 1e-2, "a KL to compare: " + ma);
        assertEquals(ma.kl(), mb.kl(), 1e-5 * ma.kl());
        assertSameStepsOfLrsOrder(initial, a, b, grpo.learningRate());
    }

    /**
     * GSPO with TRL's KL weighted by the sequence's ratio: the trainer's rows carry the reference log-probs, and go to
     * ratio 1 (PpoClipAtRatioOne). On-policy every ratio is 1 to within rounding, so it logs the KL of GSPO with the
     * kernel's unweighted term; its step differs, as the weighted term's gradient through s_i adds each sequence's
     * mean of w kl to every token's.
     */
    @Test
    void gspoTakesTheKlWeightedByTheSequencesRatio() {
        TrainConfig plain = TrainConfigs.withOverrides(TrainConfigs.withOverrides(TrainConfigs.preset("gspo"),
                SHAPE.replace("\"miniBatches\": 2", "\"miniBatches\": 1")), "{\"loss\": {\"klCoef\": 0.5}}");
        TrainConfig weighted = TrainConfigs.withOverrides(plain, "{\"loss\": {\"klBiasCorrection\": true}}");
        TransformerPolicy reference = BaseModel.newPolicy(TrainConfigs.withOverrides(plain, "{\"seed\": 7}"));
        TransformerPolicy a = BaseModel.newPolicy(plain), b = BaseModel.newPolicy(weighted);
        StepMetrics ma = new Trainer(plain, a, reference).step(0), mb = new Trainer(weighted, b, reference).step(0);
        assertTrue(ma.kl() > 1e-2, "a KL to compare: " + ma);
        assertEquals(ma.kl(), mb.kl(), 1e-5 * ma.kl());
        List<float[]> pa = parameters(a), pb = parameters(b);
        double largest = 0;
        for (int i = 0; i < pa.size(); ++i)
            for (int j = 0; j < pa.get(i).length; ++j)
                largest = Math.max(largest, Math.abs(pa.get(i)[j] - pb.get(i)[j]));
        assertTrue(largest > plain.learningRate() / 10, "the steps differ by " + largest);
    }

    @Test
    void entropyMaskingWithGspoIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TrainConfigs.withOverrides(
                TrainConfigs.preset("gspo"), "{\"topEntropyQuantile\": 0.2}"));
        assertTrue(e.getMessage().contains("topEntropyQuantile: entropy masking with sequenceRatio"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> TrainConfigs.withOverrides(
                TrainConfigs.preset("grpo"), "{\"topEntropyQuantile\": 1.5}"));
        assertTrue(e.getMessage().contains("topEntropyQuantile: must be in [0, 1] or null, got 1.5"), e.getMessage());
    }

    @Test
    void theLossesAtRatioOneRefuseWhatTheyCannotCombineWith() {
        for (String[] refused : new String[][] {
                {"cispo", "{\"sapo\": {\"tauPos\": 1, \"tauNeg\": 1}}", "sapo: cispo is set too; clipCov, cispo,"},
                {"sapo", "{\"clipCov\": {\"clipRatio\": 0.1, \"lower\": 1, \"upper\": 5}}",
                        "sapo: clipCov is set too"},
                {"kl-cov", "{\"cispo\": {\"minWeight\": 0, \"maxWeight\": 5}}", "klCov: cispo is set too"},
                {"cispo", "{\"loss\": {\"entropyAdvBeta\": 0.4}}",
                        "loss.entropyAdvBeta: Entropy-Adv shapes the advantage by its size, and CISPO rides"},
                {"kl-cov", "{\"sequenceRatio\": true}", "sequenceRatio: KL-Cov is verl's token-level loss"},
                {"kl-cov", "{\"topEntropyQuantile\": 0.2}", "topEntropyQuantile: entropy masking with KL-Cov"},
                {"gmpo", "{\"sequenceRatio\": true}", "sequenceRatio: GMPO has its own sequence-level ratio"},
                {"gmpo", "{\"sapo\": {\"tauPos\": 1, \"tauNeg\": 1}}", "gmpo: sapo is set too"},
                {"gmpo", "{\"gmpo\": {\"clipHigh\": 0}}", "clipHigh: must be > 0, got 0.0"},
                {"vespo", "{\"sequenceRatio\": true}", "sequenceRatio: VESPO has its own sequence-level ratio"},
                {"vespo", "{\"cispo\": {\"minWeight\": 0, \"maxWeight\": 5}}", "vespo: cispo is set too"},
                {"vespo", "{\"loss\": {\"entropyAdvBeta\": 0.4}}", "and VESPO rides on the advantage"},
                {"gspo", "{\"loss\": {\"klCoef\": 0.04, \"klBiasCorrection\": true, \"entropyAdvBeta\": 0.4}}",
                        "and GSPO under loss.klBiasCorrection rides on the advantage"},
                {"kl-cov", "{\"offPolicyMaskThreshold\": 0.1}",
                        "offPolicyMaskThreshold: off-policy sequence masking with KL-Cov"},
                {"cispo", "{\"cispo\": {\"maxWeight\": 0}}", "maxWeight: must be > 0, got 0.0"},
                {"dppo-tv", "{\"sequenceRatio\": true}", "sequenceRatio: DPPO's trust region is on each token's"},
                {"dppo-kl", "{\"sapo\": {\"tauPos\": 1, \"tauNeg\": 1}}", "dppo: sapo is set too"},
                {"dppo-tv", "{\"topEntropyQuantile\": 0.2}", "topEntropyQuantile: entropy masking with DPPO"},
                {"dppo-kl", "{\"loss\": {\"entropyAdvBeta\": 0.4}}", "and DPPO rides on the advantage"},
                {"dppo-kl", "{\"dppo\": {\"high\": 0}}", "high: must be > 0, got 0.0"}}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> TrainConfigs.withOverrides(TrainConfigs.preset(refused[0]), refused[1]), refused[1]);
            assertTrue(e.getMessage().contains(refused[2]), e.getMessage());
        }
    }

    /**
     * Policies a and b, both from `initial`, took the same first step to 1e-6 wherever a's is of the learning rate's
     * order, more than half the parameters. Adam's first step is lr g / (|g| + eps): where a gradient nearly cancels
     * (the advantages of a group sum to 0), it turns the rounding of two losses' ratios of nearly 1 into a visible
     * step, where a weight of the ratio (GMPO's geometric mean, VESPO's phi) has a slope at 1 that SAPO's has not.
     */
    private static void assertSameStepsOfLrsOrder(List<float[]> initial, TransformerPolicy a, TransformerPolicy b,
            double learningRate) {
        List<float[]> pa = parameters(a), pb = parameters(b);
        int compared = 0, total = 0;
        for (int i = 0; i < pa.size(); ++i)
            for (int j = 0; j < pa.get(i).length; ++j, ++total) {
                if (!(Math.abs(pa.get(i)[j] - initial.get(i)[j]) > learningRate / 10)) continue;
                compared++;
                assertEquals(pa.get(i)[j], pb.get(i)[j], 1e-6, "parameter " + i + "[" + j + "]");
            }
        assertTrue(compared > total / 2, compared + " of " + total + " parameters took a step of lr's order");
    }

    private static List<StepMetrics> steps(TrainConfig c, int count) {
        Trainer trainer = new Trainer(c, BaseModel.newPolicy(c), null);
        List<StepMetrics> out = new ArrayList<>();
        for (int step = 0; step < count; ++step) out.add(trainer.step(step).withoutSeconds());
        return out;
    }

    static List<float[]> parameters(TransformerPolicy policy) {
        TensorVector p = policy.parameters();
        List<float[]> out = new ArrayList<>();
        for (long i = 0; i < p.size(); ++i) out.add(Tensors.toFloats(p.get(i)));
        return out;
    }
}
