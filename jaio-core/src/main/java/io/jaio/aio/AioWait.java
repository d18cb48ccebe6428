package io.jaio.aio;

import java.lang.invoke.VarHandle;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

/**
 * Waiting for a condition that other threads change (QEMU's {@code AIO_WAIT_WHILE} and
 * {@code aio_wait_kick}). The waiter runs its context's loop while the condition holds; whoever
 * changes the condition calls {@link #kick()} afterwards, which wakes every waiting loop.
 *
 * <p>Never wait for one IoThread from another: route through a third context, as in QEMU.
 */
public final class AioWait {
    /** Number of threads inside waitWhile (QEMU's global_aio_wait.num_waiters). */
    private static final AtomicInteger WAITERS = new AtomicInteger();
    /** Contexts polled by a waiter now, with how many waiters poll each. */
    private static final ConcurrentHashMap<AioContext, Integer> WAITING = new ConcurrentHashMap<>();

    private AioWait() {}

    /**
     * Runs blocking {@code poll} while {@code cond} is true; returns whether it polled at least once.
     * The loop polled is {@code ctx} when called in its home thread, else the caller's own
     * {@link AioContext#current()} (QEMU's main loop role).
     *
     * @param ctx the context whose state the condition depends on, or null for the caller's own
     * @param cond the condition, re-evaluated after every poll; not null
     * @return whether it polled at least once
     * @throws IllegalStateException if the caller is neither {@code ctx}'s home thread nor has a
     *     current context of its own
     */
    public static boolean waitWhile(AioContext ctx, BooleanSupplier cond) {
        Objects.requireNonNull(cond, "cond");
        AioContext pollCtx = ctx != null && ctx.isHomeThread() ? ctx : AioContext.current();
        if (pollCtx == null || !pollCtx.isHomeThread()) {
            throw new IllegalStateException("AioWait.waitWhile must run in the home thread of "
                    + (ctx == null ? "a context" : "context '" + ctx.name() + "'")
                    + " or in a thread with a current context of its own");
        }
        WAITERS.incrementAndGet(); // full fence: pairs with the fence in kick()
        WAITING.merge(pollCtx, 1, Integer::sum);
        try {
            boolean waited = false;
            while (cond.getAsBoolean()) {
                pollCtx.poll(true);
                waited = true;
            }
            return waited;
        } finally {
            WAITING.computeIfPresent(pollCtx, (k, v) -> v == 1 ? null : v - 1);
            WAITERS.decrementAndGet();
        }
    }

    /**
     * Wakes every loop inside {@link #waitWhile} so it re-evaluates its condition (QEMU's
     * {@code aio_wait_kick}). Call after changing the condition. Any thread.
     *
     * <p>QEMU schedules a no-op oneshot BH on the main context, which is never finalised. Here
     * waiters poll contexts that may close right after their wait, so a BH could outlive its
     * purpose and be reported as a leak; a plain {@link AioContext#wakeup()} makes the blocking
     * poll return just as well, since waitWhile loops on its condition, not on progress.
     */
    public static void kick() {
        VarHandle.fullFence(); // order the caller's condition change before reading WAITERS
        if (WAITERS.get() != 0) {
            for (AioContext c : WAITING.keySet()) {
                c.wakeup(); // a no-op on a context that closed meanwhile
            }
        }
    }
}
