package io.jaio.aio;

/** {@link FdHandlerContract} on the POLL fd monitor. */
class PollFdHandlerContractTest extends FdHandlerContract {
    @Override
    protected FdMonitorKind kind() {
        return FdMonitorKind.POLL;
    }
}
