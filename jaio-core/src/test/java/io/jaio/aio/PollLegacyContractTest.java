package io.jaio.aio;

/** {@link LegacyContract} on the POLL fd monitor. */
class PollLegacyContractTest extends LegacyContract {
    @Override
    protected FdMonitorKind kind() {
        return FdMonitorKind.POLL;
    }
}
