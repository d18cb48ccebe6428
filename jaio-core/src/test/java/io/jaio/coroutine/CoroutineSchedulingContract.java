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
 * The coroutine contract, waking and scheduling in a context: QEMU's test-aio.c /aio/coroutine/* (aio-semantics.md §12.3). Run once per engine:
 * {@code ContinuationSchedulingContractTest} and {@code VirtualThreadSchedulingContractTest}; the
 * harness is {@link CoroutineContractTest}.
 */
abstract class CoroutineSchedulingContract extends CoroutineContractTest {
    @Test
    @DisplayName("/aio/coroutine/queue-chaining")
    void queueChaining() {
        final int chain = 25000;
        try (AioContext ctx = AioContext.create()) {
            assertSame(ctx, AioContext.current());
            int[] iA = {0};
            int[] iB = {0};
            Coroutine[] a = new Coroutine[1];
            Coroutine[] b = new Coroutine[1];
            a[0] = co(() -> {
                for (iA[0] = 0; iA[0] < chain; iA[0]++) {
                    Coroutine.enterIn(ctx, b[0]);
                    Coroutine.yield();
                }
            });
            b[0] = co(() -> {
                for (iB[0] = 0; iB[0] < chain; iB[0]++) {
                    Coroutine.enterIn(ctx, a[0]);
                    Coroutine.yield();
                }
            });
            a[0].enter();
            assertEquals(25000, iA[0]);
            assertEquals(24999, iB[0]);
            b[0].enter();
            assertEquals(25000, iB[0]);
        }
    }

    @Test
    @DisplayName("/aio/coroutine/worker-thread-co-enter")
    void workerThreadCoEnter() throws Exception {
        Thread main = Thread.currentThread();
        try (AioContext ctx = AioContext.create()) {
            boolean[] ran = {false};
            Thread[] ranOn = {null};
            Coroutine c = co(() -> {
                ranOn[0] = Coroutine.hostThread();
                ran[0] = true;
            });
            Thread worker = Thread.ofPlatform().name("co-enter-worker").start(() -> Coroutine.enterIn(ctx, c));
            worker.join();
            assertFalse(ran[0], "a thread without this context must schedule, not enter");
            assertTrue(ctx.poll(true));
            assertTrue(ran[0]);
            assertSame(main, ranOn[0]);
            assertFalse(ctx.poll(false));
            assertEquals(0, ctx.stats().callbackErrors());
        } // closing deletes the co-schedule BH (a leak would throw here)
    }

    @Test
    void coEnterOutsideACoroutineEntersNow() {
        try (AioContext ctx = AioContext.create()) {
            boolean[] ran = {false};
            Coroutine.enterIn(ctx, co(() -> ran[0] = true));
            assertTrue(ran[0]);
        }
    }

    /** Wake-ups queued inside a coroutine run after it yields, depth first. */
    @Test
    void wakeUpQueueIsDrainedDepthFirst() {
        try (AioContext ctx = AioContext.create()) {
            List<String> order = new ArrayList<>();
            Coroutine d = co(() -> order.add("D"));
            Coroutine c = co(() -> order.add("C"));
            Coroutine b = co(() -> {
                Coroutine.enterIn(ctx, d);
                order.add("B");
            });
            Coroutine a = co(() -> {
                Coroutine.enterIn(ctx, b);
                Coroutine.enterIn(ctx, c);
                order.add("A yields");
                Coroutine.yield();
                order.add("A resumed");
            });
            a.enter();
            assertEquals(List.of("A yields", "B", "D", "C"), order);
            a.wake(); // outside a coroutine, same context: entered now
            assertEquals(List.of("A yields", "B", "D", "C", "A resumed"), order);
        }
    }

    @Test
    void scheduledCoroutinesRunInSchedulingOrder() {
        try (AioContext ctx = AioContext.create()) {
            List<Integer> order = new ArrayList<>();
            for (int i = 1; i <= 5; i++) {
                int id = i;
                Coroutine.schedule(ctx, co(() -> order.add(id)));
            }
            assertEquals(List.of(), order);
            assertTrue(ctx.poll(false));
            assertEquals(List.of(1, 2, 3, 4, 5), order);

            // A coroutine may schedule itself in its own running context: it runs after it yields.
            int[] rounds = {0};
            Coroutine self = co(() -> {
                while (++rounds[0] < 3) {
                    Coroutine.schedule(ctx, Coroutine.self());
                    Coroutine.yield();
                }
            });
            self.enter();
            assertEquals(1, rounds[0]);
            ctx.poll(false);
            ctx.poll(false);
            assertEquals(3, rounds[0]);
            assertTrue(self.isTerminated());
        }
    }

