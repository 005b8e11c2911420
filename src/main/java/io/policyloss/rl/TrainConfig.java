package io.policyloss.rl;

import io.policyloss.control.AdaptiveEntropyBonus;
import io.policyloss.control.AdvantageEstimator;
import io.policyloss.control.AentCoefficient;
import io.policyloss.control.Cispo;
import io.policyloss.control.ClipCov;
import io.policyloss.control.Dppo;
import io.policyloss.control.DynamicSampling;
import io.policyloss.control.Gmpo;
import io.policyloss.control.Gpg;
import io.policyloss.control.KlCov;
import io.policyloss.control.KlInReward;
import io.policyloss.control.OverlongPunishment;
import io.policyloss.control.PolicyObjective;
import io.policyloss.control.ReMax;
import io.policyloss.control.ReinforcePlusPlus;
import io.policyloss.control.Sapo;
import io.policyloss.control.Surrogate;
import io.policyloss.control.Vespo;
import io.policyloss.loss.AggregationMode;
import io.policyloss.loss.LossConfig;
import io.policyloss.torch.ModelConfig;
import java.util.Objects;

/**
 * Everything one training run needs; read from JSON or YAML by {@link TrainConfigs}, where fields a file leaves out
 * keep the values of its preset. Every algorithm of the papers is a setting of these fields: GRPO (the loss alone, with
 * or without std normalisation), DAPO-style clipping (loss.epsLow / epsHigh), dual clip, KL to the base model
 * (loss.klCoef), Entropy-Reg (loss.entropyCoef, or TRL's adaptive one: adaptiveEntropy), Entropy-Adv
 * (loss.entropyAdvBeta), AEnt (aent and loss.clampP), AEPO (aepo), GSPO (sequenceRatio), entropy masking
 * (topEntropyQuantile), Clip-Cov (clipCov), CISPO (cispo), SAPO (sapo), KL-Cov (klCov), GMPO (gmpo), VESPO (vespo),
 * DPPO (dppo), GPG (cispo of weight 1 and gpgBiasCorrection), off-policy sequence masking (offPolicyMaskThreshold),
 * RLOO, OPO, pass@k, REINFORCE++-baseline, REINFORCE++ and ReMax advantages (advantageEstimator, gamma), the KL
 * penalty in the reward (klInReward), and DAPO's overlong punishment and filtering (overlongPunishment,
 * maskTruncated) and dynamic sampling (dynamicSamplingBatches).
 *
 * @param name the run's name in plots and tables
 * @param task the built-in task
 * @param model the transformer's shape
 * @param seed seeds the weights, the problems and the sampling
 * @param warmStart the supervised warm start that makes the base model
 * @param steps RL steps
 * @param promptsPerStep prompts per step
 * @param groupSize G, responses per prompt
 * @param miniBatches optimiser steps per RL step, each on a slice of the batch (more makes the ratio drift from 1)
 * @param learningRate AdamW learning rate
 * @param weightDecay AdamW weight decay
 * @param gradClip the largest gradient norm (0 = no clipping)
 * @param rolloutTemperature the GRPO rollouts' sampling temperature (the loss uses the same)
 * @param loss the fused loss; for AEnt its clampedEntropyCoef is the coefficient's start and is then adapted
 * @param aggregation how token losses are weighted (SPEC section 6)
 * @param stdNormalization GRPO divides advantages by the group's std (false: Dr. GRPO); so does GRPO_PASS_K
 * @param advantageEstimator how the advantages come from the rewards (verl's adv_estimator: GRPO, RLOO, OPO,
 *     GRPO_PASS_K, REINFORCE_PLUS_PLUS_BASELINE, one per response; REINFORCE_PLUS_PLUS, one per token, {@link
 *     ReinforcePlusPlus}; REMAX, one per token less the reward of the prompt's greedy response, sampled each step,
 *     {@link ReMax}); null is GRPO, as in the configs of runs written before the field was
 * @param gamma REINFORCE_PLUS_PLUS's discount of the rewards of later tokens (verl's algorithm.gamma), in [0, 1]; null
 *     is 1, verl's default, which the other estimators need
 * @param klInReward verl's KL penalty in the reward (use_kl_in_reward, kl_ctrl; TRL's RLOO's beta): each GRPO
 *     response's reward less its coefficient times its tokens' summed KL(old || ref) estimate (under
 *     REINFORCE_PLUS_PLUS and REMAX, each token's reward less its own estimate), before the advantages,
 *     the coefficient fixed or adaptive ({@link KlInReward}); the reference is the base model; or null
 * @param overlongPunishment DAPO's soft overlong punishment (verl's reward_model.overlong_buffer; TRL's
 *     get_soft_overlong_punishment): each response's reward plus a punishment that grows over the last buffer tokens
 *     before the task's longest response ({@link OverlongPunishment}), ReMax's greedy responses' too; or null
 * @param maskTruncated TRL's mask_truncated_completions (DAPO's overlong filtering): a GRPO response cut at the
 *     task's longest response before its end leaves no loss and no token in the aggregation's denominators; its
 *     reward still counts in its group's advantages
 * @param dynamicSamplingBatches DAPO's dynamic sampling (verl's algorithm.filter_groups with max_num_gen_batches):
 *     each step keeps the groups whose rewards differ ({@link DynamicSampling}) from up to this many batches of
 *     promptsPerStep prompts, &gt;= 1, the batch topped up with the others where too few differ; or null
 * @param gpgBiasCorrection GPG's correction (TRL's GPGTrainer): the GRPO rows' weights divided by the fraction of
 *     the step's groups whose advantages differ ({@link Gpg#lossScale}), so that groups of one reward, which carry no
 *     gradient, no longer shrink the update; with no KL or entropy term, which it would scale too
 * @param randomReward rewards are coin flips instead of correctness (the clipping experiment of seed 002)
 * @param aepo AEPO's settings, or null
 * @param aent AEnt's adaptive coefficient, or null
 * @param adaptiveEntropy TRL's adaptive entropy bonus: the Entropy-Reg coefficient of each update, set by the
 *     entropy of the updates before it ({@link AdaptiveEntropyBonus}; with loss.entropyCoef 0), or null
 * @param sequenceRatio GSPO: each GRPO sequence's tokens take its sequence-level ratio (SequenceImportanceRatio)
 * @param topEntropyQuantile entropy masking: the fraction of each update's GRPO tokens, by the current policy's
 *     entropy, that keep their policy-gradient term (HighEntropyTokens; TRL's top_entropy_quantile), or null
 * @param clipCov Clip-Cov on each update's GRPO tokens (verl's clip_cov), or null
 * @param cispo CISPO's clipped importance weight in place of PPO's clip on the GRPO tokens, or null; with
 *     sequenceRatio the weight is of the sequence's ratio (TRL's sequence-level CISPO)
 * @param sapo SAPO's soft gate in place of PPO's clip on the GRPO tokens, or null; with sequenceRatio, of the
 *     sequence's ratio
 * @param klCov KL-Cov on each update's GRPO tokens (verl's kl_cov): no clip, a penalty on the tokens of largest
 *     covariance; or null
 * @param gmpo GMPO on each update's GRPO sequences (verl's geo_mean): the geometric mean of a sequence's clipped token
 *     ratios in place of each token's own; or null
 * @param vespo VESPO on each update's GRPO sequences (TRL's loss_type "vespo"): a gamma-shaped weight of a sequence's
 *     ratio in place of PPO's clip; or null
 * @param dppo DPPO on each update's GRPO tokens (verl's dppo_tv / dppo_kl): a trust region on the sampled token's
 *     probability in place of PPO's clip on its ratio; or null
 * @param offPolicyMaskThreshold off-policy sequence masking on each update's GRPO sequences (TRL's
 *     off_policy_mask_threshold): a sequence of negative advantage whose mean of oldLogp - logp exceeds it leaves no
 *     policy gradient; or null
 * @param eval evaluation settings
 * @param checkpointEvery steps between checkpoints (0 = only at the end)
 */
