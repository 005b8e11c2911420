package io.policyloss.rl;

/**
 * One task instance: the prompt's tokens and the only answer that earns the reward.
 *
 * @param prompt the prompt tokens (every prompt of a task has the same length)
 * @param answer the expected response text, without the end-of-sequence token
 */
public record Problem(int[] prompt, String answer) {}
