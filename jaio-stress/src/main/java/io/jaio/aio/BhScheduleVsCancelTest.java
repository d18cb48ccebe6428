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
 * schedule() against cancel() on another thread (docs/design/aio-semantics.md §2.2): cancel only clears
 * SCHEDULED and leaves the BH on the list (PENDING), where the poll skips it without progress.
 *
 * <p>Arbiter: r1 = BHs on the list before polling; r2 = PENDING still set (a racy cancel that
 * rewrote the whole flag word would drop it, and the next schedule would push the BH twice);
 * r3 = the poll's progress; r4 = runs; r5 = runs added by a second poll.
 */
@JCStressTest
@Description("BhList: schedule() vs cancel(): the BH runs at most once, and is skipped without progress if cancelled")
@Outcome(id = "1, 1, 1, 1, 0", expect = ACCEPTABLE,
        desc = "cancel() ran before schedule()'s fetch-or (it cleared nothing): the BH runs once")
@Outcome(id = "1, 1, 0, 0, 0", expect = ACCEPTABLE,
        desc = "cancel() ran after schedule()'s fetch-or: the BH stays listed (PENDING) but is skipped, "
                + "no progress")
@Outcome(expect = FORBIDDEN,
        desc = "the BH left the list, was pushed twice, lost PENDING while listed, ran twice, or progress "
                + "disagrees with the run")
@State
public class BhScheduleVsCancelTest {
    private final BhList list = new BhList("stress", () -> { });
    private int runs;
    private final BottomHalf bh = list.newBottomHalf("bh", () -> runs++);

    @Actor
    public void scheduler() {
        bh.schedule();
    }

    @Actor
    public void canceller() {
        bh.cancel();
    }

    @Arbiter
    public void poller(IIIII_Result r) {
        r.r1 = BhProbe.stackLength(list, 4);
        r.r2 = (bh.flagsNow() & BottomHalf.PENDING) != 0 ? 1 : 0;
        if (r.r1 == BhProbe.CORRUPT) {
            r.r3 = r.r4 = r.r5 = -1;
            return;
        }
        r.r3 = list.poll(new BhList.Slice(), BhProbe.RUN) ? 1 : 0;
        r.r4 = runs;
        list.poll(new BhList.Slice(), BhProbe.RUN);
        r.r5 = runs - r.r4;
    }
}
