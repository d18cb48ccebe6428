package io.jaio.aio;

/** {@link TimerContract} on the IO_URING fd monitor. */
class IoUringTimerContractTest extends TimerContract {
    @Override
    protected FdMonitorKind kind() {
        return FdMonitorKind.IO_URING;
    }
}
