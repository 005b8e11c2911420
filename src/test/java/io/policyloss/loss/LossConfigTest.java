package io.policyloss.loss;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Configuration records through JSON and YAML: round trips, defaults for missing fields, clear errors. */
class LossConfigTest {
    private static final LossConfig FULL = LossConfig.builder().epsLow(0.1).epsHigh(Double.POSITIVE_INFINITY).dualClipC(3)
            .klCoef(0.04).klEstimator(KlEstimator.K2).entropyCoef(0.001).clampedEntropyCoef(0.02).clampP(0.33)
            .clampMode(ClampMode.PROBABILITY_MASS).entropyAdvBeta(0.4).entropyAdvKappa(2.5).gradScale(0.25)
            .logitScale(0.9).softcap(30).temperature(0.8).klBiasCorrection(true).build();

    @Test
    void jsonAndYamlRoundTrip(@TempDir Path dir) {
        assertEquals(FULL, ConfigIO.fromJson(ConfigIO.toJson(FULL), LossConfig.class));
        assertEquals(FULL, ConfigIO.fromYaml(ConfigIO.toYaml(FULL), LossConfig.class));
        ConfigIO.write(dir.resolve("loss.yaml"), FULL);
        assertEquals(FULL, ConfigIO.read(dir.resolve("loss.yaml"), LossConfig.class));
        ConfigIO.write(dir.resolve("loss.json"), FULL);
        assertEquals(FULL, ConfigIO.read(dir.resolve("loss.json"), LossConfig.class));
    }

    @Test
    void missingFieldsKeepTheDefaults() {
        LossConfig c = ConfigIO.fromYaml("epsHigh: 0.28\nclampP: 0.2\n", LossConfig.class);
        assertEquals(LossConfig.defaults().toBuilder().epsHigh(0.28).clampP(0.2).build(), c);
        assertEquals(LossConfig.defaults(), ConfigIO.fromJson("{}", LossConfig.class));
    }

    @Test
    void invalidValuesAndUnknownFieldsFailClearly() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ConfigIO.fromJson("{\"clampP\": 1.5}", LossConfig.class));
        assertTrue(e.getMessage().contains("clampP: must be in [0, 1), got 1.5"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ConfigIO.fromYaml("epsHihg: 0.3\n", LossConfig.class));
        assertTrue(e.getMessage().contains("epsHihg"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ConfigIO.fromYaml("clampMode: NUCLEUS\n", LossConfig.class));
        assertTrue(e.getMessage().contains("NUCLEUS"), e.getMessage());
    }
}
