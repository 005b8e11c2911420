package io.policyloss.rl;

/**
 * The supervised warm start that makes the "base model": teacher-forced cross-entropy on correct answers, stopped
 * early on purpose so that the base model is right only part of the time, as a pretrained LLM is before RL.
 *
 * @param steps optimiser steps
 * @param batchSize problems per step
 * @param learningRate AdamW learning rate
 */
public record WarmStartConfig(int steps, int batchSize, double learningRate) {
    public WarmStartConfig {
        if (steps < 0) throw new IllegalArgumentException("warmStart.steps: must be >= 0, got " + steps);
        if (batchSize < 1) throw new IllegalArgumentException("warmStart.batchSize: must be >= 1, got " + batchSize);
        if (!(learningRate > 0))
            throw new IllegalArgumentException("warmStart.learningRate: must be > 0, got " + learningRate);
    }
}
