package io.jaio.coroutine;

import io.jaio.aio.AioContext;
import io.jaio.aio.ClockType;
import io.jaio.aio.Throwables;
import io.jaio.aio.Timer;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Objects;
import java.util.concurrent.TimeUnit;

/**
 * A stackful coroutine with QEMU's semantics ({@code Coroutine} in {@code util/qemu-coroutine.c}).
 *
 * <p>{@link #enter()} runs the coroutine on the calling thread until it {@link #yield() yields}
 * or its body ends, then returns. A suspended coroutine is resumed by entering it again, usually
 * through {@link #wake()} or {@link #schedule(AioContext, Coroutine)}, which bring it back into the context
 * it last ran in: from another thread through that context's scheduling bottom half, and from
 * another coroutine of the same context after that coroutine yields (never nested, so chains of
 * hand-offs do not grow the stack).
 *
 * <pre>{@code
 * Coroutine co = Coroutine.create(() -> {
 *     System.out.println("first");
 *     Coroutine.yield();
 *     System.out.println("second");
 * });
 * co.enter();   // prints "first"
 * co.enter();   // prints "second"; the coroutine has ended
 * }</pre>
 *
 * <p><b>Errors.</b> Misuse that QEMU aborts on throws {@link IllegalStateException}: entering a
 * coroutine that is running or suspended inside something it entered ("re-entered
 * recursively"), entering or scheduling one that is already scheduled (the message names the
 * mechanism, {@code aio_co_schedule} or {@code qemu_co_sleep}), yielding outside a coroutine
 * ("yielding to no one"), and a body that ends while holding a {@link CoMutex} or
 * {@link CoRwLock}. An exception thrown by the body ends the coroutine and propagates out of the
 * {@code enter()} (or the bottom half) that was running it, once the coroutines it woke have
 * run.
 *
 * <p><b>Engines.</b> By default a coroutine is a {@code jdk.internal.vm.Continuation} run on the
 * entering thread, which needs {@code --add-exports java.base/jdk.internal.vm=ALL-UNNAMED}
 * (jaio runs on the class path). Without it, each coroutine runs on its own virtual thread and
 * the entering thread blocks until it yields or ends: the semantics are the same, but
 * {@code Thread.currentThread()} inside the body is the virtual thread ({@link #hostThread()} is
 * the entering thread on both engines, and {@code AioContext.current()} is the entering thread's
 * context). The system property {@code jaio.coroutines=continuation|virtual} forces an engine;
 * the engine in use is logged once.
 *
 * <p><b>Stack depth.</b> With continuations, a coroutine that enters another directly (nesting)
 * keeps both mounted on the entering thread's stack, about 1.2 KB per level: some 800 levels fit
 * in a 1 MB thread stack. Wake-ups ({@link #wake()}, {@link #enterIn}) never nest.
 */
public final class Coroutine {
    /*
     * Implementation overview (for maintainers; aio-semantics.md 12 is the specification).
     *
     * State (12.1): `caller` (non-null while entered: the coroutine that entered it, or OUTSIDE),
     * `ctx` (context of the last enter), `scheduled` (null or the name of the mechanism that
     * scheduled it), an intrusive wake-up queue (wakeHead/wakeTail linked through `queueNext`),
     * `locksHeld`. `queueNext` also links a CoQueue and enterWith's local queue: a coroutine is on
     * at most one of them, because it is only queued while suspended and is unlinked before it
     * is entered. `scheduledNext` links a context's scheduled stack (CoScheduler).
     *
     * enterWith(ctx, co) (12.2, qemu_aio_coroutine_enter):
     *  1. local queue = [co].
     *  2. Take the head `to`; refuse it if terminated, scheduled, or entered (caller != null).
     *  3. caller = current coroutine (or OUTSIDE); ctx = ctx (release); switch to it (Strand).
     *  4. Back (yield or end): prepend to's wake-up queue to the local queue (depth first); if it
     *     ended, check locksHeld == 0 and keep its failure. Loop to 2.
     *  5. Rethrow the first failure (later ones suppressed) once the queue is empty, so a
     *     throwing coroutine never loses the wake-ups queued behind it.
     * yield (qemu_coroutine_yield): caller = null, then switch back.
     * enterIn(ctx, co) (12.3, aio_co_enter): another context -> schedule; inside a coroutine ->
     * append to the current coroutine's wake-up queue; else enterWith now.
     *
     * Threads. `caller`, the wake-up queue, `locksHeld` and `failure` are plain: they are only
     * touched by the thread running the coroutine or by the thread that entered it, and the
     * strand's hand-off (same thread, or the virtual engine's volatile baton) orders them. A
     * coroutine moves between threads only through CoScheduler, whose CAS push / getAndSet pop
     * is the happens-before edge. `ctx` and `scheduled` are read by other threads (wake(),
     * schedule()) and use release/acquire (CTX) and CAS (SCHEDULED).
     */

