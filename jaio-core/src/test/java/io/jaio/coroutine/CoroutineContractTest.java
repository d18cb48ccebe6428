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
 * The coroutine contract, run once per engine by the subclasses: QEMU's
 * {@code tests/unit/test-coroutine.c} (qemu-test-scenarios.md 6), the coroutine cases of
 * {@code test-aio.c} (1: queue-chaining, worker-thread-co-enter), the coroutine cases of
 * {@code test-aio-multithread.c} (4: schedule, mutex/contended, mutex/handoff), sleep on a manual
 * clock, and the misuse cases QEMU aborts on (here IllegalStateException).
 *
 * <p>Assertions inside a coroutine body throw out of the {@code enter()} that runs it. In the
 * multithread cases the coroutines run in IoThreads, so they record violations in a queue that
 * the test checks instead.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
abstract class CoroutineContractTest {

    /** The engine under test. */
    abstract Engine engine();

    Coroutine co(Runnable body) {
        return Coroutine.create(body, engine());
    }

    @Test
    void createdCoroutinesUseTheEngineUnderTest() {
        assertSame(engine(), co(() -> { }).engine);
    }

    // =====================================================================================
    // test-coroutine.c /basic
    // =====================================================================================

    @Test
    @DisplayName("/basic/lifecycle")
    void lifecycle() {
        boolean[] done = {false};
        co(() -> done[0] = true).enter();
        assertTrue(done[0]);
        done[0] = false;
        co(() -> done[0] = true).enter();
        assertTrue(done[0]);
    }

    @Test
    @DisplayName("/basic/yield")
    void yieldFiveTimes() {
        boolean[] done = {false};
        Coroutine c = co(() -> {
            for (int i = 0; i < 5; i++) {
                Coroutine.yield();
            }
            done[0] = true;
        });
        int i = -1;
        while (!done[0]) {
            c.enter();
            i++;
        }
        assertEquals(5, i);
    }

    @Test
    @DisplayName("/basic/nesting")
    void nesting() {
        int[] nEnter = {0};
        int[] nReturn = {0};
        Runnable[] nest = new Runnable[1];
        nest[0] = () -> {
            nEnter[0]++;
            if (nEnter[0] < 128) {
                co(nest[0]).enter();
            }
            nReturn[0]++;
        };
        co(nest[0]).enter();
        assertEquals(128, nEnter[0]);
        assertEquals(128, nReturn[0]);
    }

    @Test
    @DisplayName("/basic/self")
    void self() {
        Coroutine[] handle = new Coroutine[1];
        Coroutine[] seen = new Coroutine[1];
        handle[0] = co(() -> seen[0] = Coroutine.self());
        handle[0].enter();
        assertSame(handle[0], seen[0]);
        assertNull(Coroutine.self());
    }

    @Test
    @DisplayName("/basic/entered")
    void entered() {
        int[] checks = {0};
        Coroutine[] outer = new Coroutine[1];
        outer[0] = co(() -> {
            assertTrue(Coroutine.self().isEntered());
            Coroutine inner = co(() -> {
                assertTrue(outer[0].isEntered());
                assertTrue(Coroutine.self().isEntered());
                checks[0]++;
                Coroutine.yield();
                assertTrue(outer[0].isEntered());
                assertTrue(Coroutine.self().isEntered());
                checks[0]++;
            });
            assertFalse(inner.isEntered());
            inner.enter();
            assertFalse(inner.isEntered());
            inner.enter();
            assertFalse(inner.isEntered());
            checks[0]++;
        });
        assertFalse(outer[0].isEntered());
        outer[0].enter();
        assertFalse(outer[0].isEntered());
        assertEquals(3, checks[0]);
    }

    @Test
    @DisplayName("/basic/in_coroutine")
    void inCoroutine() {
        assertFalse(Coroutine.inCoroutine());
        boolean[] inside = {false};
        co(() -> inside[0] = Coroutine.inCoroutine()).enter();
        assertTrue(inside[0]);
        assertFalse(Coroutine.inCoroutine());
    }

    @Test
    @DisplayName("/basic/order")
    void order() {
        List<String> records = new ArrayList<>();
        Coroutine c = co(() -> {
            records.add("2,1");
            Coroutine.yield();
            records.add("2,2");
        });
        records.add("1,1");
        c.enter();
        assertFalse(Coroutine.inCoroutine());
        records.add("1,2");
        c.enter();
        assertFalse(Coroutine.inCoroutine());
        records.add("1,3");
        assertEquals(List.of("1,1", "2,1", "1,2", "2,2", "1,3"), records);
    }

