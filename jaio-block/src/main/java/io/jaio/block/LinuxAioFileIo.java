package io.jaio.block;

import io.jaio.fs.FileEngine;
import io.jaio.linux.Linux;
import io.jaio.linux.LinuxAioAbi;

/**
 * The {@code aio=native} engine (QEMU's {@code laio_co_submit} under {@code raw_co_prw}): reads
 * and writes are {@code IOCB_CMD_PREADV}/{@code IOCB_CMD_PWRITEV} (one iovec) submitted through
 * the context's {@link LinuxAio}, batched per loop pass; flush is {@code IOCB_CMD_FDSYNC}, moved
 * to the thread pool for good once the kernel refuses it with {@code EINVAL} (QEMU's
 * {@code laio_has_fdsync}); fallocate always runs in the thread pool, as in QEMU. FUA is a
 * per-write {@code RWF_DSYNC} ({@code aio_rw_flags}, Linux 4.13); if the kernel refuses the flag
 * the engine switches to write + fdatasync for good. The file must be open with {@code O_DIRECT}:
 * without it the kernel runs "async" buffered I/O synchronously inside {@code io_submit}.
 *
 * <p>Threads: home thread only (inside coroutines it entered).
 */
final class LinuxAioFileIo implements FileIo {
    private final LinuxAio aio;
    private final int fd;
    private final int align;
    /** fallocate, and flush once FDSYNC is refused. */
    private final FileEngine threads;
    /** FUA as RWF_DSYNC while the kernel takes it. Home thread. */
    private final FileEngine.DsyncWrites fuaWrites = new FileEngine.DsyncWrites();
    /** Whether IOCB_CMD_FDSYNC works on this file; cleared on EINVAL. Home thread. */
    private boolean fdsyncSupported = true;

    /**
     * An engine over {@code fd}, which must be open with O_DIRECT; {@code align} is its probed
     * O_DIRECT alignment. Home thread.
     *
     * @throws IllegalArgumentException if {@code fd} lacks O_DIRECT
     */
    LinuxAioFileIo(LinuxAio aio, int fd, int align) {
        if ((Linux.fcntl(fd, Linux.F_GETFL, 0) & Linux.O_DIRECT) == 0) {
            throw new IllegalArgumentException("aio=native requires cache.direct=on (O_DIRECT): fd " + fd
                    + " is open without it, and the kernel would run its \"asynchronous\" I/O synchronously");
        }
        this.aio = aio;
        this.fd = fd;
        this.align = align;
        this.threads = FileEngine.threadPool(aio.context(), fd);
    }

    @Override
    public long read(long addr, long len, long off) {
        return FileEngine.readFully((a, l, o) -> aio.submit(LinuxAioAbi.IOCB_CMD_PREADV, fd, a, l, o, 0),
                addr, len, off, align);
    }

    @Override
    public long write(long addr, long len, long off, boolean fua) {
        return fuaWrites.write(this::writeOp, addr, len, off, align, fua, this::datasync);
    }

    private FileEngine.Op writeOp(int rwFlags) {
        return (a, l, o) -> aio.submit(LinuxAioAbi.IOCB_CMD_PWRITEV, fd, a, l, o, rwFlags);
    }

    @Override
    public int datasync() {
        if (fdsyncSupported) {
            for (;;) {
                int r = (int) aio.submit(LinuxAioAbi.IOCB_CMD_FDSYNC, fd, 0, 0, 0, 0);
                if (r == -Linux.EINVAL) {
                    fdsyncSupported = false; // the file system has no aio_fsync (QEMU: laio_has_fdsync)
                    break;
                }
                if (r != -Linux.EINTR && r != -Linux.EAGAIN) {
                    return r;
                }
            }
        }
        return threads.sync(true);
    }

    @Override
    public int fallocate(int mode, long off, long len) {
        return threads.fallocate(mode, off, len);
    }
}
