package io.jaio.block;

/**
 * One I/O engine over one open file (QEMU's {@code BlockdevAioOptions}: {@code aio=threads},
 * {@code aio=io_uring} or {@code aio=native}). Every method is called inside a coroutine running
 * in the backend's context (its home thread) and suspends that coroutine until the work is done;
 * many coroutines may be inside at once. Results are {@code -errno} on failure, never an exception
 * for a kernel error. Buffers are raw native addresses that stay valid until the call returns.
 *
 * <p>The completion rules (resubmission, end of file, ENOSPC, the FUA fallback) are jaio-core's,
 * in {@link io.jaio.fs.FileEngine}: its io_uring, thread-pool and inline engines are used through
 * {@link EngineFileIo}, and {@link LinuxAioFileIo} calls its static rules.
 */
interface FileIo {
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
}