    /**
     * /basic/no-dangling-access in Java form: c1 enters c2, c2 yields, c1 ends. Entering c2
     * again must run it to its end and come back here, not to the dead c1.
     */
    @Test
    @DisplayName("/basic/no-dangling-access")
    void noDanglingAccess() {
        List<String> events = new ArrayList<>();
        Coroutine c2 = co(() -> {
            events.add("c2 first");
            Coroutine.yield();
            events.add("c2 second, self=" + (Coroutine.self() != null));
        });
        Coroutine c1 = co(() -> {
            c2.enter();
            events.add("c1 ends");
        });
        c1.enter();
        assertTrue(c1.isTerminated());
        assertFalse(c1.isEntered());
        assertFalse(c2.isEntered());
        assertFalse(c2.isTerminated());

        c2.enter();
        assertTrue(c2.isTerminated());
        assertFalse(Coroutine.inCoroutine(), "control came back to the test, not to c1");
        assertEquals(List.of("c2 first", "c1 ends", "c2 second, self=true"), events);
        IllegalStateException e = assertThrows(IllegalStateException.class, c1::enter);
        assertTrue(e.getMessage().contains("ended"), e.getMessage());
    }

    // =====================================================================================
    // test-coroutine.c /locking
    // =====================================================================================

    @Test
    @DisplayName("/locking/co-mutex")
    void coMutex() {
        CoMutex m = new CoMutex();
        boolean[] locked = {false};
        int[] done = {0};
        Runnable body = () -> {
            m.lock();
            assertFalse(locked[0]);
            locked[0] = true;
            Coroutine.yield();
            locked[0] = false;
            m.unlock();
            done[0]++;
        };
        Coroutine c1 = co(body);
        Coroutine c2 = co(body);

        c1.enter();
        assertTrue(locked[0]);
        c2.enter(); // blocks on the mutex
        c1.enter(); // unlocks, waking c2 after c1 ends; c2 takes the lock and yields
        assertEquals(1, done[0]);
        assertTrue(locked[0]);
        c2.enter();
        assertEquals(2, done[0]);
        assertFalse(locked[0]);
    }

    @Test
    void coMutexMisuse() {
        CoMutex m = new CoMutex();
        IllegalStateException outside = assertThrows(IllegalStateException.class, m::lock);
        assertTrue(outside.getMessage().contains("outside a coroutine"), outside.getMessage());

        List<String> messages = new ArrayList<>();
        co(() -> {
            try {
                m.unlock();
            } catch (IllegalStateException e) {
                messages.add(e.getMessage());
            }
        }).enter();
        Coroutine holder = co(() -> {
            m.lock();
            Coroutine.yield();
            m.unlock();
        });
        holder.enter();
        co(() -> {
            try {
                m.unlock();
            } catch (IllegalStateException e) {
                messages.add(e.getMessage());
            }
        }).enter();
        holder.enter();
        assertEquals(2, messages.size());
        assertTrue(messages.get(0).contains("not locked"), messages.get(0));
        assertTrue(messages.get(1).contains("does not hold it"), messages.get(1));
    }

    /** Three waiters queue behind a holder and get the mutex in arrival order. */
    @Test
    void coMutexHandsOffInFifoOrder() {
        CoMutex m = new CoMutex();
        List<Integer> order = new ArrayList<>();
        Coroutine holder = co(() -> {
            m.lock();
            Coroutine.yield();
            m.unlock();
        });
        holder.enter();
        for (int i = 1; i <= 3; i++) {
            int id = i;
            co(() -> {
                m.lock();
                order.add(id);
                m.unlock();
            }).enter();
        }
        assertEquals(List.of(), order);
        holder.enter();
        assertEquals(List.of(1, 2, 3), order);
    }

