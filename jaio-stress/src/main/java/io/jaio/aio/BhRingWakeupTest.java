package io.jaio.aio;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.IIII_Result;

/**
 * A cross-thread oneshot through the ring against the loop's accept / poll / decide-to-block
 * sequence, with the context's ring wake-up (AioContext.wakeupRing): the producer never touches
 * {@code notified} (here already set by earlier work, so a check of it alone would say "do not
 * block" only by luck); it writes the eventfd only if {@code notifyMe} says a poller may block,
 * and the poller checks the ring's claims after raising {@code notifyMe}. The oneshot must never be
 * left in the ring while the loop blocks with no eventfd write on the way: either the poll ran it,
 * or the loop does not block, or the producer writes the eventfd. (The bugs this guards: deciding
 * by the slot's publication, a release store, instead of by the CAS that claimed it; and a
 * poller that decides by {@code notified} alone, which the ring's producers no longer set.)
 *
 * <p>r1 = runs in the loop's poll; r2 = the loop would block (timeout -1, raise() saw no
 * notification and the ring no claim); r3 = the producer had to write the eventfd; arbiter:
 * r4 = total runs.
 */
@JCStressTest
@Description("BhList ring + WakeState: a cross-thread oneshot is run, or the loop does not block, or the eventfd is written")
@Outcome(id = {"1, 0, 0, 1", "1, 1, 0, 1", "1, 0, 1, 1", "1, 1, 1, 1"}, expect = ACCEPTABLE,
        desc = "the poll ran the oneshot")
@Outcome(id = {"0, 0, 0, 1", "0, 0, 1, 1"}, expect = ACCEPTABLE,
        desc = "the poll missed it, but the loop does not block (the claim was seen)")
@Outcome(id = "0, 1, 1, 1", expect = ACCEPTABLE,
        desc = "the loop blocks, and the producer writes the eventfd that wakes it")
@Outcome(expect = FORBIDDEN, desc = "LOST WAKE-UP: the loop blocks with the oneshot queued and no eventfd write, "
        + "or the oneshot was lost or ran twice")
@State
public class BhRingWakeupTest {
    private final WakeState wake = new WakeState();
    private int wrote; // the producer's only: read by the arbiter
    private final BhList list = new BhList("stress", () -> {
        if (wake.notifyAndCheck()) { // the BH path (not taken here)
            wrote = 1;
        }
    }, () -> {
        if (wake.mayBlock() && wake.claimWrite()) { // AioContext.wakeupRing
            wrote = 1;
        }
    }, null, BhList.RING_CAPACITY);
    private int runs; // on the polling threads only: the loop actor, then the arbiter

    public BhRingWakeupTest() {
        wake.notifyAndCheck(); // notified = true: a stale notification from earlier work
    }

    @Actor
    public void loop(IIII_Result r) {
        wake.accept(); // as poll() does before dispatching
        list.poll(new BhList.Slice(), BhProbe.RUN);
        r.r1 = runs;
        // The next pass's decision, in poll()'s order: the timeout (which, as in poll(), does
        // not read the producers' tail), raise, then the ring's claims.
        boolean block = list.timeoutNs(false) == -1 && !wake.raise() && !list.ringClaimed();
        r.r2 = block ? 1 : 0;
    }

    @Actor
    public void producer() {
        list.scheduleOneshot("oneshot", () -> runs++);
    }

    @Arbiter
    public void after(IIII_Result r) {
        r.r3 = wrote;
        list.poll(new BhList.Slice(), BhProbe.RUN);
        r.r4 = runs;
    }
}
