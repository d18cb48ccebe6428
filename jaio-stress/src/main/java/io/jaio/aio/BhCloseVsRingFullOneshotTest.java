package io.jaio.aio;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE_INTERESTING;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.III_Result;

/**
 * {@link BhCloseVsOneshotTest} with the ring full: the late oneshot takes the fallback, a
 * {@link BottomHalf} of its own pushed on the CAS stack, which close swaps out. Either close
 * names it or the schedule throws; the oneshot that filled the ring is always named.
 *
 * <p>r1 = 1 if the schedule threw; r2 = 1 if close named the late oneshot; r3 = 1 if it named
 * the first.
 */
@JCStressTest
@Description("BhList: close() vs a ring-full scheduleOneshot() (the CAS-stack fallback): named or refused")
@Outcome(id = "0, 1, 1", expect = ACCEPTABLE, desc = "pushed before close's swap: close named both")
@Outcome(id = "1, 0, 1", expect = ACCEPTABLE, desc = "scheduled after close: refused")
@Outcome(id = "1, 1, 1", expect = ACCEPTABLE_INTERESTING,
        desc = "raced: close took the push and the scheduler saw closed; named and refused")
@Outcome(expect = FORBIDDEN, desc = "a oneshot lost silently, or the first one not named")
@State
public class BhCloseVsRingFullOneshotTest {
    private final BhList list = new BhList("stress", () -> { }, null, 1);

    public BhCloseVsRingFullOneshotTest() {
        list.scheduleOneshot("first", () -> { }); // fills the one-slot ring
    }

    @Actor
    public void home(III_Result r) {
        java.util.Set<String> leaks = BhProbe.close(list);
        r.r2 = BhProbe.named(leaks, "late");
        r.r3 = BhProbe.named(leaks, "first");
    }

    @Actor
    public void scheduler(III_Result r) {
        r.r1 = BhProbe.scheduleLate(list);
    }
}