    @Test
    @DisplayName("/locking/co-rwlock/upgrade")
    void coRwLockUpgrade() {
        CoRwLock l = new CoRwLock();
        boolean[] c1Done = {false};
        boolean[] c2Done = {false};
        Coroutine c1 = co(() -> {
            l.readLock();
            Coroutine.yield();
            l.upgrade();
            l.unlock();
            c1Done[0] = true;
        });
        Coroutine c2 = co(() -> {
            l.writeLock();
            Coroutine.yield();
            l.unlock();
            c2Done[0] = true;
        });
        c1.enter(); // reader
        c2.enter(); // queued writer
        c1.enter(); // upgrade queues behind c2 and lets c2 in
        assertFalse(c1Done[0]);
        assertFalse(c2Done[0]);
        c2.enter(); // c2 unlocks; c1 gets the write lock and completes
        assertTrue(c1Done[0]);
        assertTrue(c2Done[0]);
    }

    @Test
    @DisplayName("/locking/co-rwlock/downgrade")
    void coRwLockDowngrade() {
        CoRwLock l = new CoRwLock();
        boolean[] done = new boolean[5];
        Coroutine c1 = co(() -> {
            l.readLock();
            Coroutine.yield();
            l.unlock();
            Coroutine.yield();
            done[1] = true;
        });
        Coroutine c2 = co(() -> {
            l.writeLock();
            l.downgrade();
            l.unlock();
            done[2] = true;
        });
        Coroutine c3 = co(() -> {
            l.readLock();
            l.unlock();
            done[3] = true;
        });
        Coroutine c4 = co(() -> {
            l.writeLock();
            l.unlock();
            done[4] = true;
        });
        c1.enter();
        c2.enter();
        c3.enter();
        c4.enter();
        assertFalse(done[2] || done[3] || done[4]);
        c1.enter(); // unlocks: c2 writes, downgrades (admits c3), then c4 after both readers
        assertTrue(done[2]);
        assertTrue(done[3]);
        assertTrue(done[4]);
        assertFalse(done[1]);
        c1.enter();
        assertTrue(done[1]);
    }

    @Test
    void coRwLockReadersShareWritersExclude() {
        CoRwLock l = new CoRwLock();
        List<String> events = new ArrayList<>();
        Coroutine r1 = co(() -> {
            l.readLock();
            events.add("r1 in");
            Coroutine.yield();
            l.unlock();
        });
        Coroutine r2 = co(() -> {
            l.readLock();
            events.add("r2 in");
            Coroutine.yield();
            l.unlock();
        });
        Coroutine w = co(() -> {
            l.writeLock();
            events.add("w in");
            l.unlock();
        });
        Coroutine r3 = co(() -> {
            l.readLock(); // queued behind the writer for fairness
            events.add("r3 in");
            l.unlock();
        });
        r1.enter();
        r2.enter();
        w.enter();
        r3.enter();
        assertEquals(List.of("r1 in", "r2 in"), events);
        r1.enter();
        assertEquals(List.of("r1 in", "r2 in"), events);
        r2.enter();
        assertEquals(List.of("r1 in", "r2 in", "w in", "r3 in"), events);
    }

    @Test
    void coRwLockMisuse() {
        CoRwLock l = new CoRwLock();
        List<String> messages = new ArrayList<>();
        co(() -> {
            for (Runnable r : List.<Runnable>of(l::unlock, l::upgrade, l::downgrade)) {
                try {
                    r.run();
                } catch (IllegalStateException e) {
                    messages.add(e.getMessage());
                }
            }
        }).enter();
        assertEquals(3, messages.size(), messages.toString());
        IllegalStateException outside = assertThrows(IllegalStateException.class, l::readLock);
        assertTrue(outside.getMessage().contains("outside a coroutine"), outside.getMessage());
    }

    @Test
    void coQueueWakesInFifoOrder() {
        CoQueue q = new CoQueue();
        List<Integer> order = new ArrayList<>();
        assertTrue(q.isEmpty());
        assertFalse(q.next());
        for (int i = 1; i <= 4; i++) {
            int id = i;
            co(() -> {
                q.await(null);
                order.add(id);
            }).enter();
        }
        assertFalse(q.isEmpty());
        assertTrue(q.next()); // outside a coroutine: the waiter runs now
        assertEquals(List.of(1), order);
        q.restartAll();
        assertEquals(List.of(1, 2, 3, 4), order);
        assertTrue(q.isEmpty());
        assertFalse(q.next());
    }

