package io.jaio.aio;

/** {@link AdaptivePollingContract} on the POLL fd monitor. */
class PollAdaptivePollingContractTest extends AdaptivePollingContract {
    @Override
    protected FdMonitorKind kind() {
        return FdMonitorKind.POLL;
    }
}
