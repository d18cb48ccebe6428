package io.jaio.aio;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.ZIZ_Result;

/**
 * The waker's fast path: {@link WakeState#notifyAndCheck()} returns at once, without storing or
 * writing the eventfd, when {@code notified} is already set. Here it starts set (an earlier
 * wake-up that found no poller raised). The waker publishes work, then notifies; the poller runs
 * one iteration boundary: accept (clear notified), dispatch (read the work), then raise before
 * its next blocking wait.
 *
 * <p>r1 = the waker writes the eventfd; r2 = the work the dispatch saw (1 = seen); r3 = the
 * poller's raise saw notified (will not block). Losing the work means: the waker skipped the
 * write (r1 false), the dispatch missed the work (r2 0) and the poller blocks (r3 false).
 */
@JCStressTest
@Description("WakeState fast path: skipping the store when notified is set never loses a wake-up")
@Outcome(id = "false, 1, false", expect = ACCEPTABLE,
        desc = "the waker took the fast path before the accept; the dispatch after the accept saw its work")
@Outcome(id = "false, 1, true", expect = ACCEPTABLE,
        desc = "work seen by the dispatch, and the waker's store after the accept also stops the poller from blocking")
@Outcome(id = "false, 0, true", expect = ACCEPTABLE,
        desc = "the waker stored notified after the accept (before the raise): the poller does not block and runs the work next")
@Outcome(id = "true, 0, false", expect = ACCEPTABLE,
        desc = "the waker stored after the accept and saw the raised notifyMe: it writes the eventfd")
@Outcome(id = "true, 1, false", expect = ACCEPTABLE,
        desc = "as above, and the dispatch already saw the work (a redundant wake-up)")
@Outcome(id = "true, 0, true", expect = ACCEPTABLE, desc = "both stores before both loads: redundant but safe")
@Outcome(id = "true, 1, true", expect = ACCEPTABLE, desc = "redundant but safe")
@Outcome(id = "false, 0, false", expect = FORBIDDEN,
        desc = "the waker skipped the write, the dispatch missed the work and the poller blocks: LOST WAKE-UP")
@State
public class WakeFastPathTest {
    private final WakeState wake = new WakeState();
    private volatile int work;

    public WakeFastPathTest() {
        wake.notifyAndCheck(); // notified = true, nobody raised: no write
    }

    @Actor
    public void waker(ZIZ_Result r) {
        work = 1;                       // the BH push (a CAS in the real code)
        r.r1 = wake.notifyAndCheck();
    }

    @Actor
    public void poller(ZIZ_Result r) {
        wake.accept();                  // after the previous wait
        r.r2 = work;                    // the dispatch (bhPoll's getAndSet in the real code)
        r.r3 = wake.raise();            // before the next blocking wait
    }
}