    /** Woken from inside a coroutine, waiters run after it yields, in FIFO order, with the lock. */
    @Test
    void coQueueWithMutexInsideCoroutines() {
        CoMutex m = new CoMutex();
        CoQueue q = new CoQueue();
        List<String> events = new ArrayList<>();
        boolean[] ready = {false};
        for (int i = 1; i <= 2; i++) {
            int id = i;
            co(() -> {
                m.lock();
                while (!ready[0]) {
                    q.await(m);
                }
                events.add("waiter " + id);
                m.unlock();
            }).enter();
        }
        co(() -> {
            m.lock();
            ready[0] = true;
            q.restartAll();
            events.add("waker");
            m.unlock();
        }).enter();
        assertEquals(List.of("waker", "waiter 1", "waiter 2"), events);
        assertTrue(q.isEmpty());
    }

    // =====================================================================================
    // Misuse and failures (QEMU aborts; we throw)
    // =====================================================================================

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

    // =====================================================================================
    // Waking and scheduling in a context (test-aio.c /aio/coroutine/*)
    // =====================================================================================

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

    // =====================================================================================
    // test-aio-multithread.c
    // =====================================================================================

    private static final int NUM_CONTEXTS = 5;

    /** create_aio_contexts() / join_aio_contexts() around {@code body}. */
    private static void withIoThreads(int n, IoThreadsBody body) throws Exception {
        List<IoThread> threads = new ArrayList<>();
        try {
            AioContext[] ctx = new AioContext[n];
            for (int i = 0; i < n; i++) {
                IoThread io = IoThread.start("co-multi-" + i);
                threads.add(io);
                ctx[i] = io.context();
            }
            body.run(ctx);
            for (int i = 0; i < n; i++) {
                assertEquals(0, ctx[i].stats().callbackErrors(), "callback errors in context " + i);
            }
        } finally {
            for (IoThread io : threads) {
                io.close(); // rethrows a leak reported by the context's close
            }
        }
    }

    private interface IoThreadsBody {
        void run(AioContext[] ctx) throws Exception;
    }

    /** ctx_run(i, cb): run cb in a context through a oneshot BH and wait for it. */
    private static void ctxRun(AioContext ctx, Runnable cb) throws Exception {
        CompletableFuture<Void> done = new CompletableFuture<>();
        ctx.scheduleOneshot("ctx_run", () -> {
            try {
                cb.run();
                done.complete(null);
            } catch (Throwable t) {
                done.completeExceptionally(t);
            }
        });
        done.get(20, TimeUnit.SECONDS);
    }

    private static void awaitZero(AtomicInteger running, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (running.get() != 0) {
            if (System.nanoTime() > deadline) {
                fail(running.get() + " " + what + " still running after 20 s");
            }
            Thread.sleep(5);
        }
    }

    /**
     * /aio/multi/schedule, as QEMU wrote it: each coroutine wakes at most one parked coroutine
     * (a random slot) before parking itself, so the storm dies out once every coroutine has hit
     * an empty slot; QEMU asserts nothing about the counts either.
     */
    @Test
    @DisplayName("/aio/multi/schedule")
    void multiSchedule() throws Exception {
        scheduleStorm(false, 1000);
    }

    /**
     * The same storm kept alive: a coroutine tries every slot (from a random one) before it
     * parks, so at least four coroutines keep bouncing between the five contexts until stopped.
     */
    @Test
    void multiScheduleSustained() throws Exception {
        scheduleStorm(true, 1000);
    }

