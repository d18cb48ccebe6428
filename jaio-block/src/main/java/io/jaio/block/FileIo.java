package io.jaio.block;

import io.jaio.linux.FileSys;
import io.jaio.linux.Linux;

/**
 * One I/O engine over one open file (QEMU's {@code BlockdevAioOptions}: {@code aio=threads} or
 * {@code aio=io_uring}). Every method is called inside a coroutine running in the backend's
 * context (its home thread) and suspends that coroutine until the work is done; many coroutines
 * may be inside at once. Results are {@code -errno} on failure, never an exception for a kernel
 * error. Buffers are raw native addresses that stay valid until the call returns.
 */
interface FileIo {
    /** Largest single request handed to the kernel; a multiple of every alignment. */
    long MAX_CHUNK = 1L << 30;

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
    interface Op {
        long apply(long addr, long len, long off);
    }

    /**
     * QEMU's read completion rules (block/io_uring.c, docs/design/aio-semantics.md §16.4): -EINTR/-EAGAIN →
     * resubmit; a short read → resubmit the remainder; 0 → end of file. With O_DIRECT
     * ({@code align > 1}) a short read that leaves the position unaligned can only be the end of
     * file, and the remainder could not be resubmitted anyway: it ends the read too.
     */
    static long readFully(Op op, long addr, long len, long off, int align) {
        long done = 0;
        while (done < len) {
            long chunk = Math.min(len - done, MAX_CHUNK);
            long r = op.apply(addr + done, chunk, off + done);
            if (r == -Linux.EINTR || r == -Linux.EAGAIN) {
                continue;
            }
            if (r < 0) {
                return r;
            }
            if (r == 0) {
                break;
            }
            done += r;
            if (r < chunk && align > 1 && ((off + done) & (align - 1)) != 0) {
                break;
            }
        }
        return done;
    }

    /**
     * {@link #writeFully}, then, with {@code fua}, {@code sync} (fdatasync) so the data is durable
     * on return: the FUA of engines without a per-write flag. Returns what writeFully returned, or
     * the sync's {@code -errno}.
     */
    static long writeThenSync(Op op, long addr, long len, long off, int align, boolean fua,
                              java.util.function.IntSupplier sync) {
        long r = writeFully(op, addr, len, off, align);
        if (r >= 0 && fua) {
            int s = sync.getAsInt();
            if (s < 0) {
                return s;
            }
        }
        return r;
    }

    /**
     * Write completion rules: -EINTR/-EAGAIN → resubmit; a short write → resubmit the remainder;
     * no progress → -ENOSPC (QEMU gen 1 turns every short write into -ENOSPC; resubmitting first
     * lets a transient short write through). An unaligned remainder under O_DIRECT → -ENOSPC.
     */
    static long writeFully(Op op, long addr, long len, long off, int align) {
        long done = 0;
        while (done < len) {
            long chunk = Math.min(len - done, MAX_CHUNK);
            long r = op.apply(addr + done, chunk, off + done);
            if (r == -Linux.EINTR || r == -Linux.EAGAIN) {
                continue;
            }
            if (r < 0) {
                return r;
            }
            if (r == 0) {
                return -Linux.ENOSPC;
            }
            done += r;
            if (r < chunk && align > 1 && ((off + done) & (align - 1)) != 0) {
                return -Linux.ENOSPC;
            }
        }
        return done;
    }
}
