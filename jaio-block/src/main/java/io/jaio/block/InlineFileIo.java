package io.jaio.block;

import io.jaio.fs.FileEngine;
import io.jaio.linux.FileSys;

/**
 * Synchronous I/O on the calling (home) thread, used instead of either engine for files whose data
 * lives in memory (tmpfs, ramfs, hugetlbfs; {@link MemoryFs#isMemoryBacked}). There a read or a
 * write is a memory copy that never waits for a device, and both engines would add a thread
 * hand-off to it: io_uring punts every request on such a file to an io-wq worker (tmpfs cannot
 * honour {@code IOCB_NOWAIT}), and the thread pool is a hand-off by design. Each hand-off is two
 * cross-CPU wake-ups per request — on this machine kind ≈20 µs of latency at queue depth 1 and
 * ≈10 µs of CPU. QEMU's {@code aio=native} ends up doing the same copy inside {@code io_submit}.
 *
 * <p>The cost: a request blocks the loop for its copy (≈1 µs per 4 KiB, ≈3 ms for a 32 MiB
 * read), and a swapped-out tmpfs page blocks it for the swap-in.
 * {@link RawFileBackend.Options#inlineMemoryFiles()} false keeps the configured engine for every file.
 *
 * <p>Threads: called from coroutines in the context's home thread; never suspends.
 */
final class InlineFileIo implements FileIo {
    private final int fd;
    private final int align;
    // Built once: every request runs through them (no capturing lambda per request).
    private final FileEngine.Op pread;
    private final FileEngine.Op pwrite;
    private final java.util.function.IntSupplier sync = this::datasync;

    InlineFileIo(int fd, int align) {
        this.fd = fd;
        this.align = align;
        this.pread = (a, l, o) -> FileSys.pread(fd, a, l, o);
        this.pwrite = (a, l, o) -> FileSys.pwrite(fd, a, l, o);
    }

    @Override
    public long read(long addr, long len, long off) {
        return FileEngine.readFully(pread, addr, len, off, align);
    }

    @Override
    public long write(long addr, long len, long off, boolean fua) {
        return FileEngine.writeThenSync(pwrite, addr, len, off, align, fua, sync);
    }

    @Override
    public int datasync() {
        return FileSys.fdatasync(fd);
    }

    @Override
    public int fallocate(int mode, long off, long len) {
        return FileSys.fallocate(fd, mode, off, len);
    }
}
