package io.jaio.coroutine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import io.jaio.aio.AioContext;
import io.jaio.aio.ClockType;
import io.jaio.aio.IoThread;
import io.jaio.aio.ManualClockSource;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The coroutine contract, misuse and failures (QEMU aborts; jaio throws). Run once per engine:
 * {@code ContinuationMisuseContractTest} and {@code VirtualThreadMisuseContractTest}; the
 * harness is {@link CoroutineContractTest}.
 */
abstract class CoroutineMisuseContract extends CoroutineContractTest {
    @Test
    void yieldOutsideACoroutine() {
        IllegalStateException e = assertThrows(IllegalStateException.class, Coroutine::yield);
        assertTrue(e.getMessage().contains("yielding to no one"), e.getMessage());
    }

    @Test
    void enteringARunningCoroutine() {
        String[] msg = new String[2];
        co(() -> {
            try {
                Coroutine.self().enter();
            } catch (IllegalStateException e) {
                msg[0] = e.getMessage();
            }
        }).enter();
        assertTrue(msg[0] != null && msg[0].contains("re-entered recursively"), msg[0]);

        Coroutine[] outer = new Coroutine[1];
        outer[0] = co(() -> co(() -> {
            try {
                outer[0].enter(); // suspended inside the coroutine it entered
            } catch (IllegalStateException e) {
                msg[1] = e.getMessage();
            }
        }).enter());
        outer[0].enter();
        assertTrue(msg[1] != null && msg[1].contains("re-entered recursively"), msg[1]);
    }

    @Test
    void bodyExceptionPropagatesAndEndsTheCoroutine() {
        IllegalArgumentException boom = new IllegalArgumentException("boom");
        Coroutine c = co(() -> {
            Coroutine.yield();
            throw boom;
        });
        c.enter();
        assertSame(boom, assertThrows(IllegalArgumentException.class, c::enter));
        assertTrue(c.isTerminated());
        assertFalse(c.isEntered());
        assertFalse(Coroutine.inCoroutine());
        IllegalStateException again = assertThrows(IllegalStateException.class, c::enter);
        assertTrue(again.getMessage().contains("ended"), again.getMessage());

        // Into the body of a coroutine that entered it directly:
        Throwable[] caught = {null};
        co(() -> {
            try {
                co(() -> {
                    throw boom;
                }).enter();
            } catch (IllegalArgumentException e) {
                caught[0] = e;
            }
        }).enter();
        assertSame(boom, caught[0]);
    }

    @Test
    void throwingCoroutineStillRunsTheCoroutinesItWoke() {
        try (AioContext ctx = AioContext.create()) {
            boolean[] ran = {false};
            Coroutine woken = co(() -> ran[0] = true);
            Coroutine thrower = co(() -> {
                Coroutine.enterIn(ctx, woken);
                throw new IllegalStateException("thrower");
            });
            IllegalStateException e = assertThrows(IllegalStateException.class, thrower::enter);
            assertEquals("thrower", e.getMessage());
            assertTrue(ran[0]);
        }
    }

    @Test
    void endingWhileHoldingALockFails() {
        CoMutex m = new CoMutex();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> co(m::lock).enter());
        assertTrue(e.getMessage().contains("holding 1"), e.getMessage());

        CoRwLock l = new CoRwLock();
        IllegalStateException e2 = assertThrows(IllegalStateException.class, () -> co(l::readLock).enter());
        assertTrue(e2.getMessage().contains("holding 1"), e2.getMessage());
    }

    @Test
    void doubleScheduleAndEnteringAScheduledCoroutine() {
        try (AioContext ctx = AioContext.create()) {
            boolean[] done = {false};
            Coroutine c = co(() -> {
                Coroutine.yield();
                done[0] = true;
            });
            c.enter();
            Coroutine.schedule(ctx, c);
            IllegalStateException twice = assertThrows(IllegalStateException.class, () -> Coroutine.schedule(ctx, c));
            assertTrue(twice.getMessage().contains("already scheduled in 'aio_co_schedule'"), twice.getMessage());
            IllegalStateException enter = assertThrows(IllegalStateException.class, c::enter);
            assertTrue(enter.getMessage().contains("already scheduled in 'aio_co_schedule'"), enter.getMessage());
            IllegalStateException wake = assertThrows(IllegalStateException.class, c::wake);
            assertTrue(wake.getMessage().contains("already scheduled in 'aio_co_schedule'"), wake.getMessage());
            assertFalse(done[0]);
            assertTrue(ctx.poll(false));
            assertTrue(done[0]);
            assertEquals(0, ctx.stats().callbackErrors());
        }
    }

    @Test
    void aCoroutineCannotWakeItself() {
        try (AioContext ctx = AioContext.create()) {
            String[] msg = {null};
            co(() -> {
                try {
                    Coroutine.enterIn(ctx, Coroutine.self());
                } catch (IllegalStateException e) {
                    msg[0] = e.getMessage();
                }
            }).enter();
            assertTrue(msg[0] != null && msg[0].contains("wake itself"), msg[0]);
        }
    }
}
