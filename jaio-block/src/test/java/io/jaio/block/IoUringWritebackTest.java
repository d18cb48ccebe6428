package io.jaio.block;

/** The backend contract with the IO_URING engine, Writeback cache mode. */
class IoUringWritebackTest extends BackendContract {
    @Override
    RawFileBackend.Engine engine() {
        return RawFileBackend.Engine.IO_URING;
    }

    @Override
    boolean cacheNone() {
        return false;
    }
}
