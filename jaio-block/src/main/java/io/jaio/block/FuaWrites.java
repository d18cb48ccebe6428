package io.jaio.block;

import io.jaio.linux.FileSys;
import io.jaio.linux.Linux;

import java.util.function.IntFunction;
import java.util.function.IntSupplier;

/**
 * FUA writes for the engines that pass per-write flags to the kernel (io_uring, Linux AIO): as
 * one write with {@code RWF_DSYNC} while the kernel accepts the flag, else, from the first
 * {@code EOPNOTSUPP} on, as a write followed by {@code fdatasync} (QEMU's {@code
 * BDRV_REQ_FUA} fallback). One per {@link FileIo}; the home thread only (plain state).
 */
final class FuaWrites {
    private boolean dsyncSupported = true;

    /**
     * Writes {@code len} bytes at {@code off} with {@code writeOp(rwFlags)}; durable before it
     * returns if {@code fua}. Returns the byte count or {@code -errno}. Coroutine.
     */
    long write(IntFunction<FileIo.Op> writeOp, long addr, long len, long off, int align, boolean fua,
               IntSupplier datasync) {
        if (fua && dsyncSupported) {
            long r = FileIo.writeFully(writeOp.apply(FileSys.RWF_DSYNC), addr, len, off, align);
            if (r != -Linux.EOPNOTSUPP) {
                return r;
            }
            dsyncSupported = false; // an old kernel: rewrite without the flag, then fdatasync
        }
        return FileIo.writeThenSync(writeOp.apply(0), addr, len, off, align, fua, datasync);
    }
}
