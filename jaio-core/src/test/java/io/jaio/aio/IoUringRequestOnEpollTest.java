package io.jaio.aio;

/**
 * {@link IoUringRequestTest} on the EPOLL monitor, whose requests run on a ring of the context's
 * own beside its fd set (QEMU's block/io_uring.c beside fdmon-epoll).
 */
class IoUringRequestOnEpollTest extends IoUringRequestTest {
    @Override
    FdMonitorKind kind() {
        return FdMonitorKind.EPOLL;
    }
}
