package io.jaio.block;

/**
 * The backend contract on tmpfs with cache=none: I/O runs inline on the home thread (the io_uring
 * context is there for nothing but the loop).
 */
class InlineDirectTest extends BackendContract {
    @Override
    RawFileBackend.Engine engine() {
        return RawFileBackend.Engine.IO_URING;
    }

    @Override
    boolean cacheNone() {
        return true;
    }

    @Override
    boolean inline() {
        return true;
    }
}