public record TrainConfig(String name, TaskConfig task, ModelConfig model, long seed, WarmStartConfig warmStart,
        int steps, int promptsPerStep, int groupSize, int miniBatches, double learningRate, double weightDecay,
        double gradClip, double rolloutTemperature, LossConfig loss, AggregationMode aggregation,
        boolean stdNormalization, AdvantageEstimator advantageEstimator, Double gamma, KlInReward klInReward,
        OverlongPunishment overlongPunishment, boolean maskTruncated, Integer dynamicSamplingBatches,
        boolean gpgBiasCorrection, boolean randomReward, AepoConfig aepo, AentCoefficient aent,
        AdaptiveEntropyBonus adaptiveEntropy, boolean sequenceRatio, Double topEntropyQuantile, ClipCov clipCov,
        Cispo cispo, Sapo sapo, KlCov klCov, Gmpo gmpo, Vespo vespo, Dppo dppo, Double offPolicyMaskThreshold,
        EvalConfig eval, int checkpointEvery) {
    public TrainConfig {
        if (name == null || name.isBlank() || !name.matches("[A-Za-z0-9._-]+"))
            throw new IllegalArgumentException("name: must be letters, digits, '.', '_' or '-', got \"" + name + "\"");
        Objects.requireNonNull(task, "task");
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(warmStart, "warmStart");
        Objects.requireNonNull(loss, "loss");
        Objects.requireNonNull(aggregation, "aggregation");
        if (advantageEstimator == null) advantageEstimator = AdvantageEstimator.GRPO;
        if (gamma == null) gamma = 1.0;
        if (!(gamma >= 0 && gamma <= 1)) throw new IllegalArgumentException("gamma: must be in [0, 1], got " + gamma);
        if (gamma != 1 && advantageEstimator != AdvantageEstimator.REINFORCE_PLUS_PLUS)
            throw new IllegalArgumentException("gamma: discounts REINFORCE_PLUS_PLUS's token rewards alone, and "
                    + advantageEstimator + " does not read it; leave gamma at 1");
        Objects.requireNonNull(eval, "eval");
        atLeast(steps, 0, "steps");
        atLeast(promptsPerStep, 1, "promptsPerStep");
        atLeast(groupSize, 2, "groupSize");
        atLeast(miniBatches, 1, "miniBatches");
        if (miniBatches > promptsPerStep * groupSize)
            throw new IllegalArgumentException("miniBatches: must be <= promptsPerStep * groupSize ("
                    + promptsPerStep * groupSize + "), got " + miniBatches);
        atLeast(checkpointEvery, 0, "checkpointEvery");
        if (dynamicSamplingBatches != null) atLeast(dynamicSamplingBatches, 1, "dynamicSamplingBatches");
        if (!(learningRate > 0)) throw new IllegalArgumentException("learningRate: must be > 0, got " + learningRate);
        if (!(weightDecay >= 0)) throw new IllegalArgumentException("weightDecay: must be >= 0, got " + weightDecay);
        if (!(gradClip >= 0)) throw new IllegalArgumentException("gradClip: must be >= 0, got " + gradClip);
        if (!(rolloutTemperature > 0))
            throw new IllegalArgumentException("rolloutTemperature: must be > 0, got " + rolloutTemperature);
        if (adaptiveEntropy != null && loss.entropyCoef() != 0)
            throw new IllegalArgumentException("loss.entropyCoef: adaptiveEntropy sets the Entropy-Reg coefficient of "
                    + "each update (its coefficient field is the start); leave loss.entropyCoef at 0");
        if (gpgBiasCorrection) gpgRefusals(loss, aent, adaptiveEntropy, topEntropyQuantile, offPolicyMaskThreshold);
        if (gpgBiasCorrection && perToken(advantageEstimator))
            throw new IllegalArgumentException("advantageEstimator: " + advantageEstimator + " gives each token its "
                    + "own advantage, and gpgBiasCorrection counts the groups by their responses' advantages; "
                    + "choose one");
        // Refuses the combinations it cannot run, naming the field.
        new PolicyObjective(sequenceRatio, topEntropyQuantile, surrogate(clipCov, cispo, sapo, klCov, gmpo, vespo,
                dppo), offPolicyMaskThreshold).check(loss);
        Task t = task.create();
        if (overlongPunishment != null && overlongPunishment.buffer() > t.maxResponseLength())
            throw new IllegalArgumentException("overlongPunishment.buffer: must be <= the task's longest response ("
                    + t.maxResponseLength() + "), got " + overlongPunishment.buffer());
        if (t.promptLength() + t.maxResponseLength() - 1 > model.context())
            throw new IllegalArgumentException("model.context: " + model.context() + " is shorter than the task's "
                    + "prompt + response - 1 = " + (t.promptLength() + t.maxResponseLength() - 1));
    }

    /** Whether the estimator's advantages are per token (REINFORCE++ and ReMax), which a response's need not share. */
    static boolean perToken(AdvantageEstimator estimator) {
        return estimator == AdvantageEstimator.REINFORCE_PLUS_PLUS || estimator == AdvantageEstimator.REMAX;
    }

    /** Whether a step reads the reference's log-probs: the loss's KL term, or the KL penalty in the reward. */
    public boolean needsReference() {
        return loss.klCoef() != 0 || klInReward != null;
    }

    /** The policy loss of the GRPO rows that sequenceRatio, topEntropyQuantile and the eight after it choose. */
    public PolicyObjective objective() {
        return new PolicyObjective(sequenceRatio, topEntropyQuantile, surrogate(clipCov, cispo, sapo, klCov, gmpo,
                vespo, dppo), offPolicyMaskThreshold);
    }

    /**
     * The one of the fields that replace PPO's clipped loss that is set, or null; a second is refused by its name.
     * The arguments come in the record's order, the names' order.
     */
    private static Surrogate surrogate(Surrogate... fields) {
        String[] names = {"clipCov", "cispo", "sapo", "klCov", "gmpo", "vespo", "dppo"};
        int set = -1;
        for (int i = 0; i < fields.length; ++i) {
            if (fields[i] == null) continue;
            if (set >= 0)
                throw new IllegalArgumentException(names[i] + ": " + names[set] + " is set too; clipCov, cispo, sapo, "
                        + "klCov, gmpo, vespo and dppo each replace PPO's clipped loss in their own way; choose one");
            set = i;
        }
        return set < 0 ? null : fields[set];
    }

    /**
     * TRL's: the correction divides each GRPO row's weight, and so its KL and entropy terms too, whose coefficients
     * would then move with the rewards' spread; and it counts the groups by their advantages, which entropy masking and
     * off-policy masking leave intact on the tokens they silence, so it would under-correct by what it cannot see.
     */
    private static void gpgRefusals(LossConfig loss, AentCoefficient aent, AdaptiveEntropyBonus adaptiveEntropy,
            Double topEntropyQuantile, Double offPolicyMaskThreshold) {
        String scaled = loss.klCoef() != 0 ? "loss.klCoef" : loss.entropyCoef() != 0 ? "loss.entropyCoef"
                : loss.clampedEntropyCoef() != 0 ? "loss.clampedEntropyCoef" : aent != null ? "aent"
                : adaptiveEntropy != null ? "adaptiveEntropy" : null;
        if (scaled != null)
            throw new IllegalArgumentException(scaled + ": gpgBiasCorrection divides the whole loss of the GRPO rows, "
                    + "this term's too, whose coefficient would then move with the rewards' spread; choose one");
        String silencing = topEntropyQuantile != null ? "topEntropyQuantile"
                : offPolicyMaskThreshold != null ? "offPolicyMaskThreshold" : null;
        if (silencing != null)
            throw new IllegalArgumentException(silencing + ": it silences tokens and leaves their advantages, which "
                    + "gpgBiasCorrection reads, so the correction would miss them; choose one");
    }

    private static void atLeast(int v, int min, String name) {
        if (v < min) throw new IllegalArgumentException(name + ": must be >= " + min + ", got " + v);
    }
}
