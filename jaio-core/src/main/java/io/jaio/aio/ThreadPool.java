package io.jaio.aio;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.Callable;
import java.util.concurrent.CancellationException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BiConsumer;

/**
 * A context's pool of worker threads for blocking work (QEMU's {@code ThreadPoolAio},
 * {@code util/thread-pool.c}; aio-semantics.md §10). Work runs in a worker; its completion
 * callback runs later in the context's home thread, from a bottom half, during
 * {@link AioContext#poll}.
 *
 * <pre>{@code
 * ThreadPool pool = ctx.threadPool();
 * pool.submitAio(() -> Files.readAllBytes(path), (bytes, error) -> {
 *     // home thread; error is the work's exception, or a CancellationException
 * });
 * while (...) ctx.poll(true);
 * }</pre>
 *
 * <p>Workers are platform daemon threads named {@code "<context name>-worker-N"}. The pool keeps
 * between {@code min} and {@code max} of them (defaults 0 and 64, from the context's
 * {@code thread-pool-min}/{@code thread-pool-max}, changeable at run time through
 * {@link #setParams}); a worker idle for 10 s exits unless that would leave fewer than
 * {@code min}. A submission starts a new worker only if none is idle and fewer than {@code max}
 * exist; new workers are created by the home thread (a bottom half) and then by each other, one
 * after the other, never by the submitter.
 *
 * <p>From a coroutine, {@code ThreadPools.submitCo(pool, work)} of the coroutine package (QEMU's
 * {@code thread_pool_submit_co}) submits, yields and returns the result.
 *
 * <p>Thread contract: {@link #submitAio} is home thread only (a coroutine entered by the home
 * thread counts as the home thread, whichever coroutine engine runs it);
 * {@link #setParams} and {@link Aiocb#cancelAsync()} any thread; {@link #close()} is called by
 * {@link AioContext#close()}.
 *
 * <p>Closing (part of closing the context) stops the pool: queued work is dropped without running
 * it, running work is waited for (however long it takes), and no completion callback runs after
 * {@code close} starts — not for dropped, running, or finished-but-undelivered requests. Every
 * worker is stopped and joined and the pool's bottom halves are deleted. QEMU instead asserts that
 * no request is outstanding; jaio logs a warning naming the count.
 */
public final class ThreadPool implements AutoCloseable {
    /*
     * Implementation overview (for maintainers; aio-semantics.md §10 is the specification).
     *
     * Locking. `lock` (QEMU's pool->lock) guards the request queue, the thread counts, the
     * parameters and `closed`. `requestAvailable` (request_cond) wakes idle workers; `workerStopped`
     * (worker_stopped) wakes close(). Every field below names its guard.
     *
     * Request states: QUEUED -> ACTIVE (a worker pops it, under the lock) -> DONE (the worker,
     * after the work returned), or QUEUED -> DONE (cancelAsync or close, under the lock). Leaving
     * QUEUED only happens under the lock, so exactly one of "a worker runs it" and "it is
     * cancelled" happens.
     *
     * Completion. 1. Whoever finishes a request (worker, or cancelAsync) writes result/error,
     *    then `state = DONE` (volatile), then CAS-pushes it on `completed` (a Treiber stack), then
     *    schedules `completionBh`. 2. The BH (home thread) takes the whole stack with getAndSet —
     *    the acquire pairs with the push's CAS, so result/error are visible — reverses it onto the
     *    home-thread FIFO `ready`, and delivers one request at a time: unlink it, re-schedule the
     *    BH, run the callback, cancel the BH, drop the pool's reference. The re-schedule is QEMU's:
     *    a callback that polls nestedly (e.g. waiting for another request that finished at the
     *    same time) runs the BH again and the nested run continues with `ready`. Each request is
     *    unlinked before its callback, so it is delivered exactly once whoever gets there.
     *    Deviation from QEMU: QEMU scans a list of all requests for DONE ones and restarts the
     *    scan after every callback (O(outstanding) per completion); the stack makes each
     *    completion O(1). Completion order among requests finished together becomes FIFO, which
     *    nothing may rely on. defer_call (§16.2) does not exist in jaio yet; the BH would wrap
     *    its loop in a defer_call section once it does.
     *
     * Spawning (QEMU's chain). spawnThread(): cur++ and new++ and, if no thread is being created
     *    (pending == 0), schedule `spawnBh`. doSpawnThread() moves one unit new -> pending and
     *    starts a thread; a starting worker does pending-- and calls doSpawnThread() for the
     *    next one. So the first worker is created by the home thread and no loop creates many
     *    threads while holding the lock.
     *
     * Worker loop (under the lock) while cur <= max: if the queue is empty, idle++, wait up to
     *    the idle timeout, idle--, and exit if it timed out with the queue empty and cur > min;
     *    otherwise pop the head, mark it ACTIVE, run it unlocked, relock. On exit: cur--, signal
     *    workerStopped, and signal requestAvailable once more (pass on a wake-up this thread may
     *    have consumed). Lowering max signals once per surplus thread; each leaves through the
     *    loop condition.
     *
     * Close: under the lock, set closed, delete spawnBh, drop the backlog (cur -= new), mark
     *    every queued request DONE without delivering it, set max to 0, signalAll, and wait until
     *    cur == 0; then join every worker thread, delete completionBh and forget undelivered
     *    completions. After cur == 0 nobody can push a completion (workers push before cur--,
     *    cancelAsync pushes under the lock and finds nothing QUEUED), so deleting the BH is safe.
     */

