package io.jaio.aio;

import static io.jaio.aio.ClockType.HOST;
import static io.jaio.aio.ClockType.REALTIME;
import static io.jaio.aio.ClockType.VIRTUAL_RT;
import static io.jaio.aio.TestSupport.join;
import static io.jaio.aio.TestSupport.sleepMs;
import static io.jaio.aio.TestSupport.spinNs;
import static io.jaio.aio.TestSupport.startThread;
import static java.util.concurrent.TimeUnit.MICROSECONDS;
import static java.util.concurrent.TimeUnit.MILLISECONDS;
import static java.util.concurrent.TimeUnit.NANOSECONDS;
import static java.util.concurrent.TimeUnit.SECONDS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.opentest4j.AssertionFailedError;

/**
 * The AioContext contract, nested poll(): QEMU's test-nested-aio-poll.c and aio-semantics.md §5.5.
 * Run once per fd monitor: {@code PollNestedPollContractTest}, {@code EpollNestedPollContractTest},
 * {@code IoUringNestedPollContractTest}. The harness is {@link AioContractTest}.
 */
abstract class NestedPollContract extends AioContractTest {
    /**
     * /nested-aio-poll: a level-triggered poll handler is taken off the poll list while its
     * io_poll_ready runs, so a nested blocking poll does not re-enter it (spec 5.2 step 3). Runs on
     * a system-clock context because the handler must start polling (4000 ns, spec 6.4).
     */
    @Test
    @DisplayName("/nested-aio-poll")
    void nestedAioPoll() {
        AioContext c = systemClockContext();
        warmUp(c);
        c.setPollParams(1_000_000L, 2, 2);

        EventNotifier pollNotifier = notifier();
        pollNotifier.set();
        EventNotifier dummyNotifier = notifier();
        boolean[] nested = {false};
        int[] readyCalls = {0};

        int[] pollNotifierReads = {0};
        c.setEventNotifier(pollNotifier, x -> {
            x.testAndClear();
            pollNotifierReads[0]++;
        }, x -> true, guard(x -> {
            assertFalse(nested[0], "io_poll_ready re-entered from the nested poll");
            nested[0] = true;
            readyCalls[0]++;
            dummyNotifier.set();
            assertTrue(c.poll(true), "the nested blocking poll dispatches the dummy notifier's read");
            nested[0] = false;
        }));
        c.setEventNotifier(dummyNotifier, AioContractTest::drainNotifier, x -> false,
                guard(x -> fail("the dummy notifier's io_poll_ready must never be called")));

        boolean first = c.poll(false);
        if (kind() == FdMonitorKind.IO_URING) {
            // Spec 7.3: io_uring's need_wait is true while registrations are still to be submitted,
            // so this non-blocking poll may already dispatch the (set) notifier's read handler.
            if (!first) {
                assertTrue(c.poll(true), "the read handler runs and the handler joins the poll list");
            }
        } else {
            assertFalse(first, "consume aio_notify; all handlers pollable, so no fd is looked at");
            assertTrue(c.poll(true), "the read handler runs and the handler joins the poll list");
        }
        assertEquals(1, pollNotifierReads[0], "the read handler ran once");
        // A poll(true) that took longer than poll-max-ns (1 ms: the thread was preempted, a GC
        // pause) shrinks instead of growing; the next poll(true) would then block for ever. Such a
        // measurement is retried a few times (the read handler just runs again) instead of flaking.
        for (int retry = 0; retry < 5 && c.pollNsOf(pollNotifier.fd()) == 0; retry++) {
            pollNotifier.set();
            assertTrue(c.poll(true));
            pollNotifierReads[0] = 1;
        }
        assertEquals(4000, c.pollNsOf(pollNotifier.fd()), "(derived) polling starts at 4000 ns");
        assertEquals(0, readyCalls[0]);
        assertTrue(c.poll(true), "userspace poll succeeds: io_poll_ready with the nested poll");
        assertEquals(1, readyCalls[0]);
        assertTrue(c.poll(true));
        assertEquals(2, readyCalls[0]);

        c.setEventNotifier(pollNotifier, null, null, null);
        c.setEventNotifier(dummyNotifier, null, null, null);
    }

