package io.jaio.block;

import org.junit.jupiter.api.BeforeEach;

/**
 * The backend contract with the NATIVE (Linux AIO) engine, Direct cache mode (native AIO needs
 * O_DIRECT), on an epoll context. Files go to the JUnit temp dir, which must be on a file system
 * with O_DIRECT (ext4/xfs; not tmpfs before Linux 6.6): the contract skips otherwise.
 */
class NativeAioDirectTest extends BackendContract {
    @Override
    RawFileBackend.Engine engine() {
        return RawFileBackend.Engine.NATIVE;
    }

    @Override
    boolean cacheNone() {
        return true;
    }

    /**
     * Sets up the context's Linux AIO state before the test counts fds: its eventfd belongs to the
     * context (closed with it, see {@link LinuxAioTest}), not to any backend.
     */
    @BeforeEach
    void setUpLinuxAio() {
        LinuxAio.get(h.ctx);
    }
}
