package io.jaio.aio;

import static io.jaio.aio.ClockType.REALTIME;
import static io.jaio.aio.TestSupport.startThread;
import static java.util.concurrent.TimeUnit.NANOSECONDS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.jaio.linux.Linux;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * The embedding API ({@link AioSource}): QEMU's {@code test-aio.c} GSource cases
 * ({@code /aio-gsource/...}, the {@code test_source_*} functions; expected values from
 * qemu-test-scenarios.md §2) driven through prepare/check/dispatch instead of
 * {@code g_main_context_iteration}, plus the embedding's own semantics (notify coalescing for the
 * external waiter, timers feeding the host's timeout, nested poll, no adaptive polling). Run once
 * per fd monitor that can be embedded ({@code EpollEmbeddingContractTest}); the others are
 * refused ({@link AioSourceRefusalTest}).
 *
 * <p>{@link #iteration(boolean)} is glib's {@code g_main_context_iteration} for a main context
 * holding only this source: prepare; if not ready, wait on the fd (the prepare timeout if
 * {@code mayBlock}, else 0) and check; dispatch if either said ready; return whether it dispatched.
 */
abstract class EmbeddingContract extends AioContractTest {
    protected AioSource src;
    private final MemorySegment pollfd = Arena.ofAuto().allocate(Linux.POLLFD_SIZE, 8);

    @BeforeEach
    void embed() {
        src = AioSource.of(ctx);
        assertSame(src, AioSource.of(ctx), "one source per context");
        assertSame(ctx, src.context());
        Linux.pollfdSet(pollfd, 0, src.fd(), (short) Linux.POLLIN);
    }

    /** glib's g_main_context_iteration(ctx, mayBlock) over this one source. */
    protected boolean iteration(boolean mayBlock) {
        long ns = src.prepare();
        boolean ready = ns == 0;
        if (!ready) {
            watchdog.check();
            Linux.ppoll(pollfd, 1, mayBlock ? ns : 0);
            ready = src.check(); // glib skips check() for a source whose prepare() said ready
        }
        if (ready) {
            src.dispatch();
        }
        return ready;
    }

    /** test-aio.c's {@code while (g_main_context_iteration(NULL, false));} with a bound. */
    protected int drain() {
        for (int i = 0; i < 10_000; i++) {
            if (!iteration(false)) {
                return i;
            }
        }
        return fail("the embedded context kept reporting work");
    }

    /** Whether the source's fd is readable now. */
    protected boolean fdReadable() {
        return Linux.ppoll(pollfd, 1, 0) > 0;
    }

    // ------------------------------------------------------------------------------------------
    // test-aio.c test_source_* (/aio-gsource/...)
    // ------------------------------------------------------------------------------------------

    @Test
    @DisplayName("/aio-gsource/flush")
    void sourceFlush() {
        assertFalse(iteration(false));
        ctx.wakeup();
        drain();
        assertFalse(iteration(false));
    }

    @Test
    @DisplayName("/aio-gsource/bh/schedule")
    void sourceBhSchedule() {
        BhData d = new BhData(0);
        d.bh = ctx.newBottomHalf("bh_test_cb", d::testCb);
        d.bh.schedule();
        assertEquals(0, d.n);

        assertTrue(iteration(true));
        assertEquals(1, d.n);

        assertFalse(iteration(false));
        assertEquals(1, d.n);
        d.bh.delete();
    }

    @Test
    @DisplayName("/aio-gsource/bh/schedule10")
    void sourceBhSchedule10() {
        BhData d = new BhData(10);
        d.bh = ctx.newBottomHalf("bh_test_cb", d::testCb);
        d.bh.schedule();
        assertEquals(0, d.n);

        assertTrue(iteration(false));
        assertEquals(1, d.n, "a self-rescheduling BH runs once per dispatch");

        assertTrue(iteration(true));
        assertEquals(2, d.n);

        drain();
        assertEquals(10, d.n);

        assertFalse(iteration(false));
        assertEquals(10, d.n);
        d.bh.delete();
    }

    @Test
    @DisplayName("/aio-gsource/bh/cancel")
    void sourceBhCancel() {
        BhData d = new BhData(0);
        d.bh = ctx.newBottomHalf("bh_test_cb", d::testCb);
        d.bh.schedule();
        assertEquals(0, d.n);

        d.bh.cancel();
        assertEquals(0, d.n);

        drain();
        assertEquals(0, d.n);
        d.bh.delete();
    }

    @Test
    @DisplayName("/aio-gsource/bh/delete")
    void sourceBhDelete() {
        BhData d = new BhData(0);
        d.bh = ctx.newBottomHalf("bh_test_cb", d::testCb);
        d.bh.schedule();
        assertEquals(0, d.n);

        d.bh.delete();
        assertEquals(0, d.n);

        drain();
        assertEquals(0, d.n);
    }

    @Test
    @DisplayName("/aio-gsource/bh/callback-delete/one")
    void sourceBhCallbackDeleteOne() {
        BhData d = new BhData(1);
        d.bh = ctx.newBottomHalf("bh_delete_cb", d::deleteCb);
        d.bh.schedule();
        assertEquals(0, d.n);

        iteration(true);
        assertEquals(1, d.n);
        assertNull(d.bh, "the callback deleted its own BH");

        iteration(false); // "at most one more iteration due to the notifier": result not checked (QEMU)
        assertFalse(iteration(false));
    }

    @Test
    @DisplayName("/aio-gsource/bh/callback-delete/many")
    void sourceBhCallbackDeleteMany() {
        BhData d1 = new BhData(1);
        BhData d2 = new BhData(3);
        BhData d3 = new BhData(2);
        BhData d4 = new BhData(4);
        BhData[] all = {d1, d2, d3, d4};
        for (BhData d : all) {
            d.bh = ctx.newBottomHalf("bh_delete_cb", d::deleteCb);
        }
        for (BhData d : all) {
            d.bh.schedule();
        }
        for (BhData d : all) {
            assertEquals(0, d.n);
        }

        assertTrue(iteration(false));
        for (BhData d : all) {
            assertEquals(1, d.n);
        }
        assertNull(d1.bh);

        drain();
        assertEquals(1, d1.n);
        assertEquals(3, d2.n);
        assertEquals(2, d3.n);
        assertEquals(4, d4.n);
        for (BhData d : all) {
            assertNull(d.bh);
        }
    }

    @Test
    @DisplayName("/aio-gsource/bh/flush")
    void sourceBhFlush() {
        BhData d = new BhData(0);
        d.bh = ctx.newBottomHalf("bh_test_cb", d::testCb);
        d.bh.schedule();
        assertEquals(0, d.n);

        drain();
        assertEquals(1, d.n);

        assertFalse(iteration(false));
        assertEquals(1, d.n);
        d.bh.delete();
    }

    @Test
    @DisplayName("/aio-gsource/event/add-remove")
    void sourceEventAddRemove() {
        EventData data = new EventData(0, false);
        data.register();
        drain();
        assertEquals(0, data.n);

        data.unregister();
        drain();
        assertEquals(0, data.n);
    }

    @Test
    @DisplayName("/aio-gsource/event/wait")
    void sourceEventWait() {
        EventData data = new EventData(1, false);
        data.register();
        drain();
        assertEquals(0, data.n);
        assertEquals(1, data.active);

        data.e.set();
        assertTrue(iteration(false));
        assertEquals(1, data.n);
        assertEquals(0, data.active);

        drain();
        assertEquals(1, data.n);
        assertEquals(0, data.active);

        data.unregister();
        drain();
        assertEquals(1, data.n);
    }

    @Test
    @DisplayName("/aio-gsource/event/wait/no-flush-cb")
    void sourceEventWaitNoFlushCb() {
        EventData data = new EventData(0, false);
        EventData dummy = new EventData(1, false);
        data.register();
        drain();
        assertEquals(0, data.n);

        data.e.set();
        iteration(true); // result not checked, as in QEMU
        data.n = 0;

        dummy.register();
        data.e.set();
        assertTrue(iteration(false));
        assertEquals(1, data.n);
        assertFalse(iteration(false));
        assertEquals(1, data.n);

        data.e.set();
        assertTrue(iteration(false));
        assertEquals(2, data.n);
        assertFalse(iteration(false));
        assertEquals(2, data.n);

        dummy.e.set();
        drain();
        assertEquals(2, data.n);
        assertEquals(1, dummy.n);
        assertEquals(0, dummy.active);

        dummy.unregister();
        data.unregister();
        drain();
        assertEquals(2, data.n);
    }

    @Test
    @DisplayName("/aio-gsource/event/flush")
    void sourceEventFlush() {
        EventData data = new EventData(10, true);
        data.register();
        drain();
        assertEquals(0, data.n);
        assertEquals(10, data.active);

        data.e.set();
        assertTrue(iteration(false));
        assertEquals(1, data.n);
        assertEquals(9, data.active);
        assertTrue(iteration(false), "the callback set the notifier again");

        drain();
        assertEquals(10, data.n);
        assertEquals(0, data.active);
        assertFalse(iteration(false));

        data.unregister();
        drain();
    }

    /**
     * /aio-gsource/timer/schedule with the harness's manual clock: the 1 s sleep is
     * {@code advance(1 s)}, and "the blocking iteration blocks ≈750 ms" is prepare() = 750 ms.
     */
    @Test
    @DisplayName("/aio-gsource/timer/schedule")
    void sourceTimerSchedule() {
        final long ns = 750_000_000L;
        EventNotifier e = notifier();
        ctx.setEventNotifier(e, AioContractTest::drainNotifier, null, null);
        drain();

        int[] n = {0};
        Timer[] t = new Timer[1];
        t[0] = ctx.newTimer(REALTIME, NANOSECONDS, () -> {
            n[0]++;
            if (n[0] < 2) {
                t[0].mod(clock.nowNs(REALTIME) + ns);
            }
        });
        t[0].mod(clock.nowNs(REALTIME) + ns);
        assertEquals(0, n[0]);
        drain();
        assertEquals(0, n[0]);

        clock.advance(REALTIME, 1_000_000_000L);
        assertEquals(0, n[0], "timers only run inside dispatch");

        assertTrue(iteration(true));
        assertEquals(1, n[0]);
        long expiry = clock.nowNs(REALTIME) + ns;
        assertEquals(expiry, t[0].expireTimeNs());

        drain();
        assertEquals(1, n[0]);
        assertEquals(ns, src.prepare(), "the timer's deadline is the host's timeout");
        assertFalse(src.check());
        clock.advance(REALTIME, ns);
        while (n[0] < 2) {
            assertTrue(iteration(true));
        }
        assertTrue(clock.nowNs(REALTIME) >= expiry);
        assertFalse(t[0].isPending());
        unregister(e);
        drain();
    }

    // ------------------------------------------------------------------------------------------
    // The embedding's own semantics
    // ------------------------------------------------------------------------------------------

    /**
     * notify_me for the external waiter: a wake-up while the host is not waiting (no prepare in
     * force) writes no eventfd and makes the next prepare return 0; after prepare, a cross-thread
     * wake-up writes the eventfd exactly once however many follow, and that makes the fd readable
     * for a host blocked on it without a timeout.
     */
    @Test
    void wakeupsCoalesceAndReachABlockedHost() throws Exception {
        drain();
        long writes = ctx.stats().eventfdWrites();
        Thread t = startThread("waker-idle", () -> ctx.wakeup());
        t.join();
        assertEquals(writes, ctx.stats().eventfdWrites(), "no waiter announced: no eventfd write");
        assertFalse(fdReadable());
        assertEquals(0, src.prepare(), "the pending notification forbids blocking");
        assertFalse(src.check(), "a bare wake-up is no work");
        assertFalse(fdReadable());

        assertEquals(-1, src.prepare(), "nothing to do: wait for ever");
        List<String> ran = new ArrayList<>();
        CountDownLatch scheduled = new CountDownLatch(1);
        Thread w = startThread("waker", () -> {
            ctx.scheduleOneshot("first", () -> ran.add("first"));
            ctx.scheduleOneshot("second", () -> ran.add("second"));
            ctx.wakeup();
            scheduled.countDown();
        });
        watchdog.check();
        assertEquals(1, Linux.ppoll(pollfd, 1, -1), "the host's unbounded wait ends"); // the watchdog bounds it
        assertTrue(scheduled.await(20, TimeUnit.SECONDS));
        w.join();
        assertEquals(writes + 1, ctx.stats().eventfdWrites(), "three wake-ups, one eventfd write");
        assertTrue(src.check());
        assertTrue(src.dispatch());
        assertEquals(2, ran.size());
        assertTrue(ran.containsAll(List.of("first", "second")), ran.toString());
        assertFalse(fdReadable(), "dispatch drained the eventfd");
        assertFalse(iteration(false));
    }

    /** The host's timeout: 0 for a scheduled BH, 10 ms for an idle one, else the nearest timer, else -1. */
    @Test
    void prepareReturnsTheTimeoutTheLoopWouldUse() {
        drain();
        assertEquals(-1, src.prepare());
        assertFalse(src.check());
        Timer t = ctx.newTimer(REALTIME, NANOSECONDS, () -> { });
        t.mod(clock.nowNs(REALTIME) + 5_000_000L);
        assertEquals(0, src.prepare(), "arming a timer wakes the loop");
        assertFalse(src.check());
        assertEquals(5_000_000L, src.prepare());
        assertEquals(5, AioSource.timeoutMs(5_000_000L));
        assertFalse(src.check());
        BottomHalf idle = ctx.newBottomHalf("idle", () -> { });
        idle.scheduleIdle();
        src.prepare();
        src.check(); // consumes the scheduling's notification
        assertEquals(5_000_000L, src.prepare(), "the timer is sooner than the idle BH's 10 ms");
        assertFalse(src.check(), "an idle BH is no work by itself");
        clock.advance(REALTIME, 5_000_000L);
        assertEquals(0, src.prepare(), "an expired timer: do not block");
        assertTrue(src.check());
        assertTrue(src.dispatch());
        assertFalse(t.isPending());
        drain();
        idle.scheduleIdle();
        src.prepare();
        src.check();
        assertEquals(AioContext.IDLE_BH_TIMEOUT_NS, src.prepare(), "an idle BH alone: at most 10 ms");
        assertFalse(src.check());
        idle.delete();
        drain();
    }

    /** A callback run by dispatch may poll the context itself (QEMU: g_source_set_can_recurse). */
    @Test
    void dispatchAllowsNestedPoll() {
        drain();
        List<String> order = new ArrayList<>();
        ctx.scheduleOneshot("outer", () -> {
            order.add("outer");
            ctx.scheduleOneshot("inner", () -> order.add("inner"));
            assertTrue(ctx.poll(true), "the nested poll runs the inner BH");
            order.add("outer-done");
        });
        assertTrue(iteration(true));
        assertEquals(List.of("outer", "inner", "outer-done"), order);
        assertFalse(iteration(false));
    }

    /**
     * Adaptive polling is off while embedded: prepare() ends poll mode (QEMU's aio_prepare:
     * io_poll_end runs), and dispatch never busy-polls (io_poll_begin and the poll function never
     * run), even with poll-max-ns set and a handler that would be polled.
     */
    @Test
    void noAdaptivePollingWhileEmbedded() {
        AioContext c = systemClockContext();
        AioSource s = AioSource.of(c);
        EventNotifier e = notifier();
        int[] polls = {0};
        int[] begins = {0};
        int[] ends = {0};
        int[] reads = {0};
        boolean[] pollSays = {false};
        c.setEventNotifier(e, x -> {
            reads[0]++;
            drainNotifier(x);
        }, x -> {
            polls[0]++;
            return pollSays[0];
        }, x -> pollSays[0] = false);
        c.setEventNotifierPoll(e, x -> begins[0]++, x -> ends[0]++);
        c.setPollParams(1_000_000_000L, 1_000_000L, 0);
        assertFalse(c.poll(false));
        e.set();
        assertTrue(c.poll(true), "the handler fires and joins the poll list");
        assertEquals(4000, c.pollNsOf(e.fd()));
        pollSays[0] = true;
        assertTrue(c.poll(true), "busy polling finds it");
        assertEquals(1, begins[0], "poll mode started");
        assertEquals(0, ends[0]);

        s.prepare();
        assertEquals(1, ends[0], "prepare ended poll mode (aio_prepare)");
        s.check();
        int pollsBefore = polls[0];
        int readsBefore = reads[0];
        for (int i = 0; i < 5; i++) {
            e.set();
            assertTrue(s.check() || s.prepare() == 0, "the notifier is set");
            s.dispatch();
            s.prepare();
            s.check();
        }
        assertEquals(pollsBefore, polls[0], "dispatch never calls the poll function");
        assertEquals(readsBefore + 5, reads[0], "dispatch reads the epoll fd although every handler is pollable");
        assertEquals(1, begins[0], "dispatch never starts poll mode");
        c.setEventNotifier(e, null, null, null);
    }

    @Test
    void threadRulesAndTimeoutRounding() throws Exception {
        AtomicReference<Throwable> off = new AtomicReference<>();
        Thread t = startThread("not-home", () -> {
            try {
                src.prepare();
            } catch (Throwable x) {
                off.set(x);
            }
        });
        t.join();
        assertTrue(off.get() instanceof IllegalStateException, String.valueOf(off.get()));
        assertTrue(off.get().getMessage().contains("home thread"), off.get().getMessage());
        assertEquals(-1, AioSource.timeoutMs(-1));
        assertEquals(0, AioSource.timeoutMs(0));
        assertEquals(1, AioSource.timeoutMs(1));
        assertEquals(1, AioSource.timeoutMs(1_000_000));
        assertEquals(2, AioSource.timeoutMs(1_000_001));
        assertEquals(Integer.MAX_VALUE, AioSource.timeoutMs(Long.MAX_VALUE));
        drain();
    }

    @Test
    void closedContextRefusesTheSource() {
        drain();
        ctx.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, src::prepare);
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
        assertThrows(IllegalStateException.class, src::check);
        assertThrows(IllegalStateException.class, src::dispatch);
    }
}
