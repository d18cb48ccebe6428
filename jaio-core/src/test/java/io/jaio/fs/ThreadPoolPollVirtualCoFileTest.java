package io.jaio.fs;

import io.jaio.aio.FdMonitorKind;

/** {@link CoFileContract}: the thread-pool engine on the poll monitor, virtual-thread coroutines. */
class ThreadPoolPollVirtualCoFileTest extends CoFileContract {
    @Override
    FdMonitorKind fdMonitor() {
        return FdMonitorKind.POLL;
    }

    @Override
    CoFile.Engine engine() {
        return CoFile.Engine.THREAD_POOL;
    }

    @Override
    String coroutineEngine() {
        return "virtual";
    }
}
