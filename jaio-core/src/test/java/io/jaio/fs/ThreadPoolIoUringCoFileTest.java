package io.jaio.fs;

import io.jaio.aio.FdMonitorKind;

/** {@link CoFileContract}: the thread-pool engine on an io_uring context, continuation coroutines. */
class ThreadPoolIoUringCoFileTest extends CoFileContract {
    @Override
    FdMonitorKind fdMonitor() {
        return FdMonitorKind.IO_URING;
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
