package io.jaio.aio;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.I_Result;

/**
 * Two writers of different flags of one {@link BitWord} (a timer list being armed while another
 * empties, or a handler becoming unpollable while the deleted list is freed): neither update
 * may be lost, or a poll pass would skip its timers or its fd monitor for good (or check them
 * for ever). Starts with flag 2 set; one actor sets flag 1, the other clears flag 2.
 */
@JCStressTest
@Description("BitWord: concurrent set and clear of different flags both take effect")
@Outcome(id = "1", expect = ACCEPTABLE, desc = "both updates took effect")
@Outcome(expect = FORBIDDEN, desc = "an update was lost (a plain read-modify-write)")
@State
public class BitWordTest {
    private final BitWord word = new BitWord();

    public BitWordTest() {
        word.set(2, true);
    }

    @Actor
    public void arm() {
        word.set(1, true);
    }

    @Actor
    public void disarm() {
        word.set(2, false);
    }

    @Arbiter
    public void check(I_Result r) {
        r.r1 = word.get();
    }
}
