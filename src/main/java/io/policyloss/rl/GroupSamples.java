package io.policyloss.rl;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A step's GRPO samples on one rank: its prompts' problems, G responses to each in consecutive groups, each response's
 * correctness and reward, drawn in {@code batches} generation batches (more than one under dynamic sampling, which
 * keeps some groups of several batches).
 */
record GroupSamples(int groupSize, int batches, List<Problem> problems, Sequences grpo, float[] correct,
        float[] rewards) {
    int groups() {
        return problems.size();
    }

    /** The groups {@code which}, in that order, drawn in as many batches as these. */
    GroupSamples groups(int[] which) {
        int g = groupSize;
        List<Problem> p = new ArrayList<>();
        int[] rows = new int[which.length * g];
        float[] c = new float[rows.length], r = new float[rows.length];
        for (int k = 0; k < which.length; ++k) {
            p.add(problems.get(which[k]));
            for (int j = 0; j < g; ++j) {
                int b = which[k] * g + j;
                rows[k * g + j] = b;
                c[k * g + j] = correct[b];
                r[k * g + j] = rewards[b];
            }
        }
        return new GroupSamples(g, batches, p, grpo.select(rows), c, r);
    }

    /** These groups, then {@code o}'s. */
    GroupSamples concat(GroupSamples o) {
        List<Problem> p = new ArrayList<>(problems);
        p.addAll(o.problems);
        float[] c = Arrays.copyOf(correct, correct.length + o.correct.length);
        float[] r = Arrays.copyOf(rewards, rewards.length + o.rewards.length);
        System.arraycopy(o.correct, 0, c, correct.length, o.correct.length);
        System.arraycopy(o.rewards, 0, r, rewards.length, o.rewards.length);
        return new GroupSamples(groupSize, batches + o.batches, p, grpo.concat(o.grpo), c, r);
    }
}