    @Test
    void closingAContextWithAnUnenteredScheduledCoroutineFails() {
        AioContext ctx = AioContext.create();
        Coroutine.schedule(ctx, co(() -> { }));
        IllegalStateException e = assertThrows(IllegalStateException.class, ctx::close);
        assertTrue(e.getMessage().contains("never entered"), e.getMessage());
        assertTrue(ctx.isClosed());
    }

    @Test
    void sleepNsOnAManualClock() {
        ManualClockSource clock = new ManualClockSource();
        try (AioContext ctx = AioContext.builder().clockSource(clock).build()) {
            boolean[] done = {false};
            Coroutine c = co(() -> {
                Coroutine.sleepNs(ClockType.VIRTUAL, 1_000_000);
                done[0] = true;
            });
            c.enter();
            assertFalse(done[0]);
            assertFalse(c.isEntered());

            IllegalStateException enter = assertThrows(IllegalStateException.class, c::enter);
            assertTrue(enter.getMessage().contains("already scheduled in 'qemu_co_sleep'"), enter.getMessage());
            IllegalStateException sched = assertThrows(IllegalStateException.class, () -> Coroutine.schedule(ctx, c));
            assertTrue(sched.getMessage().contains("already scheduled in 'qemu_co_sleep'"), sched.getMessage());

            ctx.poll(false);
            assertFalse(done[0]);
            clock.advance(ClockType.VIRTUAL, 999_999);
            ctx.poll(false);
            assertFalse(done[0]);
            clock.advance(ClockType.REALTIME, 10_000_000); // another clock: no effect
            ctx.poll(false);
            assertFalse(done[0]);
            clock.advance(ClockType.VIRTUAL, 1);
            assertTrue(ctx.poll(false));
            assertTrue(done[0]);
            assertTrue(c.isTerminated());
            assertEquals(-1, ctx.computeTimeoutNs(), "the sleep timer is disarmed");
        } // an armed timer would be reported here
    }

    @Test
    void sleepNsNeedsACoroutineAndAContext() {
        IllegalStateException outside = assertThrows(IllegalStateException.class,
                () -> Coroutine.sleepNs(ClockType.REALTIME, 1));
        assertTrue(outside.getMessage().contains("outside a coroutine"), outside.getMessage());
        String[] msg = {null};
        co(() -> {
            try {
                Coroutine.sleepNs(ClockType.REALTIME, 1);
            } catch (IllegalStateException e) {
                msg[0] = e.getMessage();
            }
        }).enter();
        assertTrue(msg[0] != null && msg[0].contains("without a current AioContext"), msg[0]);
    }

    /** aio_co_reschedule_self: hop from the test's context to an IoThread and back. */
    @Test
    void rescheduleSelfMovesBetweenContexts() throws Exception {
        Thread main = Thread.currentThread();
        try (AioContext ctx = AioContext.create(); IoThread io = IoThread.start("co-reschedule")) {
            Queue<Object> trail = new ConcurrentLinkedQueue<>();
            AtomicInteger done = new AtomicInteger();
            Coroutine c = co(() -> {
                trail.add(Coroutine.hostThread());
                trail.add(Coroutine.currentContext());
                Coroutine.rescheduleSelf(io.context());
                trail.add(Coroutine.hostThread());
                trail.add(Coroutine.currentContext());
                Coroutine.rescheduleSelf(io.context()); // already there: no-op
                Coroutine.rescheduleSelf(ctx);
                trail.add(Coroutine.hostThread());
                trail.add(Coroutine.currentContext());
                done.set(1);
            });
            c.enter();
            pollUntil(ctx, () -> done.get() == 1);
            assertEquals(List.of(main, ctx, io.thread(), io.context(), main, ctx), List.copyOf(trail));
            assertEquals(0, ctx.stats().callbackErrors());
            assertEquals(0, io.context().stats().callbackErrors());
        }
    }

    /** poll(true) until cond holds; bounded by the class timeout plus a wakeup from a helper. */
    private static void pollUntil(AioContext ctx, BooleanSupplier cond) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                fail("condition not reached in 30 s");
            }
            CompletableFuture.delayedExecutor(50, TimeUnit.MILLISECONDS).execute(ctx::wakeup);
            ctx.poll(true);
        }
    }
}
