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
 * The AioContext contract, run once per fd monitor (one concrete subclass per {@link FdMonitorKind}).
 *
 * <p>Part 1 ports QEMU's {@code tests/unit/test-aio.c} (non-coroutine cases),
 * {@code test-nested-aio-poll.c} and the threshold scenario of {@code test-fdmon-epoll.c} with the
 * exact expected values of {@code qemu-test-scenarios.md}. Part 2 pins the semantics of
 * {@code aio-semantics.md} more precisely. Each test's Javadoc names the spec section it checks.
 *
 * <p>Harness rules: the context is built on the test thread (its home thread) with a
 * {@link ManualClockSource}; time only moves when a test advances it, and the loop is stepped with
 * {@code poll(false)}. A {@link Watchdog} wakes every context after 20 s so that a lost wake-up
 * fails the test instead of hanging it. Assertion failures inside callbacks are caught and counted
 * by the loop ({@link AioContext#stats()}); callbacks that assert are additionally
 * wrapped with {@link #guard(Runnable)} so that the first failure is reported with its message.
 */
@SuppressWarnings("deprecation") // it also tests the legacy API (acquire/release, external clients), deprecated but kept
abstract class AioContractTest {

    /** The fd monitor under test. */
    protected abstract FdMonitorKind kind();

    protected ManualClockSource clock;
    protected AioContext ctx;
    protected Thread home;
    protected Watchdog watchdog;
    /** Tests that make callbacks throw on purpose set this; {@link #tearDown()} checks it. */
    protected long expectedCallbackErrors;

    private final List<Throwable> callbackFailures = new CopyOnWriteArrayList<>();
    private final List<AioContext> extraContexts = new ArrayList<>();
    private final List<AutoCloseable> resources = new ArrayList<>();

    @BeforeEach
    void setUp() {
        clock = new ManualClockSource();
        ctx = AioContext.builder().fdMonitor(kind()).clockSource(clock).build();
        home = Thread.currentThread();
        watchdog = Watchdog.start(Duration.ofSeconds(20)).watch(ctx);
        // QEMU quirk (spec 1.1 step 8): registering the context's own notifier calls aio_notify, so
        // a fresh context starts with `notified` set; the first poll consumes it and is no progress.
        assertFalse(ctx.poll(false), "a fresh context's first poll(false) only consumes aio_notify");
    }

    @AfterEach
    void tearDown() {
        List<Throwable> errors = new ArrayList<>();
        watchdog.close();
        if (watchdog.expired()) {
            errors.add(new AssertionFailedError(
                    "watchdog expired: a blocking poll was only woken by the test's watchdog (lost wake-up?)"));
        }
        if (!callbackFailures.isEmpty()) {
            AssertionFailedError e = new AssertionFailedError(
                    "a callback failed inside the loop: " + callbackFailures.get(0), callbackFailures.get(0));
            callbackFailures.stream().skip(1).forEach(e::addSuppressed);
            errors.add(e);
        }
        if (ctx != null) {
            run(errors, () -> assertEquals(expectedCallbackErrors, ctx.stats().callbackErrors(),
                    "callbacks that threw (assertion failures inside callbacks are counted here)"));
            run(errors, ctx::close);
        }
        for (AioContext c : extraContexts) {
            run(errors, () -> assertEquals(0, c.stats().callbackErrors(), "callback errors of an extra context"));
            run(errors, c::close);
        }
        for (int i = resources.size() - 1; i >= 0; i--) {
            AutoCloseable r = resources.get(i);
            run(errors, r::close);
        }
        if (!errors.isEmpty()) {
            Throwable first = errors.get(0);
            errors.stream().skip(1).forEach(first::addSuppressed);
            if (first instanceof RuntimeException re) {
                throw re;
            }
            if (first instanceof Error er) {
                throw er;
            }
            throw new AssertionFailedError("tear-down failed", first);
        }
    }

    private interface Action {
        void run() throws Exception;
    }

    private static void run(List<Throwable> errors, Action a) {
        try {
            a.run();
        } catch (Throwable t) {
            errors.add(t);
        }
    }

    // ------------------------------------------------------------------------------------------
    // Helpers
    // ------------------------------------------------------------------------------------------

    /** An EventNotifier closed after the test (after every context is closed). */
    protected EventNotifier notifier() {
        EventNotifier n = EventNotifier.create();
        resources.add(n);
        return n;
    }

    /** A pipe closed after the test. */
    protected Pipe pipe() {
        Pipe p = Pipe.open();
        resources.add(p);
        return p;
    }

    /**
     * A second context on this thread with the SYSTEM clock (adaptive polling measures real time),
     * watched by the watchdog and closed after the test. Its fresh notify is consumed here.
     */
    protected AioContext systemClockContext() {
        AioContext c = AioContext.builder().fdMonitor(kind()).build();
        extraContexts.add(c);
        watchdog.watch(c);
        assertFalse(c.poll(false), "a fresh context's first poll(false) only consumes aio_notify");
        return c;
    }

    /** Record a failing callback's throwable (for the report) and rethrow it to the loop. */
    protected Runnable guard(Runnable r) {
        return () -> {
            try {
                r.run();
            } catch (RuntimeException | Error t) {
                callbackFailures.add(t);
                throw t;
            }
        };
    }

    protected Consumer<EventNotifier> guard(Consumer<EventNotifier> c) {
        return n -> guard(() -> c.accept(n)).run();
    }

    /** Blocking polls while {@code cond} holds (QEMU's "loop aio_poll(ctx, true) while ..."). */
    protected void pollWhile(BooleanSupplier cond) {
        pollWhile(ctx, cond);
    }

    protected void pollWhile(AioContext c, BooleanSupplier cond) {
        while (cond.getAsBoolean()) {
            watchdog.check();
            c.poll(true);
        }
    }

    /** QEMU's {@code while (aio_poll(ctx, false));} with a bound; returns the number of true polls. */
    protected int drainNonBlocking() {
        for (int i = 0; i < 10_000; i++) {
            if (!ctx.poll(false)) {
                return i;
            }
        }
        return fail("poll(false) kept reporting progress");
    }

    /** Drain an event notifier's eventfd (QEMU's dummy read handler). */
    protected static void drainNotifier(EventNotifier n) {
        n.testAndClear();
    }

    protected void unregister(EventNotifier n) {
        ctx.setEventNotifier(n, null, null, null);
    }

    protected void removeFd(int fd) {
        ctx.setFdHandler(fd, null, null, null, null);
    }

    /** test-aio.c's BH callback data: {@code bh_test_cb} and {@code bh_delete_cb}. */
    protected static final class BhData {
        BottomHalf bh;
        int n;
        int max;

        BhData(int max) {
            this.max = max;
        }

        void testCb() {
            n++;
            if (n < max) {
                bh.schedule();
            }
        }

        void deleteCb() {
            n++;
            if (n < max) {
                bh.schedule();
            } else {
                bh.delete();
                bh = null;
            }
        }
    }

    /** test-aio.c's EventNotifierTestData with {@code event_ready_cb}. */
    protected final class EventData {
        final EventNotifier e = notifier();
        int n;
        int active;
        final boolean autoSet;

        EventData(int active, boolean autoSet) {
            this.active = active;
            this.autoSet = autoSet;
        }

        void readyCb(EventNotifier x) {
            guard(() -> {
                assertSame(e, x, "an event notifier callback receives its notifier");
                assertTrue(e.testAndClear(), "event_ready_cb: the notifier must have been set");
            }).run();
            n++;
            if (active > 0) {
                active--;
            }
            if (autoSet && active != 0) {
                e.set();
            }
        }

        /** Registered WITHOUT a poll function, as test-aio.c does (keeps need_wait true). */
        void register() {
            ctx.setEventNotifier(e, this::readyCb, null, null);
        }

        void registerExternal() {
            ctx.setEventNotifier(e, true, this::readyCb, null, null);
        }

        void unregister() {
            ctx.setEventNotifier(e, null, null, null);
        }

        /** test-aio.c's wait_until_inactive. */
        void waitUntilInactive() {
            pollWhile(() -> active > 0);
        }
    }

    // ==========================================================================================
    // Part 1 — QEMU tests/unit/test-aio.c
    // ==========================================================================================

    @Test
    void fdMonitorIsTheRequestedKind() {
        assertEquals(kind(), ctx.fdMonitorKind());
        assertEquals(1, ctx.handlerCount(), "a fresh context has only its own notifier registered");
        assertTrue(ctx.isHomeThread());
        assertSame(clock, ctx.clockSource());
        assertEquals(0, ctx.pollMaxNs(), "bare context default poll-max-ns (spec 1.2)");
        assertEquals(0, ctx.pollGrow());
        assertEquals(0, ctx.pollShrink());
        assertEquals(0, ctx.maxBatch());
    }

    /** /aio/acquire (legacy): the recursive context lock is held across a blocking poll. */
    @Test
    @DisplayName("/aio/acquire")
    void acquire() {
        EventNotifier e = notifier();
        ctx.setEventNotifier(e, AioContractTest::drainNotifier, null, null);
        assertFalse(ctx.poll(false), "consumes the registration's aio_notify");

        CountDownLatch start = new CountDownLatch(1);
        AtomicBoolean threadAcquired = new AtomicBoolean();
        Thread worker = startThread("acquire-worker", () -> {
            try {
                start.await();
            } catch (InterruptedException ex) {
                return;
            }
            e.set();
            ctx.acquire();
            ctx.release();
            threadAcquired.set(true);
        });

        ctx.acquire();
        start.countDown();
        assertTrue(ctx.poll(true));
        assertFalse(threadAcquired.get(), "the worker must not get the context while the home thread holds it");
        ctx.release();
        assertTrue(join(worker, 10_000), "worker did not finish after release()");
        unregister(e);
        assertTrue(threadAcquired.get());
    }

    /** Legacy acquire/release is recursive: another thread gets it only after the last release. */
    @Test
    void acquireIsRecursive() {
        ctx.acquire();
        ctx.acquire();
        ctx.release();
        AtomicBoolean got = new AtomicBoolean();
        Thread worker = startThread("acquire-recursive", () -> {
            ctx.acquire();
            got.set(true);
            ctx.release();
        });
        assertFalse(join(worker, 100), "the lock is still held once (recursive count 1)");
        assertFalse(got.get());
        ctx.release();
        assertTrue(join(worker, 10_000));
        assertTrue(got.get());
    }

    @Test
    @DisplayName("/aio/bh/schedule")
    void bhSchedule() {
        BhData d = new BhData(0);
        d.bh = ctx.newBottomHalf("bh_test_cb", d::testCb);
        assertEquals("bh_test_cb", d.bh.name());
        d.bh.schedule();
        assertEquals(0, d.n, "scheduling does not run the BH synchronously");

        assertTrue(ctx.poll(true));
        assertEquals(1, d.n);

        assertFalse(ctx.poll(false));
        assertEquals(1, d.n);
        d.bh.delete();
    }

    @Test
    @DisplayName("/aio/bh/schedule10")
    void bhSchedule10() {
        BhData d = new BhData(10);
        d.bh = ctx.newBottomHalf("bh_test_cb", d::testCb);
        d.bh.schedule();
        assertEquals(0, d.n);

        assertTrue(ctx.poll(false));
        assertEquals(1, d.n, "slice semantics: a self-rescheduling BH runs once per poll (spec 2.3)");

        assertTrue(ctx.poll(true));
        assertEquals(2, d.n);

        pollWhile(() -> d.n < 10);
        assertEquals(10, d.n);

        assertFalse(ctx.poll(false));
        assertEquals(10, d.n);
        d.bh.delete();
    }

    @Test
    @DisplayName("/aio/bh/cancel")
    void bhCancel() {
        BhData d = new BhData(0);
        d.bh = ctx.newBottomHalf("bh_test_cb", d::testCb);
        d.bh.schedule();
        assertEquals(0, d.n);

        d.bh.cancel();
        assertEquals(0, d.n);

        assertFalse(ctx.poll(false), "a cancelled BH is skipped and is not progress");
        assertEquals(0, d.n);
        d.bh.delete();
    }

    @Test
    @DisplayName("/aio/bh/delete")
    void bhDelete() {
        BhData d = new BhData(0);
        d.bh = ctx.newBottomHalf("bh_test_cb", d::testCb);
        d.bh.schedule();
        assertEquals(0, d.n);

        d.bh.delete();
        assertEquals(0, d.n);

        assertFalse(ctx.poll(false), "freeing a deleted BH is not progress");
        assertEquals(0, d.n);
    }

    @Test
    @DisplayName("/aio/bh/callback-delete/one")
    void bhCallbackDeleteOne() {
        BhData d = new BhData(1);
        d.bh = ctx.newBottomHalf("bh_delete_cb", d::deleteCb);
        d.bh.schedule();
        assertEquals(0, d.n);

        pollWhile(() -> d.n < 1);
        assertEquals(1, d.n);
        assertNull(d.bh, "the callback deleted its own BH");

        assertFalse(ctx.poll(false));
    }

    @Test
    @DisplayName("/aio/bh/callback-delete/many")
    void bhCallbackDeleteMany() {
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

        assertTrue(ctx.poll(false));
        for (BhData d : all) {
            assertEquals(1, d.n);
        }
        assertNull(d1.bh);

        pollWhile(() -> d1.n < d1.max || d2.n < d2.max || d3.n < d3.max || d4.n < d4.max);
        assertEquals(1, d1.n);
        assertEquals(3, d2.n);
        assertEquals(2, d3.n);
        assertEquals(4, d4.n);
        for (BhData d : all) {
            assertNull(d.bh);
        }
    }

    @Test
    @DisplayName("/aio/bh/flush")
    void bhFlush() {
        BhData d = new BhData(0);
        d.bh = ctx.newBottomHalf("bh_test_cb", d::testCb);
        d.bh.schedule();
        assertEquals(0, d.n);

        assertTrue(ctx.poll(true));
        assertEquals(1, d.n);

        assertFalse(ctx.poll(false));
        assertEquals(1, d.n);
        d.bh.delete();
    }

    @Test
    @DisplayName("/aio/event/add-remove")
    void eventAddRemove() {
        EventData data = new EventData(0, false);
        data.register();
        assertEquals(2, ctx.handlerCount());
        assertFalse(ctx.poll(false));
        assertEquals(0, data.n);

        data.unregister();
        assertEquals(1, ctx.handlerCount());
        assertFalse(ctx.poll(false));
        assertEquals(0, data.n);
    }

    @Test
    @DisplayName("/aio/event/wait")
    void eventWait() {
        EventData data = new EventData(1, false);
        data.register();
        drainNonBlocking();
        assertEquals(0, data.n);
        assertEquals(1, data.active);

        data.e.set();
        assertTrue(ctx.poll(false));
        assertEquals(1, data.n);
        assertEquals(0, data.active);

        assertFalse(ctx.poll(false));
        assertEquals(1, data.n);
        assertEquals(0, data.active);

        data.unregister();
        assertFalse(ctx.poll(false));
        assertEquals(1, data.n);
    }

    @Test
    @DisplayName("/aio/event/wait/no-flush-cb")
    void eventWaitNoFlushCb() {
        EventData data = new EventData(0, false);
        EventData dummy = new EventData(1, false);
        data.register();

        assertFalse(ctx.poll(false));
        assertEquals(0, data.n);

        data.e.set();
        assertTrue(ctx.poll(true), "must not block: the notifier is set");
        data.n = 0;

        dummy.register();
        data.e.set();
        assertTrue(ctx.poll(false));
        assertEquals(1, data.n);
        assertFalse(ctx.poll(false));
        assertEquals(1, data.n);

        data.e.set();
        assertTrue(ctx.poll(false));
        assertEquals(2, data.n);
        assertFalse(ctx.poll(false));
        assertEquals(2, data.n);

        dummy.e.set();
        dummy.waitUntilInactive();
        assertEquals(2, data.n);
        assertEquals(1, dummy.n);
        assertEquals(0, dummy.active);

        dummy.unregister();
        data.unregister();
        assertFalse(ctx.poll(false));
        assertEquals(2, data.n);
    }

    @Test
    @DisplayName("/aio/event/flush")
    void eventFlush() {
        EventData data = new EventData(10, true);
        data.register();
        drainNonBlocking();
        assertEquals(0, data.n);
        assertEquals(10, data.active);

        data.e.set();
        assertTrue(ctx.poll(false));
        assertEquals(1, data.n);
        assertEquals(9, data.active);
        assertTrue(ctx.poll(false), "the callback set the notifier again");

        data.waitUntilInactive();
        assertEquals(10, data.n);
        assertEquals(0, data.active);
        assertFalse(ctx.poll(false));

        data.unregister();
        assertFalse(ctx.poll(false));
    }

    /** /aio/external-client (legacy is_external, spec 15): suppression nests and consumes nothing. */
    @Test
    @DisplayName("/aio/external-client")
    void externalClient() {
        for (int disableCount = 1; disableCount <= 2; disableCount++) {
            EventData data = new EventData(10, true);
            data.registerExternal();
            data.e.set();
            for (int i = 0; i < disableCount; i++) {
                ctx.disableExternal();
            }
            assertTrue(ctx.isExternalDisabled());
            for (int i = 0; i < disableCount; i++) {
                assertFalse(ctx.poll(false), "external handler suppressed (disable count " + (disableCount - i) + ")");
                assertTrue(data.e.testAndClear(), "suppression must not consume the event");
                data.e.set();
                ctx.enableExternal();
            }
            assertFalse(ctx.isExternalDisabled());
            assertTrue(ctx.poll(false));
            assertEquals(1, data.n);
            data.unregister();
        }
    }

    /**
     * Spec 15: a ready external fd that is suppressed must not make blocking polls return over
     * and over (on io_uring its one-shot poll request is not re-armed while suppressed). The
     * loop blocks until the non-external notifier is set from another thread; a spinning loop
     * would return thousands of times in those 50 ms.
     */
    @Test
    void aSuppressedReadyExternalHandlerDoesNotMakeBlockingPollsSpin() {
        EventData ext = new EventData(0, false);
        ext.registerExternal();
        ext.e.set();
        EventNotifier other = notifier();
        boolean[] fired = {false};
        ctx.setEventNotifier(other, x -> {
            x.testAndClear();
            fired[0] = true;
        }, null, null);
        ctx.disableExternal();
        for (int i = 0; i < 10 && ctx.poll(false); i++) {
            // settle registrations
        }
        Thread setter = TestSupport.startThread("setter", () -> {
            TestSupport.sleepMs(50);
            other.set();
        });
        long before = ctx.stats().pollCount();
        while (!fired[0]) {
            ctx.poll(true);
            watchdog.check();
        }
        long polls = ctx.stats().pollCount() - before;
        assertTrue(TestSupport.join(setter, 5000));
        assertTrue(polls < 20, "blocking polls returned " + polls + " times: a suppressed ready fd made the loop spin");
        assertEquals(0, ext.n, "suppressed while disabled");
        ctx.enableExternal();
        pollWhile(() -> ext.n == 0);
        assertEquals(1, ext.n, "delivered once external clients are enabled again");
        ext.unregister();
        unregister(other);
    }

    /**
     * Spec 15: suppression also applies in dispatch. A non-external handler disables external
     * clients from its read callback while an external handler may sit on the same ready list: the
     * external one must not run after disableExternal() returned; it runs once re-enabled. Two
     * rounds with the registration order swapped, so that either dispatch order is exercised.
     */
    @Test
    void externalHandlerOnTheReadyListIsSkippedOnceDisabled() {
        for (int round = 0; round < 2; round++) {
            EventNotifier a = notifier();
            EventNotifier b = notifier();
            int[] bReads = {0};
            int[] bReadsAtDisable = {-1};
            Consumer<EventNotifier> aRead = x -> {
                x.testAndClear();
                bReadsAtDisable[0] = bReads[0];
                ctx.disableExternal();
            };
            Consumer<EventNotifier> bRead = x -> {
                x.testAndClear();
                bReads[0]++;
            };
            if (round == 0) {
                ctx.setEventNotifier(a, false, aRead, null, null);
                ctx.setEventNotifier(b, true, bRead, null, null);
            } else {
                ctx.setEventNotifier(b, true, bRead, null, null);
                ctx.setEventNotifier(a, false, aRead, null, null);
            }
            assertFalse(ctx.poll(false));
            a.set();
            b.set();
            assertTrue(ctx.poll(false));
            assertEquals(bReadsAtDisable[0], bReads[0], "round " + round + ": external handler ran after disableExternal()");
            ctx.enableExternal();
            if (bReads[0] == 0) {
                assertTrue(ctx.poll(false), "round " + round + ": the external event was kept");
                assertEquals(1, bReads[0]);
            }
            unregister(a);
            unregister(b);
            assertFalse(ctx.poll(false));
        }
    }

    /**
     * /aio/timer/schedule with a manual clock: the 1 s sleep becomes {@code advance(1 s)}, and the
     * "blocking poll blocks ≈750 ms" step becomes {@code computeTimeoutNs() == 750 ms}, advance, poll.
     */
    @Test
    @DisplayName("/aio/timer/schedule")
    void timerSchedule() {
        final long ns = 750_000_000L;
        final int max = 2;
        EventNotifier e = notifier();
        ctx.setEventNotifier(e, AioContractTest::drainNotifier, null, null);
        ctx.poll(false);

        int[] n = {0};
        Timer[] t = new Timer[1];
        t[0] = ctx.newTimer(REALTIME, NANOSECONDS, () -> {
            n[0]++;
            if (n[0] < max) {
                t[0].mod(clock.nowNs(REALTIME) + ns);
            }
        });
        t[0].mod(clock.nowNs(REALTIME) + ns);
        assertEquals(0, n[0]);

        drainNonBlocking();
        assertFalse(ctx.poll(false));
        assertEquals(0, n[0]);

        clock.advance(REALTIME, 1_000_000_000L);
        assertEquals(0, n[0], "timers only run inside poll()");

        assertTrue(ctx.poll(false), "a timer callback is progress");
        assertEquals(1, n[0]);
        assertEquals(clock.nowNs(REALTIME) + ns, t[0].expireTimeNs(), "the callback re-armed at now + 750 ms");

        drainNonBlocking();
        assertFalse(ctx.poll(false));
        assertEquals(1, n[0]);

        assertEquals(ns, ctx.computeTimeoutNs(), "a blocking poll would block for the timer's 750 ms");
        clock.advance(REALTIME, ns);
        assertTrue(ctx.poll(false));
        assertEquals(2, n[0]);
        assertFalse(t[0].isPending(), "no re-arm once n == max");

        assertFalse(ctx.poll(false));
        assertEquals(2, n[0]);

        unregister(e);
        t[0].del();
    }

    // ==========================================================================================
    // QEMU tests/unit/test-nested-aio-poll.c
    // ==========================================================================================

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

    // ==========================================================================================
    // QEMU tests/unit/test-fdmon-epoll.c (port form: 100 notifiers, set one, blocking poll)
    // ==========================================================================================

    @Test
    @DisplayName("/fdmon-epoll/external-disabled (100 notifiers, set one, blocking poll returns true)")
    void hundredNotifiers() {
        List<EventNotifier> ns = new ArrayList<>();
        int[] reads = new int[100];
        for (int i = 0; i < 100; i++) {
            EventNotifier e = notifier();
            int idx = i;
            ctx.setEventNotifier(e, false, x -> {
                x.testAndClear();
                reads[idx]++;
            }, null, null);
            ns.add(e);
        }
        assertEquals(101, ctx.handlerCount());

        ns.get(0).set();
        assertTrue(ctx.poll(true));
        assertEquals(1, reads[0]);

        ctx.disableExternal();
        ns.get(0).set();
        assertTrue(ctx.poll(true), "non-external handlers still work while external clients are disabled");
        assertEquals(2, reads[0]);
        ctx.enableExternal();

        ns.get(50).set();
        ns.get(99).set();
        assertTrue(ctx.poll(true));
        assertEquals(1, reads[50]);
        assertEquals(1, reads[99]);
        int total = 0;
        for (int r : reads) {
            total += r;
        }
        assertEquals(4, total, "only the notifiers that were set are dispatched");

        for (EventNotifier e : ns) {
            unregister(e);
        }
        assertEquals(1, ctx.handlerCount());
        assertEquals(kind(), ctx.fdMonitorKind(), "an explicitly chosen monitor is kept");
    }

    // ==========================================================================================
    // Part 2 — bottom halves (spec 2)
    // ==========================================================================================

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

    /** Spec 2.3: BHs scheduled during a pass (by another BH) run in the next pass, not this one. */
    @Test
    void bhScheduledByABhRunsInTheNextPoll() {
        int[] second = {0};
        BottomHalf b2 = ctx.newBottomHalf("second", () -> second[0]++);
        BottomHalf b1 = ctx.newBottomHalf("first", b2::schedule);
        b1.schedule();
        assertTrue(ctx.poll(false));
        assertEquals(0, second[0]);
        assertTrue(ctx.poll(false));
        assertEquals(1, second[0]);
        assertFalse(ctx.poll(false));
        b1.delete();
        b2.delete();
    }

    /** Spec 2.5: any number of schedules before a run collapse into one run. */
    @Test
    void repeatedSchedulesCollapseIntoOneRun() {
        int[] n = {0};
        BottomHalf bh = ctx.newBottomHalf("collapse", () -> n[0]++);
        bh.schedule();
        bh.schedule();
        bh.schedule();
        assertTrue(ctx.poll(false));
        assertEquals(1, n[0]);
        assertFalse(ctx.poll(false));
        assertEquals(1, n[0]);
        bh.delete();
    }

    /** Spec 2.2/2.5: cancel is skipped, not progress; the BH can be scheduled again afterwards. */
    @Test
    void cancelledBhIsSkippedNotProgressAndCanBeRescheduled() {
        int[] n = {0};
        BottomHalf bh = ctx.newBottomHalf("cancel", () -> n[0]++);
        bh.schedule();
        bh.cancel();
        assertEquals(-1, ctx.computeTimeoutNs(), "a cancelled BH does not make the timeout 0");
        assertFalse(ctx.poll(false));
        assertEquals(0, n[0]);
        bh.schedule();
        assertTrue(ctx.poll(false));
        assertEquals(1, n[0]);
        assertFalse(ctx.poll(false));
        bh.delete();
    }

    /** Spec 2.2: cancel from the home thread (here: another BH of the same slice) is reliable. */
    @Test
    void bhCancelledByAnotherBhOfTheSameSliceDoesNotRunAfterCancel() {
        for (int round = 0; round < 2; round++) {
            int[] bRuns = {0};
            int[] bRunsAtCancel = {-1};
            BottomHalf b = ctx.newBottomHalf("victim", () -> bRuns[0]++);
            BottomHalf a = ctx.newBottomHalf("canceller", () -> {
                bRunsAtCancel[0] = bRuns[0];
                b.cancel();
            });
            // both scheduling orders, so that with FIFO or LIFO the victim is still queued once
            if (round == 0) {
                a.schedule();
                b.schedule();
            } else {
                b.schedule();
                a.schedule();
            }
            assertTrue(ctx.poll(false));
            assertEquals(bRunsAtCancel[0], bRuns[0], "round " + round + ": the victim ran after cancel() returned");
            assertFalse(ctx.poll(false));
            a.delete();
            b.delete();
        }
    }

    /** Spec 2.2: a deleted BH's callback never runs after delete() returns in the home thread. */
    @Test
    void bhDeletedByAnotherBhOfTheSameSliceDoesNotRunAfterDelete() {
        for (int round = 0; round < 2; round++) {
            int[] bRuns = {0};
            int[] bRunsAtDelete = {-1};
            BottomHalf b = ctx.newBottomHalf("victim", () -> bRuns[0]++);
            BottomHalf a = ctx.newBottomHalf("deleter", () -> {
                bRunsAtDelete[0] = bRuns[0];
                b.delete();
            });
            if (round == 0) {
                a.schedule();
                b.schedule();
            } else {
                b.schedule();
                a.schedule();
            }
            assertTrue(ctx.poll(false));
            assertEquals(bRunsAtDelete[0], bRuns[0], "round " + round + ": the victim ran after delete() returned");
            assertFalse(ctx.poll(false), "freeing the deleted BH is not progress");
            a.delete();
        }
    }

    /** Spec 2.5: delete from the BH's own callback; the freeing pass reports no progress. */
    @Test
    void bhDeletedFromItsOwnCallback() {
        int[] n = {0};
        BottomHalf[] self = new BottomHalf[1];
        self[0] = ctx.newBottomHalf("self-delete", () -> {
            n[0]++;
            self[0].schedule(); // DELETED wins over SCHEDULED
            self[0].delete();
        });
        self[0].schedule();
        assertTrue(ctx.poll(false));
        assertEquals(1, n[0]);
        assertEquals(-1, ctx.computeTimeoutNs(), "a deleted BH does not make the timeout 0");
        assertFalse(ctx.poll(false), "freeing a deleted BH is not progress");
        assertEquals(1, n[0]);
        assertFalse(ctx.poll(false));
        assertEquals(1, n[0]);
    }

    @Test
    void scheduleAfterDeleteThrows() {
        BottomHalf bh = ctx.newBottomHalf("deleted", () -> {});
        bh.delete();
        assertThrows(IllegalStateException.class, bh::schedule);
        assertFalse(ctx.poll(false));
        assertThrows(IllegalStateException.class, bh::schedule, "also after the deleted BH was freed");
    }

    /** Spec 2.1: IDLE BHs run but are not progress. */
    @Test
    void idleBhRunsButIsNotProgress() {
        int[] n = {0};
        BottomHalf bh = ctx.newBottomHalf("idle", () -> n[0]++);
        bh.scheduleIdle();
        long timeout = ctx.computeTimeoutNs();
        assertTrue(timeout > 0 && timeout <= 10_000_000L, "an idle BH caps the timeout at 10 ms: " + timeout);
        assertFalse(ctx.poll(false), "an idle BH is not progress");
        assertEquals(1, n[0], "but it ran");
        assertEquals(-1, ctx.computeTimeoutNs());
        bh.delete();
    }

    /** Spec 2.2: a oneshot BH runs once and is freed (no leak at close). */
    @Test
    void oneshotRunsOnceOnTheHomeThread() {
        int[] n = {0};
        AtomicReference<Thread> ranOn = new AtomicReference<>();
        ctx.scheduleOneshot("oneshot", () -> {
            n[0]++;
            ranOn.set(Thread.currentThread());
        });
        assertEquals(0, n[0]);
        assertEquals(0, ctx.computeTimeoutNs());
        assertTrue(ctx.poll(false));
        assertEquals(1, n[0]);
        assertSame(home, ranOn.get());
        assertFalse(ctx.poll(false));
        assertEquals(1, n[0]);
    }

    /** Spec 1.4/2.2: oneshot from another thread wakes a loop blocked in poll(true). */
    @Test
    void scheduleOneshotFromAnotherThreadWakesABlockingPoll() {
        AtomicInteger runs = new AtomicInteger();
        AtomicReference<Thread> ranOn = new AtomicReference<>();
        Thread t = startThread("oneshot-producer", () -> {
            sleepMs(30); // bounded: give the loop time to block first
            ctx.scheduleOneshot("cross-thread", () -> {
                ranOn.set(Thread.currentThread());
                runs.incrementAndGet();
            });
        });
        pollWhile(() -> runs.get() == 0);
        assertTrue(join(t, 10_000));
        assertEquals(1, runs.get());
        assertSame(home, ranOn.get(), "BHs run on the home thread");
        assertFalse(ctx.poll(false));
        assertEquals(1, runs.get());
    }

    /** Spec 2.5: cross-thread oneshots from several producers each run exactly once. */
    @Test
    void oneshotsFromManyThreadsRunExactlyOnce() {
        final int threads = 4;
        final int perThread = 5_000;
        int[][] runs = new int[threads][perThread]; // written by the home thread only
        int[] total = {0};
        List<Thread> producers = new ArrayList<>();
        for (int p = 0; p < threads; p++) {
            int pi = p;
            producers.add(startThread("oneshot-producer-" + p, () -> {
                for (int i = 0; i < perThread; i++) {
                    int ii = i;
                    ctx.scheduleOneshot("storm", () -> {
                        runs[pi][ii]++;
                        total[0]++;
                    });
                }
            }));
        }
        pollWhile(() -> total[0] < threads * perThread);
        for (Thread t : producers) {
            assertTrue(join(t, 10_000));
        }
        assertFalse(ctx.poll(false));
        assertEquals(threads * perThread, total[0]);
        for (int p = 0; p < threads; p++) {
            for (int i = 0; i < perThread; i++) {
                assertEquals(1, runs[p][i], "oneshot " + p + "/" + i);
            }
        }
    }

    /** Spec 2.2: a BH scheduled from another thread wakes a loop blocked in poll(true). */
    @Test
    void bhScheduledFromAnotherThreadWakesABlockingPoll() {
        int[] n = {0};
        BottomHalf bh = ctx.newBottomHalf("remote", () -> n[0]++);
        Thread t = startThread("bh-scheduler", () -> {
            sleepMs(30);
            bh.schedule();
        });
        pollWhile(() -> n[0] == 0);
        assertTrue(join(t, 10_000));
        assertEquals(1, n[0]);
        bh.delete();
    }

    @Test
    void pollOffTheHomeThreadThrows() {
        AtomicReference<Throwable> nonBlocking = new AtomicReference<>();
        AtomicReference<Throwable> blocking = new AtomicReference<>();
        AtomicBoolean homeThere = new AtomicBoolean(true);
        Thread t = startThread("not-home", () -> {
            homeThere.set(ctx.isHomeThread());
            try {
                ctx.poll(false);
            } catch (Throwable x) {
                nonBlocking.set(x);
            }
            try {
                ctx.poll(true);
            } catch (Throwable x) {
                blocking.set(x);
            }
        });
        assertTrue(join(t, 10_000), "poll(true) off the home thread must throw, not block");
        assertFalse(homeThere.get());
        assertInstanceOf(IllegalStateException.class, nonBlocking.get());
        assertInstanceOf(IllegalStateException.class, blocking.get());
        assertTrue(ctx.isHomeThread());
        assertFalse(ctx.poll(false), "the context is still usable from its home thread");
    }

    /** Style 10: a callback that throws is logged and counted; the loop goes on. */
    @Test
    void throwingCallbacksAreCountedAndTheLoopGoesOn() {
        // a BH
        int[] goodBh = {0};
        BottomHalf bad = ctx.newBottomHalf("throws", () -> {
            throw new IllegalStateException("thrown on purpose by a test BH");
        });
        BottomHalf good = ctx.newBottomHalf("good", () -> goodBh[0]++);
        bad.schedule();
        good.schedule();
        assertTrue(ctx.poll(false));
        assertEquals(1, goodBh[0], "the other BH of the same pass still ran");
        assertEquals(1, ctx.stats().callbackErrors());

        // an AssertionError (what a failing assertion inside a callback throws) is counted too
        BottomHalf asserting = ctx.newBottomHalf("asserts", () -> {
            throw new AssertionError("thrown on purpose by a test BH");
        });
        asserting.schedule();
        good.schedule();
        assertTrue(ctx.poll(false));
        assertEquals(2, goodBh[0]);
        assertEquals(2, ctx.stats().callbackErrors());

        // a timer (the throwing one expires first)
        int[] goodTimer = {0};
        Timer tBad = ctx.newTimer(REALTIME, NANOSECONDS, () -> {
            throw new IllegalArgumentException("thrown on purpose by a test timer");
        });
        Timer tGood = ctx.newTimer(REALTIME, NANOSECONDS, () -> goodTimer[0]++);
        long now = clock.nowNs(REALTIME);
        tBad.modNs(now + 1);
        tGood.modNs(now + 2);
        clock.advance(REALTIME, 2);
        assertTrue(ctx.poll(false));
        assertEquals(1, goodTimer[0], "the later timer still ran");
        assertEquals(3, ctx.stats().callbackErrors());

        // an fd read handler
        EventNotifier e1 = notifier();
        EventNotifier e2 = notifier();
        int[] goodReads = {0};
        ctx.setEventNotifier(e1, x -> {
            x.testAndClear();
            throw new IllegalStateException("thrown on purpose by a test read handler");
        }, null, null);
        ctx.setEventNotifier(e2, x -> {
            x.testAndClear();
            goodReads[0]++;
        }, null, null);
        e1.set();
        e2.set();
        assertTrue(ctx.poll(false));
        assertEquals(1, goodReads[0], "the other ready handler still ran");
        assertEquals(4, ctx.stats().callbackErrors());
        assertFalse(ctx.poll(false));

        expectedCallbackErrors = 4;
        unregister(e1);
        unregister(e2);
        bad.delete();
        good.delete();
        asserting.delete();
    }

    // ==========================================================================================
    // Part 2 — close() (spec 1.3, style 10)
    // ==========================================================================================

    private AioContext localContext() {
        return AioContext.builder().fdMonitor(kind()).clockSource(clock).build();
    }

    @Test
    void closeWithAScheduledNeverDeletedBhThrowsNamingIt() {
        AioContext c = localContext();
        BottomHalf bh = c.newBottomHalf("leaky-bh-7f3a", () -> {});
        bh.schedule();
        IllegalStateException e = assertThrows(IllegalStateException.class, c::close);
        assertNotNull(e.getMessage());
        assertTrue(e.getMessage().contains("leaky-bh-7f3a"), "message must name the BH: " + e.getMessage());
    }

    @Test
    void closeWithABhThatRanButWasNeverDeletedThrowsNamingIt() {
        AioContext c = localContext();
        BottomHalf bh = c.newBottomHalf("ran-not-deleted-91c2", () -> {});
        bh.schedule();
        c.poll(false);
        IllegalStateException e = assertThrows(IllegalStateException.class, c::close);
        assertNotNull(e.getMessage());
        assertTrue(e.getMessage().contains("ran-not-deleted-91c2"), "message must name the BH: " + e.getMessage());
    }

    @Test
    void closeAfterBhDeleteSucceedsEvenBeforeThePollThatFreesIt() {
        AioContext c = localContext();
        BottomHalf bh = c.newBottomHalf("deleted-before-close", () -> {});
        bh.schedule();
        bh.delete();
        c.close();
    }

    @Test
    void closeWithAnArmedTimerThrowsNamingIt() {
        AioContext c = localContext();
        Timer t = c.newTimer(REALTIME, MILLISECONDS, () -> {});
        t.mod(5);
        IllegalStateException e = assertThrows(IllegalStateException.class, c::close);
        assertNotNull(e.getMessage());
        assertTrue(e.getMessage().toLowerCase().contains("timer"), "message must name the armed timer: " + e.getMessage());
    }

    @Test
    void closeAfterTimerDelSucceeds() {
        AioContext c = localContext();
        Timer t = c.newTimer(REALTIME, MILLISECONDS, () -> {});
        t.mod(5);
        t.del();
        c.close();
    }

    // ==========================================================================================
    // Part 2 — fd handlers (spec 4, 5.2)
    // ==========================================================================================

    /** Spec 4.2: after setFdHandler returns, the old callbacks are never called again. */
    @Test
    void replacedHandlersOldReadIsNeverCalledAgain() {
        Pipe p = pipe();
        int[] oldReads = {0};
        int[] newReads = {0};
        ctx.setFdHandler(p.r, () -> oldReads[0]++, null, null, null); // does not drain: level-triggered
        p.writeByte();
        assertTrue(ctx.poll(true));
        assertEquals(1, oldReads[0]);

        ctx.setFdHandler(p.r, () -> {
            p.drain();
            newReads[0]++;
        }, null, null, null);
        assertEquals(2, ctx.handlerCount(), "replacement keeps one live handler per fd");
        assertTrue(ctx.poll(true));
        assertEquals(1, oldReads[0], "the replaced read callback ran again");
        assertEquals(1, newReads[0]);
        removeFd(p.r);
        assertEquals(1, ctx.handlerCount());
    }

    /**
     * Spec 4.2: replacing a handler that sits on the current ready list. Each handler's read
     * replaces the other one; exactly one old callback runs, and the replacement (a new node) is
     * not on this pass's ready list but is dispatched in the next pass.
     */
    @Test
    void replacingAHandlerThatIsOnTheReadyList() {
        Pipe p = pipe();
        Pipe q = pipe();
        int[] p1 = {0};
        int[] q1 = {0};
        int[] p2 = {0};
        int[] q2 = {0};
        boolean[] replaced = {false};
        Runnable p2cb = () -> {
            p.drain();
            p2[0]++;
        };
        Runnable q2cb = () -> {
            q.drain();
            q2[0]++;
        };
        ctx.setFdHandler(p.r, () -> {
            p.drain();
            p1[0]++;
            if (!replaced[0]) {
                replaced[0] = true;
                ctx.setFdHandler(q.r, q2cb, null, null, null);
            }
        }, null, null, null);
        ctx.setFdHandler(q.r, () -> {
            q.drain();
            q1[0]++;
            if (!replaced[0]) {
                replaced[0] = true;
                ctx.setFdHandler(p.r, p2cb, null, null, null);
            }
        }, null, null, null);
        assertFalse(ctx.poll(false), "nothing readable yet");

        p.writeByte();
        q.writeByte();
        assertTrue(ctx.poll(true));
        assertEquals(1, p1[0] + q1[0], "the replaced handler's old read ran although it was replaced first");
        assertEquals(0, p2[0] + q2[0], "a replacement is a new node, not on the current ready list");

        assertTrue(ctx.poll(true), "the still-readable fd is reported again (level-triggered)");
        assertEquals(1, p1[0] + q1[0]);
        assertEquals(1, p2[0] + q2[0]);
        removeFd(p.r);
        removeFd(q.r);
        assertFalse(ctx.poll(false));
    }

    /** Spec 4.2: deleting a handler while it sits on the ready list is safe; it is not called. */
    @Test
    void removingAHandlerThatIsOnTheReadyList() {
        Pipe p = pipe();
        Pipe q = pipe();
        int[] pr = {0};
        int[] qr = {0};
        ctx.setFdHandler(p.r, () -> {
            p.drain();
            pr[0]++;
            removeFd(q.r);
        }, null, null, null);
        ctx.setFdHandler(q.r, () -> {
            q.drain();
            qr[0]++;
            removeFd(p.r);
        }, null, null, null);
        assertFalse(ctx.poll(false));
        p.writeByte();
        q.writeByte();
        assertTrue(ctx.poll(true));
        assertEquals(1, pr[0] + qr[0], "the first read removed the other ready handler, which must not be called");
        assertEquals(2, ctx.handlerCount());
        assertFalse(ctx.poll(false));
        assertEquals(1, pr[0] + qr[0]);
        removeFd(p.r);
        removeFd(q.r);
        assertEquals(1, ctx.handlerCount());
    }

    /** Spec 4.2 step 4: deleting an fd that has no handler is a no-op. */
    @Test
    void removingAnUnregisteredFdIsANoOp() {
        Pipe p = pipe();
        removeFd(p.r);
        assertEquals(1, ctx.handlerCount());
        assertEquals(-1, ctx.pollNsOf(p.r));
        assertFalse(ctx.poll(false));
    }

    /** Spec 4.1/5.2: HUP triggers the read callback. */
    @Test
    void hupTriggersRead() {
        Pipe p = pipe();
        int[] reads = {0};
        ctx.setFdHandler(p.r, () -> {
            reads[0]++;
            removeFd(p.r); // HUP is level-triggered
        }, null, null, null);
        assertFalse(ctx.poll(false));
        p.closeWrite();
        assertTrue(ctx.poll(true));
        assertEquals(1, reads[0]);
    }

    /** Spec 4.1/5.2: ERR triggers the read callback (write end of a pipe whose reader is gone). */
    @Test
    void errTriggersRead() {
        Pipe p = pipe();
        int[] reads = {0};
        ctx.setFdHandler(p.w, () -> {
            reads[0]++;
            removeFd(p.w);
        }, null, null, null);
        assertFalse(ctx.poll(false));
        p.closeRead();
        assertTrue(ctx.poll(true));
        assertEquals(1, reads[0]);
    }

    /**
     * Spec 4.1/5.2 steps 4–5: ERR alone triggers both read and write in one dispatch. The pipe is
     * filled first, so its write end reports ERR without OUT once the reader is gone.
     */
    @Test
    void errTriggersReadAndWrite() {
        Pipe p = pipe();
        p.fill();
        int[] reads = {0};
        int[] writes = {0};
        ctx.setFdHandler(p.w, () -> reads[0]++, () -> writes[0]++, null, null);
        assertFalse(ctx.poll(false), "a full pipe is not writable");
        assertEquals(0, writes[0]);
        p.closeRead();
        assertTrue(ctx.poll(false));
        assertEquals(1, reads[0]);
        assertEquals(1, writes[0]);
        removeFd(p.w);

        ctx.setFdHandler(p.w, null, () -> writes[0]++, null, null);
        assertTrue(ctx.poll(false), "ERR triggers a write-only handler");
        assertEquals(2, writes[0]);
        removeFd(p.w);
    }

    /** Spec 5.2 step 5: a read callback that deletes its own handler suppresses its write callback. */
    @Test
    void readCallbackDeletingItsHandlerSuppressesWrite() {
        EventNotifier e = notifier();
        int fd = e.fd();
        int[] reads = {0};
        int[] writes = {0};

        // control: an eventfd that is set is readable and writable: both callbacks in one pass
        ctx.setFdHandler(fd, () -> {
            e.testAndClear();
            reads[0]++;
        }, () -> writes[0]++, null, null);
        e.set();
        assertTrue(ctx.poll(false));
        assertEquals(1, reads[0]);
        assertEquals(1, writes[0]);
        removeFd(fd);

        ctx.setFdHandler(fd, () -> {
            e.testAndClear();
            reads[0]++;
            removeFd(fd);
        }, () -> writes[0]++, null, null);
        e.set();
        assertTrue(ctx.poll(false));
        assertEquals(2, reads[0]);
        assertEquals(1, writes[0], "the write callback of a handler deleted by its read callback ran");
        assertFalse(ctx.poll(false));
        assertEquals(1, writes[0]);
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

    /** Spec 4.2: registration from another thread wakes a blocked loop, which then dispatches it. */
    @Test
    void handlerRegisteredFromAnotherThreadIsPickedUpByABlockedLoop() {
        Pipe p = pipe();
        p.writeByte();
        AtomicInteger reads = new AtomicInteger();
        Thread t = startThread("registrar", () -> {
            sleepMs(30);
            ctx.setFdHandler(p.r, () -> {
                p.drain();
                reads.incrementAndGet();
            }, null, null, null);
        });
        pollWhile(() -> reads.get() == 0);
        assertTrue(join(t, 10_000));
        assertEquals(1, reads.get());
        removeFd(p.r);
    }

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
     * jaio extension, setEdgeFdHandler: a handler that drains its fd is called once per arrival
     * on every monitor. One that leaves data unread is called again while it stays on poll and
     * epoll (level-triggered), but on io_uring (one multishot POLL_ADD, not re-armed) only when
     * more arrives.
     */
    @Test
    void edgeTriggeredHandler() {
        Pipe p = pipe();
        int[] reads = {0};
        boolean[] drain = {true};
        ctx.setEdgeFdHandler(p.r, () -> {
            reads[0]++;
            if (drain[0]) {
                p.drain();
            }
        }, null, null, null);
        assertFalse(ctx.poll(false), "registered; nothing readable yet");
        for (int i = 1; i <= 3; i++) {
            p.writeByte();
            assertTrue(ctx.poll(true));
            assertEquals(i, reads[0], "one call per arrival");
        }
        drain[0] = false;
        p.writeByte();
        assertTrue(ctx.poll(true));
        assertEquals(4, reads[0]);
        if (kind() == FdMonitorKind.IO_URING && kernelHasMultishotPoll()) {
            assertFalse(ctx.poll(false), "edge: the unread byte is not reported again");
            assertFalse(ctx.poll(false));
            assertEquals(4, reads[0]);
            p.writeByte();
            assertTrue(ctx.poll(true));
            assertEquals(5, reads[0], "a new arrival is");
        } else { // poll, epoll, and io_uring re-arming one-shot polls before Linux 5.13
            assertTrue(ctx.poll(false), "level-triggered: the unread byte is reported again");
            assertEquals(5, reads[0]);
        }
        ctx.setFdHandler(p.r, null, null, null, null);
        assertFalse(ctx.poll(false));
    }

    /** What the io_uring monitor checks before using multishot POLL_ADD (IORING_FEAT_RSRC_TAGS, Linux 5.13+). */
    private static boolean kernelHasMultishotPoll() {
        io.jaio.linux.IoUring ring = io.jaio.linux.IoUring.create(2, 0);
        try {
            return (ring.features() & io.jaio.linux.IoUring.IORING_FEAT_RSRC_TAGS) != 0;
        } finally {
            ring.close();
        }
    }

    /**
     * jaio extension, hasPendingWork: false when idle; true with a scheduled bottom half, inside
     * a handler while another reported handler waits in the same pass, and on io_uring as soon as
     * the kernel has a completion for a registered fd; home thread only.
     */
    @Test
    void hasPendingWorkSeesWhatWaitsToRun() throws Exception {
        assertFalse(ctx.hasPendingWork(), "idle");
        BottomHalf bh = ctx.newBottomHalf("pending", () -> { });
        bh.schedule();
        assertTrue(ctx.hasPendingWork(), "a scheduled bottom half");
        assertTrue(ctx.poll(false));
        assertFalse(ctx.hasPendingWork());

        Pipe a = pipe();
        Pipe b = pipe();
        List<Boolean> seen = new ArrayList<>();
        Runnable onA = () -> {
            a.drain();
            seen.add(ctx.hasPendingWork());
        };
        Runnable onB = () -> {
            b.drain();
            seen.add(ctx.hasPendingWork());
        };
        ctx.setFdHandler(a.r, onA, null, null, null);
        ctx.setFdHandler(b.r, onB, null, null, null);
        assertFalse(ctx.poll(false), "registered; nothing readable");
        a.writeByte();
        if (kind() == FdMonitorKind.IO_URING) {
            assertTrue(ctx.hasPendingWork(), "io_uring: the kernel has the POLL_ADD completion");
        }
        b.writeByte();
        while (seen.size() < 2) {
            ctx.poll(true);
        }
        // Both were readable before the wait, so one pass reports both: the first handler sees
        // the second waiting, the last one sees nothing.
        assertEquals(List.of(true, false), seen);
        assertFalse(ctx.hasPendingWork());
        java.util.concurrent.CompletableFuture<Boolean> off = java.util.concurrent.CompletableFuture.supplyAsync(ctx::hasPendingWork);
        java.util.concurrent.CompletionException e = assertThrows(java.util.concurrent.CompletionException.class, off::join);
        assertInstanceOf(IllegalStateException.class, e.getCause(), "off the home thread it throws");
        ctx.setFdHandler(a.r, null, null, null, null);
        ctx.setFdHandler(b.r, null, null, null, null);
        bh.delete();
        assertFalse(ctx.poll(false));
    }

    /** Spec 5: dispatch order within one call is BHs, then fd handlers, then timers. */
    @Test
    void dispatchOrderIsBottomHalvesThenFdHandlersThenTimers() {
        List<String> order = new ArrayList<>();
        EventNotifier e = notifier();
        ctx.setEventNotifier(e, x -> {
            x.testAndClear();
            order.add("fd");
        }, null, null);
        assertFalse(ctx.poll(false));
        Timer t = ctx.newTimer(REALTIME, NANOSECONDS, () -> order.add("timer"));
        t.modNs(clock.nowNs(REALTIME));
        BottomHalf bh = ctx.newBottomHalf("order", () -> order.add("bh"));
        e.set();
        bh.schedule();
        assertTrue(ctx.poll(false));
        assertEquals(List.of("bh", "fd", "timer"), order);
        unregister(e);
        bh.delete();
    }

    // ==========================================================================================
    // Part 2 — wake-up protocol (spec 3)
    // ==========================================================================================

    /** Spec 3.2: with notify_me == 0 (loop not in its blocking phase) the eventfd is not written. */
    @Test
    void wakeupFromAnotherThreadWhileTheLoopIsNotPollingDoesNotWriteTheEventfd() {
        // An unpollable handler makes every poll look at the fds, so the context's own eventfd is
        // drained whenever it was written: a write cannot hide behind an earlier, undrained one.
        EventNotifier dummy = notifier();
        ctx.setEventNotifier(dummy, AioContractTest::drainNotifier, null, null);
        assertFalse(ctx.poll(false));
        long before = ctx.stats().eventfdWrites();
        int[] ran = {0};
        for (int round = 1; round <= 2; round++) {
            Thread t = startThread("waker", () -> {
                for (int i = 0; i < 100; i++) {
                    ctx.wakeup();
                }
                ctx.scheduleOneshot("remote-while-idle", () -> ran[0]++);
            });
            assertTrue(join(t, 10_000));
            assertEquals(before, ctx.stats().eventfdWrites(), "round " + round + ": no eventfd write while nobody is blocked");
            assertTrue(ctx.poll(false));
            assertEquals(round, ran[0]);
            assertEquals(before, ctx.stats().eventfdWrites());
        }
        unregister(dummy);
    }

    /** Spec 3.2–3.4: a loop blocked in poll(true) is woken by wakeup() through the eventfd; no progress. */
    @Test
    void wakeupFromAnotherThreadWakesALoopBlockedInPoll() {
        long before = ctx.stats().eventfdWrites();
        AtomicBoolean stop = new AtomicBoolean();
        Thread t = startThread("waker", () -> {
            while (!stop.get()) {
                sleepMs(5); // bounded helper; the loop below ends at the first eventfd write
                ctx.wakeup();
            }
        });
        try {
            while (ctx.stats().eventfdWrites() == before) {
                watchdog.check();
                assertFalse(ctx.poll(true), "a poll woken only by aio_notify makes no progress");
            }
        } finally {
            stop.set(true);
            join(t, 10_000);
        }
        assertTrue(ctx.stats().eventfdWrites() >= before + 1);
    }

    /** Spec 3.4: notified is re-checked after raising notify_me: a pending wakeup() makes poll(true) return. */
    @Test
    void pendingWakeupMakesABlockingPollReturnAtOnce() {
        long before = ctx.stats().eventfdWrites();
        ctx.wakeup();
        assertFalse(ctx.poll(true), "returns at once, without progress");
        assertEquals(before, ctx.stats().eventfdWrites(), "the home thread's wakeup() needed no eventfd write");
    }

    /**
     * Spec 3.4 (the BUG1 rule): notified is cleared before anything is dispatched, so a wakeup()
     * issued by a callback is not lost: the next blocking poll returns at once.
     */
    @Test
    void aWakeupIssuedDuringDispatchIsNotLost() {
        BottomHalf bh = ctx.newBottomHalf("wakes", ctx::wakeup);
        bh.schedule();
        assertTrue(ctx.poll(false));
        assertFalse(ctx.poll(true), "must return at once (the wake-up from the BH is pending)");
        assertFalse(watchdog.expired(), "the blocking poll only returned because of the watchdog");

        EventNotifier e = notifier();
        ctx.setEventNotifier(e, x -> {
            x.testAndClear();
            ctx.wakeup();
        }, null, null);
        assertFalse(ctx.poll(false));
        e.set();
        assertTrue(ctx.poll(false));
        assertFalse(ctx.poll(true), "must return at once (the wake-up from the fd handler is pending)");
        assertFalse(watchdog.expired(), "the blocking poll only returned because of the watchdog");
        unregister(e);
        bh.delete();
    }

    // ==========================================================================================
    // Part 2 — timers (spec 8)
    // ==========================================================================================

    /** Spec 8.4: equal deadlines keep FIFO order; a re-mod goes behind the others. */
    @Test
    void timersWithEqualDeadlinesRunInFifoOrder() {
        List<Integer> order = new ArrayList<>();
        long when = clock.nowNs(REALTIME) + 1_000;
        Timer[] ts = new Timer[6];
        for (int i = 0; i < ts.length; i++) {
            int id = i;
            ts[i] = ctx.newTimer(REALTIME, NANOSECONDS, () -> order.add(id));
        }
        ts[5].modNs(when + 1); // later deadline, armed first
        for (int i = 0; i < 5; i++) {
            ts[i].modNs(when);
        }
        ts[0].modNs(when); // re-arming at the same deadline moves it behind the others
        clock.advance(REALTIME, 1_000);
        assertTrue(ctx.poll(false));
        assertEquals(List.of(1, 2, 3, 4, 0), order);
        clock.advance(REALTIME, 1);
        assertTrue(ctx.poll(false));
        assertEquals(List.of(1, 2, 3, 4, 0, 5), order);
        assertFalse(ctx.poll(false));
    }

    /** Spec 8.4: modAnticipate only moves the expiry earlier (or arms an unarmed timer). */
    @Test
    void modAnticipateOnlyMovesEarlier() {
        Timer t = ctx.newTimer(REALTIME, MILLISECONDS, () -> {});
        assertFalse(t.isPending());
        assertEquals(-1, t.expireTimeNs());
        t.modAnticipate(10);
        assertEquals(10_000_000L, t.expireTimeNs(), "an unarmed timer is armed");
        t.modAnticipate(20);
        assertEquals(10_000_000L, t.expireTimeNs(), "a later time is ignored");
        t.modAnticipate(5);
        assertEquals(5_000_000L, t.expireTimeNs());
        t.modAnticipateNs(7_000_000L);
        assertEquals(5_000_000L, t.expireTimeNs());
        t.modAnticipateNs(1_000_000L);
        assertEquals(1_000_000L, t.expireTimeNs());
        t.mod(20);
        assertEquals(20_000_000L, t.expireTimeNs(), "plain mod moves later");
        t.del();
        assertFalse(t.isPending());
        assertEquals(-1, t.expireTimeNs());
    }

    /** Spec 8.5: the clock is read once per run; a callback re-arming at <= now runs again in the same pass. */
    @Test
    void timerReArmedAtOrBeforeNowRunsAgainInTheSamePass() {
        int[] n = {0};
        Timer[] t = new Timer[1];
        t[0] = ctx.newTimer(REALTIME, NANOSECONDS, () -> {
            n[0]++;
            if (n[0] < 3) {
                t[0].modNs(clock.nowNs(REALTIME));
            }
        });
        int[] m = {0};
        Timer[] u = new Timer[1];
        u[0] = ctx.newTimer(REALTIME, NANOSECONDS, () -> {
            m[0]++;
            if (m[0] < 3) {
                u[0].modNs(clock.nowNs(REALTIME) + 1);
            }
        });
        t[0].modNs(clock.nowNs(REALTIME));
        u[0].modNs(clock.nowNs(REALTIME));
        assertTrue(ctx.poll(false));
        assertEquals(3, n[0], "re-armed at now: runs again in the same pass");
        assertEquals(1, m[0], "re-armed in the future: waits for the clock");
        assertFalse(ctx.poll(false));
        clock.advance(REALTIME, 1);
        assertTrue(ctx.poll(false));
        assertEquals(2, m[0]);
        u[0].del();
    }

    /** Spec 8.5: a group runs its lists in the order REALTIME, VIRTUAL, HOST, VIRTUAL_RT. */
    @Test
    void timersRunInClockOrderRealtimeBeforeHost() {
        List<ClockType> order = new ArrayList<>();
        Timer vrt = ctx.newTimer(VIRTUAL_RT, NANOSECONDS, () -> order.add(VIRTUAL_RT));
        Timer host = ctx.newTimer(HOST, NANOSECONDS, () -> order.add(HOST));
        Timer rt = ctx.newTimer(REALTIME, NANOSECONDS, () -> order.add(REALTIME));
        vrt.modNs(clock.nowNs(VIRTUAL_RT));
        host.modNs(clock.nowNs(HOST));
        rt.modNs(clock.nowNs(REALTIME));
        assertTrue(ctx.poll(false));
        assertEquals(List.of(REALTIME, HOST, VIRTUAL_RT), order);
    }

    /** Spec 8.2/8.4: expiry is stored as expire × scale ns; pending/expired follow it. */
    @Test
    void timerScales() {
        Timer ns = ctx.newTimer(REALTIME, NANOSECONDS, () -> {});
        Timer us = ctx.newTimer(REALTIME, MICROSECONDS, () -> {});
        Timer ms = ctx.newTimer(REALTIME, MILLISECONDS, () -> {});
        Timer s = ctx.newTimer(REALTIME, SECONDS, () -> {});
        ns.mod(5);
        us.mod(5);
        ms.mod(5);
        s.mod(5);
        assertEquals(5L, ns.expireTimeNs());
        assertEquals(5_000L, us.expireTimeNs());
        assertEquals(5_000_000L, ms.expireTimeNs());
        assertEquals(5_000_000_000L, s.expireTimeNs());
        assertTrue(ms.isPending());
        assertFalse(ms.isExpired(4), "isExpired takes the current time in the timer's scale");
        assertTrue(ms.isExpired(5));
        assertTrue(ms.isExpired(6));
        us.modNs(1_234L);
        assertEquals(1_234L, us.expireTimeNs(), "modNs is in ns whatever the scale");
        ns.modNs(-5);
        assertEquals(0L, ns.expireTimeNs(), "expiry = max(when, 0)");
        Timer ext = ctx.newTimer(REALTIME, NANOSECONDS, Timer.ATTR_EXTERNAL, () -> {});
        assertFalse(ext.isPending());
        assertFalse(ext.isExpired(Long.MAX_VALUE), "an unarmed timer is never expired");
        ns.del();
        us.del();
        ms.del();
        s.del();
        assertFalse(s.isPending());
        assertFalse(s.isExpired(Long.MAX_VALUE));
    }

    /** Spec 8.5: a timer deleted by an earlier timer's callback in the same pass does not run. */
    @Test
    void timerDeletedByAnEarlierTimerDoesNotRun() {
        int[] bRuns = {0};
        Timer b = ctx.newTimer(REALTIME, NANOSECONDS, () -> bRuns[0]++);
        Timer a = ctx.newTimer(REALTIME, NANOSECONDS, b::del);
        long now = clock.nowNs(REALTIME);
        a.modNs(now - 1 < 0 ? 0 : now - 1);
        b.modNs(now);
        assertTrue(ctx.poll(false));
        assertEquals(0, bRuns[0]);
        assertFalse(b.isPending());
    }

    /** Spec 2.4/8.6: what computeTimeoutNs() returns. */
    @Test
    void computeTimeout() {
        assertEquals(-1, ctx.computeTimeoutNs(), "nothing to wait for: infinite");

        BottomHalf bh = ctx.newBottomHalf("timeout", () -> {});
        bh.schedule();
        assertEquals(0, ctx.computeTimeoutNs(), "a scheduled BH");
        assertTrue(ctx.poll(false));
        assertEquals(-1, ctx.computeTimeoutNs());

        bh.scheduleIdle();
        long idle = ctx.computeTimeoutNs();
        assertTrue(idle > 0 && idle <= 10_000_000L, "an idle BH caps at 10 ms: " + idle);

        Timer t = ctx.newTimer(REALTIME, MILLISECONDS, () -> {});
        t.mod(clock.nowNs(REALTIME) / 1_000_000L + 3);
        long withTimer = ctx.computeTimeoutNs();
        assertTrue(withTimer > 0 && withTimer <= Math.min(idle, t.expireTimeNs() - clock.nowNs(REALTIME)),
                "soonest of the idle cap and the 3 ms timer: " + withTimer);
        assertFalse(ctx.poll(false), "the idle BH runs but is no progress");
        assertEquals(t.expireTimeNs() - clock.nowNs(REALTIME), ctx.computeTimeoutNs(), "the timer alone");

        t.modNs(clock.nowNs(REALTIME) + 50_000_000L);
        assertEquals(50_000_000L, ctx.computeTimeoutNs());
        clock.advance(REALTIME, 60_000_000L);
        assertEquals(0, ctx.computeTimeoutNs(), "an expired timer");
        assertTrue(ctx.poll(false));
        assertEquals(-1, ctx.computeTimeoutNs());

        bh.schedule();
        bh.delete();
        assertEquals(-1, ctx.computeTimeoutNs(), "a deleted BH does not count");
        assertFalse(ctx.poll(false));
    }

    /** Spec 8.4: a mod that makes a timer the new head notifies, waking a blocked loop. */
    @Test
    void timerModOfANewHeadFromAnotherThreadWakesABlockedLoop() {
        AtomicBoolean fired = new AtomicBoolean();
        Timer t = ctx.newTimer(REALTIME, NANOSECONDS, () -> fired.set(true));
        Timer far = ctx.newTimer(REALTIME, SECONDS, () -> {});
        far.mod(clock.nowNs(REALTIME) / 1_000_000_000L + 3600);
        Thread m = startThread("timer-mod", () -> {
            sleepMs(30);
            t.modNs(clock.nowNs(REALTIME)); // new head, already expired
        });
        pollWhile(() -> !fired.get());
        assertTrue(join(m, 10_000));
        assertTrue(fired.get());
        far.del();
    }

    // ==========================================================================================
    // Part 2 — adaptive polling (spec 6)
    // ==========================================================================================

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
}
