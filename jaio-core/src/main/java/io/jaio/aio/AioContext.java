package io.jaio.aio;

import io.jaio.aio.fdmon.FdMonitor;
import io.jaio.aio.fdmon.ReadyList;
import io.jaio.linux.Linux;
import io.jaio.linux.NativeException;

import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import java.util.function.Predicate;

/**
 * An event loop with QEMU's {@code AioContext} semantics: bottom halves, timers and fd handlers
 * (with adaptive busy polling), run by {@link #poll(boolean)} in one home thread.
 *
 * <p>The home thread is the thread that created the context; only it may call {@code poll},
 * {@code computeTimeoutNs} and {@code close}. Methods documented "any thread" are safe from any
 * thread, virtual threads included. A callback that throws is logged through
 * {@link System.Logger} ({@code io.jaio.aio}), counted in {@link #stats()}, and the
 * loop goes on.
 *
 * <pre>{@code
 * try (AioContext ctx = AioContext.create()) {
 *     BottomHalf bh = ctx.newBottomHalf("hello", () -> System.out.println("BH ran"));
 *     bh.schedule();
 *     ctx.poll(true);           // runs the BH
 *     bh.delete();
 * }
 * }</pre>
 */
public final class AioContext implements AutoCloseable, java.util.concurrent.Executor {
    /*
     * Implementation overview (for maintainers; aio-semantics.md is the specification).
     *
     * Wake-up (§3), in WakeState. wakeup(): store notified=true, then load notifyMe and write
     * the eventfd only if it is non-zero. poll(): computes the timeout, then (if it may block)
     * stores notifyMe+2 and re-reads notified, forcing timeout 0 if set — a Dekker pair on
     * volatiles, so either the waker writes the eventfd or the poller does not block. `notified`
     * is cleared (accept) after the wait and before anything is dispatched.
     *
     * Bottom halves (§2), in BhList: a Treiber stack pushed by other threads and a plain stack the
     * home thread pushes to (§2.6), drained by the home thread through a chain of slices, so a
     * nested poll() finishes the outer pass's BHs first and every BH runs exactly once per pass.
     *
     * Handlers (§4) live in FdHandlers (registration, copy-on-write array, deferred deletion,
     * dispatch: QEMU's aio-posix.c), adaptive polling (§6) in AdaptivePoller, the pure growth
     * rule in PollPolicy, callback error containment in Callbacks, the legacy API's state in
     * Legacy. poll() below strings them together as aio_poll does.
     *
 * Nesting (§5.5). Each poll() depth has its own PollFrame (ready list, BH slice, timeout),
     * reused across calls so poll() allocates nothing in steady state.
     */

    private static final System.Logger LOG = System.getLogger("io.jaio.aio");
    private static final ThreadLocal<AioContext> CURRENT = new ThreadLocal<>();
    private static final AtomicLong CONTEXT_IDS = new AtomicLong();
    private static final AtomicLong TIMER_IDS = new AtomicLong();
    private static final AtomicBoolean MONITOR_LOGGED = new AtomicBoolean();
    private static final AtomicBoolean SLACK_WARNED = new AtomicBoolean();
    /** Idle BHs run at least this often (QEMU: 10 ms). */
    static final long IDLE_BH_TIMEOUT_NS = 10_000_000L;

    private final String name;
    private final Thread home;
    private final ClockSource clocks;
    private final TimerList[] timerLists;
    /** Which of {@link #timerLists} hold timers: a pass with none reads this word only. */
    private final BitWord timersArmed = new BitWord();
    private final EventNotifier notifier;
    private final Callbacks callbacks;
    private final Legacy legacy = new Legacy();
    /** Fd handlers and the fd monitor (final: one field read per use on the hot path). */
    private final FdHandlers fds;
    private final AdaptivePoller poller;
    private final LockCnt listLock;

    // ---- bottom halves ----
    private final BhList bhs;
    private final BhList.Runner runner;

    // ---- wake-up protocol (see overview) ----
    private final WakeState wake = new WakeState();
    private final LongAdder eventfdWrites = new LongAdder();

    // ---- parameters: any thread, unsynchronised like QEMU's (a stale value used once is fine) ----
    private volatile long pollMaxNs;
    private volatile long pollGrow;
    private volatile long pollShrink;
    private volatile long maxBatch;
    private volatile int threadPoolMin;
    private volatile int threadPoolMax;

    // ---- home thread ----
    private PollFrame[] frames = new PollFrame[4];
    /** Set under the mutex by close(); read without it by wakeup(), checkOpen() and registration. */
    private volatile boolean closed;

    /**
     * Per-context state of other jaio packages, indexed by ContextSlot.Order and closed in that
     * order at close. Read without a lock (the array's volatile get publishes what the factory
     * built); filled and emptied with the array's monitor held.
     */
    private final AtomicReferenceArray<AutoCloseable> slots =
            new AtomicReferenceArray<>(ContextSlot.Order.values().length);

    /** poll() calls and nesting depth; written by the home thread only, on their own lines. */
    private final HomeCounters counters = new HomeCounters();

    private AioContext(Builder b) {
        this.name = b.name != null ? b.name : "aio-" + CONTEXT_IDS.incrementAndGet();
        this.home = Thread.currentThread();
        this.clocks = b.clockSource;
        this.bhs = new BhList(name, this::wakeup, this::wakeupRing, home, BhList.RING_CAPACITY);
        this.callbacks = new Callbacks(name);
        this.runner = callbacks::run;
        this.pollMaxNs = b.pollMaxNs;
        this.pollGrow = b.pollGrow;
        this.pollShrink = b.pollShrink;
        this.maxBatch = b.maxBatch;
        this.threadPoolMin = b.threadPoolMin;
        this.threadPoolMax = b.threadPoolMax;
        ClockType[] types = ClockType.values();
        this.timerLists = new TimerList[types.length];
        for (ClockType t : types) {
            timerLists[t.ordinal()] = new TimerList(this, t, timersArmed);
        }
        this.fds = new FdHandlers(this, callbacks, legacy, b.fdMonitor);
        this.poller = fds.poller;
        this.listLock = fds.listLock;
        try {
            this.notifier = EventNotifier.create();
        } catch (RuntimeException e) {
            fds.monitor.close();
            throw e;
        }
        // The context's own notifier (QEMU's aio_context_setup + aio_set_event_notifier): read
        // drains it, poll reports `notified` or a published ring oneshot (notifierPoll), poll-ready
        // does nothing; neither counts as progress.
        // Registering calls wakeup(), so a new context starts with `notified` set.
        fds.set(notifier.fd(), false, this::drainNotifier, null, this::notifierPoll, () -> { }, true, false);
        if (CURRENT.get() == null) {
            CURRENT.set(this);
        }
        setTimerSlack();
        if (MONITOR_LOGGED.compareAndSet(false, true)) {
            LOG.log(System.Logger.Level.INFO, "jaio: fd monitor {0} requested, {1} in use", b.fdMonitor,
                    fds.monitor.kind());
        }
    }

