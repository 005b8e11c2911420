package io.policyloss.control;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The copies with one field set are the canonical constructor's objectives with that field, the others kept. */
class PolicyObjectiveTest {
    @Test
    void eachCopySetsItsFieldAlone() {
        ClipCov clipCov = ClipCov.defaults();
        PolicyObjective base = new PolicyObjective(false, 0.3, clipCov, null, null, null, null, null, 0.7);
        assertEquals(base, PolicyObjective.CLIPPED.withTopEntropyQuantile(0.3).with(clipCov)
                .withOffPolicyMaskThreshold(0.7));
        assertEquals(new PolicyObjective(true, null, clipCov, null, null, null, null, null, 0.7),
                base.withTopEntropyQuantile(null).withSequenceRatio(true));
        assertEquals(new PolicyObjective(false, 0.2, clipCov, null, null, null, null, null, 0.7),
                base.withTopEntropyQuantile(0.2));
        assertEquals(new PolicyObjective(false, 0.3, clipCov, null, null, null, null, null, null),
                base.withOffPolicyMaskThreshold(null));
        assertEquals(new PolicyObjective(false, 0.3, null, Cispo.defaults(), null, null, null, null, 0.7),
                base.with((ClipCov) null).with(Cispo.defaults()));
        assertEquals(new PolicyObjective(false, 0.3, null, null, Sapo.defaults(), null, null, null, 0.7),
                base.with((ClipCov) null).with(Sapo.defaults()));
        assertEquals(new PolicyObjective(false, null, null, null, null, KlCov.defaults(), null, null, null),
                PolicyObjective.CLIPPED.with(KlCov.defaults()));
        assertEquals(new PolicyObjective(false, null, null, null, null, null, Gmpo.defaults(), null, null),
                PolicyObjective.CLIPPED.with(Gmpo.defaults()));
        assertEquals(new PolicyObjective(false, 0.3, null, null, null, null, null, Vespo.defaults(), 0.7),
                base.with((ClipCov) null).with(Vespo.defaults()));
    }
}
