package io.jaio.channel;

import io.jaio.aio.FdMonitorKind;

/** Coroutine sockets on the EPOLL fd monitor. */
class EpollChannelEchoTest extends ChannelEchoTest {
    @Override
    protected FdMonitorKind kind() {
        return FdMonitorKind.EPOLL;
    }
}
