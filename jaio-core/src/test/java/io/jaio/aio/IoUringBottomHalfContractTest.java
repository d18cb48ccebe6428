package io.jaio.aio;

/** {@link BottomHalfContract} on the IO_URING fd monitor. */
class IoUringBottomHalfContractTest extends BottomHalfContract {
    @Override
    protected FdMonitorKind kind() {
        return FdMonitorKind.IO_URING;
    }
}
