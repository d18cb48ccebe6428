package io.jaio.aio.fdmon;

import io.jaio.aio.CqeHandler;
import io.jaio.aio.Sqe;
import io.jaio.linux.IoUring;

import java.util.function.Consumer;

/**
 * What the poll and epoll monitors share: QEMU's {@code aio_poll_disabled} rule for
 * {@link #needWait()}, and io_uring requests on a {@link RequestRing} (aio-semantics.md §7.5),
 * which the ring answers for. Each subclass watches the ring's fd and services it around its own
 * wait. Threads: as {@link FdMonitor}.
 */
abstract class RequestRingMonitor implements FdMonitor {
    final FdMonitorHost host;
    /**
     * The ring {@link #addSqe} uses. Set by the subclass's constructor, replaced only before the
     * monitor is published (epoll's {@code adopt}); the volatile write that publishes the monitor
     * (the context's monitor field) publishes it.
     */
    RequestRing requests;
    /**
     * Whether {@link #closeRequests()} closes the ring: false when borrowed, and once handed to
     * the monitor that replaces this one ({@link #giveUpRequests()}, under the list mutex, before
     * the context's close, which takes the same mutex).
     */
    private boolean ownsRequests;

    RequestRingMonitor(FdMonitorHost host, boolean ownsRequests) {
        this.host = host;
        this.ownsRequests = ownsRequests;
    }

    /** The ring now belongs to the monitor that replaces this one: {@link #close()} leaves it. */
    final void giveUpRequests() {
        ownsRequests = false;
    }

    /** Cancels and drains the requests in flight and closes the ring, if this monitor owns it. */
    final void closeRequests() {
        if (ownsRequests) {
            ownsRequests = false;
            requests.close();
        }
    }

    /**
     * The request ring's part of a wait, before it: submits queued entries and reaps posted
     * completions (one non-blocking enter, only when there is something to move). Home thread.
     *
     * @param timeoutNs the wait's timeout
     * @return 0 if reaped completions wait for dispatch (the wait must not block), else {@code timeoutNs}
     */
    final long serviceBeforeWait(long timeoutNs) {
        return requests.service() ? 0 : timeoutNs;
    }

    /** The request ring's part of a wait, after it: reaps what the wait was woken by. Home thread. */
    final void serviceAfterWait() {
        requests.service();
    }

    /** QEMU's rule (a handler without {@code io_poll} forbids polling), or request work. */
    @Override
    public final boolean needWait() {
        return host.pollDisabled() || requests.needWait();
    }

    @Override
    public final boolean hasPendingEvents() {
        return requests.hasPendingEvents();
    }

    @Override
    public final boolean hasUndispatched() {
        return requests.hasUndispatched();
    }

    @Override
    public final boolean dispatch() {
        return requests.dispatch();
    }

    /** io_uring requests on a ring of the context's own, set up by the first one. */
    @Override
    public final void addSqe(Consumer<Sqe> prep, CqeHandler handler) {
        requests.add(prep, handler);
    }

    @Override
    public final boolean hasIoUring() {
        return requests.available();
    }

    /** The request ring, set up now if there is none yet (home thread then). */
    @Override
    public final IoUring ioUring() {
        return requests.ring();
    }
}
