package io.jaio.aio;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The AioContext contract on the io_uring fd monitor, plus what only that monitor does. */
class IoUringContractTest extends AioContractTest {
    @Override
    protected FdMonitorKind kind() {
        return FdMonitorKind.IO_URING;
    }

    /**
     * A handler whose io_poll never succeeds (CoSocket's: readiness arrives through the ring)
     * takes part in adaptive polling, and an fd event during a long busy poll ends it: the
     * monitor's need_wait watches the ring (a posted CQE, or under COOP_TASKRUN the TASKRUN flag
     * of a completion not posted yet). Without that this poll would spin for the whole 10 s.
     */
    @Test
    void anFdEventEndsALongBusyPollThroughTheRing() throws Exception {
        AioContext c = systemClockContext();
        Pipe p = pipe();
        int[] reads = {0};
        c.setFdHandler(p.r, () -> {
            p.drain();
            reads[0]++;
        }, null, () -> false, () -> { });
        c.setPollParams(10_000_000_000L, 10_000_000L, 0);
        c.poll(false); // the setter's notify

        p.writeByte();
        assertTrue(c.poll(true));
        assertEquals(4000, c.pollNsOf(p.r), "joined the poll set on its first event");
        writeLater(p, 5);
        assertTrue(c.poll(true));
        assertEquals(2, reads[0]);
        assertEquals(10_000_000_000L, c.pollNsOf(p.r), "grown to poll-max-ns by a 5 ms wait");

        writeLater(p, 50);
        long t0 = System.nanoTime();
        assertTrue(c.poll(true));
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertEquals(3, reads[0]);
        assertTrue(ms < 5_000, "the event ended the 10 s busy poll (took " + ms + " ms)");
        c.setPollParams(0, 0, 0);
        c.setFdHandler(p.r, null, null, null, null);
    }

    private static void writeLater(Pipe p, long ms) {
        Thread.ofPlatform().daemon().start(() -> {
            try {
                Thread.sleep(ms);
            } catch (InterruptedException e) {
                return;
            }
            p.writeByte();
        });
    }
}
