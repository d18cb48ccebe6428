package io.jaio.aio.fdmon;

import io.jaio.aio.CqeHandler;
import io.jaio.aio.Sqe;
import io.jaio.linux.IoUring;
import io.jaio.linux.NativeException;

import java.util.function.Consumer;

/**
 * The io_uring ring that runs {@link FdMonitor#addSqe} requests for the poll and epoll monitors,
 * which watch their fds themselves (QEMU's {@code LuringState} of {@code block/io_uring.c}: a
 * ring per AioContext beside fdmon-epoll, set up on first use, its fd watched by the loop). It is
 * an {@link IoUringFdMonitor} that is never given an fd: the same request slots, FIFO dispatch,
 * {@code aio-max-batch} and cancel-and-drain at close.
 *
 * <p>Why this exists beside the io_uring monitor: readiness reported through io_uring
 * {@code POLL_ADD} reaches a sleeping loop as task work, a plain wake-up; epoll and ppoll are
 * woken by the socket's own synchronous wake-up, which lets the scheduler run the loop on the CPU
 * the waking client is about to leave. With more clients than CPUs that is the difference
 * between a p99 of about 1.1 ms and 0.17 ms (docs/benchmarks.md §3, 2026-12-03 night).
 *
 * <p>The ring is set up by the first {@link #add} or {@link #ring()}, so a context that never
 * submits a request holds no ring. When the poll monitor moves to epoll, or epoll falls back to
 * poll, the new monitor takes this object over with whatever is in flight.
 *
 * <p>Threads: {@link #available()} any thread, {@link #handOver} any thread with the list mutex;
 * everything else the home thread (the monitor's wait side).
 */
final class RequestRing {
    /** The kernel's answer to "can a ring be set up", probed once per JVM (null: not yet). */
    private static volatile Boolean kernelSupport;

    private final FdMonitorHost host;
    /**
     * Called with the ring's fd once it exists (epoll registers it). Written by handOver (list
     * mutex, any thread), read by open (home thread): volatile, so a hand-over is seen by the next
     * open.
     */
    private volatile java.util.function.IntConsumer onOpen;
    private IoUringFdMonitor ring;
    private boolean closed;

    RequestRing(FdMonitorHost host, java.util.function.IntConsumer onOpen) {
        this.host = host;
        this.onOpen = onOpen;
    }

    /**
     * Hands this ring to the monitor that replaces its owner. If the ring already exists,
     * {@code onOpen} runs now; if that throws, nothing changed. Any thread, list mutex held (the
     * replacement happens under it; epoll's fall back to poll runs in the thread that changed a
     * handler). Racing the home thread's {@link #open} is harmless: a ring set up meanwhile is
     * registered with the old owner's set, or with none, and the new owner (poll) polls it by fd
     * in every wait; upgrades to epoll run in the home thread.
     *
     * @param onOpen what the new owner does with the ring's fd
     * @return this
     */
    RequestRing handOver(java.util.function.IntConsumer onOpen) {
        if (ring != null) {
            onOpen.accept(ring.ioUring().ringFd()); // may throw: then the old owner keeps the ring
        }
        this.onOpen = onOpen;
        return this;
    }

    /**
     * Whether {@link #add} can work: the kernel lets this process set up a ring (probed once per
     * JVM; {@value IoUringFdMonitor#FORCE_FAILURE_PROPERTY} makes it false). Any thread.
     *
     * @return whether io_uring requests are available
     */
    boolean available() {
        if (Boolean.getBoolean(IoUringFdMonitor.FORCE_FAILURE_PROPERTY)) {
            logRefusal("forced by -D" + IoUringFdMonitor.FORCE_FAILURE_PROPERTY);
            return false;
        }
        Boolean k = kernelSupport; // volatile: pairs with the write below (a benign race: both probe)
        if (k == null) {
            try {
                IoUringFdMonitor.open(host).close();
                k = Boolean.TRUE;
            } catch (NativeException e) {
                k = Boolean.FALSE;
                logRefusal(e.getMessage());
            }
            kernelSupport = k;
        }
        return k;
    }

