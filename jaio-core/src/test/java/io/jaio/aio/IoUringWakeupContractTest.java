package io.jaio.aio;

/** {@link WakeupContract} on the IO_URING fd monitor. */
class IoUringWakeupContractTest extends WakeupContract {
    @Override
    protected FdMonitorKind kind() {
        return FdMonitorKind.IO_URING;
    }
}
