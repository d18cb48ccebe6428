package io.jaio.aio;

/** The AioContext contract on the io_uring fd monitor. */
class IoUringContractTest extends AioContractTest {
    @Override
    protected FdMonitorKind kind() {
        return FdMonitorKind.IO_URING;
    }
}
