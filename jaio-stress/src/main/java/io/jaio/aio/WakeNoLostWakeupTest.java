package io.jaio.aio;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.ZZ_Result;

/**
 * The Dekker pair of the wake-up protocol (docs/design/aio-semantics.md §3.2, §3.4): a waker's
 * {@link WakeState#notifyAndCheck()} ("store notified; load notifyMe") against a poller's
 * {@link WakeState#raise()} ("store notifyMe+2; load notified") just before it may block.
 *
 * <p>r1 = the waker writes the eventfd (it saw notifyMe != 0); r2 = the poller saw the
 * notification and will not block. If both are false the poller sleeps with nobody to wake it.
 * That needs both loads to pass the other side's store (store-load reordering), which volatile
 * (sequentially consistent) accesses forbid.
 */
@JCStressTest
@Description("WakeState: waker notifyAndCheck() vs poller raise(): never both miss (lost wake-up)")
@Outcome(id = "true, false", expect = ACCEPTABLE,
        desc = "poller raised notifyMe and read notified before the waker stored it; the waker then "
                + "saw notifyMe != 0: the poller blocks and the eventfd write wakes it")
@Outcome(id = "false, true", expect = ACCEPTABLE,
        desc = "waker stored notified and read notifyMe before the poller raised it; the poller then "
                + "sees notified: it does not block, and no eventfd write is needed")
@Outcome(id = "true, true", expect = ACCEPTABLE,
        desc = "both stores precede both loads: the eventfd is written and the poller does not block "
                + "(a redundant but harmless eventfd write)")
@Outcome(id = "false, false", expect = FORBIDDEN,
        desc = "each load ran before the other side's store: the poller blocks and nobody writes the "
                + "eventfd: LOST WAKE-UP")
@State
public class WakeNoLostWakeupTest {
    private final WakeState wake = new WakeState();

    public WakeNoLostWakeupTest() {
        wake.accept(); // a fresh state is already clear; accept() as the loop does before its wait
    }

    @Actor
    public void waker(ZZ_Result r) {
        r.r1 = wake.notifyAndCheck();
    }

    @Actor
    public void poller(ZZ_Result r) {
        r.r2 = wake.raise();
    }
}
