package io.jaio.block;

/** The backend contract with the THREADS engine, Direct cache mode. */
class ThreadsDirectTest extends BackendContract {
    @Override
    RawFileBackend.Engine engine() {
        return RawFileBackend.Engine.THREADS;
    }

    @Override
    boolean cacheNone() {
        return true;
    }
}
