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
 * One whole wait of the poller against one wake-up (docs/design/aio-semantics.md §3.3-3.4, the BUG1 rule):
 * the waker publishes work (a volatile write, as jaio's BH flags and list head are atomics) and
 * notifies; the poller raises, waits, lowers, {@link WakeState#accept() accepts} and then
 * "dispatches" (reads the work).
 *
 * <p>r1 = the waker wrote the eventfd; r2 = raise() saw the notification (no blocking);
 * r3 = the dispatch after accept saw the work; r4 = notified() is still set afterwards (so the
 * next wait will not block). The notification is lost only if all four are 0: no eventfd write,
 * the wait could block, accept cleared the flag, and the dispatch still missed the work. With
 * r1 = r2 = 0 the waker's load of notifyMe saw the poller's lower(); with r4 = 0 accept's clear
 * comes after the waker's store of notified, and the dispatch read comes after accept's clear
 * (its full fence), hence after the work was published.
 */
@JCStressTest
@Description("WakeState: raise/lower/accept then dispatch vs notify: the wake-up is always seen somewhere")
@Outcome(id = {"1, 0, [01], [01]"}, expect = ACCEPTABLE,
        desc = "waker's notifyMe load fell between raise() and lower(): it writes the eventfd (the "
                + "dispatch and the notified flag may or may not show the work yet)")
@Outcome(id = {"0, 1, [01], [01]", "1, 1, [01], [01]"}, expect = ACCEPTABLE,
        desc = "waker stored notified before the poller's raise() read it: the poller does not block")
@Outcome(id = "0, 0, 1, 0", expect = ACCEPTABLE,
        desc = "waker notified after lower() (no eventfd needed) and before accept(): accept cleared "
                + "the flag, and the dispatch after accept saw the work")
@Outcome(id = "0, 0, 1, 1", expect = ACCEPTABLE,
        desc = "waker notified after lower() and its store of notified landed after accept(): the "
                + "dispatch saw the work and the flag stays set for the next wait")
@Outcome(id = "0, 0, 0, 1", expect = ACCEPTABLE,
        desc = "waker notified after the poller's dispatch read: the work waits for the next "
                + "iteration, whose wait will not block because notified stays set")
@Outcome(id = "0, 0, 0, 0", expect = FORBIDDEN,
        desc = "no eventfd write, raise() missed the flag, accept() cleared it and the dispatch "
                + "missed the work: LOST WAKE-UP (the dispatch read passed accept's clear)")
@Outcome(expect = FORBIDDEN, desc = "impossible combination")
@State
public class WakeAcceptBeforeDispatchTest {
    private final WakeState wake = new WakeState();
    /** Work the waker publishes before notifying (stands for a BH's flags / the BH list head). */
    private volatile int work;

    public WakeAcceptBeforeDispatchTest() {
        wake.accept();
    }

    @Actor
    public void waker(IIII_Result r) {
        work = 1;
        r.r1 = wake.notifyAndCheck() ? 1 : 0;
    }

    @Actor
    public void poller(IIII_Result r) {
        r.r2 = wake.raise() ? 1 : 0;
        // (the wait: blocks iff r2 == 0; in this model the eventfd or a timeout ends it)
        wake.lower();
        wake.accept();
        r.r3 = work; // the dispatch
    }

    @Arbiter
    public void after(IIII_Result r) {
        r.r4 = wake.notified() ? 1 : 0;
    }
}
