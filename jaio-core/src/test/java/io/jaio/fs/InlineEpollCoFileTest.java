package io.jaio.fs;

import io.jaio.aio.FdMonitorKind;

/** {@link CoFileContract}: the inline engine on the epoll monitor, continuation coroutines. */
class InlineEpollCoFileTest extends CoFileContract {
    @Override
    FdMonitorKind fdMonitor() {
        return FdMonitorKind.EPOLL;
    }

    @Override
    CoFile.Engine engine() {
        return CoFile.Engine.INLINE;
    }

    @Override
    String coroutineEngine() {
        return "continuation";
    }
}
