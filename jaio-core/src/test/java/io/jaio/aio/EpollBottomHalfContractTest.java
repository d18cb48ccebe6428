package io.jaio.aio;

/** {@link BottomHalfContract} on the EPOLL fd monitor. */
class EpollBottomHalfContractTest extends BottomHalfContract {
    @Override
    protected FdMonitorKind kind() {
        return FdMonitorKind.EPOLL;
    }
}
