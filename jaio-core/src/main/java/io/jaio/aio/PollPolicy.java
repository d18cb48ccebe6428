package io.jaio.aio;

/**
 * Adaptive polling's growth rule (QEMU's {@code adjust_polling_time}, per handler since 10.0),
 * as a pure function.
 */
final class PollPolicy {
    /** First polling time a handler gets when it starts growing (QEMU: 4 µs). */
    static final long INITIAL_NS = 4000;
    /** Handlers that found nothing for this long leave the poll set (io_uring only). */
    static final long IDLE_INTERVAL_NS = 7_000_000_000L;

    private PollPolicy() {}

    /**
     * The block time by which to judge the context notifier's polling: when a waker stamped its
     * eventfd write inside this pass ({@code startNs <= stampNs < startNs + blockNs}), how long
     * after the pass began it wrote; else {@code blockNs}.
     *
     * <p>Beyond QEMU. {@code blockNs} ends when the loop runs again, so after a sleep it includes
     * the kernel's wake-up latency (25-35 µs across vCPUs on a VM) although the event came
     * earlier. With QEMU's 32 µs default window that latency alone exceeds the maximum: once the
     * window had shrunk to 0, every later wake-up looked "too late to poll for" and polling never
     * resumed, while a loop that still polled kept catching events and never slept. Which of the
     * two a loop was in depended on history (a GC pause, a preemption), so the same burst of
     * bottom halves ran at 10 M/s in one JVM and 36 M/s in the next. Judging by the moment the
     * waker wrote removes the latency from the decision; fd events from the kernel carry no such
     * stamp and keep QEMU's rule.
     */
    static long notifierBlockNs(long startNs, long blockNs, long stampNs) {
        long d = stampNs - startNs;
        return d >= 0 && d < blockNs ? d : blockNs;
    }

    /**
     * The new polling time of a handler that polled for {@code pollNs} when the loop spent
     * {@code blockNs} polling and blocking before the handler became ready.
     *
     * <ul>
     *   <li>{@code blockNs <= pollNs}: unchanged (the sweet spot);
     *   <li>{@code blockNs > maxNs}: shrink, {@code pollNs / shrink}, or 0 if shrink is 0;
     *   <li>{@code pollNs < maxNs && blockNs < maxNs}: grow, {@code pollNs * grow} (grow 0 means
     *       2), or {@link #INITIAL_NS} from 0, clamped to {@code maxNs};
     *   <li>otherwise unchanged.
     * </ul>
     */
    static long adjust(long pollNs, long blockNs, long maxNs, long grow, long shrink) {
        if (blockNs <= pollNs) {
            return pollNs;
        }
        if (blockNs > maxNs) {
            return shrink == 0 ? 0 : pollNs / shrink;
        }
        if (pollNs < maxNs && blockNs < maxNs) {
            long next;
            if (pollNs == 0) {
                next = INITIAL_NS;
            } else {
                long factor = grow == 0 ? 2 : grow;
                next = pollNs > maxNs / factor ? maxNs : pollNs * factor; // no overflow
            }
            return Math.min(next, maxNs);
        }
        return pollNs;
    }
}
