package io.jaio.aio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * The non-coroutine parts of QEMU's {@code tests/unit/test-aio-multithread.c}
 * (docs/design/qemu-test-scenarios.md 4): five IoThreads, work handed between them with oneshot BHs. The
 * coroutine variants (schedule, CoMutex) come with the coroutine package; here the same shapes
 * are driven by BHs, with fixed iteration counts instead of wall-clock durations.
 */
class AioMultithreadTest {

    private static final int NUM_CONTEXTS = 5;
    private static final ThreadLocal<Integer> ID = new ThreadLocal<>();

    private final List<IoThread> threads = new ArrayList<>();
    private final AioContext[] ctx = new AioContext[NUM_CONTEXTS];

    /** create_aio_contexts(): five IoThreads, each storing its index in a thread-local id. */
    @BeforeEach
    void createAioContexts() throws Exception {
        for (int i = 0; i < NUM_CONTEXTS; i++) {
            IoThread io = IoThread.start("jaio-multi-" + i);
            threads.add(io);
            ctx[i] = io.context();
        }
        for (int i = 0; i < NUM_CONTEXTS; i++) {
            int id = i;
            ctxRun(i, () -> ID.set(id));
        }
    }

    /** join_aio_contexts(). */
    @AfterEach
    void joinAioContexts() {
        for (int i = 0; i < threads.size(); i++) {
            assertEquals(0, ctx[i].stats().callbackErrors(), "callback errors in context " + i);
        }
        threads.forEach(IoThread::close);
        for (IoThread io : threads) {
            assertTrue(!io.thread().isAlive());
        }
    }

    /** ctx_run(i, cb): run cb in context i through a oneshot BH and wait for it. */
    private void ctxRun(int i, Runnable cb) throws Exception {
        CompletableFuture<Void> done = new CompletableFuture<>();
        ctx[i].scheduleOneshot("ctx_run", () -> {
            try {
                cb.run();
                done.complete(null);
            } catch (Throwable t) {
                done.completeExceptionally(t);
            }
        });
        done.get(20, TimeUnit.SECONDS);
    }

    @Test
    @DisplayName("/aio/multi/lifecycle")
    void lifecycle() throws Exception {
        for (int i = 0; i < NUM_CONTEXTS; i++) {
            int expected = i;
            ctxRun(i, () -> {
                assertEquals(expected, ID.get());
                assertSame(ctx[expected], AioContext.current());
            });
        }
    }

    /**
     * /aio/multi/schedule, BH form: tokens hop between random contexts through cross-thread
     * oneshots; every hop arrives exactly once, in the context it was sent to.
     */
    @Test
    @DisplayName("/aio/multi/schedule (oneshot BH hops)")
    void schedule() throws Exception {
        final int tokens = 50;
        final int hops = 2_000;
        int[] arrivals = new int[NUM_CONTEXTS]; // element i written only by context i's thread
        AtomicInteger wrongContext = new AtomicInteger();
        AtomicLong countHere = new AtomicLong();
        AtomicLong countOther = new AtomicLong();
        CountDownLatch finished = new CountDownLatch(tokens);

        final class Token {
            int remaining = hops;

            void arrive(int target) {
                Integer id = ID.get();
                if (id == null || id != target || AioContext.current() != ctx[target]) {
                    wrongContext.incrementAndGet();
                }
                arrivals[target]++;
                if (--remaining == 0) {
                    finished.countDown();
                    return;
                }
                int next = ThreadLocalRandom.current().nextInt(NUM_CONTEXTS);
                (next == target ? countHere : countOther).incrementAndGet();
                ctx[next].scheduleOneshot("hop", () -> arrive(next));
            }
        }

        for (int t = 0; t < tokens; t++) {
            Token token = new Token();
            int first = t % NUM_CONTEXTS;
            ctx[first].scheduleOneshot("hop", () -> token.arrive(first));
        }
        assertTrue(finished.await(30, TimeUnit.SECONDS), "tokens still travelling");
        assertEquals(0, wrongContext.get(), "a hop ran in another context than it was scheduled to");

        // read the per-context counters in their own threads
        long total = 0;
        for (int i = 0; i < NUM_CONTEXTS; i++) {
            int idx = i;
            CompletableFuture<Integer> f = new CompletableFuture<>();
            ctxRun(i, () -> f.complete(arrivals[idx]));
            total += f.get();
        }
        assertEquals((long) tokens * hops, total);
        assertEquals((long) tokens * (hops - 1), countHere.get() + countOther.get());
    }

    /**
     * /aio/multi/mutex/pthread, BH form: in every context a self-rescheduling BH takes an ordinary
     * lock, increments a plain counter, unlocks, then increments an atomic counter. No lost update.
     */
    @Test
    @DisplayName("/aio/multi/mutex/pthread (BH form)")
    void mutexPthread() throws Exception {
        final int iterations = 20_000;
        ReentrantLock lock = new ReentrantLock();
        long[] counter = {0};
        AtomicLong atomicCounter = new AtomicLong();
        CountDownLatch running = new CountDownLatch(NUM_CONTEXTS);
        List<BottomHalf> bhs = new ArrayList<>();
        for (int i = 0; i < NUM_CONTEXTS; i++) {
            int[] left = {iterations};
            BottomHalf[] self = new BottomHalf[1];
            self[0] = ctx[i].newBottomHalf("mutex-loop", () -> {
                lock.lock();
                try {
                    counter[0]++;
                } finally {
                    lock.unlock();
                }
                atomicCounter.incrementAndGet();
                if (--left[0] > 0) {
                    self[0].schedule();
                } else {
                    running.countDown();
                }
            });
            bhs.add(self[0]);
        }
        bhs.forEach(BottomHalf::schedule);
        assertTrue(running.await(30, TimeUnit.SECONDS));
        lock.lock();
        try {
            assertEquals(atomicCounter.get(), counter[0]);
            assertEquals((long) NUM_CONTEXTS * iterations, counter[0]);
        } finally {
            lock.unlock();
        }
        bhs.forEach(BottomHalf::delete);
    }
}
