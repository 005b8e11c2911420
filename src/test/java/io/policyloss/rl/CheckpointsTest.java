package io.policyloss.rl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.policyloss.torch.Tensors;
import io.policyloss.torch.TransformerPolicy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.TensorVector;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A saved model loads into a model of its config's shape, and only into one: a file of other tensors or shapes, or
 * no saved model at all, is refused with a message naming the difference, and the model is left as it was (libtorch
 * alone would take a wider model's tensors whole and a deeper model's first layers without a word).
 */
class CheckpointsTest {
    @TempDir
    Path dir;

    private static TrainConfig shaped(String model, long seed) {
        return TrainConfigs.withOverrides(TrainingTest.tiny(), "{\"model\": " + model + ", \"seed\": " + seed + "}");
    }

    private static final String TINY = "{\"layers\": 1, \"width\": 16, \"heads\": 2, \"context\": 8}";

    @Test
    void aSavedModelLoadsIntoItsShapeOnly() throws Exception {
        Path file = dir.resolve("model.pt");
        TransformerPolicy saved = BaseModel.newPolicy(shaped(TINY, 1));
        Checkpoints.saveModule(saved, file);

        TransformerPolicy same = BaseModel.newPolicy(shaped(TINY, 2));
        assertNotEquals(weights(saved).get(0)[0], weights(same).get(0)[0], "another seed, other weights");
        Checkpoints.loadModule(same, file);
        assertWeightsEqual(weights(saved), weights(same));

        assertRefused(file, "{\"layers\": 1, \"width\": 32, \"heads\": 2, \"context\": 8}",
                "block0.contract.bias is [16] in the file, [32] in the config's model");
        assertRefused(file, "{\"layers\": 1, \"width\": 16, \"heads\": 2, \"context\": 12}",
                "positions.weight is [8, 16] in the file, [12, 16] in the config's model");
        assertRefused(file, "{\"layers\": 2, \"width\": 16, \"heads\": 2, \"context\": 8}",
                "block1.contract.bias is in the config's model, not in the file");

        Path deeper = dir.resolve("deeper.pt");
        Checkpoints.saveModule(BaseModel.newPolicy(shaped("{\"layers\": 2, \"width\": 16, \"heads\": 2,"
                + " \"context\": 8}", 1)), deeper);
        assertRefused(deeper, TINY, "block1.contract.bias is in the file, not in the config's model");

        Path notAModel = dir.resolve("notes.pt");
        Files.writeString(notAModel, "not a model");
        TransformerPolicy policy = BaseModel.newPolicy(shaped(TINY, 3));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Checkpoints.loadModule(policy, notAModel));
        assertEquals("model: " + notAModel + " is not a saved model (PytorchStreamReader failed reading zip archive:"
                + " not a ZIP archive)", e.getMessage());
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> Checkpoints.loadModule(policy, dir.resolve("none.pt")));
        assertEquals("model: no file " + dir.resolve("none.pt"), missing.getMessage());
    }

    /** Loading {@code file} into a model of {@code model}'s shape throws naming the difference, the model unchanged. */
    private static void assertRefused(Path file, String model, String difference) {
        TransformerPolicy policy = BaseModel.newPolicy(shaped(model, 4));
        List<float[]> before = weights(policy);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Checkpoints.loadModule(policy, file));
        assertEquals("model: " + file + " holds another model than the config's (" + difference + "); give the "
                + "config it was trained with", e.getMessage());
        assertWeightsEqual(before, weights(policy));
    }

    private static List<float[]> weights(TransformerPolicy policy) {
        List<float[]> out = new ArrayList<>();
        TensorVector p = policy.parameters();
        for (long i = 0; i < p.size(); ++i) out.add(Tensors.toFloats(p.get(i)));
        return out;
    }

    private static void assertWeightsEqual(List<float[]> want, List<float[]> got) {
        assertEquals(want.size(), got.size());
        for (int i = 0; i < want.size(); ++i) assertArrayEquals(want.get(i), got.get(i), "parameter " + i);
    }
}
