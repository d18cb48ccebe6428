package io.jaio.aio;

/** {@link WakeupContract} on the EPOLL fd monitor. */
class EpollWakeupContractTest extends WakeupContract {
    @Override
    protected FdMonitorKind kind() {
        return FdMonitorKind.EPOLL;
    }
}
