package io.jaio.aio;

/** {@link FdHandlerContract} on the IO_URING fd monitor. */
class IoUringFdHandlerContractTest extends FdHandlerContract {
    @Override
    protected FdMonitorKind kind() {
        return FdMonitorKind.IO_URING;
    }
}
