package io.jaio.aio;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import java.util.concurrent.atomic.AtomicInteger;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.IIIII_Result;

/**
 * Two threads schedule the same idle BH at once (docs/design/aio-semantics.md §2.2 enqueue, §2.5): the
 * fetch-or of PENDING elects exactly one pusher, so the BH is on the list once and runs once;
 * both schedules call the wake-up hook.
 *
 * <p>Arbiter: r1 = BHs on the list before polling (-1: the list is corrupt, e.g. the BH was
 * pushed twice and now links to itself); r2 = the poll's progress; r3 = runs after that poll;
 * r4 = runs added by a second poll; r5 = wake-up hook calls.
 */
@JCStressTest
@Description("BhList: schedule() the same BH from two threads: one push, one run, two wake-ups")
@Outcome(id = "1, 1, 1, 0, 2", expect = ACCEPTABLE,
        desc = "whichever schedule's fetch-or came first pushed the BH; the other saw PENDING and only "
                + "woke the loop: one list entry, one run, nothing left for a second poll")
@Outcome(expect = FORBIDDEN,
        desc = "pushed twice (r1 != 1), lost (no run), run twice, or a schedule that did not wake the loop")
@State
public class BhScheduleTwiceTest {
    private final AtomicInteger wakeups = new AtomicInteger();
    private final BhList list = new BhList("stress", wakeups::incrementAndGet);
    private int runs; // touched only by the polling thread (the arbiter)
    private final BottomHalf bh = list.newBottomHalf("bh", () -> runs++);

    @Actor
    public void scheduler1() {
        bh.schedule();
    }

    @Actor
    public void scheduler2() {
        bh.schedule();
    }

    @Arbiter
    public void poller(IIIII_Result r) {
        r.r1 = BhProbe.stackLength(list, 4);
        if (r.r1 == BhProbe.CORRUPT) {
            r.r2 = r.r3 = r.r4 = -1;
        } else {
            r.r2 = list.poll(new BhList.Slice(), BhProbe.RUN) ? 1 : 0;
            r.r3 = runs;
            list.poll(new BhList.Slice(), BhProbe.RUN);
            r.r4 = runs - r.r3;
        }
        r.r5 = wakeups.get();
    }
}