    private static final VarHandle SCHEDULED;
    private static final VarHandle CTX;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            SCHEDULED = l.findVarHandle(Coroutine.class, "scheduled", String.class);
            CTX = l.findVarHandle(Coroutine.class, "ctx", AioContext.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** {@code scheduled} marker of {@link #schedule} (QEMU's {@code __func__} of {@code aio_co_schedule}). */
    static final String AIO_CO_SCHEDULE = "aio_co_schedule";
    /** {@code scheduled} marker of {@link #sleepNs} (QEMU's {@code qemu_co_sleep_ns}). */
    static final String QEMU_CO_SLEEP = "qemu_co_sleep";

    /** The coroutine running on this thread, null outside coroutines. */
    static final ThreadLocal<Coroutine> CURRENT = new ThreadLocal<>();
    /** The caller of a coroutine entered from outside any coroutine (QEMU's per-thread leader). */
    private static final Coroutine OUTSIDE = new Coroutine();

    private Runnable body;
    final Strand strand;
    final Engine engine;

    /** Who entered it (see the overview); null while suspended or not started. */
    Coroutine caller;
    /** Context of the last enter; via CTX (setRelease in enterWith, getAcquire in wake). */
    @SuppressWarnings("unused")
    private AioContext ctx;
    /** Null, or the mechanism that scheduled it; via SCHEDULED (CAS to set, setRelease to clear). */
    @SuppressWarnings("unused")
    private String scheduled;
    /** Link in a CoQueue, a wake-up queue or enterWith's local queue. */
    Coroutine queueNext;
    /** Link in a context's scheduled stack. */
    Coroutine scheduledNext;
    private Coroutine wakeHead;
    private Coroutine wakeTail;
    /** CoMutex / CoRwLock acquisitions not yet released (QEMU's {@code locks_held}). */
    int locksHeld;
    private boolean terminated;
    private Throwable failure;

    private Coroutine(Runnable body, Engine engine) {
        this.body = body;
        this.engine = engine;
        this.strand = engine.newStrand(this);
    }

    private Coroutine() {
        this.body = null;
        this.engine = null;
        this.strand = null;
    }

    // =====================================================================================
    // Creation, enter, yield (12.2)
    // =====================================================================================

    /**
     * The engine {@link #create(Runnable)} uses now: {@code "continuation"} or {@code "virtual"}
     * (for start-up logs). Any thread.
     *
     * @return the engine's name
     */
    public static String engineName() {
        return Engine.selected().propertyValue;
    }

    /**
     * A new coroutine that will run {@code body} when first entered (QEMU's
     * {@code qemu_coroutine_create}). Any thread.
     *
     * @param body the coroutine's code
     * @return the coroutine, not yet entered
     * @throws IllegalStateException if {@code -Djaio.coroutines=continuation} forces an engine
     *     that this JVM cannot run
     */
    public static Coroutine create(Runnable body) {
        return create(body, Engine.selected());
    }

    /** {@link #create(Runnable)} on a given engine (tests run the contract suite on both). */
    static Coroutine create(Runnable body, Engine engine) {
        Objects.requireNonNull(body, "body");
        engine.checkUsable();
        return new Coroutine(body, engine);
    }

    /**
     * Runs the coroutine on the calling thread until it yields or ends, then runs the coroutines
     * it woke (QEMU's {@code qemu_coroutine_enter}). The caller's current context becomes the
     * coroutine's context. Called from the thread that runs the coroutine's context (from outside
     * or from inside another coroutine, which then waits until this one yields).
     *
     * @throws IllegalStateException if the coroutine is running or suspended inside something it
     *     entered ("re-entered recursively"), is scheduled, or has ended
     * @throws RuntimeException (or Error) thrown by the body of this coroutine or of one it woke
     */
    public void enter() {
        enterWith(currentContext(), this);
    }

    /**
     * Enters the coroutine if it is not already entered (QEMU's
     * {@code qemu_coroutine_enter_if_inactive}). Same threads as {@link #enter()}.
     */
    public void enterIfInactive() {
        if (caller == null) {
            enter();
        }
    }

    /**
     * Suspends the calling coroutine and returns to whoever entered it (QEMU's
     * {@code qemu_coroutine_yield}). It continues when it is entered again. Inside a coroutine.
     *
     * @throws IllegalStateException outside a coroutine ("yielding to no one")
     */
    public static void yield() {
        Coroutine self = CURRENT.get();
        Coroutine to = self == null ? null : self.caller;
        if (to == null) {
            throw new IllegalStateException("Coroutine.yield() outside a coroutine: yielding to no one");
        }
        self.caller = null;
        try {
            self.strand.suspend();
        } catch (RuntimeException | Error e) { // could not suspend (pinned); still running
            self.caller = to;
            throw e;
        }
    }

    /** {@return whether the calling code runs inside a coroutine} (QEMU's {@code qemu_in_coroutine}) Any thread. */
    public static boolean inCoroutine() {
        return CURRENT.get() != null;
    }

    /** {@return the coroutine the caller runs in, or null outside coroutines} (QEMU's {@code qemu_coroutine_self}) Any thread. */
    public static Coroutine self() {
        return CURRENT.get();
    }

    /**
     * Whether the coroutine is entered: running, or suspended inside a coroutine it entered
     * (QEMU's {@code qemu_coroutine_entered}). False before the first enter, after a yield and
     * after it ended. The thread that runs the coroutine's context; from others, a snapshot.
     *
     * @return whether the coroutine is entered
     */
    public boolean isEntered() {
        return caller != null;
    }

    /** {@return whether the body has ended (normally or by throwing)} Same threads as {@link #isEntered()}. */
    public boolean isTerminated() {
        return terminated;
    }

    // =====================================================================================
    // Waking and scheduling (12.3)
    // =====================================================================================

    /**
     * Resumes the coroutine in the context it last ran in (QEMU's {@code aio_co_wake}): from
     * another thread it is scheduled there; from a coroutine of that context it runs after the
     * current coroutine yields or ends; otherwise it is entered now. A coroutine never entered is
     * woken in the caller's context. Any thread; from the coroutine's own thread only once it has
     * yielded.
     */
    public void wake() {
        AioContext c = lastContext();
        enterIn(c != null ? c : currentContext(), this);
    }

    /**
     * Enters {@code co} in {@code ctx} (QEMU's {@code aio_co_enter}): from a thread whose current
     * context is not {@code ctx} it is {@link #schedule scheduled}; from inside a coroutine of
     * {@code ctx} it runs after the current one yields (appended to its wake-up queue); otherwise
     * it is entered now. Any thread.
     *
     * @param ctx the context to run {@code co} in
     * @param co a coroutine that has not started or has yielded
     */
    public static void enterIn(AioContext ctx, Coroutine co) {
        Objects.requireNonNull(co, "co");
        if (ctx != currentContext()) {
            schedule(ctx, co);
            return;
        }
        Coroutine self = CURRENT.get();
        if (self != null) {
            if (self == co) {
                throw new IllegalStateException("a coroutine cannot wake itself");
            }
            co.queueNext = null;
            if (self.wakeTail == null) {
                self.wakeHead = co;
            } else {
                self.wakeTail.queueNext = co;
            }
            self.wakeTail = co;
        } else {
            enterWith(ctx, co);
        }
    }

    /**
     * Enters {@code co} in {@code ctx}'s home thread from a bottom half (QEMU's
     * {@code aio_co_schedule}): marks the coroutine scheduled, pushes it on the context's
     * lock-free scheduled stack and schedules the context's co-schedule bottom half, which enters
     * it (coroutines scheduled from anywhere run in FIFO order). The coroutine must have yielded,
     * unless {@code ctx} is the context it is running in. Any thread.
     *
     * @param ctx the context whose home thread enters {@code co}
     * @param co the coroutine
     * @throws IllegalStateException if the coroutine is already scheduled (naming by whom), or
     *     the context is closed
     */
    public static void schedule(AioContext ctx, Coroutine co) {
        Objects.requireNonNull(ctx, "ctx");
        Objects.requireNonNull(co, "co");
        co.markScheduled("aio_co_schedule", AIO_CO_SCHEDULE);
        CoScheduler s;
        try {
            s = ctx.slot(CoScheduler.SLOT, CoScheduler::new);
        } catch (RuntimeException e) {
            co.clearScheduled();
            throw e;
        }
        s.push(co);
    }

    /**
     * Moves the calling coroutine to {@code ctx} (QEMU's {@code aio_co_reschedule_self}): a
     * oneshot bottom half in the current context schedules it in {@code ctx} once it has yielded;
     * returns running in {@code ctx}'s home thread. Nothing happens if {@code ctx} is already
     * current. Inside a coroutine whose thread has a current context.
     *
     * @param ctx the context to continue in
     */
    public static void rescheduleSelf(AioContext ctx) {
        Objects.requireNonNull(ctx, "ctx");
        Coroutine self = requireSelf("Coroutine.rescheduleSelf()");
        AioContext old = currentContext();
        if (old == ctx) {
            return;
        }
        if (old == null) {
            throw new IllegalStateException("Coroutine.rescheduleSelf() on a thread without a current AioContext");
        }
        // Scheduling directly could let ctx's thread enter us before we have yielded.
        old.scheduleOneshot("co-reschedule-self", () -> schedule(ctx, self));
        Coroutine.yield();
    }

    // =====================================================================================
    // CompletionStage bridges (not in QEMU)
    // =====================================================================================

    /**
     * Suspends the calling coroutine until {@code stage} completes, then returns its value or
     * throws its failure. The coroutine resumes in its own context's home thread: whatever thread
     * completes the stage schedules a oneshot bottom half there (never running the coroutine
     * inside that thread's {@code complete()} call). A stage that is already complete returns at
     * once, without yielding.
     *
     * <p>Failures: a {@link java.util.concurrent.CompletionException} (what dependent stages
     * wrap) is unwrapped to its cause; then a RuntimeException or Error is rethrown as is, and a
     * checked exception is thrown wrapped in a new {@code CompletionException}, as
     * {@link java.util.concurrent.CompletableFuture#join()} does. A cancelled stage throws
     * {@link java.util.concurrent.CancellationException}. Cancelling the stage is the only way to
     * stop waiting: jaio does not interrupt coroutines. If the context closes before the stage
     * completes, the coroutine is never resumed.
     *
     * <p>Inside a coroutine whose thread has a current context.
     *
     * @param <T> the stage's value type
     * @param stage the stage to wait for
     * @return the stage's value
     * @throws IllegalStateException outside a coroutine, or on a thread without a current
     *     AioContext
     */
    public static <T> T await(java.util.concurrent.CompletionStage<T> stage) {
        return CoFutures.await(stage);
    }

    /**
     * Runs {@code body} in a new coroutine in {@code ctx} and returns a future of its result. The
     * coroutine is {@link #schedule scheduled}: it starts in {@code ctx}'s home thread at a later
     * poll pass, never inside this call. The future completes, in that thread, with what
     * {@code body} returns or throws (any Throwable; nothing reaches the loop).
     *
     * <p>Cancellation ({@code cancel(true)} and {@code cancel(false)} alike) completes the future
     * with a {@link java.util.concurrent.CancellationException} at once. If the coroutine has not
     * started yet, {@code body} never runs. If it has, it is not interrupted: it runs to its end
     * and its result is dropped. If {@code ctx} closes before the coroutine has finished (not
     * started yet, or suspended: nothing can resume it then), the close fails the future with a
     * {@link java.util.concurrent.RejectedExecutionException}. Any thread.
     *
     * @param <T> the body's result type
     * @param ctx the context to run the coroutine in
     * @param body the coroutine's code
     * @return a future of {@code body}'s result
     * @throws java.util.concurrent.RejectedExecutionException if {@code ctx} is closed
     */
    public static <T> java.util.concurrent.CompletableFuture<T> submit(AioContext ctx,
            java.util.concurrent.Callable<? extends T> body) {
        return CoFutures.submit(ctx, body, Engine.selected());
    }

    // =====================================================================================
    // Sleep (12.4)
    // =====================================================================================

    /**
     * Suspends the calling coroutine for {@code ns} nanoseconds of {@code clock}, through a timer
     * in the current context (QEMU's {@code qemu_co_sleep_ns}). While it sleeps the coroutine is
     * marked scheduled ({@code qemu_co_sleep}), so entering or scheduling it fails. With a
     * {@link io.jaio.aio.ManualClockSource} it wakes when the clock has advanced and the context
     * polls. Inside a coroutine whose thread has a current context.
     *
     * @param clock the clock to sleep on
     * @param ns how long, in nanoseconds of {@code clock}
     */
    public static void sleepNs(ClockType clock, long ns) {
        Objects.requireNonNull(clock, "clock");
        Coroutine self = requireSelf("Coroutine.sleepNs()");
        AioContext ctx = currentContext();
        if (ctx == null) {
            throw new IllegalStateException("Coroutine.sleepNs() on a thread without a current AioContext");
        }
        SleepWaker w = new SleepWaker();
        Timer t = ctx.newTimer("qemu_co_sleep", clock, TimeUnit.NANOSECONDS, 0, w);
        long now = ctx.nowNs(clock);
        long deadline = ns > 0 && now + ns < now ? Long.MAX_VALUE : now + ns;
        // The timer fires in this context, so not before we have yielded below.
        t.modNs(deadline);
        try {
            self.markScheduled("qemu_co_sleep", QEMU_CO_SLEEP);
            w.toWake = self;
            Coroutine.yield();
            assert w.toWake == null;
        } finally {
            t.del(); // woken early, or the mark failed
        }
    }

    /** The timer callback of one sleep (QEMU's {@code co_sleep_cb} + {@code qemu_co_sleep_wake}). */
    private static final class SleepWaker implements Runnable {
        /**
         * The sleeper; plain: written by the coroutine before it yields, read and cleared by the
         * timer callback in the same context after that yield (ordered by the strand hand-off).
         */
        Coroutine toWake;

        @Override
        public void run() {
            Coroutine co = toWake;
            if (co == null) {
                return; // second wake: no-op
            }
            toWake = null;
            String old = (String) SCHEDULED.compareAndExchange(co, QEMU_CO_SLEEP, (String) null);
            if (old != QEMU_CO_SLEEP) {
                throw new IllegalStateException("sleeping coroutine was marked '" + old + "' instead of qemu_co_sleep");
            }
            co.wake();
        }
    }

    // =====================================================================================
    // Thread identity for coroutine code
    // =====================================================================================

    /**
     * {@link AioContext#current()} as coroutine code must see it: under the virtual-thread
     * engine, a coroutine's thread has no context of its own, so this answers with the context
     * current on the thread that entered it. Any thread.
     *
     * @return the current context, or null if none
     */
    public static AioContext currentContext() {
        return AioContext.current(); // answers through the virtual engine's HostBinding
    }

    /**
     * On the virtual thread of a coroutine run by the virtual-thread engine, the context that was
     * current on the thread that entered it (what {@code AioContext.current()} reports there,
     * through {@link io.jaio.aio.HostBinding}); null on every other thread. Any thread.
     */
    static AioContext hostContext() {
        VirtualThreadStrand v = VirtualThreadStrand.ofCurrentThread();
        return v == null ? null : v.hostContext();
    }

    /**
     * The thread the calling code stands in for, that is
     * the (platform) thread that entered the coroutine when the caller is a virtual-thread-engine
     * coroutine, else {@code Thread.currentThread()}. Home-thread checks should compare this. Any
     * thread.
     *
     * @return the thread to check home-thread rules against
     */
    public static Thread hostThread() {
        VirtualThreadStrand v = VirtualThreadStrand.ofCurrentThread();
        return v == null ? Thread.currentThread() : v.hostThread();
    }

    // =====================================================================================
    // Internals
    // =====================================================================================

    /** The qemu_aio_coroutine_enter loop (see the overview). */
    static void enterWith(AioContext ctx, Coroutine co) {
        Coroutine self = CURRENT.get();
        Coroutine caller = self != null ? self : OUTSIDE;
        co.checkEnterable(); // the entered coroutine itself fails before anything runs
        co.queueNext = null;
        Coroutine pending = co;
        Throwable failure = null;
        boolean first = true;
        while (pending != null) {
            Coroutine to = pending;
            pending = to.queueNext;
            to.queueNext = null;
            if (!first) {
                try {
                    to.checkEnterable();
                } catch (IllegalStateException e) { // a bad wake-up: report it, keep draining
                    failure = merge(failure, e);
                    continue;
                }
            }
            first = false;
            to.caller = caller;
            CTX.setRelease(to, ctx); // pairs with getAcquire in wake()
            to.strand.resume(to, self);
            if (to.wakeHead != null) { // QSIMPLEQ_PREPEND: what it woke runs first
                to.wakeTail.queueNext = pending;
                pending = to.wakeHead;
                to.wakeHead = null;
                to.wakeTail = null;
            }
            if (to.strand.isDone()) {
                failure = merge(failure, to.terminate());
            }
        }
        if (failure != null) {
            rethrow(failure);
        }
    }

    private void checkEnterable() {
        if (terminated) {
            throw new IllegalStateException("cannot enter " + this + ": its body has ended");
        }
        String s = (String) SCHEDULED.getAcquire(this);
        if (s != null) {
            throw new IllegalStateException("cannot enter " + this + ": coroutine was already scheduled in '" + s + "'");
        }
        if (caller != null) {
            throw new IllegalStateException("cannot enter " + this + ": coroutine re-entered recursively");
        }
    }

    /** Bookkeeping after the body ended; returns the failure to report, if any. */
    private Throwable terminate() {
        terminated = true;
        caller = null;
        body = null;
        Throwable f = failure;
        failure = null;
        if (locksHeld != 0) {
            IllegalStateException e = new IllegalStateException(this + " ended holding " + locksHeld
                    + " CoMutex/CoRwLock lock(s)");
            f = merge(f, e);
        }
        return f;
    }

    /** The strand's entry point: runs the body, keeping what it threw for enterWith. */
    void runBody() {
        try {
            body.run();
        } catch (Throwable t) {
            failure = t;
        }
    }

    private void markScheduled(String who, String marker) {
        String old = (String) SCHEDULED.compareAndExchange(this, (String) null, marker);
        if (old != null) {
            throw new IllegalStateException(who + ": " + this + " was already scheduled in '" + old + "'");
        }
    }

    /** The context of the last enter (acquire: pairs with setRelease in enterWith). Any thread. */
    AioContext lastContext() {
        return (AioContext) CTX.getAcquire(this);
    }

    /** Clears the scheduled marker (release: the next enter's getAcquire sees it). */
    void clearScheduled() {
        SCHEDULED.setRelease(this, (String) null);
    }

    /** The running coroutine, or an IllegalStateException naming {@code what}. */
    static Coroutine requireSelf(String what) {
        Coroutine self = CURRENT.get();
        if (self == null) {
            throw new IllegalStateException(what + " outside a coroutine");
        }
        return self;
    }

    static Throwable merge(Throwable first, Throwable next) {
        if (next == null) {
            return first;
        }
        if (first == null) {
            return next;
        }
        if (first != next) {
            first.addSuppressed(next);
        }
        return first;
    }

    static void rethrow(Throwable t) {
        Throwables.throwIfUnchecked(t);
        throw new IllegalStateException("coroutine threw " + t, t);
    }

    @Override
    public String toString() {
        if (this == OUTSIDE) {
            return "Coroutine[outside]";
        }
        return "Coroutine@" + Integer.toHexString(System.identityHashCode(this)) + "[" + engine.propertyValue + "]";
    }
}
