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
 * The AioContext contract, adaptive busy polling (aio-semantics.md §6).
 * Run once per fd monitor: {@code PollAdaptivePollingContractTest}, {@code EpollAdaptivePollingContractTest},
 * {@code IoUringAdaptivePollingContractTest}. The harness is {@link AioContractTest}.
 */
abstract class AdaptivePollingContract extends AioContractTest {
    /** Spec 4.2 step 1: a poll function without a ready callback is dropped (the handler is unpollable). */
    @Test
    void pollFunctionWithoutReadyCallbackIsDropped() {
        EventNotifier e = notifier();
        int[] reads = {0};
        int[] polls = {0};
        ctx.setEventNotifier(e, x -> {
            x.testAndClear();
            reads[0]++;
        }, x -> {
            polls[0]++;
            return false;
        }, null);
        e.set();
        assertTrue(ctx.poll(false), "an unpollable handler makes even a non-blocking poll check the fds");
        assertEquals(1, reads[0]);
        unregister(e);
    }

    /**
     * Spec 5.3 corner: every handler pollable, poll-max-ns 0: a non-blocking poll does not look at
     * fds at all; a blocking one does.
     */
    @Test
    void nonBlockingPollIgnoresFdsWhenEveryHandlerIsPollable() {
        EventNotifier e = notifier();
        int[] reads = {0};
        ctx.setEventNotifier(e, x -> {
            x.testAndClear();
            reads[0]++;
        }, x -> false, x -> {});
        if (kind() == FdMonitorKind.IO_URING) {
            // Spec 7.3: io_uring's need_wait is true while handler changes wait to become poll
            // requests, so this non-blocking poll submits the POLL_ADD (nothing ready yet) ...
            assertFalse(ctx.poll(false), "submits the poll request; nothing is readable");
            e.set();
            // ... and once every request is in the kernel, a non-blocking poll looks at nothing:
            // the readiness is only reaped by a wait (here the blocking one).
            assertTrue(ctx.poll(true));
            assertEquals(1, reads[0]);
            unregister(e);
            return;
        }
        e.set();
        assertFalse(ctx.poll(false), "no syscall, no userspace poll in a non-blocking poll here");
        assertEquals(0, reads[0]);
        assertTrue(ctx.poll(true));
        assertEquals(1, reads[0]);
        unregister(e);
    }

    /**
     * {@link AioContext#POLL_READINESS} (beyond QEMU): kept without a ready callback, and a
     * handler that has it leaves polling on, so with every handler pollable a non-blocking poll
     * looks at no fd on poll and epoll, as with any poll function (a handler without one would
     * make it check the fds and run the read); io_uring reads its ring in any pass.
     */
    @Test
    void pollReadinessIsAPollFunction() {
        Pipe p = pipe();
        int[] reads = {0};
        ctx.setFdHandler(p.r, drainCounting(p, reads), null, AioContext.POLL_READINESS, null);
        assertFalse(ctx.poll(false), "consume the registration's aio_notify (io_uring: submit the POLL_ADD)");
        p.writeByte();
        if (kind() == FdMonitorKind.IO_URING) {
            // The POLL_ADD's completion is in the ring, which even a non-blocking pass reads.
            assertTrue(ctx.poll(false), "the ring's completion is reaped without a syscall");
        } else {
            assertFalse(ctx.poll(false), "every handler pollable: a non-blocking poll checks no fd");
            assertEquals(0, reads[0]);
            assertTrue(ctx.poll(true));
        }
        assertEquals(1, reads[0]);
        removeFd(p.r);
    }

    /**
     * Writes a byte to {@code p} 5 ms from now, in another thread: data that arrives while the
     * loop busy-polls or waits. Real time, as the polling window is (System.nanoTime, not the
     * context's clock source).
     */
    private static Thread writeLater(Pipe p) {
        return startThread("late-writer", () -> {
            sleepMs(5);
            p.writeByte();
        });
    }

