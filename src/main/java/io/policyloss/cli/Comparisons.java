package io.policyloss.cli;

import io.policyloss.rl.TrainConfig;
import io.policyloss.rl.TrainConfigs;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Supplier;

/** The named comparisons: several algorithms from one base model, on one seed. */
final class Comparisons {
    private static final Map<String, Supplier<List<TrainConfig>>> NAMED = new TreeMap<>(Map.ofEntries(
            Map.entry("default", () -> List.of(TrainConfigs.preset("grpo"), TrainConfigs.preset("aepo"))),
            Map.entry("aepo-targets", () -> List.of(TrainConfigs.preset("grpo"),
                    aepoTarget("aepo-target-0.6", 0.6), aepoTarget("aepo-target-1.1", 1.1))),
            Map.entry("clipping", () -> List.of(TrainConfigs.preset("random-reward"),
                    TrainConfigs.preset("random-reward-clip-low"), TrainConfigs.preset("random-reward-no-clip-high"))),
            Map.entry("aent", () -> List.of(TrainConfigs.preset("constant-clamped-entropy"),
                    TrainConfigs.preset("aent"))),
            // k3 to the base model as GRPO's paper takes it, weighted by the ratio, and with k2's gradient.
            Map.entry("kl", () -> List.of(TrainConfigs.preset("grpo"), TrainConfigs.preset("kl"),
                    TrainConfigs.preset("kl-unbiased"), TrainConfigs.preset("kl-k3-plus"))),
            // PPO's trust region on the ratio (GRPO's clip, and DAPO's wider clip-high) against DPPO's on the sampled
            // token's probability, as DPPO's paper and verl's recipe compare them.
            Map.entry("trust-region", () -> List.of(TrainConfigs.preset("grpo"), TrainConfigs.preset("dapo"),
                    TrainConfigs.preset("dppo-tv"), TrainConfigs.preset("dppo-kl"))),
            // Three ways to hold entropy up against GRPO: a constant entropy bonus, TRL's adaptive bonus switched on
            // at a target, and AEPO's temperature switch at the same target.
            Map.entry("entropy-bonus", () -> List.of(TrainConfigs.preset("grpo"), TrainConfigs.preset("entropy-reg"),
                    TrainConfigs.preset("adaptive-entropy"), TrainConfigs.preset("aepo"))),
            // GPG's on-policy gradient, without and with its correction for the groups of one reward, against GRPO
            // with its four updates a step and with GPG's one.
            Map.entry("gpg", () -> List.of(TrainConfigs.preset("grpo"),
                    TrainConfigs.withOverrides(TrainConfigs.preset("grpo"),
                            "{\"name\": \"grpo-one-update\", \"miniBatches\": 1}"),
                    TrainConfigs.withOverrides(TrainConfigs.preset("gpg"),
                            "{\"name\": \"gpg-uncorrected\", \"gpgBiasCorrection\": false}"),
                    TrainConfigs.preset("gpg"))),
            // verl's and TRL's variants that need the current policy's logp or entropy before the loss.
            Map.entry("variants", () -> List.of(TrainConfigs.preset("grpo"), TrainConfigs.preset("gspo"),
                    TrainConfigs.preset("entropy-mask"), TrainConfigs.preset("clip-cov"))),
            // The losses that keep every token's gradient (a weight of its ratio or its sequence's, or KL-Cov's
            // penalty, in place of PPO's clip), against GRPO with its clip and without (the gradient -r A grad logp on
            // every token), and GMPO, which clips, but in log space and the geometric mean of a sequence's ratios.
            Map.entry("surrogates", () -> List.of(TrainConfigs.preset("grpo"), TrainConfigs.withOverrides(
                    TrainConfigs.preset("grpo"), "{\"name\": \"grpo-no-clip\", \"loss\": {\"epsLow\": 1,"
                            + " \"epsHigh\": \"Infinity\"}}"),
                    TrainConfigs.preset("cispo"), TrainConfigs.preset("sapo"), TrainConfigs.preset("kl-cov"),
                    TrainConfigs.preset("vespo"), TrainConfigs.preset("gmpo"))),
            // verl's outcome advantage estimators on GRPO's loss: the group's mean over its std (GRPO), the mean of
            // the other rewards (RLOO), the length-weighted mean (OPO), the best response alone (pass@k), the group's
            // mean whitened over the batch's tokens (REINFORCE++-baseline), no baseline, the reward whitened over them
            // (REINFORCE++), and the reward of the prompt's greedy response (ReMax).
            Map.entry("advantages", () -> List.of(TrainConfigs.preset("grpo"), TrainConfigs.preset("rloo"),
                    TrainConfigs.preset("opo"), TrainConfigs.preset("grpo-pass-k"),
                    TrainConfigs.preset("reinforce-plus-plus-baseline"), TrainConfigs.preset("reinforce-plus-plus"),
                    TrainConfigs.preset("remax")))));

    private Comparisons() {}

    static List<String> names() {
        return List.copyOf(NAMED.keySet());
    }

    static List<TrainConfig> named(String name) {
        Supplier<List<TrainConfig>> s = NAMED.get(name);
        if (s == null) throw new IllegalArgumentException("comparison: unknown \"" + name + "\"; known: " + names());
        return s.get();
    }

    private static TrainConfig aepoTarget(String name, double target) {
        return TrainConfigs.withOverrides(TrainConfigs.preset("aepo"),
                "{\"name\": \"" + name + "\", \"aepo\": {\"targetEntropy\": " + target + "}}");
    }
}
