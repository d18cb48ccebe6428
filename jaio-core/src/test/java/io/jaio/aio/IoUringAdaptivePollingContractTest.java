package io.jaio.aio;

/** {@link AdaptivePollingContract} on the IO_URING fd monitor. */
class IoUringAdaptivePollingContractTest extends AdaptivePollingContract {
    @Override
    protected FdMonitorKind kind() {
        return FdMonitorKind.IO_URING;
    }
}
