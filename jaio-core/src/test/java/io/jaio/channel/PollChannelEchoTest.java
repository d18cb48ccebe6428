package io.jaio.channel;

import io.jaio.aio.FdMonitorKind;

/** Coroutine sockets on the POLL fd monitor. */
class PollChannelEchoTest extends ChannelEchoTest {
    @Override
    protected FdMonitorKind kind() {
        return FdMonitorKind.POLL;
    }
}
