package io.jaio.aio;

/** The AioContext contract on the ppoll(2) fd monitor. */
class PollContractTest extends AioContractTest {
    @Override
    protected FdMonitorKind kind() {
        return FdMonitorKind.POLL;
    }
}
