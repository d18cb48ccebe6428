package io.jaio.aio;

/** {@link WakeupContract} on the POLL fd monitor. */
class PollWakeupContractTest extends WakeupContract {
    @Override
    protected FdMonitorKind kind() {
        return FdMonitorKind.POLL;
    }
}
