package io.jaio.aio;

/** {@link FdHandlerContract} on the EPOLL fd monitor. */
class EpollFdHandlerContractTest extends FdHandlerContract {
    @Override
    protected FdMonitorKind kind() {
        return FdMonitorKind.EPOLL;
    }
}
