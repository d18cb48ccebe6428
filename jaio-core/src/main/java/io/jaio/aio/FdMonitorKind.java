package io.jaio.aio;

/**
 * Which kernel interface an {@link AioContext} uses to wait for file descriptors
 * (QEMU's {@code FDMonOps}).
 */
public enum FdMonitorKind {
    /**
     * QEMU's choice: io_uring if the kernel allows it, else poll(2) that moves to epoll once a
     * wait watches 64 or more fds (one way). Until jaio's io_uring monitor lands, AUTO never
     * picks io_uring.
     */
    AUTO,
    /** ppoll(2): rebuilds the fd set on every wait; nanosecond timeouts. */
    POLL,
    /** epoll(7): registrations kept in the kernel; ppoll on the epoll fd for ns timeouts. */
    EPOLL,
    /** io_uring poll requests (not available yet). */
    IO_URING
}