    /** QEMU sets a 1 ns timer slack at start-up so short timers are not rounded up by 50 µs. */
    private static void setTimerSlack() {
        if (Thread.currentThread().isVirtual()) {
            return; // the slack belongs to whatever carrier runs us; leave it alone
        }
        try {
            Linux.setTimerSlackNs(1);
        } catch (NativeException e) {
            if (SLACK_WARNED.compareAndSet(false, true)) {
                LOG.log(System.Logger.Level.WARNING, "jaio: cannot set timer slack: {0}", e.getMessage());
            }
        }
    }

    // =====================================================================================
    // Creation and identity
    // =====================================================================================

    /**
     * A context on the AUTO fd monitor with QEMU's bare-context defaults (poll-max-ns 0). The
     * calling thread becomes its home thread, and if it has no current context yet, this one
     * (QEMU's {@code aio_context_new}).
     *
     * @return the new context, open
     */
    public static AioContext create() {
        return builder().build();
    }

    /** {@return a builder for a context with non-default parameters} Any thread. */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * The calling thread's context: the first one it created (or an IoThread's own), or null
     * (QEMU's {@code qemu_get_current_aio_context}). Any thread.
     *
     * @return the calling thread's context, or null if it has none
     */
    public static AioContext current() {
        AioContext c = CURRENT.get();
        if (c == null) {
            HostBinding.Host h = HostBinding.ofCurrentThread(); // a coroutine on the virtual-thread engine
            if (h != null) {
                c = h.hostContext();
            }
        }
        return c;
    }

    /** {@return the context's name (for logs)} Any thread. */
    public String name() {
        return name;
    }

    /**
     * Whether the caller is this context's home thread — or a coroutine that the home thread
     * entered, when the virtual-thread coroutine engine runs it on a virtual thread bound to the
     * home thread ({@link HostBinding}). Any thread.
     *
     * @return true in the home thread or a coroutine it entered
     */
    public boolean isHomeThread() {
        Thread t = Thread.currentThread();
        if (t == home) {
            return true;
        }
        HostBinding.Host h = HostBinding.ofCurrentThread();
        return h != null && h.hostThread() == home;
    }

    /** {@return the home thread} Any thread. */
    public Thread homeThread() {
        return home;
    }

    /** {@return the clock source the timers read} Any thread. */
    public ClockSource clockSource() {
        return clocks;
    }

    /** {@return the monitor in use now: POLL, EPOLL (or IO_URING); never AUTO} Any thread. */
    public FdMonitorKind fdMonitorKind() {
        return fds.monitor.kind();
    }

    /**
     * Whether this context runs io_uring requests (QEMU's {@code aio_has_io_uring}): true on the
     * IO_URING monitor, and on the POLL and EPOLL monitors when the kernel lets this process set
     * up a ring (they run requests on a ring of their own, set up by the first request, as QEMU's
     * {@code block/io_uring.c} does beside fdmon-epoll). Any thread. On POLL and EPOLL this
     * says the kernel allows io_uring (probed once per JVM); the ring itself can still be
     * refused when the first request sets it up ({@link #addSqe}).
     *
     * @return true if {@link #addSqe} may be called
     */
    public boolean hasIoUring() {
        return fds.monitor.hasIoUring();
    }

    /**
     * Why this context runs no io_uring requests, worded for an error message or a log line:
     * {@code "context 'c' has no io_uring (EPOLL fd monitor, and the kernel refuses io_uring)"};
     * {@code null} when {@link #hasIoUring()}. The one wording of that reason for every caller
     * that needs io_uring (file engines, registered buffers, the block layer). Any thread.
     *
     * @return the reason, or {@code null} if the context has io_uring
     */
    public String ioUringRefusal() {
        return hasIoUring() ? null
                : "context '" + name + "' has no io_uring (" + fdMonitorKind() + " fd monitor, and the kernel refuses io_uring)";
    }

    /**
     * Internal: the context's io_uring ring, for {@code io_uring_register} calls on it (the
     * registered buffers of {@code io.jaio.fs.FixedBuffers}); {@code null} unless
     * {@link #hasIoUring()}. On the POLL and EPOLL monitors this sets the request ring up if no
     * request has yet. Closed with the context. Home thread only; never use the ring to submit or
     * reap (that is the fd monitor's).
     *
     * @return the ring, or {@code null} if the context has no io_uring
     * @throws IllegalStateException off the home thread, or once the context is closed
     * @throws UnsupportedOperationException on POLL and EPOLL, if the kernel allows io_uring but
     *     refuses the request ring (fd or memory limits)
     */
    public io.jaio.linux.IoUring ioUring() {
        checkHome("ioUring()");
        checkOpen("use its io_uring ring");
        return fds.monitor.ioUring();
    }

    /**
     * Queues an io_uring request on the context's own ring (QEMU's {@code aio_add_sqe}).
     * {@code prep} fills a zeroed {@link Sqe} (not {@code user_data}); {@code handler} runs once in
     * the home thread, in CQE order, during a later {@link #poll} — never from inside this call.
     * Requests queued in one loop iteration go to the kernel together in the next wait (or as soon
     * as {@code aio-max-batch} of them are queued, when set). Closing the context cancels requests
     * still in flight; their handlers never run.
     *
     * <p>Home thread only.
     *
     * @param prep    fills the request's submission queue entry
     * @param handler receives the request's completion
     * @throws UnsupportedOperationException if the context has no io_uring ({@link #hasIoUring()}
     *     is false: the kernel refuses io_uring), or, on POLL and EPOLL, the kernel refuses to set
     *     up the request ring at the first request (fd or memory limits; the next request tries
     *     again)
     */
    public void addSqe(Consumer<Sqe> prep, CqeHandler handler) {
        checkHome("addSqe()");
        checkOpen("submit an io_uring request");
        fds.monitor.addSqe(prep, handler);
    }

    private void checkHome(String op) {
        if (!isHomeThread()) {
            throw new IllegalStateException(op + " must run in the home thread of context '" + name
                    + "' (" + home.getName() + "), not in " + Thread.currentThread().getName());
        }
    }

    void checkOpen(String op) {
        if (closed) {
            throw new IllegalStateException("context '" + name + "' is closed; cannot " + op);
        }
    }

    // =====================================================================================
    // Wake-up protocol (§3)
    // =====================================================================================

    /**
     * Makes a blocked or about-to-block {@link #poll} return soon (QEMU's {@code aio_notify}).
     * Writes the eventfd only if a poller may be blocked and no earlier write is still undrained;
     * otherwise it is one volatile store and one or two volatile loads. Any thread.
     */
    public void wakeup() {
        if (wake.notifyAndCheck() && wake.claimWrite() && !closed) {
            writeNotifier();
        }
    }

    /**
     * The wake-up after a oneshot went into the cross-thread ring ({@link BhList}): writes the
     * eventfd only if the home thread may block now, and leaves {@code notified} alone (beyond
     * QEMU, whose {@code aio_bh_enqueue} calls {@code aio_notify}). Every poller checks the ring
     * itself instead: after it raises {@code notifyMe} ({@link BhList#ringClaimed()} in poll(),
     * the timeout in sourcePrepare()) and while it busy-polls (the notifier's poll function). So
     * the producer's claiming CAS then its volatile read of {@code notifyMe} here, and the
     * poller's volatile store of {@code notifyMe} then its volatile read of the ring's tail, are a
     * Dekker pair: the producer writes the eventfd or the poller does not block
     * (BhRingWakeupTest). What it saves: a producer streaming oneshots to a loop that keeps up
     * no longer stores {@code notified} after every pass's accept, a cache line moved between the
     * CPUs per pass. Any thread.
     */
    private void wakeupRing() {
        if (wake.mayBlock() && wake.claimWrite() && !closed) {
            writeNotifier();
        }
    }

    /** Writes the eventfd for a waker that claimed the write (WakeState.claimWrite). */
    private void writeNotifier() {
        wake.stampWrite(System.nanoTime()); // adaptive polling judges by it, see PollPolicy
        eventfdWrites.increment();
        notifier.set();
    }

    /**
     * The context notifier's poll function while busy-polling: a wake-up, or a published oneshot
     * in the ring (whose producer no longer sets {@code notified}, see wakeupRing). Home thread.
     */
    private boolean notifierPoll() {
        return wake.notified() || bhs.ringPublished();
    }

    /** The context notifier's read handler: drain, then allow the next write (see WakeState). */
    private void drainNotifier() {
        notifier.testAndClear();
        wake.drained();
    }

    /**
     * The context's counters: poll() calls, eventfd writes, callback errors. Any thread; the poll
     * count is exact in the home thread (see {@link AioStats}).
     *
     * @return a snapshot of the counters
     */
    public AioStats stats() {
        PollContention c = poller.contention; // volatile read: pairs with setPollContention's write
        return c == null ? new AioStats(counters.pollCalls, eventfdWrites.sum(), callbacks.errorCount(), 0, 0, 0, -1)
                : new AioStats(counters.pollCalls, eventfdWrites.sum(), callbacks.errorCount(), c.samples(), c.contendedSamples(),
                        c.cappedWindows(), c.capNs());
    }

    // =====================================================================================
    // Bottom halves (§2)
    // =====================================================================================

    /**
     * A new bottom half, not scheduled (QEMU's {@code aio_bh_new_full}). It must be deleted before
     * the context closes. Any thread.
     *
     * @param name the name used in logs and leak reports
     * @param cb   the callback, run in the home thread each time the bottom half is scheduled
     * @return the new bottom half
     */
    public BottomHalf newBottomHalf(String name, Runnable cb) {
        return bhs.newBottomHalf(name, cb);
    }

    /**
     * Runs {@code work} in the home thread and returns its result: directly when called there,
     * else through a oneshot bottom half while the caller blocks until it has run. What the work
     * throws (a RuntimeException or an Error) is rethrown to the caller as is. From another thread
     * the context's loop must be running (an {@link IoThread}), or the caller waits forever.
     * Any thread.
     *
     * @param <T>  the result type
     * @param name the oneshot's name, used in logs and in the interrupt message
     * @param work the work to run in the home thread
     * @return what {@code work} returned
     * @throws IllegalStateException if the context is closed, closes before the work ran, or the
     *     caller is interrupted while waiting (its interrupt status is kept)
     */
    public <T> T callOnHomeThread(String name, java.util.function.Supplier<T> work) {
        if (isHomeThread()) { // also a coroutine the home thread entered: it waits for us
            return work.get();
        }
        Thread caller = Thread.currentThread();
        OneShot<T> result = new OneShot<>() {
            @Override
            protected void onCompleted() {
                java.util.concurrent.locks.LockSupport.unpark(caller); // after the release of DONE
            }
        };
        scheduleOneshot(name, new BhList.Droppable() {
            @Override
            public void run() {
                T value;
                try {
                    value = work.get();
                } catch (Throwable t) {
                    result.fail(t);
                    return;
                }
                result.complete(value);
            }

            @Override
            public void dropped() { // close() found it pending: it never runs
                result.fail(new IllegalStateException("context '" + AioContext.this.name + "' closed before '" + name + "' ran"));
            }
        });
        while (!result.isDone()) { // park may return spuriously: re-check (acquire) each time
            // Untimed: the work runs (complete/fail), or close() finds it pending and drops it
            // (fail), or the schedule above threw because the context closed; each path ends here.
            java.util.concurrent.locks.LockSupport.park(result);
            if (Thread.interrupted()) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for '" + name + "' in context " + this.name,
                        new InterruptedException());
            }
        }
        Throwable failure = result.failure();
        if (failure != null) {
            Throwables.throwIfUnchecked(failure);
            throw new IllegalStateException(failure); // a Supplier cannot throw a checked exception
        }
        return result.value();
    }

    /**
     * Runs {@code cb} once in the home thread at the next {@link #poll} (QEMU's
     * {@code aio_bh_schedule_oneshot_full}); the recommended way to run code in another thread's
     * context. Wait-free; wakes the loop. Any thread.
     *
     * @param name the oneshot's name, used in logs and leak reports
     * @param cb   the callback to run once
     * @throws IllegalStateException if the context is closed, or closed while this call ran
     *     (then {@code cb} never runs; {@link #close()} may also name it as a leaked oneshot)
     */
    public void scheduleOneshot(String name, Runnable cb) {
        bhs.scheduleOneshot(name, cb);
    }

    /**
     * {@link java.util.concurrent.Executor} view of {@link #scheduleOneshot}: runs {@code command}
     * once in the home thread at a later {@link #poll} pass, as a oneshot bottom half named
     * {@code "execute"}. Never inline, also when called from the home thread; commands scheduled
     * for the same pass run in no promised order (like bottom halves). What the command
     * throws is logged and counted like any callback's error (see the class comment). A command
     * still pending when the context closes never runs, and {@link #close()} names it as a
     * leaked oneshot. Any thread.
     *
     * @throws java.util.concurrent.RejectedExecutionException if the context is closed, or closed
     *     while this call ran (then {@code command} never runs)
     */
    @Override
    public void execute(Runnable command) {
        Objects.requireNonNull(command, "command");
        try {
            scheduleOneshot("execute", command);
        } catch (IllegalStateException closed) {
            throw new java.util.concurrent.RejectedExecutionException(closed.getMessage(), closed);
        }
    }

    /**
     * How long {@code poll(true)} may block now, in ns, -1 for ever (QEMU's
     * {@code aio_compute_timeout}): 0 if a BH is scheduled, at most 10 ms for an idle BH, else
     * the earliest timer deadline. Home thread.
     *
     * @return the timeout in ns: 0 not to block, -1 to block until woken
     */
    public long computeTimeoutNs() {
        checkHome("computeTimeoutNs()");
        return timeoutNs();
    }

    /** {@link #computeTimeoutNs()} without the thread check, for poll(), which has made it. */
    private long timeoutNs() {
        return timeoutNs(true);
    }

    /** @param claims see BhList.timeoutNs(boolean) */
    private long timeoutNs(boolean claims) {
        long timeout = bhs.timeoutNs(claims);
        if (timeout == 0) {
            return 0;
        }
        long deadline = timersDeadlineNs();
        if (deadline == 0) {
            return 0;
        }
        return soonest(timeout, deadline);
    }

    /**
     * Whether something besides the caller is ready to run in this context now, known without a
     * syscall: an fd handler reported ready and not yet dispatched in the current poll pass, a
     * scheduled (non-idle) bottom half, or io_uring completions the kernel has posted or holds
     * (the io_uring monitor's ring, or the request ring of poll and epoll while requests are in
     * flight). For long-running work in a callback or coroutine that wants to step aside
     * only when it would delay someone (jaio's extension). Home thread.
     *
     * @return true if other work is ready to run now
     * @throws IllegalStateException off the home thread
     */
    public boolean hasPendingWork() {
        if (Thread.currentThread() != home) {
            checkHome("hasPendingWork()");
        }
        if (counters.depth > 0 && !frames[counters.depth - 1].ready.isEmpty()) {
            return true;
        }
        return bhs.timeoutNs() == 0 || fds.monitor.hasPendingEvents();
    }

    /** QEMU's {@code qemu_soonest_timeout}: unsigned comparison, so -1 is infinity. */
    static long soonest(long a, long b) {
        return Long.compareUnsigned(a, b) < 0 ? a : b;
    }

    // =====================================================================================
    // Timers (§8)
    // =====================================================================================

    /**
     * A new, unarmed timer on {@code clock} whose expiry times are in {@code scale} units
     * (QEMU's {@code aio_timer_new}). Its callback runs in the home thread. Any thread.
     *
     * @param clock the clock the timer reads
     * @param scale the unit of its expiry times
     * @param cb    the callback, run in the home thread when the timer expires
     * @return the new timer, not armed
     * @throws IllegalStateException if the context is closed
     */
    public Timer newTimer(ClockType clock, TimeUnit scale, Runnable cb) {
        return newTimer(null, clock, scale, 0, cb);
    }

    /**
     * {@link #newTimer(ClockType, TimeUnit, Runnable)} with attributes (QEMU's
     * {@code aio_timer_new_with_attrs}). Any thread.
     *
     * @param clock      the clock the timer reads
     * @param scale      the unit of its expiry times
     * @param attributes attribute bits ({@link Timer#ATTR_EXTERNAL}), or 0
     * @param cb         the callback, run in the home thread when the timer expires
     * @return the new timer, not armed
     * @throws IllegalStateException if the context is closed
     */
    public Timer newTimer(ClockType clock, TimeUnit scale, int attributes, Runnable cb) {
        return newTimer(null, clock, scale, attributes, cb);
    }

    /**
     * A named timer (the name appears in leak reports). Any thread.
     *
     * @param name       the timer's name, or null for a generated one
     * @param clock      the clock the timer reads
     * @param scale      the unit of its expiry times
     * @param attributes attribute bits ({@link Timer#ATTR_EXTERNAL}), or 0
     * @param cb         the callback, run in the home thread when the timer expires
     * @return the new timer, not armed
     * @throws IllegalStateException if the context is closed
     */
    public Timer newTimer(String name, ClockType clock, TimeUnit scale, int attributes, Runnable cb) {
        Objects.requireNonNull(clock, "clock");
        Objects.requireNonNull(scale, "scale");
        Objects.requireNonNull(cb, "callback");
        checkOpen("create a timer");
        String n = name != null ? name : "timer-" + TIMER_IDS.incrementAndGet();
        return new Timer(timerLists[clock.ordinal()], n, scale, attributes, cb);
    }

    /**
     * The current time of {@code clock} as the timers see it. Any thread.
     *
     * @param clock the clock to read
     * @return its current time in ns
     */
    public long nowNs(ClockType clock) {
        return clocks.nowNs(clock);
    }

    private long timersDeadlineNs() {
        if (timersArmed.none()) {
            return -1;
        }
        long d = -1;
        for (TimerList l : timerLists) {
            d = soonest(d, l.deadlineNs(clocks));
        }
        return d;
    }

    private boolean runTimers() {
        if (timersArmed.none()) {
            return false;
        }
        boolean progress = false;
        for (TimerList l : timerLists) { // REALTIME, VIRTUAL, HOST, VIRTUAL_RT
            progress |= l.run(clocks);
        }
        return progress;
    }

    // =====================================================================================
    // fd handlers and event notifiers (§4)
    // =====================================================================================

    /**
     * An {@code ioPoll} for an fd whose readiness only the kernel knows, such as a socket: busy
     * polling then watches the fd through the context's fd monitor instead of calling a function
     * (io_uring: its armed poll request completes into the ring, which polling reads at no cost;
     * poll and epoll: a zero-timeout {@code ppoll}/{@code epoll_wait} each polling round, as
     * Netty's busy-wait strategy does). Pass it with a null {@code ioPollReady} (never called).
     * The handler then takes part in adaptive polling like any other, where a handler without
     * {@code ioPoll} turns polling off for the whole context, as in QEMU, whose sockets have none.
     * Beyond QEMU.
     */
    public static final BooleanSupplier POLL_READINESS = () -> false;

    /**
     * Registers, replaces or (all four callbacks null) removes the handler of {@code fd}
     * (QEMU's {@code aio_set_fd_handler}). A replacement is a new registration: after this returns
     * in the home thread, the old callbacks are never called again. {@code ioPoll} is dropped if
     * {@code ioPollReady} is null, unless it is {@link #POLL_READINESS}. Wakes the loop unless
     * nothing was registered. Any thread.
     *
     * @param fd          the file descriptor to watch
     * @param ioRead      runs when {@code fd} is readable, or null
     * @param ioWrite     runs when {@code fd} is writable, or null
     * @param ioPoll      the busy-poll function: true if there is work, {@link #POLL_READINESS}, or null
     * @param ioPollReady runs after {@code ioPoll} returned true, or null
     */
    public void setFdHandler(int fd, Runnable ioRead, Runnable ioWrite, BooleanSupplier ioPoll,
                             Runnable ioPollReady) {
        fds.set(fd, false, ioRead, ioWrite, ioPoll, ioPollReady, false, false);
    }

    /**
     * {@link #setFdHandler(int, Runnable, Runnable, BooleanSupplier, Runnable)} for a handler that
     * reads or writes until {@code EAGAIN} before it waits again, and so does not need an event
     * repeated while the fd stays ready (edge-triggered; like {@code EPOLLET}). The io_uring monitor
     * then keeps one multishot {@code POLL_ADD} armed instead of re-arming a one-shot request after
     * every event (Linux 5.13+; one-shot before); the poll and epoll monitors report as usual,
     * level-triggered, which such a handler tolerates. A handler that returns with data still
     * unread is not called again until more arrives. jaio's extension; QEMU has no such flag.
     * Any thread.
     *
     * @param fd          the file descriptor to watch
     * @param ioRead      runs when {@code fd} becomes readable, or null
     * @param ioWrite     runs when {@code fd} becomes writable, or null
     * @param ioPoll      the busy-poll function: true if there is work, {@link #POLL_READINESS}, or null
     * @param ioPollReady runs after {@code ioPoll} returned true, or null
     */
    public void setEdgeFdHandler(int fd, Runnable ioRead, Runnable ioWrite, BooleanSupplier ioPoll,
                                 Runnable ioPollReady) {
        fds.set(fd, false, ioRead, ioWrite, ioPoll, ioPollReady, false, true);
    }

    /**
     * Watches an event notifier (QEMU's {@code aio_set_event_notifier}); callbacks receive it. All
     * null removes. Any thread.
     *
     * @param n           the notifier to watch
     * @param ioRead      runs when {@code n} is set, or null
     * @param ioPoll      the busy-poll function: true if there is work, or null
     * @param ioPollReady runs after {@code ioPoll} returned true, or null
     */
    public void setEventNotifier(EventNotifier n, Consumer<EventNotifier> ioRead,
                                 Predicate<EventNotifier> ioPoll, Consumer<EventNotifier> ioPollReady) {
        setEventNotifier0(n, false, ioRead, ioPoll, ioPollReady);
    }

    private void setEventNotifier0(EventNotifier n, boolean external, Consumer<EventNotifier> ioRead,
                                   Predicate<EventNotifier> ioPoll, Consumer<EventNotifier> ioPollReady) {
        Objects.requireNonNull(n, "notifier");
        fds.set(n.fd(), external,
                ioRead == null ? null : () -> ioRead.accept(n), null,
                ioPoll == null ? null : () -> ioPoll.test(n),
                ioPollReady == null ? null : () -> ioPollReady.accept(n), false, false);
    }

    /**
     * Sets the begin/end callbacks of busy polling on a registered notifier (QEMU's
     * {@code aio_set_event_notifier_poll}); ignored if it is not registered. They are lost when
     * the notifier is registered again. Any thread.
     *
     * @param n     the registered notifier
     * @param begin runs when busy polling begins, or null
     * @param end   runs when busy polling ends, or null
     */
    public void setEventNotifierPoll(EventNotifier n, Consumer<EventNotifier> begin, Consumer<EventNotifier> end) {
        AioHandler node = fds.live(n.fd());
        if (node != null) {
            node.ioPollBegin = begin == null ? null : () -> begin.accept(n);
            node.ioPollEnd = end == null ? null : () -> end.accept(n);
        }
    }

    /** {@return why a pass that will not block must ask the fd monitor: FdHandlers' PASS_* bits} For tests. Any thread. */
    int passChecks() {
        return fds.passChecksNow();
    }

    /** {@return one bit per clock (by ordinal) whose timer list holds a timer} For tests. Any thread. */
    int armedTimerLists() {
        return timersArmed.get();
    }

    /** {@return the number of live fd handlers, the context's own notifier included} Any thread. */
    public int handlerCount() {
        return fds.count();
    }

    /**
     * The adaptive polling time of the live handler of {@code fd}. Any thread.
     *
     * @param fd the handler's file descriptor
     * @return its polling time in ns, or -1 if {@code fd} has no live handler
     */
    public long pollNsOf(int fd) {
        AioHandler h = fds.live(fd);
        return h == null ? -1 : h.pollNs;
    }

    // =====================================================================================
    // poll (§5)
    // =====================================================================================

    /**
     * Runs one iteration of the loop (QEMU's {@code aio_poll}): waits for events if
     * {@code blocking} and nothing is ready, then dispatches, in this order, bottom halves, fd
     * handlers and timers. Returns true if progress was made (a non-idle BH, an fd callback, a
     * poll-ready callback or a timer ran). A blocking call may also return false when woken only by
     * {@link #wakeup()}; callers loop on their own condition. May be called from inside a
     * callback (nested).
     *
     * <p>Home thread only.
     *
     * @param blocking whether to wait for events when nothing is ready
     * @return true if progress was made
     * @throws IllegalStateException off the home thread, or after close
     */
    public boolean poll(boolean blocking) {
        if (Thread.currentThread() != home) {
            checkHome("poll()");
        }
        if (closed) {
            checkOpen("poll");
        }
        counters.pollCalls++;
        PollCycleEvent ev = null;
        if (PollCycleEvent.enabled()) {
            ev = new PollCycleEvent();
            ev.begin();
            ev.context = name;
            ev.blocking = blocking;
            ev.depth = counters.depth;
        }
        boolean progress = false;
        boolean walking = false;
        PollFrame f = enterFrame();
        try {
            long maxNs = pollMaxNs;
            // Claimed, unpublished ring items are checked after raise() (ringClaimed), where the
            // blocking decision is made: reading the producers' tail here too would cost a line
            // transfer per pass while a producer streams.
            f.timeout = blocking ? timeoutNs(false) : 0;
            FdMonitor m = fds.monitor;
            // The walker count (QEMU's list_lock) is taken only by a pass that walks the handler
            // lists: one that may busy-poll or wait, has monitor work, completions to run or
            // deleted handlers to free (beyond QEMU, whose aio_poll always takes it). A pass that
            // only runs bottom halves walks nothing, so a handler another thread removes
            // meanwhile may be freed at once; a nested poll() from a callback counts itself.
            // It saves the two atomic read-modify-writes of the count on such a pass.
            // needWait() is read once for a pass that cannot poll; one that can (mayPoll) asks
            // again below, after polling.
            // A pass that cannot poll first reads one word that says whether any of the three
            // checks can be true (FdHandlers.passChecks): a BH-only pass on a poll or epoll
            // monitor without a request ring skips them all. A blocking pass with work ready
            // (timeout 0) may take the monitor's sampled answer (needWaitWithWork): on io_uring,
            // a ring that has been quiet is read on every 8th such pass only.
            boolean mayPoll = f.timeout != 0;
            boolean mustWait = false;
            if (mayPoll || fds.passNeedsChecks()) {
                mustWait = !mayPoll && (blocking ? m.needWaitWithWork() : m.needWait());
                if (mayPoll || mustWait || m.hasUndispatched() || fds.hasDeleted()) {
                    listLock.inc();
                    walking = true;
                }
            }
            // The clock is read only when time can pass before dispatch (busy polling or a wait):
            // a pass that finds work pending (timeout 0) and no monitor work reads it never.
            boolean timed = false;
            long start = 0;
            if (ev != null) {
                ev.timeoutNs = f.timeout;
            }
            if (mayPoll) { // with timeout 0, tryPollMode cannot poll: skip it
                if (maxNs != 0) {
                    start = System.nanoTime();
                    timed = true;
                }
                if (ev != null) {
                    long t0 = System.nanoTime();
                    progress = poller.tryPollMode(f);
                    ev.busyPollNs = System.nanoTime() - t0;
                } else {
                    progress = poller.tryPollMode(f);
                }
            }
            assert !(progress && f.timeout != 0);

            boolean raised = false;
            if (f.timeout != 0) {
                raised = true;
                // A wake-up, or a oneshot in the ring (wakeupRing), arrived after the timeout
                // was computed: raise() is the volatile store the ring's check must follow.
                if (wake.raise() || bhs.ringClaimed()) {
                    f.timeout = 0;
                }
            }
            m = fds.monitor;
            if (walking && (f.timeout != 0 || mustWait || mayPoll && m.needWait())) {
                if (maxNs != 0 && !timed) {
                    start = System.nanoTime();
                    timed = true;
                }
                if (poller.setStarted(f.ready, false)) {
                    f.timeout = 0;
                    progress = true;
                }
                int n = m.wait(f.ready, f.timeout);
                if (ev != null) {
                    ev.waited = true;
                    ev.ready = n;
                }
            }
            if (raised) {
                wake.lower();
            }
            wake.accept(); // before dispatching anything

            // Untimed, nothing polled or waited: the ready list is empty and block times unused.
            long blockNs = timed ? System.nanoTime() - start : 0;
            if (walking) {
                progress |= fds.monitor.dispatch(); // re-read: a POLL -> EPOLL switch may have happened in wait()
            }
            progress |= bhs.poll(f.slice, runner);
            if (walking) {
                // grow and shrink are read once per pass: a concurrent setPollParams applies from the next pass.
                long notifierBlockNs = timed ? PollPolicy.notifierBlockNs(start, blockNs, wake.writeStampNs()) : 0;
                progress |= fds.dispatchReady(f.ready, blockNs, notifierBlockNs, maxNs, pollGrow, pollShrink);
                fds.freeDeleted();
            }
        } finally {
            exitFrame(f);
            if (walking) {
                listLock.dec();
            }
        }
        progress |= runTimers();
        if (ev != null) {
            ev.progress = progress;
            ev.commit();
        }
        return progress;
    }

    private PollFrame enterFrame() {
        if (counters.depth == frames.length) {
            frames = Arrays.copyOf(frames, counters.depth * 2);
        }
        PollFrame f = frames[counters.depth];
        if (f == null) {
            f = frames[counters.depth] = new PollFrame();
        }
        counters.depth++;
        return f;
    }

    private void exitFrame(PollFrame f) {
        counters.depth--;
        while (f.ready.poll() != null) {
            // only after an internal failure: drop what was not dispatched
        }
    }

    /**
     * Sets adaptive polling (QEMU's {@code aio_context_set_poll_params}): poll up to {@code maxNs}
     * before blocking (0 = off), growing by {@code grow} (0 = ×2) and shrinking by {@code shrink}
     * (0 = reset). Resets every handler's polling time. Any thread.
     *
     * @param maxNs  QEMU's {@code poll-max-ns}, ≥ 0
     * @param grow   QEMU's {@code poll-grow}, ≥ 0
     * @param shrink QEMU's {@code poll-shrink}, ≥ 0
     * @throws IllegalArgumentException if a value is negative
     */
    public void setPollParams(long maxNs, long grow, long shrink) {
        checkRange("poll-max-ns", maxNs);
        checkRange("poll-grow", grow);
        checkRange("poll-shrink", shrink);
        fds.resetPollNs();
        pollMaxNs = maxNs;
        pollGrow = grow;
        pollShrink = shrink;
        wakeup();
    }

    /**
     * Turns the CPU-contention cap on busy polling on or off ({@code poll-contention}; beyond
     * QEMU, off by default): when on, the home thread's preemptions are sampled at most every
     * 10 ms and, while it is preempted more than 2000 times a second, its polling window is
     * suspended, then grown back by doubling once the CPU is free (see {@link AioStats}, JFR
     * event {@code io.jaio.PollContention}). Handlers' polling times keep QEMU's rule either way.
     * Turning it on again starts a fresh detector. Any thread; applies from the next poll pass.
     *
     * @param on whether to cap busy polling under CPU contention
     */
    public void setPollContention(boolean on) {
        if (on != (poller.contention != null)) {
            setPollContention(on ? PollContention.system(name) : null);
        }
    }

    /** Installs {@code detector} (null: off); tests pass one with a fake source. Any thread. */
    void setPollContention(PollContention detector) {
        poller.contention = detector; // volatile write: pairs with the home thread's read in tryPollMode
        wakeup();
    }

    /** {@return whether the CPU-contention cap is on (see {@link #setPollContention(boolean)})} Any thread. */
    public boolean pollContention() {
        return poller.contention != null;
    }

    static void checkRange(String what, long v) {
        if (v < 0) {
            throw new IllegalArgumentException(what + " value must be in range [0, " + Long.MAX_VALUE + "], got " + v);
        }
    }

    /**
     * Sets the maximum submission batch (QEMU's {@code aio_context_set_aio_params}); 0 = default. Any thread.
     *
     * @param maxBatch QEMU's {@code aio-max-batch}, ≥ 0
     * @throws IllegalArgumentException if negative
     */
    public void setAioParams(long maxBatch) {
        checkRange("aio-max-batch", maxBatch);
        this.maxBatch = maxBatch;
        wakeup();
    }

    /**
     * Sets the thread pool's limits (QEMU's {@code aio_context_set_thread_pool_params}). Any thread.
     *
     * @param min QEMU's {@code thread-pool-min}: the fewest workers kept
     * @param max QEMU's {@code thread-pool-max}: the most workers at once
     * @throws IllegalArgumentException unless 0 &lt;= min &lt;= max and max &gt; 0
     */
    public void setThreadPoolParams(int min, int max) {
        if (min < 0 || min > max || max <= 0) {
            throw new IllegalArgumentException("bad thread-pool-min/thread-pool-max values: min=" + min + ", max=" + max
                    + " (need 0 <= min <= max and max > 0)");
        }
        this.threadPoolMin = min;
        this.threadPoolMax = max;
        ThreadPool pool = slotIfPresent(ThreadPool.SLOT);
        if (pool != null) {
            pool.setParams(min, max);
        }
    }

    /**
     * The context's thread pool, created on first use (QEMU's {@code aio_get_thread_pool}): work
     * runs on worker threads, completions in this context's home thread. Any thread.
     *
     * @return the context's thread pool
     */
    public ThreadPool threadPool() {
        return slot(ThreadPool.SLOT, ThreadPool::new);
    }

    /** {@return the current poll-max-ns} Any thread (volatile read of an unsynchronised setting). */
    public long pollMaxNs() {
        return pollMaxNs;
    }

    /** {@return the current poll-grow} Any thread (volatile read of an unsynchronised setting). */
    public long pollGrow() {
        return pollGrow;
    }

    /** {@return the current poll-shrink} Any thread (volatile read of an unsynchronised setting). */
    public long pollShrink() {
        return pollShrink;
    }

    /** {@return the current aio-max-batch} Any thread (volatile read of an unsynchronised setting). */
    public long maxBatch() {
        return maxBatch;
    }

    /** {@return the current thread-pool-min} Any thread (volatile read of an unsynchronised setting). */
    public int threadPoolMin() {
        return threadPoolMin;
    }

    /** {@return the current thread-pool-max} Any thread (volatile read of an unsynchronised setting). */
    public int threadPoolMax() {
        return threadPoolMax;
    }

    // =====================================================================================
    // Callbacks
    // =====================================================================================

    /** Runs a user callback; a throw is logged and counted, never propagated. Home thread. */
    void runCallback(Runnable cb, Object source) {
        callbacks.run(cb, source);
    }

    // =====================================================================================
    // Per-context slots
    // =====================================================================================

    /**
     * The instance in {@code slot}, created by {@code factory} on first use (at most once).
     * Slots are closed in their declared order at the start of {@link #close()}, before the leak
     * checks, so they can delete their bottom halves. Internal: for jaio's own packages. Any
     * thread.
     *
     * @param <T>     the slot's type
     * @param slot    the slot
     * @param factory creates the instance, called at most once
     * @return the slot's instance
     * @throws IllegalStateException if the slot is empty and the context is closed
     */
    public <T extends AutoCloseable> T slot(ContextSlot<T> slot, java.util.function.Function<? super AioContext, ? extends T> factory) {
        AutoCloseable e = slots.get(slot.order.ordinal());
        if (e == null) {
            synchronized (slots) {
                e = slots.get(slot.order.ordinal());
                if (e == null) {
                    checkOpen("attach " + slot);
                    e = Objects.requireNonNull(factory.apply(this), "slot factory result");
                    slots.set(slot.order.ordinal(), e);
                }
            }
        }
        return slot.cast(e);
    }

    /**
     * The instance in {@code slot}, if one was created. Internal. Any thread.
     *
     * @param <T>  the slot's type
     * @param slot the slot
     * @return the slot's instance, or null if none was created
     */
    public <T extends AutoCloseable> T slotIfPresent(ContextSlot<T> slot) {
        return slot.cast(slots.get(slot.order.ordinal()));
    }

    // =====================================================================================
    // Legacy: acquire/release and external clients (§1.5, §15), all in this section
    // =====================================================================================

    /**
     * Takes the legacy recursive context lock (QEMU's {@code aio_context_acquire}). Any thread.
     *
     * @deprecated QEMU has removed the AioContext lock: code that must run in the context's home
     *     thread goes there ({@link #scheduleOneshot}, {@link #callOnHomeThread}) instead of
     *     locking it. Kept because the seed API has it; nothing in jaio takes it.
     */
    @Deprecated
    public void acquire() {
        legacy.acquire();
    }

    /**
     * Releases the legacy context lock. The thread that acquired it.
     *
     * @deprecated as {@link #acquire()}.
     */
    @Deprecated
    public void release() {
        legacy.release();
    }

    /**
     * Suppresses external handlers until a matching {@link #enableExternal()}. Any thread.
     *
     * @deprecated QEMU has removed external clients ({@code aio_disable_external} and the
     *     {@code is_external} flag): a drained export stops its own fd handlers instead. Kept
     *     because the seed API has it.
     */
    @Deprecated
    public void disableExternal() {
        legacy.disableExternal();
    }

    /**
     * Ends one {@link #disableExternal()}; the last one wakes the loop. Any thread.
     *
     * @throws IllegalStateException if external clients are not disabled
     * @deprecated as {@link #disableExternal()}.
     */
    @Deprecated
    public void enableExternal() {
        if (legacy.enableExternal()) {
            wakeup();
        }
    }

    /**
     * Whether external clients are disabled now. Any thread.
     *
     * @return true while at least one {@link #disableExternal()} is in force
     * @deprecated as {@link #disableExternal()}.
     */
    @Deprecated
    public boolean isExternalDisabled() {
        return legacy.externalDisabled();
    }

    /**
     * {@link #setFdHandler(int, Runnable, Runnable, BooleanSupplier, Runnable)} with QEMU's
     * {@code is_external}: an external handler is suppressed while {@link #disableExternal()} is
     * in force. Any thread.
     *
     * @param fd          the file descriptor to watch
     * @param external    whether {@link #disableExternal()} suppresses the handler
     * @param ioRead      runs when {@code fd} is readable, or null
     * @param ioWrite     runs when {@code fd} is writable, or null
     * @param ioPoll      the busy-poll function: true if there is work, or null
     * @param ioPollReady runs after {@code ioPoll} returned true, or null
     * @deprecated as {@link #disableExternal()}; use the form without {@code external}.
     */
    @Deprecated
    public void setFdHandler(int fd, boolean external, Runnable ioRead, Runnable ioWrite,
                             BooleanSupplier ioPoll, Runnable ioPollReady) {
        fds.set(fd, external, ioRead, ioWrite, ioPoll, ioPollReady, false, false);
    }

    /**
     * {@link #setEventNotifier(EventNotifier, Consumer, Predicate, Consumer)} with QEMU's
     * {@code is_external}. Any thread.
     *
     * @param n           the notifier to watch
     * @param external    whether {@link #disableExternal()} suppresses the handler
     * @param ioRead      runs when {@code n} is set, or null
     * @param ioPoll      the busy-poll function: true if there is work, or null
     * @param ioPollReady runs after {@code ioPoll} returned true, or null
     * @deprecated as {@link #disableExternal()}; use the form without {@code external}.
     */
    @Deprecated
    public void setEventNotifier(EventNotifier n, boolean external, Consumer<EventNotifier> ioRead,
                                 Predicate<EventNotifier> ioPoll, Consumer<EventNotifier> ioPollReady) {
        setEventNotifier0(n, external, ioRead, ioPoll, ioPollReady);
    }

    // =====================================================================================
    // Close (§1.3)
    // =====================================================================================

    /**
     * Releases the context: its eventfd, fd monitor and memory (QEMU's final
     * {@code aio_context_unref}). User fds stay open; their registrations are dropped. Then, if a
     * bottom half was never deleted or a timer is still armed, throws an
     * {@link IllegalStateException} naming each — the context is closed either way. Idempotent.
     *
     * <p>Home thread (or any thread once the home thread has ended); not inside {@link #poll}.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        if (!isHomeThread() && home.isAlive()) {
            checkHome("close()");
        }
        if (counters.depth > 0) {
            throw new IllegalStateException("close() of context '" + name + "' inside poll()");
        }
        Set<String> leaks = new LinkedHashSet<>();
        synchronized (slots) { // in declared order: QEMU frees the thread pool, then co_schedule_bh
            for (int i = 0; i < slots.length(); i++) {
                AutoCloseable e = slots.getAndSet(i, null);
                if (e == null) {
                    continue;
                }
                try {
                    e.close();
                } catch (Exception ex) {
                    leaks.add(e.getClass().getSimpleName() + " failed to close: " + ex.getMessage());
                }
            }
        }
        List<FdMonitor> toClose;
        List<BhList.Droppable> dropped = new ArrayList<>();
        listLock.lock();
        try {
            closed = true;
            leaks.addAll(bhs.close(dropped));
            for (TimerList l : timerLists) {
                for (Timer t : l.armed()) {
                    leaks.add("armed timer '" + t.name + "' on " + t.list.clock);
                    t.del();
                }
            }
            toClose = fds.closeLocked();
        } finally {
            listLock.unlock();
        }
        poller.clear();
        for (FdMonitor m : toClose) {
            m.close();
        }
        notifier.close();
        if (CURRENT.get() == this) {
            CURRENT.remove();
        }
        for (BhList.Droppable d : dropped) {
            callbacks.run(d::dropped, d); // their waiters fail now; a throw is logged and counted
        }
        if (!leaks.isEmpty()) {
            throw new IllegalStateException("context '" + name + "' closed with " + String.join(", ", leaks)
                    + ": delete every bottom half and disarm every timer before closing");
        }
    }

    /** {@return whether {@link #close()} has run} Any thread. */
    public boolean isClosed() {
        return closed;
    }

    @Override
    public String toString() {
        return "AioContext[" + name + ", " + fds.monitor.kind() + ", home=" + home.getName() + "]";
    }

    // =====================================================================================
    // Embedding in another loop: package-private hooks for AioSource (QEMU's aio_ctx_prepare,
    // aio_ctx_check, aio_prepare; its dispatch is poll(false), see AioSource)
    // =====================================================================================

    /** This context's embedding, made by the first {@link AioSource#of}. Home thread only. */
    AioSource source;

    /** The fd monitor in use now (it may change: poll to epoll, or epoll to poll on failure). */
    FdMonitor sourceMonitor() {
        return fds.monitor;
    }

    /**
     * QEMU's {@code aio_ctx_prepare}: ends busy-poll mode ({@code aio_prepare}; what its last
     * poll finds is dropped as QEMU does, and the host is told not to block), raises the external
     * waiter's notify bit, then computes the timeout (0 if a wake-up already arrived). Home
     * thread, not inside poll's wait; AioSource has checked the thread and that we are open.
     */
    long sourcePrepare(ReadyList scratch) {
        poller.setStarted(scratch, false);
        // Anything it found, the context notifier included (which setStarted does not count as
        // progress), means work: do not block. Its return value is implied by a non-empty list.
        boolean found = !scratch.isEmpty();
        io.jaio.aio.fdmon.FdNode n;
        while ((n = scratch.poll()) != null) {
            n.setPollReady(false);
        }
        if (wake.raiseExternal() || found) { // pairs with notifyAndCheck() in wakeup()
            return 0;
        }
        return timeoutNs(); // after raiseExternal: its read of the ring's tail pairs with wakeupRing()
    }

    /**
     * QEMU's {@code aio_ctx_check} minus the fd test (AioSource asks the fd): lowers the external
     * notify bit, accepts the notification, then reports a scheduled (non-idle) BH or an expired
     * timer. Home thread.
     */
    boolean sourceCheck() {
        wake.lowerExternal();
        wake.accept(); // before reading BH state: a wake-up from here on is seen by the next prepare
        return bhs.timeoutNs() == 0 || timersDeadlineNs() == 0 || fds.monitor.hasPendingEvents();
    }

    /**
     * QEMU's {@code aio_dispatch}: lowers the external notify bit (dispatch may come without a
     * check), then one poll(false) that reads the monitor even when every handler is pollable
     * (the host's wait saw the events there) and never busy-polls. Home thread.
     */
    boolean sourceDispatch() {
        wake.lowerExternal();
        fds.embeddedDispatch(true);
        try {
            return poll(false);
        } finally {
            fds.embeddedDispatch(false);
        }
    }

    // =====================================================================================
    // Internals
    // =====================================================================================

    /** One level of poll() nesting. Home thread. */
    static final class PollFrame {
        final ReadyList ready = new ReadyList();
        final BhList.Slice slice = new BhList.Slice();
        long timeout;
    }

    /**
     * Parameters for a new context. Not thread-safe; {@link #build()} makes the calling thread
     * the context's home thread.
     */
    public static final class Builder {
        private FdMonitorKind fdMonitor = FdMonitorKind.AUTO;
        private long pollMaxNs;
        private long pollGrow;
        private long pollShrink;
        private long maxBatch;
        private int threadPoolMin = 0;
        private int threadPoolMax = 64;
        private ClockSource clockSource = ClockSource.system();
        private String name;

        private Builder() {}

        /**
         * The fd monitor (default {@link FdMonitorKind#AUTO}: QEMU's choice).
         *
         * @param kind the monitor kind, not null
         * @return this builder
         */
        public Builder fdMonitor(FdMonitorKind kind) {
            this.fdMonitor = Objects.requireNonNull(kind, "fdMonitor");
            return this;
        }

        /**
         * QEMU's {@code poll-max-ns} (default 0: no busy polling); see {@link AioContext#setPollParams}.
         *
         * @param ns the longest busy-poll in ns, ≥ 0
         * @return this builder
         * @throws IllegalArgumentException if negative
         */
        public Builder pollMaxNs(long ns) {
            checkRange("poll-max-ns", ns);
            this.pollMaxNs = ns;
            return this;
        }

        /**
         * QEMU's {@code poll-grow}: the polling time's growth factor (0, the default: ×2).
         *
         * @param grow the factor, ≥ 0
         * @return this builder
         * @throws IllegalArgumentException if negative
         */
        public Builder pollGrow(long grow) {
            checkRange("poll-grow", grow);
            this.pollGrow = grow;
            return this;
        }

        /**
         * QEMU's {@code poll-shrink}: its divisor when it shrinks (0, the default: back to 0).
         *
         * @param shrink the divisor, ≥ 0
         * @return this builder
         * @throws IllegalArgumentException if negative
         */
        public Builder pollShrink(long shrink) {
            checkRange("poll-shrink", shrink);
            this.pollShrink = shrink;
            return this;
        }

        /**
         * QEMU's {@code aio-max-batch}, see {@link AioContext#setAioParams} (default 0).
         *
         * @param maxBatch the maximum submission batch, ≥ 0 (0: the engine's default)
         * @return this builder
         * @throws IllegalArgumentException if negative
         */
        public Builder maxBatch(long maxBatch) {
            checkRange("aio-max-batch", maxBatch);
            this.maxBatch = maxBatch;
            return this;
        }

        /**
         * QEMU's {@code thread-pool-min} (default 0); see {@link AioContext#setThreadPoolParams}.
         *
         * @param min the fewest workers kept, ≥ 0
         * @return this builder
         * @throws IllegalArgumentException if negative
         */
        public Builder threadPoolMin(int min) {
            if (min < 0) {
                throw new IllegalArgumentException("thread-pool-min must be >= 0, got " + min);
            }
            this.threadPoolMin = min;
            return this;
        }

        /**
         * QEMU's {@code thread-pool-max} (default 64); see {@link AioContext#setThreadPoolParams}.
         *
         * @param max the most workers at once, &gt; 0
         * @return this builder
         * @throws IllegalArgumentException if not positive
         */
        public Builder threadPoolMax(int max) {
            if (max <= 0) {
                throw new IllegalArgumentException("thread-pool-max must be > 0, got " + max);
            }
            this.threadPoolMax = max;
            return this;
        }

        /**
         * The context's clocks (default: the system's).
         *
         * @param clockSource the clocks, not null
         * @return this builder
         */
        public Builder clockSource(ClockSource clockSource) {
            this.clockSource = Objects.requireNonNull(clockSource, "clockSource");
            return this;
        }

        /**
         * The context's name, used in logs (default: {@code aio-N}).
         *
         * @param name the name, or null for the default
         * @return this builder
         */
        public Builder name(String name) {
            this.name = name;
            return this;
        }

        /**
         * Creates the context; the calling thread becomes its home thread.
         *
         * @return the new context, open
         * @throws IllegalArgumentException if thread-pool-min exceeds thread-pool-max
         */
        public AioContext build() {
            if (threadPoolMin > threadPoolMax) {
                throw new IllegalArgumentException("bad thread-pool-min/thread-pool-max values: min=" + threadPoolMin
                        + " > max=" + threadPoolMax);
            }
            JvmFlags.checkAtStart(); // names a missing JVM flag once, before the first native call
            return new AioContext(this);
        }
    }
}