    /**
     * A {@link AioContext#POLL_READINESS} handler's fd is watched while busy polling: data that
     * arrives inside a 60 s polling window is dispatched at once, not after the window (io_uring:
     * its POLL_ADD completes into the ring; poll and epoll: a zero-timeout wait each round). The
     * handler's polling time grows like any other's. A window that missed the data would outlast
     * the watchdog (20 s), which fails the test. Blocking polls are repeated until the dispatch
     * (pollWhile): one may return without progress (an interrupted wait, or a stale wake-up of
     * the context's own notifier found by the window's peek).
     */
    @Test
    void busyPollingSeesAPollReadinessHandlersFd() {
        AioContext c = systemClockContext();
        Pipe p = pipe();
        int[] reads = {0};
        c.setFdHandler(p.r, drainCounting(p, reads), null, AioContext.POLL_READINESS, null);
        long window = 60_000_000_000L;
        c.setPollParams(window, 1_000_000_000L, 0);
        assertFalse(c.poll(false), "consume the setters' aio_notify");

        p.writeByte();
        pollWhile(c, () -> reads[0] != 1);
        assertEquals(4000, c.pollNsOf(p.r), "polling starts at 4000 ns");

        // Data 5 ms after the poll starts: the 4 µs window misses it, the wait's 5 ms grows the
        // handler's polling time × 1e9, clamped to the 60 s maximum. On a loaded machine the
        // writer may run before the poll starts (the window then finds the byte and nothing
        // grows): try again, a few times.
        int attempts = 0;
        do {
            Thread w = writeLater(p);
            int expected = reads[0] + 1;
            pollWhile(c, () -> reads[0] != expected);
            assertTrue(join(w, 10_000));
        } while (c.pollNsOf(p.r) != window && ++attempts < 20);
        assertEquals(window, c.pollNsOf(p.r), "4000 × 1e9 clamped to poll-max-ns");

        // Now the loop busy-polls for up to 60 s: the data must end the window.
        Thread w = writeLater(p);
        int expected = reads[0] + 1;
        pollWhile(c, () -> reads[0] != expected);
        assertTrue(join(w, 10_000));
        assertFalse(watchdog.expired(), "busy polling missed the fd: only the watchdog ended the window");
        assertEquals(window, c.pollNsOf(p.r), "a block shorter than the polling time keeps it");
        c.setPollParams(0, 0, 0);
        c.setFdHandler(p.r, null, null, null, null);
    }

    /**
     * Spec 6.1/6.4/4.2: per-handler polling time. Starts 0, becomes 4000 ns after the handler first
     * fires with poll-max-ns set, grows by poll-grow and is clamped to poll-max-ns, restarts at 0 on
     * replacement, and is reset to 0 by setPollParams. System clock (real elapsed time).
     */
    @Test
    void adaptivePollingTimeOfAHandler() {
        AioContext c = systemClockContext();
        Pipe p = pipe();
        boolean[] ready = {false};
        int[] reads = {0};
        int[] readies = {0};
        Runnable read = () -> {
            p.drain();
            reads[0]++;
        };
        java.util.function.BooleanSupplier ioPoll = () -> {
            if (!ready[0]) {
                return false;
            }
            spinNs(50_000); // makes this poll's block_ns certainly larger than 4000 ns
            return true;
        };
        Runnable ioPollReady = () -> {
            ready[0] = false;
            readies[0]++;
        };
        c.setFdHandler(p.r, read, null, ioPoll, ioPollReady);
        assertEquals(0, c.pollNsOf(p.r), "polling time starts at 0");
        assertEquals(-1, c.pollNsOf(p.w), "no handler on that fd");
        assertFalse(c.poll(false));

        // poll-max-ns 0: firing does not start polling
        p.writeByte();
        assertTrue(c.poll(true));
        assertEquals(1, reads[0]);
        assertEquals(0, c.pollNsOf(p.r));

        c.setPollParams(1_000_000_000L, 1_000_000L, 0);
        assertEquals(1_000_000_000L, c.pollMaxNs());
        assertEquals(1_000_000L, c.pollGrow());
        assertEquals(0, c.pollShrink());
        assertFalse(c.poll(false), "consume the setter's aio_notify");

        p.writeByte();
        assertTrue(c.poll(true));
        assertEquals(2, reads[0]);
        assertEquals(4000, c.pollNsOf(p.r), "polling starts at 4000 ns");

        ready[0] = true;
        assertTrue(c.poll(true), "busy polling finds the handler ready");
        assertEquals(1, readies[0], "io_poll_ready, not read");
        assertEquals(2, reads[0]);
        assertEquals(1_000_000_000L, c.pollNsOf(p.r), "4000 × 1e6 clamped to poll-max-ns");

        c.setFdHandler(p.r, read, null, ioPoll, ioPollReady);
        assertEquals(0, c.pollNsOf(p.r), "a replacement is a new node: polling time restarts at 0");
        assertFalse(c.poll(false));

        p.writeByte();
        assertTrue(c.poll(true));
        assertEquals(3, reads[0]);
        assertEquals(4000, c.pollNsOf(p.r));

        c.setPollParams(1_000_000_000L, 0, 0);
        assertEquals(0, c.pollNsOf(p.r), "setPollParams resets every handler's polling time");
        assertFalse(c.poll(false));

        c.setPollParams(0, 0, 0);
        c.setFdHandler(p.r, null, null, null, null);
        assertEquals(-1, c.pollNsOf(p.r));
    }

