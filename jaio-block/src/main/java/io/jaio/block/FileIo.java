package io.jaio.block;

import io.jaio.fs.FileEngine;

/**
 * One I/O engine over one open file (QEMU's {@code BlockdevAioOptions}: {@code aio=threads} or
 * {@code aio=io_uring}). Every method is called inside a coroutine running in the backend's
 * context (its home thread) and suspends that coroutine until the work is done; many coroutines
 * may be inside at once. Results are {@code -errno} on failure, never an exception for a kernel
 * error. Buffers are raw native addresses that stay valid until the call returns.
 */
interface FileIo {
    /** Largest single request handed to the kernel; a multiple of every alignment. */
    long MAX_CHUNK = FileEngine.MAX_CHUNK;

    /**
     * Reads up to {@code len} bytes at {@code off} into {@code addr}, resubmitting after short
     * reads. Returns the bytes read, less than {@code len} only when the file ended first (the
     * caller zero-fills the rest), or {@code -errno}.
     */
    long read(long addr, long len, long off);

    /**
     * Writes all {@code len} bytes, resubmitting after short writes. With {@code fua} the data is
     * durable on return (RWF_DSYNC, or a write followed by fdatasync). Returns {@code len} or
     * {@code -errno} ({@code -ENOSPC} if the kernel accepted no byte).
     */
    long write(long addr, long len, long off, boolean fua);

    /** fdatasync: 0 or {@code -errno}. */
    int datasync();

    /** fallocate with {@code FALLOC_FL_*} {@code mode}: 0 or {@code -errno}. */
    int fallocate(int mode, long off, long len);

    /** One read or write attempt: bytes transferred or {@code -errno}. */
    @FunctionalInterface
    interface Op extends FileEngine.Op {
    }

    /** {@link FileEngine#readFully}: QEMU's read completion rules, shared with jaio-core. */
    static long readFully(Op op, long addr, long len, long off, int align) {
        return FileEngine.readFully(op, addr, len, off, align);
    }

    /** {@link FileEngine#writeThenSync}: write, then fdatasync with {@code fua}. */
    static long writeThenSync(Op op, long addr, long len, long off, int align, boolean fua,
                              java.util.function.IntSupplier sync) {
        return FileEngine.writeThenSync(op, addr, len, off, align, fua, sync);
    }

    /** {@link FileEngine#writeFully}: QEMU's write completion rules, shared with jaio-core. */
    static long writeFully(Op op, long addr, long len, long off, int align) {
        return FileEngine.writeFully(op, addr, len, off, align);
    }
}
