package io.policyloss.rl;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.policyloss.control.AdvantageEstimator;
import io.policyloss.loss.AggregationMode;
import io.policyloss.loss.ConfigIO;
import io.policyloss.loss.LossConfig;
import io.policyloss.torch.ModelConfig;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Named presets, and config files read over them. A file may name its starting point with a top-level
 * {@code preset: NAME} (default "grpo"); every field it sets replaces the preset's, nested records field by
 * field, and unknown fields are errors.
 */
public final class TrainConfigs {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Map<String, String> OVERRIDES = new TreeMap<>(Map.ofEntries(
            Map.entry("grpo", "{}"),
            Map.entry("dr-grpo", "{\"stdNormalization\": false, \"aggregation\": \"SEQ_MEAN_TOKEN_SUM_NORM\"}"),
            Map.entry("dapo", "{\"loss\": {\"epsHigh\": 0.28}}"),
            Map.entry("dual-clip", "{\"loss\": {\"dualClipC\": 3}}"),
            Map.entry("kl", "{\"loss\": {\"klCoef\": 0.05, \"klEstimator\": \"K3\"}}"),
            // The same k3, weighted by the ratio (DeepSeek-V3.2's unbiased estimate, TRL's use_bias_correction_kl),
            // or with k2's gradient (verl's "k3+").
            Map.entry("kl-unbiased", "{\"loss\": {\"klCoef\": 0.05, \"klEstimator\": \"K3\","
                    + " \"klBiasCorrection\": true}}"),
            Map.entry("kl-k3-plus", "{\"loss\": {\"klCoef\": 0.05, \"klEstimator\": \"K3_PLUS\"}}"),
            Map.entry("entropy-reg", "{\"loss\": {\"entropyCoef\": 0.015}}"),
            // TRL's adaptive entropy bonus at its steps and bounds, its target at AEPO's preset's 0.9 nats (TRL's 0.2
            // is "near-complete collapse"; TRL advises a value near the entropy early in training).
            Map.entry("adaptive-entropy", "{\"adaptiveEntropy\": {\"coefficient\": 0, \"target\": 0.9,"
                    + " \"delta\": 0.005, \"min\": 0, \"max\": 1, \"engaged\": false}}"),
            Map.entry("entropy-adv", "{\"loss\": {\"entropyAdvBeta\": 0.4, \"entropyAdvKappa\": 2}}"),
            Map.entry("aepo", "{\"aepo\": {\"targetEntropy\": 0.9, \"temperatureHigh\": 1.2, \"temperatureLow\": 0.8,"
                    + " \"alpha\": 4.0, \"positivesUp\": 64, \"positivesDown\": 32}}"),
            Map.entry("aent", "{\"loss\": {\"clampP\": 0.5, \"clampedEntropyCoef\": 0.05}, \"aent\": {\"lambda\": 0.05,"
                    + " \"beta\": 0.15, \"low\": 0.8, \"high\": 1.1, \"lambdaLow\": 0, \"lambdaHigh\": 0.3,"
                    + " \"startStep\": 0}}"),
            // GSPO's paper setting: its clip range and seq-mean-token-mean (TRL's loss_type "grpo").
            Map.entry("gspo", "{\"sequenceRatio\": true, \"aggregation\": \"SEQ_MEAN_TOKEN_MEAN\","
                    + " \"loss\": {\"epsLow\": 3e-4, \"epsHigh\": 4e-4}}"),
            Map.entry("entropy-mask", "{\"topEntropyQuantile\": 0.2}"),
            Map.entry("clip-cov", "{\"clipCov\": {\"clipRatio\": 2e-4, \"lower\": 1, \"upper\": 5}}"),
            Map.entry("kl-cov", "{\"klCov\": {\"klCovRatio\": 2e-4, \"klCoef\": 1}}"),
            // GMPO's paper and verl's recipe: the log-ratio clipped to [-0.4, 0.4], a mean over sequences.
            Map.entry("gmpo", "{\"gmpo\": {\"clipLow\": 0.4, \"clipHigh\": 0.4},"
                    + " \"aggregation\": \"SEQ_MEAN_TOKEN_MEAN\"}"),
            // TRL's settings: CISPO's weight at most 5 (ScaleRL) over a token mean; SAPO's temperatures over
            // seq-mean-token-mean (TRL's loss_type "sapo" aggregates as "grpo" does).
            Map.entry("cispo", "{\"cispo\": {\"minWeight\": 0, \"maxWeight\": 5}}"),
            Map.entry("sapo", "{\"sapo\": {\"tauPos\": 1.0, \"tauNeg\": 1.05},"
                    + " \"aggregation\": \"SEQ_MEAN_TOKEN_MEAN\"}"),
            // TRL's and Liger's defaults, over a token mean (TRL aggregates "vespo" as "dapo").
            Map.entry("vespo", "{\"vespo\": {\"kPos\": 2, \"lambdaPos\": 3, \"kNeg\": 3, \"lambdaNeg\": 2}}"),
            // verl's DPPO recipe: its thresholds, the ratio untruncated; over a token mean, as the other presets.
            Map.entry("dppo-tv", "{\"dppo\": {\"divergence\": \"BINARY_TV\", \"low\": 0.15, \"high\": 0.15,"
                    + " \"maxWeight\": \"Infinity\"}}"),
            Map.entry("dppo-kl", "{\"dppo\": {\"divergence\": \"BINARY_KL\", \"low\": 0.05, \"high\": 0.05,"
                    + " \"maxWeight\": \"Infinity\"}}"),
            // GPG's paper as TRL's GPGTrainer runs it: -A logp (verl's gpg loss) on advantages without the std's
            // division, over seq-mean-token-mean (where the correction is exact), the groups of one reward made up
            // for; one update a step, on-policy, as the paper's (TRL's num_iterations 1), where GRPO's clip is inert.
            Map.entry("gpg", "{\"cispo\": {\"minWeight\": 1, \"maxWeight\": 1}, \"stdNormalization\": false,"
                    + " \"gpgBiasCorrection\": true, \"aggregation\": \"SEQ_MEAN_TOKEN_MEAN\", \"miniBatches\": 1}"),
            // verl's other outcome advantage estimators (algorithm.adv_estimator), on GRPO's loss.
            Map.entry("rloo", "{\"advantageEstimator\": \"RLOO\"}"),
            Map.entry("opo", "{\"advantageEstimator\": \"OPO\"}"),
            Map.entry("grpo-pass-k", "{\"advantageEstimator\": \"GRPO_PASS_K\"}"),
            Map.entry("reinforce-plus-plus-baseline", "{\"advantageEstimator\": \"REINFORCE_PLUS_PLUS_BASELINE\"}"),
            Map.entry("reinforce-plus-plus", "{\"advantageEstimator\": \"REINFORCE_PLUS_PLUS\"}"),
            Map.entry("remax", "{\"advantageEstimator\": \"REMAX\"}"),
            Map.entry("constant-clamped-entropy", "{\"loss\": {\"clampP\": 0.5, \"clampedEntropyCoef\": 0.05}}"),
            Map.entry("random-reward", "{\"randomReward\": true}"),
            Map.entry("random-reward-clip-low", "{\"randomReward\": true, \"loss\": {\"epsLow\": 0.1}}"),
            Map.entry("random-reward-no-clip-high",
                    "{\"randomReward\": true, \"loss\": {\"epsHigh\": \"Infinity\"}}")));

