package io.jaio.aio;

import static io.jaio.aio.TestSupport.join;
import static io.jaio.aio.TestSupport.sleepMs;
import static io.jaio.aio.TestSupport.startThread;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The per-context thread pool (docs/design/aio-semantics.md §10, §11): QEMU's tests/unit/test-thread-pool.c
 * (docs/design/qemu-test-scenarios.md §5) with its values, then jaio's own cases. The coroutine scenario
 * (/thread-pool/submit-co) is in {@link ThreadPoolCoTest}.
 *
 * <p>QEMU's {@code ret} is kept as an int: −EINPROGRESS until the callback ran, then the work's
 * return value, or −ECANCELED when the callback got a {@link CancellationException}. Assertions
 * made inside callbacks are contained by the loop, so every test ends by checking that no
 * callback threw.
 */
class ThreadPoolTest {
    private static final int EINPROGRESS = -115;
    private static final int ECANCELED = -125;
    /**
     * QEMU's long_cb sleeps 2 s and the test sleeps 1 s before cancelling, hoping every worker has
     * taken a job by then. Here long_cb waits for {@link #longRelease} instead, released once the
     * jobs still queued have been cancelled, then runs this much longer (so the synchronous
     * cancel of a running job really blocks). No timing decides the outcome.
     */
    private static final long LONG_CB_MS = 100;

    private AioContext ctx;
    private Watchdog wd;
    /** Callbacks not yet run (QEMU's `active`; callbacks are serialised in the home thread). */
    private int active;
    /** Holds long_cb's jobs running until the cancel loop for queued jobs is over. */
    private final CountDownLatch longRelease = new CountDownLatch(1);

    /** QEMU's WorkerTestData. */
    private static final class WorkerTestData {
        final AtomicInteger n = new AtomicInteger();
        int ret = EINPROGRESS;
        Aiocb aiocb;
    }

    @BeforeEach
    void setUp() {
        ctx = AioContext.create();
        wd = Watchdog.start(Duration.ofSeconds(30)).watch(ctx);
    }

    @AfterEach
    void tearDown() {
        longRelease.countDown(); // a failed cancel test must not leave close() waiting for long_cb
        wd.unwatch(ctx);
        wd.close();
        String name = ctx.name();
        ctx.close();
        assertEquals(List.of(), liveWorkers(name), "closing the context stops and joins every worker");
    }

    private ThreadPool pool() {
        return ctx.slot(ThreadPool.SLOT, ThreadPool::new);
    }

    private ThreadPool pool(long idleTimeoutMs) {
        return ctx.slot(ThreadPool.SLOT, c -> new ThreadPool(c, TimeUnit.MILLISECONDS.toNanos(idleTimeoutMs)));
    }

    /** QEMU's worker_cb: atomically increments n and returns its old value. */
    private static int workerCb(WorkerTestData d) {
        return d.n.getAndIncrement();
    }

    /** QEMU's long_cb: if n goes 0 -> 1, run "long" (see LONG_CB_MS), then n |= 2 (-> 3). */
    private int longCb(WorkerTestData d) throws InterruptedException {
        if (d.n.compareAndSet(0, 1)) {
            assertTrue(longRelease.await(20, TimeUnit.SECONDS), "the test never released long_cb");
            Thread.sleep(LONG_CB_MS);
            d.n.getAndAccumulate(2, (a, b) -> a | b);
        }
        return 0;
    }

    /** QEMU's done_cb. */
    private void doneCb(WorkerTestData d, Integer result, Throwable error) {
        assertTrue(d.ret == EINPROGRESS || d.ret == ECANCELED, "ret before the callback: " + d.ret);
        if (error instanceof CancellationException) {
            d.ret = ECANCELED;
        } else {
            assertNull(error, "worker failed");
            d.ret = result;
        }
        d.aiocb = null;
        active--;
    }

