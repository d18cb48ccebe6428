package io.jaio.coroutine;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.III_Result;

/**
 * CoCompletion is one-shot: of two racing completions exactly one wins (the CAS that claims it),
 * the other throws, and the outcome is the winner's.
 *
 * <p>r1/r2: 1 if that actor's completion was accepted, 0 if it threw; r3: the final value.
 */
@JCStressTest
@Description("CoCompletion: two racing completions, exactly one wins")
@Outcome(id = "1, 0, 1", expect = ACCEPTABLE, desc = "the first actor won; the second was refused")
@Outcome(id = "0, 1, 2", expect = ACCEPTABLE, desc = "the second actor won; the first was refused")
@Outcome(expect = FORBIDDEN, desc = "both or neither won, or the value is not the winner's")
@State
public class CoCompletionTwiceTest {
    private final CoCompletion<Integer> c = new CoCompletion<>();
    private final Integer one = 1;
    private final Integer two = 2;

    @Actor
    public void first(III_Result r) {
        try {
            c.complete(one);
            r.r1 = 1;
        } catch (IllegalStateException e) {
            r.r1 = 0;
        }
    }

    @Actor
    public void second(III_Result r) {
        try {
            c.complete(two);
            r.r2 = 1;
        } catch (IllegalStateException e) {
            r.r2 = 0;
        }
    }

    @Arbiter
    public void arbiter(III_Result r) {
        Integer v = c.value();
        r.r3 = v == null ? 0 : v;
    }
}