    private void scheduleStorm(boolean sustained, long millis) throws Exception {
        Coroutine[] cos = new Coroutine[NUM_CONTEXTS];
        withIoThreads(NUM_CONTEXTS, ctx -> {
            AtomicReferenceArray<Coroutine> toSchedule = new AtomicReferenceArray<>(NUM_CONTEXTS);
            AtomicIntegerArray stop = new AtomicIntegerArray(NUM_CONTEXTS);
            AtomicLong countHere = new AtomicLong();
            AtomicLong countOther = new AtomicLong();
            AtomicLong countRetry = new AtomicLong();
            AtomicInteger running = new AtomicInteger(NUM_CONTEXTS);
            long[] parks = new long[NUM_CONTEXTS]; // each written only by its coroutine
            long[] wakes = new long[NUM_CONTEXTS];
            Queue<String> violations = new ConcurrentLinkedQueue<>();

            // schedule_next(n), called by coroutine `id` (running in ctx[id]) or by finish_cb in ctx[id].
            interface ScheduleNext {
                boolean run(int n, int id);
            }
            ScheduleNext scheduleNext = (n, id) -> {
                Coroutine co = toSchedule.getAndSet(n, null);
                if (co == null) {
                    countRetry.incrementAndGet();
                    return false;
                }
                (n == id ? countHere : countOther).incrementAndGet();
                Coroutine.schedule(ctx[n], co); // "already scheduled" would throw into the BH: a callback error
                return true;
            };

            for (int i = 0; i < NUM_CONTEXTS; i++) {
                int id = i;
                cos[i] = co(() -> {
                    try {
                        if (toSchedule.get(id) != null) {
                            violations.add("coroutine " + id + " published at start");
                        }
                        while (stop.get(id) == 0) {
                            int n = ThreadLocalRandom.current().nextInt(NUM_CONTEXTS);
                            if (sustained) {
                                for (int k = 0; k < NUM_CONTEXTS && !scheduleNext.run((n + k) % NUM_CONTEXTS, id); k++) {
                                    // try the next slot
                                }
                            } else {
                                scheduleNext.run(n, id);
                            }
                            parks[id]++;
                            toSchedule.set(id, Coroutine.self()); // volatile: full barrier
                            // finish_cb can run here.
                            Coroutine.yield();
                            wakes[id]++;
                            if (toSchedule.get(id) != null) {
                                violations.add("coroutine " + id + " still published after its wake-up");
                            }
                            if (Coroutine.currentContext() != ctx[id]) {
                                violations.add("coroutine " + id + " woken outside its context");
                            }
                        }
                    } finally {
                        running.decrementAndGet();
                    }
                });
            }
            for (int i = 0; i < NUM_CONTEXTS; i++) {
                Coroutine.schedule(ctx[i], cos[i]);
            }
            Thread.sleep(millis);
            // Guarantee that each context is woken up from its last wait.
            for (int i = 0; i < NUM_CONTEXTS; i++) {
                int id = i;
                ctxRun(ctx[i], () -> {
                    stop.set(id, 1);
                    scheduleNext.run(id, id);
                });
                assertNull(toSchedule.get(i));
            }
            awaitZero(running, "coroutines");
            assertEquals(List.of(), List.copyOf(violations));
            for (int i = 0; i < NUM_CONTEXTS; i++) {
                assertEquals(parks[i], wakes[i], "coroutine " + i + " woken once per park");
            }
            System.out.printf("/aio/multi/schedule%s [%s]: scheduled %d, queued %d, retry %d%n",
                    sustained ? " (sustained)" : "", engine().propertyValue, countOther.get(), countHere.get(),
                    countRetry.get());
        });
        for (Coroutine c : cos) { // the IoThreads are joined: their last writes are visible
            assertTrue(c.isTerminated());
        }
    }

    /** Plain, guarded by the CoMutex (QEMU's {@code counter}). */
    private int counter;

    /** test_multi_co_mutex(threads, seconds). */
    private void multiCoMutex(int threads, long millis) throws Exception {
        withIoThreads(threads, ctx -> {
            CoMutex m = new CoMutex();
            AtomicLong atomicCounter = new AtomicLong();
            AtomicInteger running = new AtomicInteger(threads);
            AtomicInteger stopping = new AtomicInteger();
            counter = 0;
            for (int i = 0; i < threads; i++) {
                Coroutine.schedule(ctx[i], co(() -> {
                    while (stopping.get() == 0) {
                        m.lock();
                        counter++;
                        m.unlock();
                        // After unlocking, so a finished coroutine cannot see counter ahead of this.
                        atomicCounter.incrementAndGet();
                    }
                    running.decrementAndGet();
                }));
            }
            Thread.sleep(millis);
            stopping.set(1); // now_stopping
            awaitZero(running, "coroutines");
            assertEquals(atomicCounter.get(), counter);
            assertTrue(counter > 0);
            System.out.printf("/aio/multi/mutex (%d threads) [%s]: %d acquisitions%n", threads, engine().propertyValue,
                    counter);
        });
    }

    @Test
    @DisplayName("/aio/multi/mutex/contended")
    void multiCoMutexContended() throws Exception {
        multiCoMutex(NUM_CONTEXTS, 1000);
    }

    @Test
    @DisplayName("/aio/multi/mutex/handoff")
    void multiCoMutexHandoff() throws Exception {
        multiCoMutex(2, 1500);
    }

