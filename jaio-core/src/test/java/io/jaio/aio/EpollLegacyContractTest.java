package io.jaio.aio;

/** {@link LegacyContract} on the EPOLL fd monitor. */
class EpollLegacyContractTest extends LegacyContract {
    @Override
    protected FdMonitorKind kind() {
        return FdMonitorKind.EPOLL;
    }
}
