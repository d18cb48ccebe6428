package io.jaio.aio;

/**
 * Which kernel interface an {@link AioContext} uses to wait for file descriptors
 * (QEMU's {@code FDMonOps}).
 */
public enum FdMonitorKind {
    /**
     * QEMU's choice: io_uring if the kernel allows it; else (logged once) poll(2) that moves to
     * epoll once a wait watches 64 or more fds (one way).
     */
    AUTO,
    /** ppoll(2): rebuilds the fd set on every wait; nanosecond timeouts. */
    POLL,
    /** epoll(7): registrations kept in the kernel; ppoll on the epoll fd for ns timeouts. */
    EPOLL,
    /**
     * io_uring: one-shot POLL_ADD requests for fd readiness, a TIMEOUT request for the wait's
     * deadline, and the context's own ring for {@link AioContext#addSqe} requests.
     */
    IO_URING
}
