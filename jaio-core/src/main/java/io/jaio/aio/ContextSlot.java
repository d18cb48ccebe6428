package io.jaio.aio;

import java.util.Objects;

/**
 * A typed per-context slot: state that another jaio package keeps once per context (the thread
 * pool, the coroutine scheduler), reached through {@link AioContext#slot} and closed by
 * {@link AioContext#close()} before its leak checks, so it can delete its bottom halves.
 *
 * <p>Each slot is declared once, statically, at its place in the close order ({@link Order}):
 * QEMU's {@code aio_ctx_finalize} frees the thread pool, then Linux AIO, then deletes
 * {@code co_schedule_bh}, and so does jaio. {@code io.jaio.aio} names the places, not the types that fill them, so it
 * does not depend on the packages that use it.
 *
 * <p>Internal: for jaio's own packages; no compatibility promise. Any thread.
 *
 * @param <T> what the slot holds
 */
public final class ContextSlot<T extends AutoCloseable> {
    /** The slots, in the order {@link AioContext#close()} closes them. */
    public enum Order {
        /** The context's {@link ThreadPool} (QEMU's {@code thread_pool_free}, first). */
        THREAD_POOL,
        /**
         * jaio-block's Linux native AIO state (QEMU's {@code laio_detach_aio_context} and
         * {@code laio_cleanup}, after the thread pool).
         */
        LINUX_AIO,
        /** The coroutine scheduler of the coroutine package (QEMU's {@code co_schedule_bh}, last). */
        CO_SCHEDULER
    }

    private static final ContextSlot<?>[] DECLARED = new ContextSlot<?>[Order.values().length];

    final Order order;
    private final Class<T> type;

    private ContextSlot(Order order, Class<T> type) {
        this.order = order;
        this.type = type;
    }

    /**
     * Declares the slot at {@code order} for instances of {@code type}. Once per place, from the
     * static initialiser of the class that owns it. Any thread.
     *
     * @param <T> what the slot holds
     * @param order the slot's place, which fixes when {@link AioContext#close()} closes it
     * @param type the class of what the slot holds
     * @return the slot, to look up per context
     * @throws IllegalStateException if the place was declared before
     */
    public static synchronized <T extends AutoCloseable> ContextSlot<T> declare(Order order, Class<T> type) {
        Objects.requireNonNull(order, "order");
        Objects.requireNonNull(type, "type");
        if (DECLARED[order.ordinal()] != null) {
            throw new IllegalStateException("context slot " + order + " is already declared for "
                    + DECLARED[order.ordinal()].type.getName());
        }
        ContextSlot<T> s = new ContextSlot<>(order, type);
        DECLARED[order.ordinal()] = s;
        return s;
    }

    /** {@code v} as the slot's type (the slot's place only ever holds what its factory made). */
    T cast(AutoCloseable v) {
        return type.cast(v);
    }

    @Override
    public String toString() {
        return "ContextSlot[" + order + ", " + type.getSimpleName() + "]";
    }
}
