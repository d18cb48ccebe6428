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
 * The Dekker pair of the wake-up protocol for an embedding host loop (AioSource.prepare, QEMU's
 * {@code aio_ctx_prepare}): a waker's {@link WakeState#notifyAndCheck()} ("store notified; load
 * notifyMe") against {@link WakeState#raiseExternal()} ("store notifyMe | 1; load notified") just
 * before the host may block on the context's fd. As {@link WakeNoLostWakeupTest}, with bit 0
 * instead of poll's +2.
 */
@JCStressTest
@Description("WakeState: waker notifyAndCheck() vs host raiseExternal(): never both miss (lost wake-up)")
@Outcome(id = "true, false", expect = ACCEPTABLE,
        desc = "the host raised bit 0 first; the waker saw it and writes the eventfd, which makes the fd readable")
@Outcome(id = "false, true", expect = ACCEPTABLE,
        desc = "the waker stored notified first; prepare sees it and returns timeout 0")
@Outcome(id = "true, true", expect = ACCEPTABLE,
        desc = "both stores precede both loads: a redundant but harmless eventfd write")
@Outcome(id = "false, false", expect = FORBIDDEN,
        desc = "the host blocks on the fd and nobody writes the eventfd: LOST WAKE-UP")
@State
public class WakeExternalNoLostWakeupTest {
    private final WakeState wake = new WakeState();

    public WakeExternalNoLostWakeupTest() {
        wake.accept();
    }

    @Actor
    public void waker(ZZ_Result r) {
        r.r1 = wake.notifyAndCheck();
    }

    @Actor
    public void host(ZZ_Result r) {
        r.r2 = wake.raiseExternal();
    }
}