    /** Blocking poll while {@code cond} holds (something the loop itself delivers). */
    private void pollWhile(BooleanSupplier cond) {
        while (cond.getAsBoolean()) {
            wd.check();
            ctx.poll(true);
        }
    }

    /** Waits for a condition that worker threads make true (nothing wakes the loop): poll(false) + short sleeps. */
    private void waitFor(BooleanSupplier cond) {
        while (!cond.getAsBoolean()) {
            wd.check();
            ctx.poll(false);
            sleepMs(2);
        }
    }

    private static List<String> liveWorkers(String ctxName) {
        String prefix = ctxName + "-worker-";
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().startsWith(prefix) && t.isAlive())
                .map(Thread::getName).sorted().collect(Collectors.toList());
    }

    private void assertNoCallbackFailed() {
        assertEquals(0, ctx.stats().callbackErrors(), "a callback threw (see the log): an assertion inside it failed");
    }

    // =====================================================================================
    // tests/unit/test-thread-pool.c
    // =====================================================================================

    /** /thread-pool/submit: fire and forget (null callback). */
    @Test
    void submit() {
        WorkerTestData d = new WorkerTestData();
        pool().submitAio(() -> workerCb(d), null);
        pollWhile(() -> d.n.get() == 0);
        assertEquals(1, d.n.get());
    }

    /** /thread-pool/submit-aio, including "callbacks never run before the first wait". */
    @Test
    void submitAio() {
        WorkerTestData d = new WorkerTestData();
        d.aiocb = pool().submitAio(() -> workerCb(d), (r, e) -> doneCb(d, r, e));
        active = 1;
        // The callback cannot run before the first wait, whatever the worker did meanwhile.
        assertEquals(EINPROGRESS, d.ret);
        sleepMs(20);
        assertEquals(EINPROGRESS, d.ret);

        pollWhile(() -> d.ret == EINPROGRESS);
        assertEquals(0, active);
        assertEquals(1, d.n.get());
        assertEquals(0, d.ret);
        assertNull(d.aiocb);
        assertNoCallbackFailed();
    }

    /** /thread-pool/submit-many: 100 jobs, more than the 64 threads. */
    @Test
    void submitMany() {
        runSubmitMany(pool());
        assertNoCallbackFailed();
    }

    private void runSubmitMany(ThreadPool p) {
        WorkerTestData[] data = new WorkerTestData[100];
        for (int i = 0; i < 100; i++) {
            WorkerTestData d = data[i] = new WorkerTestData();
            d.aiocb = p.submitAio(() -> workerCb(d), (r, e) -> doneCb(d, r, e));
        }
        active = 100;
        while (active > 0) {
            assertTrue(p.threadCount() <= 64, "never more than thread-pool-max workers: " + p.threadCount());
            wd.check();
            ctx.poll(true);
        }
        for (WorkerTestData d : data) {
            assertEquals(1, d.n.get());
            assertEquals(0, d.ret);
        }
        assertEquals(64, p.threadCount(), "100 jobs submitted before any ran: one spawn per submission up to max");
    }

    /** /thread-pool/cancel: synchronous cancel (QEMU's bdrv_aio_cancel). */
    @Test
    void cancel() {
        doTestCancel(true);
    }

    /** /thread-pool/cancel-async (QEMU's bdrv_aio_cancel_async). */
    @Test
    void cancelAsync() {
        doTestCancel(false);
    }

    private void doTestCancel(boolean sync) {
        ThreadPool p = pool();
        // Start more than one thread.
        runSubmitMany(p);

        // Start long running jobs, to ensure we can cancel some.
        WorkerTestData[] data = new WorkerTestData[100];
        for (int i = 0; i < 100; i++) {
            WorkerTestData d = data[i] = new WorkerTestData();
            d.aiocb = p.submitAio(() -> longCb(d), (r, e) -> doneCb(d, r, e));
        }
        // Starting the threads may be left to a bottom half. Let it run, but do not let
        // the job callbacks run (none can have finished yet).
        active = 100;
        ctx.wakeup();
        ctx.poll(false);
        assertEquals(100, active);

        // QEMU sleeps 1 s here, so that every worker has taken a job and passed long_cb's
        // 0 -> 1 step (a job taken but not yet there would lose the cancel and still be counted
        // as cancelled below). The bounded equivalent: wait until all 64 workers hold a job.
        // None can finish before longRelease, so the other 36 are certainly still queued.
        while (started(data) < 64) {
            wd.check();
            sleepMs(1);
        }
        assertEquals(64, started(data));
        assertTrue(active > 50, "no poll ran, so no callback ran: " + active);

        // Cancel the jobs that haven't been started yet.
        int numCanceled = 0;
        for (WorkerTestData d : data) {
            if (d.n.compareAndSet(0, 4)) {
                d.ret = ECANCELED;
                if (sync) {
                    d.aiocb.cancel();
                } else {
                    d.aiocb.cancelAsync();
                }
                numCanceled++;
            }
        }
        assertTrue(active > 0, "active " + active);
        assertTrue(numCanceled < 100, "some job had started: cancelled " + numCanceled);
        assertEquals(36, numCanceled, "(derived) 64 workers hold a job, the rest were queued");

        // The running jobs may go on now; cancelling them below is useless (and blocks when sync).
        longRelease.countDown();

        for (WorkerTestData d : data) {
            if (d.aiocb != null && d.n.get() < 4) {
                if (sync) {
                    // Canceling the others will be a blocking operation.
                    d.aiocb.cancel();
                } else {
                    d.aiocb.cancelAsync();
                }
            }
        }

        // Finish execution and execute any remaining callbacks.
        pollWhile(() -> active > 0);
        assertEquals(0, active);
        for (int i = 0; i < 100; i++) {
            WorkerTestData d = data[i];
            assertNull(d.aiocb, "request " + i + ": callback did not run");
            switch (d.n.get()) {
                case 0 -> fail("Request " + i + " not canceled?");
                case 1 -> fail("Request " + i + " not done?");
                case 3 -> assertEquals(0, d.ret, "request " + i + " ran to completion, ret was reset as expected");
                case 4 -> assertEquals(ECANCELED, d.ret, "request " + i + " was canceled, done_cb set -ECANCELED");
                default -> fail("Request " + i + " aborted while running? n=" + d.n.get());
            }
        }
        assertNoCallbackFailed();
    }

    private static int started(WorkerTestData[] data) {
        int started = 0;
        for (WorkerTestData d : data) {
            if (d.n.get() != 0) {
                started++;
            }
        }
        return started;
    }

    // =====================================================================================
    // jaio: parameters, idle exit, errors, references, threads, close
    // =====================================================================================

    @Test
    void workersAreNamedAfterTheContextAndSpawnedByTheLoop() {
        ThreadPool p = pool();
        AtomicReference<Thread> ran = new AtomicReference<>();
        p.submitAio(() -> {
            ran.set(Thread.currentThread());
            return null;
        }, null);
        assertEquals(1, p.threadCount(), "counted at submission");
        assertEquals(0, p.startedThreadCount(), "created only from the loop (spawn BH), not by the submitter");
        pollWhile(() -> ran.get() == null);
        Thread t = ran.get();
        assertTrue(t.getName().startsWith(ctx.name() + "-worker-"), t.getName());
        assertFalse(t.isVirtual());
        assertTrue(t.isDaemon());
        assertNotSame(ctx.homeThread(), t);
    }

    @Test
    void minAndMaxComeFromTheContextAndChangeAtRunTime() {
        wd.unwatch(ctx);
        ctx.close();
        ctx = AioContext.builder().threadPoolMin(2).threadPoolMax(6).build();
        wd.watch(ctx);
        ThreadPool p = pool();
        assertEquals(2, p.threadCount(), "the pool starts thread-pool-min workers");
        waitFor(() -> p.idleThreadCount() == 2);
        assertEquals(2, liveWorkers(ctx.name()).size());

        p.setParams(4, 8); // spawn up to min
        assertEquals(4, p.threadCount());
        waitFor(() -> p.idleThreadCount() == 4);
        assertEquals(4, liveWorkers(ctx.name()).size());

        p.setParams(0, 2); // the surplus above max exits
        waitFor(() -> p.threadCount() == 2);
        waitFor(() -> liveWorkers(ctx.name()).size() == 2);
        assertEquals(2, p.idleThreadCount());

        p.setParams(3, 8);
        waitFor(() -> p.idleThreadCount() == 3);
        assertEquals(3, p.threadCount());

        // Lowering max while everybody is busy: busy workers leave after their work.
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger started = new AtomicInteger();
        int[] done = {0};
        for (int i = 0; i < 3; i++) {
            p.submitAio(() -> {
                started.incrementAndGet();
                return release.await(20, TimeUnit.SECONDS);
            }, (r, e) -> {
                assertEquals(Boolean.TRUE, r);
                done[0]++;
            });
        }
        waitFor(() -> started.get() == 3);
        p.setParams(0, 1);
        release.countDown();
        pollWhile(() -> done[0] < 3);
        waitFor(() -> p.threadCount() == 1 && liveWorkers(ctx.name()).size() == 1);

        assertThrows(IllegalArgumentException.class, () -> p.setParams(-1, 4));
        assertThrows(IllegalArgumentException.class, () -> p.setParams(5, 4));
        assertThrows(IllegalArgumentException.class, () -> p.setParams(0, 0));
        assertNoCallbackFailed();
    }

    @Test
    void idleWorkersAboveMinExitAfterTheIdleTimeout() {
        ThreadPool p = pool(50);
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger started = new AtomicInteger();
        int[] done = {0};
        for (int i = 0; i < 8; i++) { // no worker is idle at any submission: 8 workers
            p.submitAio(() -> {
                started.incrementAndGet();
                return release.await(20, TimeUnit.SECONDS);
            }, (r, e) -> done[0]++);
        }
        p.setParams(1, 64);
        waitFor(() -> started.get() == 8);
        assertEquals(8, p.threadCount());
        assertEquals(8, liveWorkers(ctx.name()).size());
        release.countDown();
        pollWhile(() -> done[0] < 8);

        waitFor(() -> p.threadCount() == 1);
        waitFor(() -> liveWorkers(ctx.name()).size() == 1);
        sleepMs(200); // several idle timeouts: the last one stays (thread-pool-min)
        assertEquals(1, p.threadCount());
        assertEquals(1, liveWorkers(ctx.name()).size());

        p.setParams(0, 64); // now it may go too
        waitFor(() -> p.threadCount() == 0 && liveWorkers(ctx.name()).isEmpty());

        // And the pool still works afterwards.
        WorkerTestData d = new WorkerTestData();
        p.submitAio(() -> workerCb(d), null);
        pollWhile(() -> d.n.get() == 0);
        assertNoCallbackFailed();
    }

    @Test
    void workExceptionsReachTheCallbackAndNeverKillTheWorker() {
        ThreadPool p = pool();
        p.setParams(0, 1); // one worker: the same thread must survive everything
        List<Thread> threads = new ArrayList<>();
        List<Object> outcomes = new ArrayList<>();
        IOException io = new IOException("disk on fire");
        AssertionError err = new AssertionError("error, not exception");
        RuntimeException rte = new IllegalStateException("unchecked");

        p.submitAio(() -> {
            threads.add(Thread.currentThread());
            throw io;
        }, (r, e) -> outcomes.add(e));
        p.submitAio(() -> {
            threads.add(Thread.currentThread());
            throw err;
        }, (r, e) -> outcomes.add(e));
        p.submitAio(() -> {
            threads.add(Thread.currentThread());
            throw rte;
        }, (r, e) -> outcomes.add(e));
        p.submitAio(() -> {
            threads.add(Thread.currentThread());
            return "fine";
        }, (r, e) -> {
            assertNull(e);
            outcomes.add(r);
        });
        pollWhile(() -> outcomes.size() < 4);
        assertSame(io, outcomes.get(0), "the work's exception itself, unwrapped");
        assertSame(err, outcomes.get(1));
        assertSame(rte, outcomes.get(2));
        assertEquals("fine", outcomes.get(3));
        // `threads` was filled by the worker before each completion was published (happens-before).
        assertEquals(4, threads.size());
        assertEquals(1, Set.copyOf(threads).size(), "one worker ran everything: " + threads);
        assertTrue(threads.get(0).isAlive());
        assertEquals(1, p.threadCount());
        assertNoCallbackFailed();
    }

    @Test
    void aThrowingCallbackIsContainedAndOthersStillRun() {
        ThreadPool p = pool();
        int[] ran = {0};
        p.submitAio(() -> 1, (r, e) -> {
            ran[0]++;
            throw new IllegalStateException("callback bug");
        });
        p.submitAio(() -> 2, (r, e) -> ran[0]++);
        pollWhile(() -> ran[0] < 2);
        assertEquals(1, ctx.stats().callbackErrors(), "logged and counted like every context callback");
    }

    @Test
    void aCallbackThatPollsNestedlyGetsTheOtherCompletion() {
        ThreadPool p = pool();
        p.setParams(2, 64);
        waitFor(() -> p.idleThreadCount() == 2);
        AtomicInteger finished = new AtomicInteger();
        int[] delivered = {0};
        int[] nestedPolls = {0};
        for (int i = 0; i < 2; i++) {
            p.submitAio(() -> finished.incrementAndGet(), (r, e) -> {
                if (++delivered[0] == 1) {
                    // The first callback waits for the other request, which finished at the same
                    // time: only the re-scheduled completion BH can deliver it to this nested poll.
                    while (delivered[0] < 2) {
                        wd.check();
                        nestedPolls[0]++;
                        ctx.poll(true);
                    }
                }
            });
        }
        // Both works done and both completions published before the loop looks at them.
        waitForWithoutPolling(() -> finished.get() == 2 && p.idleThreadCount() == 2);
        pollWhile(() -> delivered[0] < 2);
        assertTrue(nestedPolls[0] >= 1);
        assertNoCallbackFailed();
    }

    private void waitForWithoutPolling(BooleanSupplier cond) {
        while (!cond.getAsBoolean()) {
            wd.check();
            sleepMs(1);
        }
    }

    @Test
    void referencesFollowQemuAiocbRules() {
        ThreadPool p = pool();
        AtomicReference<Integer> got = new AtomicReference<>();
        int[] calls = {0};
        Aiocb a = p.submitAio(() -> 7, (r, e) -> {
            calls[0]++;
            got.set(r);
        });
        assertEquals(1, a.refCount(), "the pool's reference");
        assertSame(ctx, a.context());
        a.ref();
        assertEquals(2, a.refCount());
        pollWhile(() -> got.get() == null);
        assertEquals(7, got.get());
        assertTrue(a.isCompleted());
        assertEquals(1, a.refCount(), "the pool dropped its reference after the callback");
        a.cancelAsync(); // done: nothing happens, the callback does not run again
        a.cancel();      // returns at once
        ctx.poll(false);
        assertEquals(1, calls[0]);
        a.unref();
        assertEquals(0, a.refCount());
        assertThrows(IllegalStateException.class, a::unref, "unref below zero");
        assertThrows(IllegalStateException.class, a::ref, "ref after release");

        // Fire and forget: the pool's reference is the only one and goes away.
        WorkerTestData d = new WorkerTestData();
        Aiocb b = p.submitAio(() -> workerCb(d), null);
        pollWhile(() -> !b.isCompleted());
        assertEquals(1, d.n.get());
        assertEquals(0, b.refCount());
        assertThrows(IllegalStateException.class, b::unref);
        assertNoCallbackFailed();
    }

    @Test
    void submitAndSyncCancelOffTheHomeThreadThrow() {
        ThreadPool p = pool();
        CountDownLatch release = new CountDownLatch(1);
        Aiocb blocker = p.submitAio(() -> release.await(20, TimeUnit.SECONDS), null);
        AtomicReference<Throwable> submitErr = new AtomicReference<>();
        AtomicReference<Throwable> cancelErr = new AtomicReference<>();
        Thread t = startThread("tp-test-foreign", () -> {
            try {
                p.submitAio(() -> 1, null);
            } catch (Throwable e) {
                submitErr.set(e);
            }
            try {
                blocker.cancel();
            } catch (Throwable e) {
                cancelErr.set(e);
            }
        });
        assertTrue(join(t, 10_000));
        assertInstanceOf(IllegalStateException.class, submitErr.get());
        assertTrue(submitErr.get().getMessage().contains("home thread"), submitErr.get().getMessage());
        assertInstanceOf(IllegalStateException.class, cancelErr.get());
        release.countDown();
        pollWhile(() -> !blocker.isCompleted());
    }

    @Test
    void cancelAsyncFromAnotherThreadCancelsQueuedWorkOnly() {
        ThreadPool p = pool();
        p.setParams(0, 1);
        CountDownLatch started = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        List<Object> outcomes = new ArrayList<>(List.of("pending", "pending"));
        AtomicBoolean queuedRan = new AtomicBoolean();
        Aiocb running = p.submitAio(() -> {
            started.countDown();
            return release.await(20, TimeUnit.SECONDS);
        }, (r, e) -> outcomes.set(0, e != null ? e : r));
        Aiocb queued = p.submitAio(() -> {
            queuedRan.set(true);
            return "ran";
        }, (r, e) -> outcomes.set(1, e != null ? e : r));
        waitFor(() -> started.getCount() == 0);

        Thread t = startThread("tp-test-canceller", () -> {
            running.cancelAsync(); // started: completes normally
            queued.cancelAsync();  // queued: cancelled
            queued.cancelAsync();  // idempotent
            release.countDown();
        });
        assertTrue(join(t, 10_000));
        pollWhile(() -> outcomes.contains("pending"));
        assertEquals(Boolean.TRUE, outcomes.get(0));
        assertInstanceOf(CancellationException.class, outcomes.get(1));
        assertFalse(queuedRan.get(), "cancelled work never runs");
        assertNoCallbackFailed();
    }

    /** The 0 -> 1 / 0 -> 4 race of /thread-pool/cancel, many times: exactly one callback each. */
    @Test
    void cancelRacingWithWorkersDeliversExactlyOnce() {
        ThreadPool p = pool();
        p.setParams(0, 4);
        int count = 2000;
        Aiocb[] cbs = new Aiocb[count];
        AtomicReferenceArray<Boolean> ran = new AtomicReferenceArray<>(count);
        int[] calls = new int[count];
        Object[] outcome = new Object[count];
        int[] delivered = {0};
        for (int i = 0; i < count; i++) {
            int me = i;
            cbs[i] = p.submitAio(() -> {
                ran.set(me, Boolean.TRUE);
                return me;
            }, (r, e) -> {
                calls[me]++;
                outcome[me] = e != null ? e : r;
                delivered[0]++;
            });
        }
        // Before the first poll no worker exists (they are spawned from the loop): this one is
        // certainly still queued. The rest race with the workers.
        cbs[0].cancelAsync();
        Thread canceller = startThread("tp-test-race", () -> {
            for (int i = count - 1; i > 0; i--) {
                cbs[i].cancelAsync();
            }
        });
        pollWhile(() -> delivered[0] < count);
        assertTrue(join(canceller, 10_000));
        for (int i = 0; i < 10; i++) {
            ctx.poll(false); // a second delivery would show up here
        }
        int cancelled = 0;
        for (int i = 0; i < count; i++) {
            assertEquals(1, calls[i], "request " + i);
            if (outcome[i] instanceof CancellationException) {
                cancelled++;
                assertNull(ran.get(i), "request " + i + " was cancelled but its work ran");
            } else {
                assertEquals(i, outcome[i]);
                assertEquals(Boolean.TRUE, ran.get(i));
            }
        }
        assertTrue(cancelled > 0, "request 0 was cancelled before any worker existed");
        assertInstanceOf(CancellationException.class, outcome[0]);
        assertNoCallbackFailed();
    }

    @Test
    void closeDropsQueuedWorkWaitsForRunningWorkAndRunsNoCallback() {
        ThreadPool p = pool();
        p.setParams(0, 1);
        CountDownLatch started = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        AtomicBoolean runningFinished = new AtomicBoolean();
        AtomicInteger queuedRan = new AtomicInteger();
        int[] callbacks = {0};
        p.submitAio(() -> {
            started.countDown();
            release.await(20, TimeUnit.SECONDS);
            runningFinished.set(true);
            return null;
        }, (r, e) -> callbacks[0]++);
        Aiocb q1 = p.submitAio(() -> queuedRan.incrementAndGet(), (r, e) -> callbacks[0]++);
        p.submitAio(() -> queuedRan.incrementAndGet(), (r, e) -> callbacks[0]++);
        waitFor(() -> started.getCount() == 0);

        Thread releaser = startThread("tp-test-releaser", () -> {
            sleepMs(50);
            release.countDown();
        });
        p.close();
        assertTrue(runningFinished.get(), "close() waited for the running work");
        assertEquals(0, queuedRan.get(), "queued work was dropped");
        assertEquals(0, p.threadCount());
        assertEquals(List.of(), liveWorkers(ctx.name()), "workers stopped and joined");
        assertTrue(join(releaser, 10_000));

        for (int i = 0; i < 5; i++) {
            ctx.poll(false);
        }
        assertEquals(0, callbacks[0], "no callback runs after close");
        q1.cancelAsync(); // harmless after close
        assertThrows(IllegalStateException.class, () -> p.submitAio(() -> 1, null));
        p.setParams(2, 4); // ignored once closed
        assertEquals(0, p.threadCount());
        p.close();         // idempotent; the context closes it once more without complaint
    }

    @Test
    void contextCloseStopsEveryWorker() {
        ThreadPool p = pool();
        p.setParams(3, 8);
        WorkerTestData d = new WorkerTestData();
        for (int i = 0; i < 20; i++) {
            p.submitAio(() -> workerCb(d), null);
        }
        pollWhile(() -> d.n.get() < 20);
        waitFor(() -> p.startedThreadCount() >= 3);
        assertFalse(liveWorkers(ctx.name()).isEmpty());
        String name = ctx.name();
        wd.unwatch(ctx);
        ctx.close(); // closes the pool first (an extension), then checks for leaked BHs: none
        assertTrue(p.isClosed());
        assertEquals(List.of(), liveWorkers(name));
        assertThrows(IllegalStateException.class, () -> ctx.slot(ThreadPool.SLOT, ThreadPool::new));
    }

    @Test
    void contextCloseWithOutstandingWorkIsNotALeak() {
        ThreadPool p = pool();
        p.setParams(0, 1);
        CountDownLatch started = new CountDownLatch(1);
        p.submitAio(() -> {
            started.countDown();
            Thread.sleep(50);
            return null;
        }, (r, e) -> fail("no callback after close"));
        for (int i = 0; i < 10; i++) {
            p.submitAio(() -> 1, (r, e) -> fail("no callback after close"));
        }
        waitFor(() -> started.getCount() == 0);
        String name = ctx.name();
        wd.unwatch(ctx);
        ctx.close(); // must not throw: the pool deleted its bottom halves
        assertEquals(List.of(), liveWorkers(name));
    }
}
