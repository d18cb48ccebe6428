package io.jaio.coroutine;

import io.jaio.aio.AioContext;
import io.jaio.aio.BottomHalf;
import io.jaio.aio.ContextSlot;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;

/**
 * A context's scheduled-coroutine stack and its bottom half (QEMU's {@code scheduled_coroutines}
 * and {@code co_schedule_bh}). One per context, created on the first {@link Coroutine#schedule}
 * in the context's {@link #SLOT}; {@link #close()} runs when the context closes, after the thread
 * pool's (QEMU's {@code aio_ctx_finalize} order).
 */
final class CoScheduler implements AutoCloseable {
    static final ContextSlot<CoScheduler> SLOT = ContextSlot.declare(ContextSlot.Order.CO_SCHEDULER, CoScheduler.class);

    /*
     * Implementation overview (for maintainers).
     *  1. push (any thread): co.scheduledNext = head; CAS head (release: publishes the link and
     *     everything the scheduler did before); then schedule the BH (which wakes the loop).
     *  2. run (home thread, the BH): getAndSet(head, null) (acquire: pairs with the CAS in 1),
     *     reverse the chain so coroutines run in the order they were scheduled, and for each:
     *     clear `scheduled` (release) and enter it in this context.
     * A coroutine is on at most one stack at a time: Coroutine.schedule sets `scheduled` with a
     * CAS before pushing, and only step 2 clears it, after unlinking it.
     */

    private static final VarHandle HEAD;

    static {
        try {
            HEAD = MethodHandles.lookup().findVarHandle(CoScheduler.class, "head", Coroutine.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final AioContext ctx;
    private final BottomHalf bh;
    @SuppressWarnings("unused") // via HEAD
    private volatile Coroutine head;
    /**
     * The futures of {@link Coroutine#submit} in this context not complete yet: added by
     * {@link #track} (any thread), removed by their completion (any thread), failed by
     * {@link #close()}. A concurrent set: no other ordering is needed.
     */
    private final Set<CompletableFuture<?>> submitted = ConcurrentHashMap.newKeySet();

    CoScheduler(AioContext ctx) {
        this.ctx = ctx;
        this.bh = ctx.newBottomHalf("co-schedule", this::run);
    }

    /** Lock-free push, then schedules the BH. Any thread. */
    void push(Coroutine co) {
        Coroutine h;
        do {
            h = head;
            co.scheduledNext = h;
        } while (!HEAD.weakCompareAndSetRelease(this, h, co));
        bh.schedule();
    }

    /** The bottom half: enters every scheduled coroutine, oldest first. Home thread. */
    private void run() {
        Coroutine top = (Coroutine) HEAD.getAndSet(this, (Coroutine) null);
        Coroutine straight = null;
        while (top != null) {
            Coroutine next = top.scheduledNext;
            top.scheduledNext = straight;
            straight = top;
            top = next;
        }
        Throwable failure = null;
        while (straight != null) {
            Coroutine co = straight;
            straight = co.scheduledNext;
            co.scheduledNext = null;
            co.clearScheduled();
            try {
                Coroutine.enterWith(ctx, co);
            } catch (Throwable t) {
                // Keep entering the others; the loop logs and counts what we rethrow.
                failure = Coroutine.merge(failure, t);
            }
        }
        if (failure != null) {
            Coroutine.rethrow(failure);
        }
    }

    /**
     * Follows {@code f}, the future of a coroutine submitted to this context, until it
     * completes; {@link #close()} fails it if it has not by then. Call before the coroutine is
     * scheduled. Any thread.
     */
    void track(CompletableFuture<?> f) {
        submitted.add(f);
        f.whenComplete((v, e) -> submitted.remove(f));
    }

    /**
     * Deletes the bottom half and fails the futures of submitted coroutines that never started
     * or are suspended (nothing can resume them once the context is closed) with a
     * {@link RejectedExecutionException}; then fails (the context reports it) if coroutines were
     * left scheduled. Home thread.
     */
    @Override
    public void close() {
        bh.delete();
        for (CompletableFuture<?> f : submitted) {
            f.completeExceptionally(new RejectedExecutionException("context '" + ctx.name()
                    + "' closed before the coroutine submitted to it finished"));
        }
        int left = 0;
        for (Coroutine c = (Coroutine) HEAD.getAndSet(this, (Coroutine) null); c != null; c = c.scheduledNext) {
            left++;
        }
        if (left > 0) {
            throw new IllegalStateException(left + " coroutine(s) scheduled in context '" + ctx.name()
                    + "' were never entered");
        }
    }
}
