package io.jaio.aio;

/** {@link LegacyContract} on the IO_URING fd monitor. */
class IoUringLegacyContractTest extends LegacyContract {
    @Override
    protected FdMonitorKind kind() {
        return FdMonitorKind.IO_URING;
    }
}