    @Test
    void setPollParamsRejectsNegativeValues() {
        assertThrows(IllegalArgumentException.class, () -> ctx.setPollParams(-1, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> ctx.setPollParams(0, -1, 0));
        assertThrows(IllegalArgumentException.class, () -> ctx.setPollParams(0, 0, -1));
        assertEquals(0, ctx.pollMaxNs(), "a rejected call changes nothing");
        ctx.setPollParams(5, 6, 7);
        assertEquals(5, ctx.pollMaxNs());
        assertEquals(6, ctx.pollGrow());
        assertEquals(7, ctx.pollShrink());
        ctx.setAioParams(9);
        assertEquals(9, ctx.maxBatch());
    }

    /**
     * Beyond QEMU (PollContention): while the detector finds the thread contended, a blocking
     * poll does not busy-poll (the handler's poll function is not called, the fd wakes the loop),
     * yet the handler's polling time is kept; once free, the cap grows back and busy polling finds
     * the handler again. A fake detector: the decision is PollContentionTest's.
     */
    @Test
    void contendedThreadDoesNotBusyPollAndGrowsBack() {
        AioContext c = systemClockContext();
        Pipe p = pipe();
        boolean[] ready = {false};
        int[] polls = {0};
        int[] reads = {0};
        int[] readies = {0};
        c.setFdHandler(p.r, () -> {
            p.drain();
            reads[0]++;
        }, null, () -> {
            polls[0]++;
            return ready[0];
        }, () -> {
            ready[0] = false;
            readies[0]++;
        });
        c.setPollParams(1_000_000_000L, 0, 0);
        assertFalse(c.poll(false), "consume the setter's aio_notify");
        p.writeByte();
        assertTrue(c.poll(true));
        assertEquals(4000, c.pollNsOf(p.r), "polling starts at 4000 ns");

        long[] clock = {0};
        long[] preempted = {0};
        PollContention d = new PollContention("test", () -> clock[0], () -> preempted[0]);
        c.setPollContention(d);
        assertTrue(c.pollContention());
        assertFalse(c.poll(false), "consume the setter's aio_notify");
        d.sample();
        clock[0] += PollContention.SAMPLE_INTERVAL_NS;
        preempted[0] += 1000;
        d.sample();
        assertEquals(0, c.stats().pollCapNs(), "contended: polling suspended");

        polls[0] = 0;
        ready[0] = true;
        p.writeByte();
        assertTrue(c.poll(true), "the fd wakes the loop");
        assertEquals(0, polls[0], "no busy polling while contended");
        assertEquals(2, reads[0]);
        assertEquals(0, readies[0]);
        assertTrue(c.pollNsOf(p.r) >= 4000, "the cap does not reset what the loop learned: " + c.pollNsOf(p.r));
        assertEquals(1, c.stats().contendedSamples());
        assertEquals(1, c.stats().cappedPollWindows());

        for (int i = 0; i < 64 && c.stats().pollCapNs() != -1; i++) { // 4 µs, 8 µs, ... up to the 1 s asked for
            clock[0] += PollContention.SAMPLE_INTERVAL_NS;
            d.sample();
            d.window(1_000_000_000L);
        }
        assertEquals(-1, c.stats().pollCapNs(), "free again: the cap is lifted");
        assertTrue(c.poll(true), "busy polling finds the handler ready");
        assertEquals(1, readies[0], "io_poll_ready, not read");
        assertEquals(2, reads[0]);

        c.setPollContention(false);
        assertFalse(c.pollContention());
        assertEquals(-1, c.stats().pollCapNs());
        assertEquals(0, c.stats().contentionSamples(), "off: no detector, no counters");
        c.setPollParams(0, 0, 0);
        c.setFdHandler(p.r, null, null, null, null);
    }

    /**
     * The switch: on again while on keeps the detector (and what it found), off drops it and its
     * counters, on after off starts a fresh production detector. A detector that already found
     * the thread contended tells "kept" from "fresh" (a fresh one has no cap).
     */
    @Test
    void pollContentionSwitch() {
        assertFalse(ctx.pollContention(), "off by default, as QEMU");
        long[] clock = {0};
        PollContention contended = new PollContention("test", () -> clock[0], () -> clock[0] / 1000);
        contended.sample();
        clock[0] += PollContention.SAMPLE_INTERVAL_NS; // 10 000 preemptions in 10 ms
        contended.sample();
        ctx.setPollContention(contended);
        ctx.setPollContention(true);
        assertTrue(ctx.pollContention());
        assertEquals(0, ctx.stats().pollCapNs(), "already on: the same detector, still suspended");
        assertEquals(1, ctx.stats().contendedSamples());

        ctx.setPollContention(false);
        assertFalse(ctx.pollContention());
        assertEquals(-1, ctx.stats().pollCapNs(), "off: no cap");
        assertEquals(0, ctx.stats().contendedSamples(), "off: no detector, no counters");

        ctx.setPollContention(true);
        assertTrue(ctx.pollContention());
        assertEquals(-1, ctx.stats().pollCapNs(), "on again: a fresh detector has no cap");
        assertEquals(0, ctx.stats().contentionSamples());
        assertFalse(ctx.poll(false), "consume the setters' aio_notify");
        ctx.setPollContention(false);
    }
}
