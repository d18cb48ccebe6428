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
 * The AioContext contract, the legacy API, deprecated but kept: acquire/release and external clients (aio-semantics.md §1.5, §15).
 * Run once per fd monitor: {@code PollLegacyContractTest}, {@code EpollLegacyContractTest},
 * {@code IoUringLegacyContractTest}. The harness is {@link AioContractTest}.
 */
@SuppressWarnings("deprecation") // tests of the legacy API, deprecated but kept
abstract class LegacyContract extends AioContractTest {
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
}
