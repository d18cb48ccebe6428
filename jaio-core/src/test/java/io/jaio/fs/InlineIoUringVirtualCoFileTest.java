package io.jaio.fs;

import io.jaio.aio.FdMonitorKind;

/** {@link CoFileContract}: the inline engine on the io_uring monitor, virtual-thread coroutines. */
class InlineIoUringVirtualCoFileTest extends CoFileContract {
    @Override
    FdMonitorKind fdMonitor() {
        return FdMonitorKind.IO_URING;
    }

    @Override
    CoFile.Engine engine() {
        return CoFile.Engine.INLINE;
    }

    @Override
    String coroutineEngine() {
        return "virtual";
    }
}
