package io.jaio.aio;

/** {@link AdaptivePollingContract} on the EPOLL fd monitor. */
class EpollAdaptivePollingContractTest extends AdaptivePollingContract {
    @Override
    protected FdMonitorKind kind() {
        return FdMonitorKind.EPOLL;
    }
}
