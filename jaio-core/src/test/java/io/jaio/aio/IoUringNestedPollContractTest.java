package io.jaio.aio;

/** {@link NestedPollContract} on the IO_URING fd monitor. */
class IoUringNestedPollContractTest extends NestedPollContract {
    @Override
    protected FdMonitorKind kind() {
        return FdMonitorKind.IO_URING;
    }
}
