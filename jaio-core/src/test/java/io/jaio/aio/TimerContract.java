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
 * The AioContext contract, timers and the poll timeout: QEMU's test-aio.c timer case, aio-semantics.md §8.
 * Run once per fd monitor: {@code PollTimerContractTest}, {@code EpollTimerContractTest},
 * {@code IoUringTimerContractTest}. The harness is {@link AioContractTest}.
 */
abstract class TimerContract extends AioContractTest {
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

    /**
     * Beyond QEMU: a pass reads one word of which clocks' lists hold timers (aio-semantics.md
     * §8), so each list's bit must follow its emptiness exactly. Two timers on REALTIME, one on
     * HOST: deleting the earlier REALTIME timer leaves that list (and its bit) armed, deleting the
     * HOST one clears HOST's bit only; the remaining timer still bounds the timeout and fires, and
     * a HOST timer armed after its bit was cleared counts again. Fails if a bit were dropped
     * while its list still held a timer (the timeout would read -1 and the timer never fire).
     */
    @Test
    void eachClocksArmedBitFollowsItsListsEmptiness() {
        int realtime = 1 << REALTIME.ordinal();
        int host = 1 << HOST.ordinal();
        assertEquals(0, ctx.armedTimerLists(), "no timer armed yet");
        int[] fired = {0, 0, 0};
        Timer first = ctx.newTimer(REALTIME, NANOSECONDS, () -> fired[0]++);
        Timer second = ctx.newTimer(REALTIME, NANOSECONDS, () -> fired[1]++);
        Timer onHost = ctx.newTimer(HOST, NANOSECONDS, () -> fired[2]++);
        first.modNs(clock.nowNs(REALTIME) + 10_000_000L);
        second.modNs(clock.nowNs(REALTIME) + 20_000_000L);
        onHost.modNs(clock.nowNs(HOST) + 5_000_000L);
        assertEquals(realtime | host, ctx.armedTimerLists());
        assertEquals(5_000_000L, ctx.computeTimeoutNs());

        first.del();
        assertEquals(realtime | host, ctx.armedTimerLists(), "REALTIME still holds the second timer");
        onHost.del();
        assertEquals(realtime, ctx.armedTimerLists(), "HOST's list is empty");
        assertEquals(20_000_000L, ctx.computeTimeoutNs(), "the second timer bounds the wait");

        clock.advance(REALTIME, 20_000_000L);
        assertTrue(ctx.poll(false), "the second timer is due");
        assertEquals(0, fired[0]);
        assertEquals(1, fired[1]);
        assertEquals(0, ctx.armedTimerLists(), "its run emptied REALTIME's list");
        assertEquals(-1, ctx.computeTimeoutNs());

        onHost.modNs(clock.nowNs(HOST) + 7_000_000L);
        assertEquals(host, ctx.armedTimerLists(), "armed again after its bit was cleared");
        assertEquals(7_000_000L, ctx.computeTimeoutNs());
        onHost.del();
        assertEquals(0, ctx.armedTimerLists());
    }
}