    private static final System.Logger LOG = System.getLogger("io.jaio.aio");
    /** QEMU: an idle worker above thread-pool-min exits after 10 s. */
    static final long DEFAULT_IDLE_TIMEOUT_NS = TimeUnit.SECONDS.toNanos(10);

    private static final int QUEUED = 0;
    private static final int ACTIVE = 1;
    private static final int DONE = 2;

    /** The context's pool lives here; closed first (QEMU's aio_ctx_finalize frees it before co_schedule_bh). */
    static final ContextSlot<ThreadPool> SLOT = ContextSlot.declare(ContextSlot.Order.THREAD_POOL, ThreadPool.class);

    private static final VarHandle COMPLETED;

    static {
        try {
            COMPLETED = MethodHandles.lookup().findVarHandle(ThreadPool.class, "completed", Request.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final AioContext ctx;
    private final long idleTimeoutNs;
    private final BottomHalf completionBh;
    private final BottomHalf spawnBh;

    private final ReentrantLock lock = new ReentrantLock();
    /** QEMU's request_cond: work queued, a parameter changed, or a worker exited. */
    private final Condition requestAvailable = lock.newCondition();
    /** QEMU's worker_stopped: a worker left its loop (close() waits on it). */
    private final Condition workerStopped = lock.newCondition();

    // ---- guarded by lock ----
    /** FIFO of QUEUED requests (intrusive through Request.qPrev/qNext). Guarded by lock. */
    private Request<?> queueHead;
    private Request<?> queueTail;
    /** Workers counted: running + pending (created, not started) + new (backlog). Guarded by lock. */
    private int curThreads;
    /** Workers waiting for work. Guarded by lock. */
    private int idleThreads;
    /** Backlog of workers to create. Guarded by lock. */
    private int newThreads;
    /** Workers created but not yet in their loop. Guarded by lock. */
    private int pendingThreads;
    /** thread-pool-min / thread-pool-max as last applied (max is 0 once closed). Guarded by lock. */
    private int minThreads;
    private int maxThreads;
    /** Names worker N. Guarded by lock. */
    private int workerSeq;
    /** Every worker thread created and maybe still alive (pruned at each spawn), for close() to join. Guarded by lock. */
    private final List<Thread> workers = new ArrayList<>();
    /** Set once by close(), under the lock; volatile so the home thread's checks need no lock. */
    private volatile boolean closed;

    // ---- completion (see overview, "Completion") ----
    /** Treiber stack of finished requests: CAS-pushed by any thread, taken whole by the home thread. */
    @SuppressWarnings("unused")
    private volatile Request<?> completed;
    /** Home thread: finished requests taken from the stack, oldest first, not yet delivered. */
    private Request<?> ready;
    /** Home thread: submitted and not yet delivered (for the warning at close). */
    private int outstanding;

    /**
     * The pool of {@code ctx} (what {@code AioContext.threadPool()} creates on first use), with
     * the context's current thread-pool-min/max; starts {@code min} workers. Any thread.
     */
    ThreadPool(AioContext ctx) {
        this(ctx, DEFAULT_IDLE_TIMEOUT_NS);
    }

    /** As {@link #ThreadPool(AioContext)} with another idle timeout (tests use a short one). */
    ThreadPool(AioContext ctx, long idleTimeoutNs) {
        if (idleTimeoutNs <= 0) {
            throw new IllegalArgumentException("idle timeout must be positive: " + idleTimeoutNs + " ns");
        }
        this.ctx = Objects.requireNonNull(ctx, "ctx");
        this.idleTimeoutNs = idleTimeoutNs;
        this.completionBh = ctx.newBottomHalf("thread-pool-completion", this::completionBh);
        this.spawnBh = ctx.newBottomHalf("thread-pool-spawn", this::spawnBh);
        setParams(ctx.threadPoolMin(), ctx.threadPoolMax());
    }

    // =====================================================================================
    // Submission (§10.2)
    // =====================================================================================

    /**
     * Runs {@code work} in a worker thread; then, in the home thread during a later
     * {@link AioContext#poll}, calls {@code done} exactly once (QEMU's
     * {@code thread_pool_submit_aio}): with {@code (result, null)} when {@code work} returned,
     * {@code (null, t)} when it threw {@code t}, or {@code (null, CancellationException)} when
     * {@link Aiocb#cancelAsync()} removed it before a worker started it. {@code done} never runs
     * inside this call. A {@code done} that throws is logged and counted like every context
     * callback. After {@code done} returns, the pool drops its reference to the returned
     * {@link Aiocb}; {@link Aiocb#ref() ref} it to use it afterwards.
     *
     * <p>Home thread only.
     *
     * @param <T> the work's result type
     * @param work the blocking work; runs in a worker thread
     * @param done the completion callback, or null (fire and forget)
     * @return the request, to cancel it
     * @throws IllegalStateException off the home thread, or once the pool (context) is closed
     */
    public <T> Aiocb submitAio(Callable<T> work, BiConsumer<? super T, ? super Throwable> done) {
        Objects.requireNonNull(work, "work");
        if (!inHomeThread()) {
            throw new IllegalStateException("ThreadPool.submitAio() must run in the home thread of context '"
                    + ctx.name() + "' (" + ctx.homeThread().getName() + "), not in "
                    + Thread.currentThread().getName());
        }
        Request<T> req = new Request<>(this, work, done);
        lock.lock();
        try {
            if (closed) {
                throw new IllegalStateException("the thread pool of context '" + ctx.name()
                        + "' is closed; cannot submit work");
            }
            if (idleThreads == 0 && curThreads < maxThreads) {
                spawnThread();
            }
            enqueue(req);
            requestAvailable.signal();
        } finally {
            lock.unlock();
        }
        outstanding++;
        return req;
    }

    /**
     * Whether the caller stands for the home thread: is it, or is a coroutine it entered (under
     * the virtual-thread coroutine engine a coroutine body runs on its own virtual thread, bound
     * to the home thread through {@link HostBinding}).
     */
    private boolean inHomeThread() {
        return ctx.isHomeThread();
    }

    // =====================================================================================
    // Parameters (§10.7)
    // =====================================================================================

    /**
     * Applies thread-pool-min/max (what {@code AioContext.setThreadPoolParams} forwards): starts
     * workers until at least {@code min} exist, and makes workers above {@code max} exit (a busy
     * one after its current work). Ignored once closed. Any thread.
     *
     * @param min workers to keep, ≥ 0
     * @param max workers at most, ≥ {@code min} and &gt; 0
     * @throws IllegalArgumentException unless 0 &lt;= min &lt;= max and max &gt; 0
     */
    public void setParams(int min, int max) {
        if (min < 0 || min > max || max <= 0) {
            throw new IllegalArgumentException("bad thread-pool-min/thread-pool-max values: min=" + min + ", max=" + max
                    + " (need 0 <= min <= max and max > 0)");
        }
        lock.lock();
        try {
            if (closed) {
                return;
            }
            minThreads = min;
            maxThreads = max;
            while (curThreads < minThreads) {
                spawnThread();
            }
            for (int i = maxThreads; i < curThreads; i++) {
                requestAvailable.signal();
            }
        } finally {
            lock.unlock();
        }
    }

    // =====================================================================================
    // Spawning (§10.3) and the worker loop (§10.4)
    // =====================================================================================

    /** QEMU's spawn_thread. Lock held. */
    private void spawnThread() {
        curThreads++;
        newThreads++;
        // If a thread is being created, it creates the next one when it starts (the chain).
        if (pendingThreads == 0) {
            spawnBh.schedule();
        }
    }

    /** QEMU's spawn_thread_bh_fn. Home thread. */
    private void spawnBh() {
        lock.lock();
        try {
            doSpawnThread();
        } finally {
            lock.unlock();
        }
    }

    /** QEMU's do_spawn_thread: create one backlog thread, if any. Lock held; home thread or a starting worker. */
    private void doSpawnThread() {
        if (newThreads == 0) {
            return;
        }
        newThreads--;
        pendingThreads++;
        String name = ctx.name() + "-worker-" + (++workerSeq);
        Thread t = Thread.ofPlatform().name(name).daemon(true).unstarted(this::workerMain);
        workers.removeIf(w -> !w.isAlive());
        workers.add(t);
        try {
            t.start();
        } catch (Throwable e) { // OutOfMemoryError "unable to create native thread", and the like
            workers.remove(t);
            pendingThreads--;
            // Forget this thread and the backlog; the next submit tries again.
            curThreads -= 1 + newThreads;
            newThreads = 0;
            requestAvailable.signal();
            LOG.log(System.Logger.Level.WARNING, "thread pool of context " + ctx.name() + ": cannot start worker "
                    + name + " (" + curThreads + " workers left)", e);
        }
    }

    /** QEMU's worker_thread. */
    private void workerMain() {
        lock.lock();
        try {
            pendingThreads--;
            doSpawnThread();
            while (curThreads <= maxThreads) {
                Request<?> req = queueHead;
                if (req == null) {
                    idleThreads++;
                    boolean timedOut;
                    try {
                        timedOut = requestAvailable.awaitNanos(idleTimeoutNs) <= 0;
                    } catch (InterruptedException e) {
                        timedOut = false; // nobody should interrupt a worker; treat as a spurious wake-up
                    }
                    idleThreads--;
                    if (timedOut && queueHead == null && curThreads > minThreads) {
                        break; // timed out, no work, not needed as a warm thread
                    }
                    // Work or not, re-check the thread count before picking anything up.
                    continue;
                }
                unlink(req);
                req.state = ACTIVE;
                lock.unlock();
                try {
                    req.runWork();
                } finally {
                    Thread.interrupted(); // the work's interrupt status does not leak into the next wait
                    lock.lock();
                }
            }
        } finally {
            // Also on an unexpected throwable (runWork contains the work's own): close() counts on cur.
            curThreads--;
            workerStopped.signal();
            requestAvailable.signal(); // pass on a wake-up this thread may have consumed
            lock.unlock();
        }
    }

    // =====================================================================================
    // Queue (lock held)
    // =====================================================================================

    private void enqueue(Request<?> r) {
        r.qPrev = queueTail;
        r.qNext = null;
        if (queueTail == null) {
            queueHead = r;
        } else {
            queueTail.qNext = r;
        }
        queueTail = r;
    }

    private void unlink(Request<?> r) {
        if (r.qPrev == null) {
            queueHead = r.qNext;
        } else {
            r.qPrev.qNext = r.qNext;
        }
        if (r.qNext == null) {
            queueTail = r.qPrev;
        } else {
            r.qNext.qPrev = r.qPrev;
        }
        r.qPrev = null;
        r.qNext = null;
    }

    // =====================================================================================
    // Cancellation (§10.6) and completion (§10.5)
    // =====================================================================================

    /** QEMU's thread_pool_cancel: only a QUEUED request is cancelled. Any thread. */
    private void cancel(Request<?> r) {
        lock.lock();
        try {
            if (r.state != QUEUED) {
                return; // running or done: it completes normally
            }
            unlink(r);
            r.error = new CancellationException("thread pool request cancelled before it started");
            r.state = DONE;
            // Under the lock, so close() (which deletes the BH after taking the lock) cannot race.
            pushCompleted(r);
        } finally {
            lock.unlock();
        }
    }

    /** Publishes a DONE request to the home thread. Any thread; before close() finished waiting. */
    private void pushCompleted(Request<?> r) {
        Request<?> h;
        do {
            h = completed;
            r.doneNext = h; // published by the CAS (release); read after completionBh's getAndSet (acquire)
        } while (!COMPLETED.compareAndSet(this, h, r));
        completionBh.schedule();
    }

    /** The oldest undelivered finished request, or null. Home thread. */
    private Request<?> nextCompleted() {
        Request<?> r = ready;
        if (r == null) {
            // Acquire: pairs with pushCompleted's CAS, so doneNext, result and error are visible.
            Request<?> s = (Request<?>) COMPLETED.getAndSet(this, (Request<?>) null);
            while (s != null) { // reverse: the stack is newest first
                Request<?> next = s.doneNext;
                s.doneNext = r;
                r = s;
                s = next;
            }
            if (r == null) {
                return null;
            }
        }
        ready = r.doneNext;
        r.doneNext = null;
        return r;
    }

    /** QEMU's thread_pool_completion_bh. Home thread. */
    private void completionBh() {
        Request<?> r;
        while (!closed && (r = nextCompleted()) != null) {
            outstanding--;
            if (r.done != null) {
                // A callback may poll nestedly and wait for another request that finished at the
                // same time: keep the BH scheduled so the nested poll delivers it (QEMU).
                completionBh.schedule();
                ctx.runCallback(r, r);
                if (closed) { // the callback closed the pool (which deleted the BH)
                    r.markCompleted();
                    r.unref();
                    return;
                }
                completionBh.cancel();
            }
            r.markCompleted();
            r.unref(); // the pool's reference
        }
    }

    // =====================================================================================
    // Close (§10.7)
    // =====================================================================================

    /**
     * Stops the pool (called by {@link AioContext#close()}; QEMU's {@code thread_pool_free}).
     * Queued work is dropped, running work is waited for, no completion callback runs any more,
     * every worker is stopped and joined, and the bottom halves are deleted; later submissions
     * throw. Logs a warning if requests were outstanding. Idempotent.
     *
     * <p>Home thread (or any thread once the home thread has ended); not from a worker.
     */
    @Override
    public void close() {
        int dropped = 0;
        List<Thread> toJoin;
        lock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            spawnBh.delete();
            curThreads -= newThreads; // the backlog was never created
            newThreads = 0;
            for (Request<?> r = queueHead; r != null; ) {
                Request<?> next = r.qNext;
                r.qPrev = null;
                r.qNext = null;
                r.state = DONE; // dropped: no callback
                dropped++;
                r = next;
            }
            queueHead = null;
            queueTail = null;
            maxThreads = 0;
            requestAvailable.signalAll();
            while (curThreads > 0) {
                workerStopped.awaitUninterruptibly();
            }
            toJoin = new ArrayList<>(workers);
            workers.clear();
        } finally {
            lock.unlock();
        }
        boolean interrupted = false;
        for (Thread t : toJoin) { // each has left its loop; wait until it has really ended
            while (true) {
                try {
                    t.join();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        completionBh.delete();
        COMPLETED.setVolatile(this, (Request<?>) null);
        ready = null;
        if (outstanding > 0) {
            LOG.log(System.Logger.Level.WARNING, "thread pool of context " + ctx.name() + " closed with " + outstanding
                    + " request(s) outstanding (" + dropped + " queued and dropped, the others ran or were running);"
                    + " their callbacks will not run");
        }
        outstanding = 0;
    }

    // =====================================================================================
    // Introspection (package-private, for tests)
    // =====================================================================================

    /** QEMU's cur_threads: workers running, starting, or about to be created. Any thread. */
    int threadCount() {
        lock.lock();
        try {
            return curThreads;
        } finally {
            lock.unlock();
        }
    }

    /** Workers that entered their loop and have not left it. Any thread. */
    int startedThreadCount() {
        lock.lock();
        try {
            return curThreads - newThreads - pendingThreads;
        } finally {
            lock.unlock();
        }
    }

    /** Workers waiting for work. Any thread. */
    int idleThreadCount() {
        lock.lock();
        try {
            return idleThreads;
        } finally {
            lock.unlock();
        }
    }

    /** Whether {@link #close()} has run. Any thread. */
    boolean isClosed() {
        return closed;
    }

    @Override
    public String toString() {
        lock.lock();
        try {
            return "ThreadPool[" + ctx.name() + ", threads=" + curThreads + " (idle " + idleThreads + "), min="
                    + minThreads + ", max=" + maxThreads + (closed ? ", closed" : "") + "]";
        } finally {
            lock.unlock();
        }
    }

    // =====================================================================================
    // Request (QEMU's ThreadPoolElementAio)
    // =====================================================================================

    /** One submission; as a Runnable it delivers its completion (ctx.runCallback needs one). */
    private static final class Request<T> extends Aiocb implements Runnable {
        final ThreadPool pool;
        final Callable<T> work;
        final BiConsumer<? super T, ? super Throwable> done;
        /**
         * QUEUED/ACTIVE/DONE. Leaves QUEUED only under the pool lock; ACTIVE -> DONE is written by
         * the worker alone, after result/error (volatile write).
         */
        volatile int state = QUEUED;
        /** Written once (worker, or canceller under the lock) before the push; read by the home thread after it. */
        T result;
        Throwable error;
        /** Queue links. Guarded by the pool lock. */
        Request<?> qPrev;
        Request<?> qNext;
        /** Completion stack / ready list link: see pushCompleted and nextCompleted. */
        Request<?> doneNext;
        Request(ThreadPool pool, Callable<T> work, BiConsumer<? super T, ? super Throwable> done) {
            super(pool.ctx);
            this.pool = pool;
            this.work = work;
            this.done = done;
        }

        /** Delivers the completion: the home thread, from the completion BH (through ctx.runCallback). */
        @Override
        public void run() {
            done.accept(result, error);
        }

        /** Runs the work, records the outcome, publishes it. A worker, after it marked this ACTIVE. */
        void runWork() {
            T value = null;
            Throwable err = null;
            try {
                value = work.call();
            } catch (Throwable t) { // delivered to the callback; never kills the worker
                err = t;
            }
            result = value;
            error = err;
            state = DONE;
            try {
                pool.pushCompleted(this);
            } catch (RuntimeException e) { // only if the context was torn down under us
                LOG.log(System.Logger.Level.WARNING, "thread pool of context " + pool.ctx.name()
                        + ": cannot deliver a completion", e);
            }
        }

        @Override
        public void cancelAsync() {
            pool.cancel(this);
        }

        @Override
        public String toString() {
            int s = state;
            return "ThreadPool request[" + (s == QUEUED ? "queued" : s == ACTIVE ? "active" : "done") + ", refs="
                    + refCount() + "]";
        }
    }
}