    /** Make sure the fd-wait path of {@code c} has run once, so the first measured poll is not cold. */
    private void warmUp(AioContext c) {
        EventNotifier w = notifier();
        c.setEventNotifier(w, AioContractTest::drainNotifier, null, null);
        for (int i = 0; i < 20; i++) {
            w.set();
            c.poll(true);
        }
        c.setEventNotifier(w, null, null, null);
        assertFalse(c.poll(false));
    }

    /** Spec 2.3 nesting: a nested poll from a BH finishes the outer slice; every BH runs exactly once. */
    @Test
    void nestedPollFromABhRunsEveryOuterBhExactlyOnce() {
        int[] counts = new int[5];
        int[] nesterRuns = {0};
        int[] lateRuns = {0};
        boolean[] nestedResult = {false};
        List<BottomHalf> bhs = new ArrayList<>();
        for (int i = 0; i < counts.length; i++) {
            int idx = i;
            bhs.add(ctx.newBottomHalf("plain-" + i, () -> counts[idx]++));
        }
        BottomHalf late = ctx.newBottomHalf("late", () -> lateRuns[0]++);
        BottomHalf nester = ctx.newBottomHalf("nester", () -> {
            nesterRuns[0]++;
            late.schedule(); // goes to the context list, i.e. to the nested poll's own slice
            nestedResult[0] = ctx.poll(false);
        });
        bhs.get(0).schedule();
        bhs.get(1).schedule();
        nester.schedule();
        bhs.get(2).schedule();
        bhs.get(3).schedule();
        bhs.get(4).schedule();

        assertTrue(ctx.poll(false));
        assertEquals(1, nesterRuns[0]);
        for (int i = 0; i < counts.length; i++) {
            assertEquals(1, counts[i], "BH plain-" + i + " must run exactly once across the nesting levels");
        }
        assertEquals(1, lateRuns[0], "a BH scheduled before the nested poll runs in the nested poll");
        assertTrue(nestedResult[0], "the nested poll ran at least the late BH");

        assertFalse(ctx.poll(false), "nothing is left for the next pass");
        for (int c : counts) {
            assertEquals(1, c);
        }
        bhs.forEach(BottomHalf::delete);
        late.delete();
        nester.delete();
    }

    /**
     * Spec 5.1: a nested poll "steals" a node still queued on the outer pass's ready list: it is
     * dispatched by the nested poll (which may be waiting for it) and not again by the outer one.
     */
    @Test
    void nestedPollTakesOverReadyHandlersOfTheOuterPass() {
        EventNotifier a = notifier();
        EventNotifier b = notifier();
        int[] aReads = {0};
        int[] bReads = {0};
        // Whichever runs first waits, in a nested blocking loop, for the other one: that only ends
        // if the nested poll takes the other node over from the outer pass's ready list.
        ctx.setEventNotifier(a, guard(x -> {
            assertTrue(x.testAndClear(), "A dispatched twice for one set()");
            aReads[0]++;
            pollWhile(() -> bReads[0] == 0);
        }), null, null);
        ctx.setEventNotifier(b, guard(x -> {
            assertTrue(x.testAndClear(), "B dispatched twice for one set()");
            bReads[0]++;
            pollWhile(() -> aReads[0] == 0);
        }), null, null);
        assertFalse(ctx.poll(false));
        a.set();
        b.set();
        assertTrue(ctx.poll(true));
        assertEquals(1, aReads[0]);
        assertEquals(1, bReads[0]);
        assertFalse(ctx.poll(false));
        unregister(a);
        unregister(b);
    }
}
