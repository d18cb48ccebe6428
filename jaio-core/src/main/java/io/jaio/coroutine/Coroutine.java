package io.jaio.coroutine;

import io.jaio.aio.AioContext;

/**
 * PLACEHOLDER while the coroutine engine is being written (issue 4); not exported as done.
 */
public final class Coroutine {
    private Coroutine() {}

    /** Internal hook of {@link AioContext#coSchedule}. */
    public static void schedule(AioContext ctx, Coroutine co) {
        throw new UnsupportedOperationException("coroutines are not implemented yet");
    }

    /** Internal hook of {@link AioContext#coEnter}. */
    public static void enterIn(AioContext ctx, Coroutine co) {
        throw new UnsupportedOperationException("coroutines are not implemented yet");
    }
}
