package io.jaio.aio;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.IIIII_Result;

/**
 * schedule() against delete() on another thread, polled after both (docs/design/aio-semantics.md §2.2:
 * "DELETED wins over SCHEDULED"). Both enqueues OR into the same flag word and at most one of
 * them pushes; when the poll dequeues the BH, DELETED is set, so the callback never runs.
 * schedule() throws IllegalStateException if it already sees DELETED.
 *
 * <p>r1 = schedule() threw; arbiter: r2 = BHs on the list before polling; r3 = the poll's
 * progress; r4 = runs; r5 = a schedule() after the poll throws (DELETED is never cleared).
 */
@JCStressTest
@Description("BhList: schedule() vs delete(): a deleted BH never runs, however the two interleave")
@Outcome(id = "0, 1, 0, 0, 1", expect = ACCEPTABLE,
        desc = "schedule() checked DELETED before delete()'s fetch-or: both flags land (the first "
                + "fetch-or pushes, the second sees PENDING); DELETED wins at dequeue, no run")
@Outcome(id = "1, 1, 0, 0, 1", expect = ACCEPTABLE,
        desc = "delete()'s fetch-or came before schedule()'s check: schedule() throws "
                + "IllegalStateException; the poll drops the BH")
@Outcome(expect = FORBIDDEN,
        desc = "the deleted BH ran, counted as progress, was listed twice or not at all, or could be "
                + "scheduled again")
@State
public class BhScheduleVsDeleteTest {
    private final BhList list = new BhList("stress", () -> { });
    private int runs;
    private final BottomHalf bh = list.newBottomHalf("bh", () -> runs++);

    @Actor
    public void scheduler(IIIII_Result r) {
        try {
            bh.schedule();
            r.r1 = 0;
        } catch (IllegalStateException e) {
            r.r1 = 1;
        }
    }

    @Actor
    public void deleter() {
        bh.delete();
    }

    @Arbiter
    public void poller(IIIII_Result r) {
        r.r2 = BhProbe.stackLength(list, 4);
        if (r.r2 == BhProbe.CORRUPT) {
            r.r3 = r.r4 = r.r5 = -1;
            return;
        }
        r.r3 = list.poll(new BhList.Slice(), BhProbe.RUN) ? 1 : 0;
        r.r4 = runs;
        try {
            bh.schedule();
            r.r5 = 0;
        } catch (IllegalStateException e) {
            r.r5 = 1;
        }
    }
}
