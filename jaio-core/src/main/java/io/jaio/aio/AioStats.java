package io.jaio.aio;

/**
 * A snapshot of a context's counters ({@link AioContext#stats()}).
 *
 * @param pollCount how many times {@link AioContext#poll} was called; exact when taken in the
 *     home thread, possibly stale from another thread (a plain field, kept off the hot path's
 *     atomics)
 * @param eventfdWrites how many times {@link AioContext#wakeup()} really wrote the eventfd
 *     (coalescing shows here)
 * @param callbackErrors how many user callbacks threw (each was logged)
 */
public record AioStats(long pollCount, long eventfdWrites, long callbackErrors) {
}
