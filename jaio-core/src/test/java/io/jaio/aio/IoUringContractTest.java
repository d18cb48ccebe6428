package io.jaio.aio;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What only the io_uring fd monitor does (the shared contract runs in the {@code IoUring...ContractTest} classes). */
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
        // {0: write the byte on the next io_poll call, 1: io_poll calls since that write (-1: none yet)}
        int[] busy = {0, -1};
        c.setFdHandler(p.r, () -> {
            p.drain();
            reads[0]++;
        }, null, () -> {
            if (busy[0] == 1) { // the event arrives in the middle of a busy poll, from the loop itself
                busy[0] = 0;
                busy[1] = 0;
                p.writeByte();
            } else if (busy[1] >= 0) {
                busy[1]++;
            }
            return false;
        }, () -> { });
        c.setPollParams(10_000_000_000L, 10_000_000L, 0);
        c.poll(false); // the setter's notify

        p.writeByte();
        assertTrue(c.poll(true));
        assertEquals(PollPolicy.INITIAL_NS, c.pollNsOf(p.r), "joined the poll set on its first event");
        writeAfterSleeping(p, 5);
        assertTrue(c.poll(true));
        assertEquals(2, reads[0]);
        assertEquals(10_000_000_000L, c.pollNsOf(p.r), "grown to poll-max-ns by a wait of a few ms");

        busy[0] = 1;
        assertTrue(c.poll(true)); // busy-polls for up to 10 s unless the ring ends it
        assertEquals(3, reads[0]);
        assertTrue(busy[1] >= 0, "the byte was written during the busy poll");
        // The write posts its readiness to the ring at once (the writer is the loop thread), so
        // need_wait ends the busy poll at the next check; a loop blind to the ring would call
        // io_poll millions of times before its 10 s were up.
        assertTrue(busy[1] <= 1, "io_poll calls after the event: " + busy[1]);
        c.setPollParams(0, 0, 0);
        c.setFdHandler(p.r, null, null, null, null);
    }

    /** Writes a byte from another thread after {@code ms}: a wait of at least that long (only its lower bound matters). */
    private static void writeAfterSleeping(Pipe p, long ms) {
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
