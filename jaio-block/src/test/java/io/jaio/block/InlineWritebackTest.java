package io.jaio.block;

/** The backend contract on tmpfs, writeback cache: I/O runs inline on the home thread, not in the pool. */
class InlineWritebackTest extends BackendContract {
    @Override
    RawFileBackend.Engine engine() {
        return RawFileBackend.Engine.THREADS;
    }

    @Override
    boolean cacheNone() {
        return false;
    }

    @Override
    boolean inline() {
        return true;
    }
}