    /** Yield to the loop: reschedule ourselves in our own context (allowed before the yield). */
    private static void yieldToLoop() {
        Coroutine.schedule(Coroutine.currentContext(), Coroutine.self());
        Coroutine.yield();
    }

    /** A CoQueue shared by five contexts: no wake-up is lost, every item is consumed once. */
    @Test
    void coQueueAcrossContexts() throws Exception {
        withIoThreads(NUM_CONTEXTS, ctx -> {
            final int items = 3000;
            CoMutex m = new CoMutex();
            CoQueue q = new CoQueue();
            ArrayDeque<Integer> queue = new ArrayDeque<>(); // guarded by m
            boolean[] closed = {false}; // guarded by m
            AtomicLong sum = new AtomicLong();
            AtomicLong consumed = new AtomicLong();
            AtomicInteger running = new AtomicInteger(NUM_CONTEXTS);
            for (int i = 1; i < NUM_CONTEXTS; i++) {
                Coroutine.schedule(ctx[i], co(() -> {
                    m.lock();
                    while (true) {
                        while (queue.isEmpty() && !closed[0]) {
                            q.await(m);
                        }
                        Integer v = queue.poll();
                        if (v == null) {
                            break;
                        }
                        sum.addAndGet(v);
                        consumed.incrementAndGet();
                        if (v % 7 == 0) { // let others in while holding nothing
                            m.unlock();
                            yieldToLoop();
                            m.lock();
                        }
                    }
                    m.unlock();
                    running.decrementAndGet();
                }));
            }
            Coroutine.schedule(ctx[0], co(() -> {
                for (int v = 1; v <= items; v++) {
                    m.lock();
                    queue.add(v);
                    q.next();
                    m.unlock();
                    if (v % 50 == 0) {
                        yieldToLoop();
                    }
                }
                m.lock();
                closed[0] = true;
                q.restartAll();
                m.unlock();
                running.decrementAndGet();
            }));
            awaitZero(running, "coroutines");
            assertEquals(items, consumed.get());
            assertEquals((long) items * (items + 1) / 2, sum.get());
        });
    }

    /** A CoRwLock shared by five contexts: writers exclude everyone, readers exclude writers. */
    @Test
    void coRwLockAcrossContexts() throws Exception {
        withIoThreads(NUM_CONTEXTS, ctx -> {
            final int rounds = 400;
            CoRwLock l = new CoRwLock();
            AtomicInteger readers = new AtomicInteger();
            AtomicInteger writers = new AtomicInteger();
            long[] value = {0}; // guarded by l (written only under the write lock)
            Queue<String> violations = new ConcurrentLinkedQueue<>();
            AtomicInteger running = new AtomicInteger(NUM_CONTEXTS);
            for (int i = 0; i < NUM_CONTEXTS; i++) {
                int id = i;
                Coroutine.schedule(ctx[i], co(() -> {
                    for (int r = 0; r < rounds; r++) {
                        switch ((r + id) % 3) {
                            case 0 -> {
                                l.writeLock();
                                if (writers.incrementAndGet() != 1 || readers.get() != 0) {
                                    violations.add("writer not alone");
                                }
                                value[0]++;
                                yieldToLoop();
                                writers.decrementAndGet();
                                l.unlock();
                            }
                            case 1 -> {
                                l.readLock();
                                readers.incrementAndGet();
                                if (writers.get() != 0) {
                                    violations.add("reader beside a writer");
                                }
                                yieldToLoop();
                                readers.decrementAndGet();
                                l.unlock();
                            }
                            default -> {
                                l.readLock();
                                l.upgrade();
                                if (writers.incrementAndGet() != 1 || readers.get() != 0) {
                                    violations.add("upgraded writer not alone");
                                }
                                value[0]++;
                                writers.decrementAndGet();
                                l.downgrade();
                                readers.incrementAndGet();
                                yieldToLoop();
                                readers.decrementAndGet();
                                l.unlock();
                            }
                        }
                    }
                    running.decrementAndGet();
                }));
            }
            awaitZero(running, "coroutines");
            assertEquals(List.of(), List.copyOf(violations));
            long writes = 0;
            for (int id = 0; id < NUM_CONTEXTS; id++) {
                for (int r = 0; r < rounds; r++) {
                    if ((r + id) % 3 != 1) {
                        writes++;
                    }
                }
            }
            assertEquals(writes, value[0]);
        });
    }
}
