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
 * @param contentionSamples how many samples the CPU-contention detector took
 *     ({@link AioContext#setPollContention}; 0 when off); like {@code pollCount}, possibly stale
 *     from another thread
 * @param contendedSamples how many of those found the home thread preempted too often
 * @param cappedPollWindows how many busy-polling windows the detector shortened or suspended
 * @param pollCapNs the detector's current cap on the polling window in ns (0: polling
 *     suspended), or -1 for none (also when the detector is off)
 */
public record AioStats(long pollCount, long eventfdWrites, long callbackErrors, long contentionSamples,
        long contendedSamples, long cappedPollWindows, long pollCapNs) {
}
