package io.jaio.aio;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Objects;

/**
 * One asynchronous request with a completion callback (QEMU's {@code BlockAIOCB},
 * {@code util/aiocb.c}; docs/design/aio-semantics.md §11).
 *
 * <p>Contract: the implementation runs the request's completion callback <em>exactly once</em> —
 * with a result, an error, or (after {@link #cancelAsync()} won) a
 * {@link java.util.concurrent.CancellationException}, jaio's {@code -ECANCELED} — in the home
 * thread of its {@link #context() context}, and then drops its own reference. Whoever needs the
 * object after the callback must hold a reference of its own ({@link #ref()} /
 * {@link #unref()}). A new request holds one reference (the implementation's).
 *
 * <p>Thread contract: {@link #ref()}, {@link #unref()}, {@link #refCount()},
 * {@link #isCompleted()} and {@link #cancelAsync()} are safe from any thread; {@link #cancel()}
 * runs the context's loop and is home thread only.
 */
public abstract class Aiocb {
    /*
     * Maintainers: the reference count is atomic (REFCNT CAS loops), so ref/unref work from any
     * thread, although QEMU touches it only in the home thread. Zero is terminal ("freed" in
     * QEMU): ref or unref at zero is a use-after-free and throws. `completed` is set by the
     * implementation (markCompleted) in the home thread right after the callback returned; the
     * synchronous cancel() polls until it is set. It is volatile only so that isCompleted() gives
     * a meaningful answer off the home thread; cancel() itself reads it in the home thread.
     */

    private static final VarHandle REFCNT;

    static {
        try {
            REFCNT = MethodHandles.lookup().findVarHandle(Aiocb.class, "refCount", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final AioContext ctx;
    /** Atomic via {@link #REFCNT}; starts at 1 (QEMU's {@code qemu_aio_get}). */
    @SuppressWarnings("unused")
    private volatile int refCount = 1;
    /** Set once, in the home thread, after the completion callback returned. */
    private volatile boolean completed;

    /**
     * A request of {@code ctx} holding one reference (the implementation's).
     *
     * @param ctx the context whose home thread runs the completion callback
     */
    protected Aiocb(AioContext ctx) {
        this.ctx = Objects.requireNonNull(ctx, "ctx");
    }

    /** {@return the context whose home thread runs the completion callback} Any thread. */
    public final AioContext context() {
        return ctx;
    }

    /**
     * Asks for cancellation and returns at once (QEMU's {@code bdrv_aio_cancel_async}). Whether it
     * wins is up to the implementation (the thread pool cancels only work not yet started); either
     * way the callback still runs exactly once, later, in the home thread. Does nothing once the
     * request is done. Any thread.
     */
    public abstract void cancelAsync();

    /**
     * Cancels and waits until the completion callback has run (QEMU's {@code bdrv_aio_cancel}):
     * takes a reference, calls {@link #cancelAsync()}, runs blocking {@link AioContext#poll} until
     * the callback ran, then drops the reference. Work that already started is waited for, so
     * this may block as long as the work takes. Other callbacks of the context run meanwhile
     * (nested poll). Returns at once if the callback already ran.
     *
     * <p>Home thread only, outside coroutines.
     *
     * @throws IllegalStateException off the home thread, or if the request was already released
     */
    public final void cancel() {
        if (!ctx.isHomeThread()) {
            throw new IllegalStateException("Aiocb.cancel() must run in the home thread of context '" + ctx.name()
                    + "', not in " + Thread.currentThread().getName() + "; use cancelAsync()");
        }
        if (completed) {
            return;
        }
        ref();
        try {
            cancelAsync();
            // QEMU polls "while refcnt > 1"; waiting for the callback itself also works when the
            // caller holds references of its own.
            while (!completed) {
                ctx.poll(true);
            }
        } finally {
            unref();
        }
    }

    /**
     * Takes a reference (QEMU's {@code qemu_aio_ref}). Any thread.
     *
     * @throws IllegalStateException if the count already reached zero (the request was released)
     */
    public final void ref() {
        int c;
        do {
            c = (int) REFCNT.getVolatile(this);
            if (c <= 0) {
                throw new IllegalStateException("ref() of a released " + this + ": take a reference before the last one"
                        + " is dropped (the implementation drops its own right after the callback)");
            }
        } while (!REFCNT.compareAndSet(this, c, c + 1));
    }

    /**
     * Drops a reference (QEMU's {@code qemu_aio_unref}); at zero the request is released and every
     * later {@code ref}/{@code unref} throws. Any thread.
     *
     * @throws IllegalStateException if the count is already zero (more unrefs than refs)
     */
    public final void unref() {
        int c;
        do {
            c = (int) REFCNT.getVolatile(this);
            if (c <= 0) {
                throw new IllegalStateException("unref() of a released " + this + ": the reference count would go"
                        + " below zero (more unref() than ref() plus the initial reference)");
            }
        } while (!REFCNT.compareAndSet(this, c, c - 1));
    }

    /** {@return the current reference count (0 = released)} Any thread; a snapshot. */
    public final int refCount() {
        return (int) REFCNT.getVolatile(this);
    }

    /**
     * Whether the completion callback has run (for a request without a callback: whether it was
     * retired). Any thread; a snapshot.
     *
     * @return whether the request is complete
     */
    public final boolean isCompleted() {
        return completed;
    }

    /**
     * For implementations: the completion callback has returned. Call it once, in the home thread,
     * before dropping the implementation's reference.
     */
    protected final void markCompleted() {
        completed = true;
    }
}
