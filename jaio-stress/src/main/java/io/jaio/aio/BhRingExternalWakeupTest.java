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
 * The ring's Dekker pair for an embedding host loop (AioContext.sourcePrepare): a producer's
 * oneshot into the ring ("CAS the tail; load notifyMe", AioContext.wakeupRing, which does not
 * touch {@code notified}) against the host's prepare ("store notifyMe | 1; load notified; then the
 * timeout, which reads the ring's tail"), just before the host may block on the context's fd.
 * As {@link WakeExternalNoLostWakeupTest}, with the ring's claim in the place of {@code notified}.
 *
 * <p>r1 = the producer writes the eventfd; r2 = prepare returns timeout 0 (does not block).
 */
@JCStressTest
@Description("BhList ring + WakeState: producer offer + wakeupRing vs host raiseExternal + timeout: never both miss")
@Outcome(id = "true, false", expect = ACCEPTABLE,
        desc = "the host raised bit 0 first; the producer saw it and writes the eventfd")
@Outcome(id = "false, true", expect = ACCEPTABLE,
        desc = "the producer claimed first; prepare sees the claim and returns timeout 0")
@Outcome(id = "true, true", expect = ACCEPTABLE,
        desc = "both saw each other: a redundant but harmless eventfd write")
@Outcome(id = "false, false", expect = FORBIDDEN,
        desc = "the host blocks on the fd with the oneshot queued and nobody writes the eventfd: LOST WAKE-UP")
@State
public class BhRingExternalWakeupTest {
    private final WakeState wake = new WakeState();
    private boolean wrote; // the producer's only
    private final BhList list = new BhList("stress", () -> {
        throw new AssertionError("the BH path is not taken");
    }, () -> {
        if (wake.mayBlock() && wake.claimWrite()) { // AioContext.wakeupRing
            wrote = true;
        }
    }, null, BhList.RING_CAPACITY);

    @Actor
    public void producer(ZZ_Result r) {
        list.scheduleOneshot("oneshot", () -> { });
        r.r1 = wrote;
    }

    @Actor
    public void host(ZZ_Result r) {
        // sourcePrepare's order: raiseExternal, then (if no notification) the timeout.
        r.r2 = wake.raiseExternal() || list.timeoutNs() == 0;
    }
}
