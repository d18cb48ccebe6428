package io.jaio.aio;

/** {@link TimerContract} on the POLL fd monitor. */
class PollTimerContractTest extends TimerContract {
    @Override
    protected FdMonitorKind kind() {
        return FdMonitorKind.POLL;
    }
}
