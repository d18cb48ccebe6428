package io.jaio.coroutine;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.III_Result;

/**
 * CoCompletion's one ordering argument (OneShot's): the completer writes the outcome (the value, and a field
 * of a subclass, like FileEngine's io_uring CQE {@code res}) plainly and then publishes DONE with a
 * release store; a waiter on another thread (the virtual-thread engine's coroutine, or a thread
 * polling {@code isDone()} as RawFileBackend does) that sees DONE must see the whole outcome.
 *
 * <p>The completer sets {@code res = 7} and completes with 42. The waiter reads isDone() [r1],
 * then value() [r2] and res [r3] (-1 when it did not see DONE).
 */
@JCStressTest
@Description("CoCompletion: complete() vs a waiter on another thread: DONE publishes the outcome")
@Outcome(id = "0, -1, -1", expect = ACCEPTABLE, desc = "the waiter looked before the completion")
@Outcome(id = "1, 42, 7", expect = ACCEPTABLE, desc = "the waiter saw DONE, and with it the value and the subclass field")
@Outcome(expect = FORBIDDEN, desc = "DONE seen without the value or the subclass field (\"1, 0, 7\", \"1, 42, 0\", ...): "
        + "the release/acquire pair is broken")
@State
public class CoCompletionPublishTest {
    /** A subclass carrying a primitive result, as FileEngine's io_uring waiter does. */
    static final class WithRes extends CoCompletion<Integer> {
        int res;
    }

    private final WithRes c = new WithRes(); // created outside a coroutine: no waiter to wake
    private final Integer answer = 42; // boxed up front: the completer allocates nothing

    @Actor
    public void completer() {
        c.res = 7;
        c.complete(answer);
    }

    @Actor
    public void waiter(III_Result r) {
        if (c.isDone()) {
            r.r1 = 1;
            Integer v = c.value();
            r.r2 = v == null ? 0 : v;
            r.r3 = c.res;
        } else {
            r.r1 = 0;
            r.r2 = -1;
            r.r3 = -1;
        }
    }
}
