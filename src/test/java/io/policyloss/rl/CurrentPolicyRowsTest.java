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
 * The trainer's GSPO, entropy masking and Clip-Cov, which move each update's rows after a first pass of the loss
 * over its logits: at their settings that change nothing they train as GRPO does, and Clip-Cov choosing every
 * token leaves no policy gradient.
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

    @Test
    void entropyMaskingWithGspoIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TrainConfigs.withOverrides(
                TrainConfigs.preset("gspo"), "{\"topEntropyQuantile\": 0.2}"));
        assertTrue(e.getMessage().contains("topEntropyQuantile: entropy masking with sequenceRatio"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> TrainConfigs.withOverrides(
                TrainConfigs.preset("grpo"), "{\"topEntropyQuantile\": 1.5}"));
        assertTrue(e.getMessage().contains("topEntropyQuantile: must be in [0, 1] or null, got 1.5"), e.getMessage());
    }

    private static List<StepMetrics> steps(TrainConfig c, int count) {
        Trainer trainer = new Trainer(c, BaseModel.newPolicy(c), null);
        List<StepMetrics> out = new ArrayList<>();
        for (int step = 0; step < count; ++step) out.add(trainer.step(step).withoutSeconds());
        return out;
    }

    private static List<float[]> parameters(TransformerPolicy policy) {
        TensorVector p = policy.parameters();
        List<float[]> out = new ArrayList<>();
        for (long i = 0; i < p.size(); ++i) out.add(Tensors.toFloats(p.get(i)));
        return out;
    }
}
