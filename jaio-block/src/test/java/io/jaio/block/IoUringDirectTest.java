package io.jaio.block;

/** The backend contract with the IO_URING engine, Direct cache mode. */
class IoUringDirectTest extends BackendContract {
    @Override
    RawFileBackend.Engine engine() {
        return RawFileBackend.Engine.IO_URING;
    }

    @Override
    boolean cacheNone() {
        return true;
    }
}
