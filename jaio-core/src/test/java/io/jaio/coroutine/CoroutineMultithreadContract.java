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
 * The coroutine contract, QEMU's test-aio-multithread.c. Run once per engine:
 * {@code ContinuationMultithreadContractTest} and {@code VirtualThreadMultithreadContractTest}; the
 * harness is {@link CoroutineContractTest}.
 */
abstract class CoroutineMultithreadContract extends CoroutineContractTest {
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
