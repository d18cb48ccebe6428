package io.jaio.fs;

import io.jaio.aio.FdMonitorKind;

/** {@link CoFileContract}: the thread-pool engine on the epoll monitor, continuation coroutines. */
class ThreadPoolEpollCoFileTest extends CoFileContract {
    @Override
    FdMonitorKind fdMonitor() {
        return FdMonitorKind.EPOLL;
    }

    @Override
    CoFile.Engine engine() {
        return CoFile.Engine.THREAD_POOL;
    }

    @Override
    String coroutineEngine() {
        return "continuation";
    }
}
