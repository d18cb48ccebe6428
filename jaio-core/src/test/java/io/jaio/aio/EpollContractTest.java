package io.jaio.aio;

/** The AioContext contract on the epoll(7) fd monitor. */
class EpollContractTest extends AioContractTest {
    @Override
    protected FdMonitorKind kind() {
        return FdMonitorKind.EPOLL;
    }
}
