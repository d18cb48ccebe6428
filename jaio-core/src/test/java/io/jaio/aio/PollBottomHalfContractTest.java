package io.jaio.aio;

/** {@link BottomHalfContract} on the POLL fd monitor. */
class PollBottomHalfContractTest extends BottomHalfContract {
    @Override
    protected FdMonitorKind kind() {
        return FdMonitorKind.POLL;
    }
}
