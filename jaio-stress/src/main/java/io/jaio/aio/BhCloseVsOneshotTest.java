package io.jaio.aio;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE_INTERESTING;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.II_Result;

/**
 * The home thread closes the list while another thread schedules a oneshot into the ring
 * (docs/design/aio-semantics.md §2.5): the oneshot never runs after close, so either close names
 * it as never run or the schedule throws. Accepted and not named would be a callback silently
 * lost (an {@code execute()} whose future never completes).
 *
 * <p>r1 = 1 if the schedule threw; r2 = 1 if close named the oneshot.
 */
@JCStressTest
@Description("BhList: close() vs scheduleOneshot() from another thread: the oneshot is named or refused")
@Outcome(id = "0, 1", expect = ACCEPTABLE, desc = "scheduled before close: close named it as never run")
@Outcome(id = "1, 0", expect = ACCEPTABLE, desc = "scheduled after close: refused")
@Outcome(id = "1, 1", expect = ACCEPTABLE_INTERESTING,
        desc = "raced: close saw the claim and the scheduler saw closed; named and refused")
@Outcome(id = "0, 0", expect = FORBIDDEN, desc = "accepted, never run and never named: lost silently")
@State
public class BhCloseVsOneshotTest {
    private final BhList list = new BhList("stress", () -> { });

    @Actor
    public void home(II_Result r) {
        r.r2 = BhProbe.named(BhProbe.close(list), "late");
    }

    @Actor
    public void scheduler(II_Result r) {
        r.r1 = BhProbe.scheduleLate(list);
    }
}
