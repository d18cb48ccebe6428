package io.jaio.block;

import io.jaio.linux.FileSys;
import io.jaio.aio.AioContext;
import io.jaio.coroutine.ThreadPools;

/**
 * The {@code aio=threads} engine (QEMU's {@code raw_thread_pool_submit}): each request runs as one
 * job on the context's {@link io.jaio.aio.ThreadPool} ({@code pread}/{@code pwrite}/
 * {@code fdatasync}/{@code fallocate}, short transfers resubmitted inside the job) while the
 * calling coroutine is suspended in {@link ThreadPools#submitCo}.
 *
 * <p>Threads: called from coroutines in the context's home thread; the syscalls run in workers.
 */
final class ThreadPoolFileIo implements FileIo {
    private final AioContext ctx;
    private final int fd;
    private final int align;

    ThreadPoolFileIo(AioContext ctx, int fd, int align) {
        this.ctx = ctx;
        this.fd = fd;
        this.align = align;
    }

    @Override
    public long read(long addr, long len, long off) {
        return ThreadPools.submitCo(ctx.threadPool(),
                () -> FileIo.readFully((a, l, o) -> FileSys.pread(fd, a, l, o), addr, len, off, align));
    }

    @Override
    public long write(long addr, long len, long off, boolean fua) {
        return ThreadPools.submitCo(ctx.threadPool(), () -> FileIo.writeThenSync((a, l, o) -> FileSys.pwrite(fd, a, l, o),
                addr, len, off, align, fua, () -> FileSys.fdatasync(fd))); // both in the worker
    }

    @Override
    public int datasync() {
        return ThreadPools.submitCo(ctx.threadPool(), () -> FileSys.fdatasync(fd));
    }

    @Override
    public int fallocate(int mode, long off, long len) {
        return ThreadPools.submitCo(ctx.threadPool(), () -> FileSys.fallocate(fd, mode, off, len));
    }
}
