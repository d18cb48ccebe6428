package io.jaio.aio;

/**
 * jaio's one rethrow helper: passing on a {@link Throwable} that a callback, a coroutine body or
 * a worker produced, without wrapping what needs no wrapping.
 *
 * <p>Any thread.
 */
public final class Throwables {
    private Throwables() {}

    /**
     * Throws {@code t} as is if it is a {@link RuntimeException} or an {@link Error}; returns
     * normally otherwise (a checked exception), so that the caller decides how to wrap it.
     *
     * @param t the throwable
     */
    public static void throwIfUnchecked(Throwable t) {
        if (t instanceof RuntimeException r) {
            throw r;
        }
        if (t instanceof Error e) {
            throw e;
        }
    }

    /**
     * Throws {@code t} as is, checked exceptions included, although the caller declares none
     * (for APIs that match QEMU's call shape, like {@code thread_pool_submit_co}). Never returns;
     * the return type lets callers write {@code throw Throwables.sneakyThrow(t)}.
     *
     * @param t the throwable
     * @return never
     */
    public static RuntimeException sneakyThrow(Throwable t) {
        throw Throwables.<RuntimeException>sneaky(t);
    }

    @SuppressWarnings("unchecked")
    private static <E extends Throwable> E sneaky(Throwable t) throws E {
        throw (E) t;
    }
}