    /** Logs, once per JVM, that poll and epoll contexts run no io_uring requests, and why. */
    private static void logRefusal(String why) {
        if (REFUSAL_LOGGED.compareAndSet(false, true)) {
            System.getLogger("io.jaio.aio").log(System.Logger.Level.WARNING,
                    "jaio: io_uring unavailable ({0}); poll and epoll contexts run no io_uring requests", why);
        }
    }

    private static final java.util.concurrent.atomic.AtomicBoolean REFUSAL_LOGGED =
            new java.util.concurrent.atomic.AtomicBoolean();

    /** {@return the ring's fd, or -1 while there is no ring} Home thread. */
    int fd() {
        return ring == null ? -1 : ring.ioUring().ringFd();
    }

    /**
     * The ring, set up now if there is none yet. Home thread.
     *
     * @return the ring, or {@code null} if io_uring is not available
     * @throws UnsupportedOperationException if the kernel allows io_uring but refuses this ring
     *     (fd or memory limits), or the monitor cannot watch its fd
     */
    IoUring ring() {
        IoUringFdMonitor r = open(false);
        return r == null ? null : r.ioUring();
    }

    private IoUringFdMonitor open(boolean mustOpen) {
        if (ring != null) {
            return ring;
        }
        if (closed) {
            throw new IllegalStateException("io_uring requests of context '" + host.name() + "' are closed");
        }
        if (!available()) {
            if (mustOpen) {
                throw new UnsupportedOperationException("context '" + host.name()
                        + "' cannot run io_uring requests: the kernel refuses io_uring"
                        + (Boolean.getBoolean(IoUringFdMonitor.FORCE_FAILURE_PROPERTY)
                                ? " (forced by -D" + IoUringFdMonitor.FORCE_FAILURE_PROPERTY + ")" : ""));
            }
            return null;
        }
        IoUringFdMonitor r = null;
        try {
            r = IoUringFdMonitor.open(host);
            onOpen.accept(r.ioUring().ringFd()); // watched before it is used: else a wait could miss it
        } catch (NativeException e) {
            if (r != null) {
                r.close();
            }
            throw new UnsupportedOperationException("context '" + host.name()
                    + "' cannot set up its io_uring request ring: " + e.getMessage(), e);
        }
        ring = r;
        host.requirePassChecks(); // completions now reach the loop through the ring
        return r;
    }

    /**
     * {@link FdMonitor#addSqe}: sets the ring up on first use (a refused set-up throws
     * {@link UnsupportedOperationException}, and the next request tries again). Home thread.
     */
    void add(Consumer<Sqe> prep, CqeHandler handler) {
        open(true).addSqe(prep, handler);
    }

    /**
     * Whether the loop must not busy-poll on: entries to submit, completions posted or held as
     * task work, or completions already reaped (by a polling round's peek, which services the
     * ring) and waiting for dispatch. Reads no ring memory while nothing is in flight. Home
     * thread.
     *
     * @return whether a wait or a dispatch has request work to do
     */
    boolean needWait() {
        IoUringFdMonitor r = ring;
        return r != null && r.requestsInFlight() && (r.hasUndispatched() || r.needWait());
    }

    /**
     * Submits queued entries and reaps posted completions without blocking, when there are any.
     * Called by the owning monitor before it blocks and after it wakes. Home thread.
     *
     * @return whether completions wait for {@link #dispatch()} (the wait must not block)
     */
    boolean service() {
        IoUringFdMonitor r = ring;
        return r != null && r.serviceRequests();
    }

    /** {@link FdMonitor#hasPendingEvents()} for the requests. Home thread. */
    boolean hasPendingEvents() {
        IoUringFdMonitor r = ring;
        return r != null && r.requestsInFlight() && r.hasPendingEvents();
    }

    /** {@link FdMonitor#hasUndispatched()} for the requests. Home thread. */
    boolean hasUndispatched() {
        IoUringFdMonitor r = ring;
        return r != null && r.hasUndispatched();
    }

    /** {@link FdMonitor#dispatch()} for the requests. Home thread. */
    boolean dispatch() {
        IoUringFdMonitor r = ring;
        return r != null && r.dispatch();
    }

    /** Cancels what is in flight (no handler runs) and closes the ring. Idempotent. Home thread. */
    void close() {
        closed = true;
        IoUringFdMonitor r = ring;
        ring = null;
        if (r != null) {
            r.close();
        }
    }
}
