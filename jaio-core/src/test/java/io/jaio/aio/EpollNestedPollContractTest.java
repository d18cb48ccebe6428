package io.jaio.aio;

/** {@link NestedPollContract} on the EPOLL fd monitor. */
class EpollNestedPollContractTest extends NestedPollContract {
    @Override
    protected FdMonitorKind kind() {
        return FdMonitorKind.EPOLL;
    }
}
