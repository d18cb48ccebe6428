package io.jaio.fs;

import io.jaio.aio.FdMonitorKind;

/** {@link CoFileContract}: the io_uring engine, continuation coroutines. */
class IoUringCoFileTest extends CoFileContract {
    @Override
    FdMonitorKind fdMonitor() {
        return FdMonitorKind.IO_URING;
    }

    @Override
    CoFile.Engine engine() {
        return CoFile.Engine.IO_URING;
    }

    @Override
    String coroutineEngine() {
        return "continuation";
    }
}
