package io.jaio.aio;

/** {@link TimerContract} on the EPOLL fd monitor. */
class EpollTimerContractTest extends TimerContract {
    @Override
    protected FdMonitorKind kind() {
        return FdMonitorKind.EPOLL;
    }
}
