package io.jaio.channel;

import io.jaio.aio.FdMonitorKind;

/** Coroutine sockets on the IO_URING fd monitor. */
class IoUringChannelEchoTest extends ChannelEchoTest {
    @Override
    protected FdMonitorKind kind() {
        return FdMonitorKind.IO_URING;
    }
}
