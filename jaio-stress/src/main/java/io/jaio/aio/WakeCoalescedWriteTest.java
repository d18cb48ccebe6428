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
 * Eventfd write coalescing ({@link WakeState#claimWrite()} / {@link WakeState#drained()}) as
 * AioContext runs it: a waker writes the eventfd only if notifyAndCheck() says a poller may block
 * and it claims the write; the home thread's notifier handler clears the eventfd, then calls
 * drained(). The eventfd is modelled by a volatile int.
 *
 * <p>Start: the poller is raised (blocking) and an earlier wake-up wrote the eventfd, undrained.
 * The poller's wait returns on it: lower(), accept(), drain (clear, drained()), dispatch (read
 * the work), and raise() for its next wait. Concurrently a waker publishes work and wakes up.
 *
 * <p>r1 = the waker wrote the eventfd; r2 = the dispatch saw the work; r3 = the next raise() saw
 * notified (no blocking); r4 = the eventfd is readable at the end; r5 = "stuck": a write is
 * claimed but the eventfd is empty, so every later wake-up would skip its write.
 */
@JCStressTest
@Description("WakeState: coalesced eventfd writes (claimWrite/drained) vs drain and the next wait: no lost wake-up")
@Outcome(id = "0, 1, 0, 0, 0", expect = ACCEPTABLE,
        desc = "the waker notified before the poller's accept() (its write, if claimed at all, "
                + "coalesced into the earlier undrained one): accept cleared the flag, the dispatch "
                + "saw the work")
@Outcome(id = {"0, 0, 1, 0, 0", "0, 1, 1, 0, 0"}, expect = ACCEPTABLE,
        desc = "the waker notified after accept() while notifyMe was 0 (between lower() and the next "
                + "raise()): no write; the next raise() sees notified and does not block")
@Outcome(id = "1, 1, 0, 1, 0", expect = ACCEPTABLE,
        desc = "the waker claimed after drained() (it saw notifyMe raised, before lower() or after the "
                + "next raise()): a fresh eventfd write; the dispatch also saw the work")
@Outcome(id = {"1, 0, [01], 1, 0", "1, 1, 1, 1, 0"}, expect = ACCEPTABLE,
        desc = "the waker saw the next raise() and claimed after drained(): it writes the eventfd, "
                + "which ends the next wait")
@Outcome(id = "[01], 0, 0, 0, [01]", expect = FORBIDDEN,
        desc = "the dispatch missed the work, the next wait blocks, and the eventfd is empty: LOST WAKE-UP")
@Outcome(expect = FORBIDDEN,
        desc = "a write is claimed but the eventfd is empty (later wake-ups would all be skipped), or an "
                + "impossible combination")
@State
public class WakeCoalescedWriteTest {
    private final WakeState wake = new WakeState();
    private volatile int eventfd;
    private volatile int work;

    public WakeCoalescedWriteTest() {
        wake.accept();
        wake.raise(); // the poller is about to block (nothing pending)
        if (wake.notifyAndCheck() && wake.claimWrite()) { // an earlier wake-up ...
            eventfd = 1; // ... wrote the eventfd, and nobody drained it yet
        }
    }

    @Actor
    public void waker(IIIII_Result r) {
        work = 1;
        if (wake.notifyAndCheck() && wake.claimWrite()) { // AioContext.wakeup()
            eventfd = 1;
            r.r1 = 1;
        }
    }

    @Actor
    public void poller(IIIII_Result r) {
        // the wait returned: the eventfd is readable
        wake.lower();
        wake.accept();
        eventfd = 0;        // the notifier's read handler: drain ...
        wake.drained();     // ... then allow the next write
        r.r2 = work;        // BH dispatch
        r.r3 = wake.raise() ? 1 : 0; // the next wait (blocks iff 0 and the eventfd is empty)
    }

    @Arbiter
    public void after(IIIII_Result r) {
        r.r4 = eventfd;
        r.r5 = eventfd == 0 && !wake.claimWrite() ? 1 : 0;
    }
}
