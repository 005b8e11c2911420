package io.policyloss.rl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.policyloss.control.AdvantageEstimator;
import io.policyloss.control.Cispo;
import io.policyloss.loss.ConfigIO;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Config files: round trips, presets with overrides, and clear errors. */
class TrainConfigTest {
    @TempDir
    Path dir;

    @Test
    void everyPresetRoundTripsThroughJsonAndYaml() {
        for (String name : TrainConfigs.presetNames()) {
            TrainConfig c = TrainConfigs.preset(name);
            assertEquals(c, ConfigIO.fromJson(ConfigIO.toJson(c), TrainConfig.class), name + " as JSON");
            assertEquals(c, ConfigIO.fromYaml(ConfigIO.toYaml(c), TrainConfig.class), name + " as YAML");
            Path file = dir.resolve(name + ".yaml");
            ConfigIO.write(file, c);
            assertEquals(c, TrainConfigs.read(file), name + " through a file");
        }
    }

    /**
     * A run's config.json written before advantageEstimator and gamma were fields resumes as the GRPO it trained,
     * undiscounted.
     */
    @Test
    void aConfigWithoutTheEstimatorIsGrpos() throws Exception {
        TrainConfig dapo = TrainConfigs.preset("dapo");
        ObjectNode tree = (ObjectNode) new ObjectMapper().readTree(ConfigIO.toJson(dapo));
        tree.remove("advantageEstimator");
        tree.remove("gamma");
        assertEquals(dapo, ConfigIO.fromJson(tree.toString(), TrainConfig.class));
        assertEquals(AdvantageEstimator.GRPO, dapo.advantageEstimator());
        assertEquals(1.0, dapo.gamma());
    }

    @Test
    void aFileOverridesItsPresetFieldByField() throws Exception {
        Path file = dir.resolve("run.yaml");
        Files.writeString(file, "preset: aepo\nname: mine\nsteps: 7\nloss:\n  epsHigh: Infinity\naepo:\n  targetEntropy: 1.3\n");
        TrainConfig c = TrainConfigs.read(file);
        TrainConfig aepo = TrainConfigs.preset("aepo");
        assertEquals("mine", c.name());
        assertEquals(7, c.steps());
        assertEquals(Double.POSITIVE_INFINITY, c.loss().epsHigh());
        assertEquals(aepo.loss().epsLow(), c.loss().epsLow(), "untouched nested fields keep the preset's");
        assertEquals(1.3, c.aepo().targetEntropy());
        assertEquals(aepo.aepo().alpha(), c.aepo().alpha());
    }

    @Test
    void invalidConfigsFailNamingTheField() throws Exception {
        expectError("groupSize: 1\n", "groupSize: must be >= 2, got 1");
        expectError("model:\n  heads: 5\n", "heads: must divide width (64), got 5");
        expectError("model:\n  context: 4\n", "model.context: 4 is shorter than");
        expectError("task:\n  name: chess\n", "task.name: must be \"addition\", \"sort\" or \"digit-sum\", got \"chess\"");
        expectError("loss:\n  clampP: 1.5\n", "clampP: must be in [0, 1), got 1.5");
        expectError("aepo:\n  targetEntropy: 1\n  temperatureHigh: 0.5\n  temperatureLow: 0.8\n  alpha: 1\n"
                + "  positivesUp: 1\n  positivesDown: 1\n", "aepo.temperatureHigh: must be finite and > temperatureLow");
        expectError("stepz: 3\n", "Unrecognized field \"stepz\"");
        expectError("preset: nope\n", "preset: unknown \"nope\"");
        expectError("preset: adaptive-entropy\nloss:\n  entropyCoef: 0.01\n",
                "loss.entropyCoef: adaptiveEntropy sets the Entropy-Reg coefficient of each update");
        expectError("preset: adaptive-entropy\nadaptiveEntropy:\n  delta: -1\n", "delta: must be >= 0, got -1.0");
        expectError("preset: reinforce-plus-plus\ngamma: 1.01\n", "gamma: must be in [0, 1], got 1.01");
        expectError("overlongPunishment:\n  buffer: 99\n  penaltyFactor: 1\n",
                "overlongPunishment.buffer: must be <= the task's longest response (");
        expectError("overlongPunishment:\n  buffer: 0\n  penaltyFactor: 1\n", "buffer: must be >= 1, got 0");
        expectError("dynamicSamplingBatches: 0\n", "dynamicSamplingBatches: must be >= 1, got 0");
        expectError("preset: remax\ngamma: 0.99\n", "gamma: discounts REINFORCE_PLUS_PLUS's token rewards alone, "
                + "and REMAX does not read it; leave gamma at 1");
        expectError("preset: gpg\nadvantageEstimator: REINFORCE_PLUS_PLUS\n", "advantageEstimator: "
                + "REINFORCE_PLUS_PLUS gives each token its own advantage, and gpgBiasCorrection counts the groups");
    }

    /** TRL's GPGTrainer refuses what its correction would scale too, and what it would miss. */
    @Test
    void gpgsCorrectionRefusesTheTermsItWouldScaleAndTheMasksItCannotSee() throws Exception {
        String divides = "gpgBiasCorrection divides the whole loss of the GRPO rows, this term's too";
        expectError("preset: gpg\nloss:\n  klCoef: 0.05\n", "loss.klCoef: " + divides);
        expectError("preset: gpg\nloss:\n  entropyCoef: 0.01\n", "loss.entropyCoef: " + divides);
        expectError("preset: aent\ngpgBiasCorrection: true\n", "loss.clampedEntropyCoef: " + divides);
        expectError("preset: adaptive-entropy\ngpgBiasCorrection: true\n", "adaptiveEntropy: " + divides);
        String misses = "it silences tokens and leaves their advantages, which gpgBiasCorrection reads";
        expectError("preset: gpg\ntopEntropyQuantile: 0.2\n", "topEntropyQuantile: " + misses);
        expectError("preset: grpo\ngpgBiasCorrection: true\noffPolicyMaskThreshold: 0.5\n",
                "offPolicyMaskThreshold: " + misses);
        TrainConfig gpg = TrainConfigs.preset("gpg");
        assertTrue(gpg.gpgBiasCorrection() && !gpg.stdNormalization(), gpg.toString());
        assertEquals(Cispo.gpg(), gpg.cispo());
    }

    private void expectError(String yaml, String fragment) throws Exception {
        Path file = dir.resolve("bad.yaml");
        Files.writeString(file, yaml);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TrainConfigs.read(file));
        assertTrue(e.getMessage().contains(fragment), "expected \"" + fragment + "\" in \"" + e.getMessage() + "\"");
    }
}
