package io.jaio.aio;

/** {@link NestedPollContract} on the POLL fd monitor. */
class PollNestedPollContractTest extends NestedPollContract {
    @Override
    protected FdMonitorKind kind() {
        return FdMonitorKind.POLL;
    }
}
