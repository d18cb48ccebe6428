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
 * sequence, with {@code notified} already set (so the producer's {@code wakeup()} may take its
 * fast path and write nothing). The oneshot must never be left in the ring while the loop blocks
 * with no eventfd write on the way: either the poll ran it, or the loop does not block, or the
 * producer writes the eventfd. (The bug this guards: deciding by the slot's publication, a release
 * store the fast path does not order, instead of by the CAS that claimed it.)
 *
 * <p>r1 = runs in the loop's poll; r2 = the loop would block (timeout -1 and raise() saw no
 * notification); r3 = the producer had to write the eventfd; arbiter: r4 = total runs.
 */
@JCStressTest
@Description("BhList ring + WakeState: a cross-thread oneshot is run, or the loop does not block, or the eventfd is written")
@Outcome(id = {"1, 0, 0, 1", "1, 1, 0, 1", "1, 0, 1, 1", "1, 1, 1, 1"}, expect = ACCEPTABLE,
        desc = "the poll ran the oneshot")
@Outcome(id = {"0, 0, 0, 1", "0, 0, 1, 1"}, expect = ACCEPTABLE,
        desc = "the poll missed it, but the loop does not block (the claim or the notification was seen)")
@Outcome(id = "0, 1, 1, 1", expect = ACCEPTABLE,
        desc = "the loop blocks, and the producer writes the eventfd that wakes it")
@Outcome(expect = FORBIDDEN, desc = "LOST WAKE-UP: the loop blocks with the oneshot queued and no eventfd write, "
        + "or the oneshot was lost or ran twice")
@State
public class BhRingWakeupTest {
    private final WakeState wake = new WakeState();
    private int wrote; // the producer's only: read by the arbiter
    private final BhList list = new BhList("stress", () -> {
        if (wake.notifyAndCheck()) {
            wrote = 1;
        }
    }, null);
    private int runs; // on the polling threads only: the loop actor, then the arbiter

    public BhRingWakeupTest() {
        wake.notifyAndCheck(); // notified = true: a stale notification from earlier work
    }

    @Actor
    public void loop(IIII_Result r) {
        wake.accept(); // as poll() does before dispatching
        list.poll(new BhList.Slice(), BhProbe.RUN);
        r.r1 = runs;
        boolean block = list.timeoutNs() == -1 && !wake.raise(); // the next pass's decision
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