    private TrainConfigs() {}

    public static List<String> presetNames() {
        return List.copyOf(OVERRIDES.keySet());
    }

    /**
     * The default run: digit-sum with 4 digits (many correct answers, as with reasoning paths), a 2-layer
     * width-64 transformer, 16 prompts x 8 samples per step, 4 optimiser steps per RL step.
     */
    static TrainConfig base() {
        return new TrainConfig("grpo", new TaskConfig("digit-sum", 4), ModelConfig.small(), 1,
                new WarmStartConfig(200, 64, 3e-3), 100, 16, 8, 4, 1e-3, 0, 1.0, 1.0, LossConfig.defaults(),
                AggregationMode.TOKEN_MEAN, true, AdvantageEstimator.GRPO, 1.0, null, null, false, null, false, false,
                null, null, null, false, null, null, null, null, null, null, null, null, null,
                new EvalConfig(64, 16, List.of(1, 4, 16), 1.0), 20);
    }

    public static TrainConfig preset(String name) {
        String overrides = OVERRIDES.get(name);
        if (overrides == null)
            throw new IllegalArgumentException("preset: unknown \"" + name + "\"; known: " + presetNames());
        try {
            ObjectNode tree = (ObjectNode) JSON.readTree(overrides);
            tree.put("name", name);
            return ConfigIO.merge(base(), tree, TrainConfig.class);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException("preset " + name + " is malformed", e);
        }
    }

    /** A JSON or YAML file over its preset. */
    public static TrainConfig read(Path file) {
        JsonNode tree = ConfigIO.readTree(file);
        if (!(tree instanceof ObjectNode object))
            throw new IllegalArgumentException("config " + file + ": must be a JSON / YAML object");
        JsonNode preset = object.remove("preset");
        TrainConfig base = preset(preset == null ? "grpo" : preset.asText());
        try {
            return ConfigIO.merge(base, object, TrainConfig.class);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("config " + file + ": " + e.getMessage(), e);
        }
    }

    /** The preset with some fields replaced (a JSON object as text), e.g. for a comparison's variants. */
    public static TrainConfig withOverrides(TrainConfig base, String json) {
        try {
            return ConfigIO.merge(base, JSON.readTree(json), TrainConfig.class);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalArgumentException("overrides: malformed JSON: " + e.getOriginalMessage(), e);
        }
    }
}
