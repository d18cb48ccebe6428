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
 * The AioContext contract, the wake-up protocol (aio-semantics.md §3).
 * Run once per fd monitor: {@code PollWakeupContractTest}, {@code EpollWakeupContractTest},
 * {@code IoUringWakeupContractTest}. The harness is {@link AioContractTest}.
 */
abstract class WakeupContract extends AioContractTest {
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
}
