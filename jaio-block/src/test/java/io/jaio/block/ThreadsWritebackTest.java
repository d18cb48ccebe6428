package io.jaio.block;

/** The backend contract with the THREADS engine, Writeback cache mode. */
class ThreadsWritebackTest extends BackendContract {
    @Override
    RawFileBackend.Engine engine() {
        return RawFileBackend.Engine.THREADS;
    }

    @Override
    boolean cacheNone() {
        return false;
    }
}
