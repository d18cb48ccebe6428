package io.jaio.aio;

import io.jaio.aio.fdmon.FdMonitor;
import io.jaio.aio.fdmon.ReadyList;

/**
 * A context's adaptive busy polling (aio-semantics.md §6; QEMU's {@code poll_aio_handlers} list,
 * {@code try_poll_mode}, {@code run_poll_handlers}, {@code remove_idle_poll_handlers} and
 * {@code poll_set_started} in {@code util/aio-posix.c}). The growth rule itself is the pure
 * {@link PollPolicy}.
 *
 * <p>Threads: the home thread, except that a registration holding the list mutex with no walker
 * may {@link #remove} a deleted handler (see {@link FdHandlers}).
 */
final class AdaptivePoller {
    private final FdHandlers fds;
    private final Callbacks callbacks;
    /** Head of the intrusive poll list (AioHandler.pollPrev/pollNext). */
    private AioHandler head;
    /** Whether io_poll_begin has run for the list (QEMU's poll_started). */
    private boolean started;
    /**
     * The CPU-contention cap (beyond QEMU, see PollContention), or null when off. Written by
     * AioContext.setPollContention from any thread, read once per pass by the home thread: the
     * volatile pair publishes the detector's construction; a pass that reads the old value
     * applies the change from the next pass.
     */
    volatile PollContention contention;

    AdaptivePoller(FdHandlers fds, Callbacks callbacks) {
        this.fds = fds;
        this.callbacks = callbacks;
    }

    boolean started() {
        return started;
    }

    void add(AioHandler h) {
        if (h.onPollList) {
            return;
        }
        h.onPollList = true;
        h.pollPrev = null;
        h.pollNext = head;
        if (head != null) {
            head.pollPrev = h;
        }
        head = h;
    }

    void remove(AioHandler h) {
        if (!h.onPollList) {
            return;
        }
        if (h.pollPrev != null) {
            h.pollPrev.pollNext = h.pollNext;
        } else {
            head = h.pollNext;
        }
        if (h.pollNext != null) {
            h.pollNext.pollPrev = h.pollPrev;
        }
        h.pollPrev = null;
        h.pollNext = null;
        h.onPollList = false;
    }

    /** Forgets the list (the context is closing). */
    void clear() {
        head = null;
    }

    /** QEMU's {@code try_poll_mode}. */
    boolean tryPollMode(AioContext.PollFrame f) {
        if (head == null) {
            return false;
        }
        long maxNs = 0;
        for (AioHandler h = head; h != null; h = h.pollNext) {
            maxNs = Math.max(maxNs, h.pollNs);
        }
        maxNs = AioContext.soonest(f.timeout, maxNs);
        if (maxNs <= 0) {
            return false;
        }
        // Volatile read, only when a window is asked for: pairs with setPollContention's write.
        PollContention c = contention;
        if (c != null && (maxNs = c.window(maxNs)) == 0) {
            return false; // polling suspended
        }
        FdMonitor m = fds.monitor;
        m.prepareToPoll();
        if (!m.needWait()) {
            setStarted(f.ready, true);
            return runPollHandlers(f, maxNs);
        }
        return false;
    }

    /** QEMU's {@code run_poll_handlers}: busy-poll until something is ready or time is up. */
    private boolean runPollHandlers(AioContext.PollFrame f, long maxNs) {
        boolean progress = false;
        long start = System.nanoTime();
        long elapsed;
        FdMonitor m = fds.monitor;
        boolean peek = fds.pollsReadiness();
        do {
            progress |= pollHandlersOnce(f, start);
            if (peek && f.timeout != 0 && m.peek(f.ready) > 0) {
                f.timeout = 0; // ready fds found: dispatch them without waiting (the wait is skipped)
            }
            elapsed = System.nanoTime() - start;
            maxNs = AioContext.soonest(f.timeout, maxNs);
        } while (elapsed < maxNs && !m.needWait());

        if (m.canPollReadiness() && removeIdlePollHandlers(f.ready, start + elapsed)) {
            f.timeout = 0;
            progress = true;
        }
        if (f.timeout != -1) {
            f.timeout -= Math.min(f.timeout, elapsed); // keep the same wake-up moment
        }
        return progress;
    }

    private boolean pollHandlersOnce(AioContext.PollFrame f, long now) {
        boolean progress = false;
        AioHandler next;
        for (AioHandler h = head; h != null; h = next) {
            next = h.pollNext;
            if (!h.isDeleted() && fds.externalOk(h) && callbacks.poll(h.ioPoll, h)) {
                f.ready.addPollReady(h);
                h.pollIdleDeadline = now + PollPolicy.IDLE_INTERVAL_NS;
                f.timeout = 0;
                if (!h.isContextNotifier) {
                    progress = true;
                }
            }
        }
        return progress;
    }

    /** QEMU's {@code remove_idle_poll_handlers} (only for monitors that watch fds while we poll). */
    private boolean removeIdlePollHandlers(ReadyList ready, long now) {
        boolean progress = false;
        AioHandler next;
        for (AioHandler h = head; h != null; h = next) {
            next = h.pollNext;
            if (h.pollIdleDeadline == 0) {
                h.pollIdleDeadline = now + PollPolicy.IDLE_INTERVAL_NS;
            } else if (now >= h.pollIdleDeadline) {
                h.pollIdleDeadline = 0;
                remove(h);
                Runnable end = h.ioPollEnd;
                if (started && end != null && !h.isDeleted()) {
                    callbacks.run(end, h);
                    if (callbacks.poll(h.ioPoll, h)) { // poll once more in case io_poll_end raced with an event
                        ready.addPollReady(h);
                        progress = true;
                    }
                }
            }
        }
        return progress;
    }

    /** QEMU's {@code poll_set_started}. Returns progress found by the final poll when stopping. */
    boolean setStarted(ReadyList ready, boolean started) {
        if (started == this.started) {
            return false;
        }
        this.started = started;
        boolean progress = false;
        AioHandler next;
        for (AioHandler h = head; h != null; h = next) {
            next = h.pollNext;
            if (h.isDeleted()) {
                continue;
            }
            Runnable cb = started ? h.ioPollBegin : h.ioPollEnd;
            if (cb != null) {
                callbacks.run(cb, h);
            }
            // Poll one last time in case io_poll_end raced with the event.
            if (!started && fds.externalOk(h) && callbacks.poll(h.ioPoll, h)) {
                ready.addPollReady(h);
                if (!h.isContextNotifier) {
                    progress = true;
                }
            }
        }
        return progress;
    }
}
