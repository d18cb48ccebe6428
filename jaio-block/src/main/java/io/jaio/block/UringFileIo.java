package io.jaio.block;

import io.jaio.linux.Linux;
import io.jaio.aio.AioContext;
import io.jaio.aio.CqeHandler;
import io.jaio.aio.Sqe;
import io.jaio.coroutine.CoCompletion;
import io.jaio.coroutine.Coroutine;
import io.jaio.linux.IoUring;

import java.util.function.Consumer;

/**
 * The {@code aio=io_uring} engine, third generation (QEMU's {@code block/io_uring.c} on top of
 * {@code aio_add_sqe}; docs/design/aio-semantics.md §16.4): no private ring, each attempt is one SQE queued on
 * the context's ring with {@link AioContext#addSqe}, whose {@link CqeHandler} stores the result and
 * wakes the coroutine unless it is entered. Batching is implicit: every SQE prepared in one loop
 * iteration goes to the kernel together at the loop's next wait (or when the ring fills).
 *
 * <p>Opcodes: {@code IORING_OP_READ}/{@code IORING_OP_WRITE} (one contiguous buffer, so no iovec
 * array to keep alive), {@code IORING_OP_FSYNC} with {@code IORING_FSYNC_DATASYNC},
 * {@code IORING_OP_FALLOCATE}. FUA is a per-write {@code RWF_DSYNC}; if the kernel refuses the
 * flag ({@code -EOPNOTSUPP}) the engine switches to write + fdatasync for good.
 *
 * <p>Threads: home thread only (inside coroutines it entered); {@code addSqe} asserts it.
 */
final class UringFileIo implements FileIo {
    private final AioContext ctx;
    private final int fd;
    private final int align;
    /** FUA as RWF_DSYNC while the kernel takes it. Home thread. */
    private final FuaWrites fuaWrites = new FuaWrites();

    UringFileIo(AioContext ctx, int fd, int align) {
        this.ctx = ctx;
        this.fd = fd;
        this.align = align;
    }

    /**
     * One in-flight SQE: a completion that carries the CQE's result. {@code res} is plain: it is
     * written before {@code complete}, which publishes it (see CoCompletion).
     */
    private static final class Waiter extends CoCompletion<Void> implements CqeHandler {
        private int res;

        @Override
        public void complete(int res, int flags) {
            this.res = res;
            complete((Void) null); // wakes the coroutine unless it is entered
        }
    }

    /** Queues one SQE and suspends the calling coroutine until its CQE arrives; returns {@code res}. */
    private int submit(Consumer<Sqe> prep) {
        if (!Coroutine.inCoroutine()) {
            throw new IllegalStateException("io_uring block I/O must run inside a coroutine");
        }
        Waiter w = new Waiter();
        ctx.addSqe(prep, w); // the handler never runs inside addSqe
        w.await();
        return w.res;
    }

    @Override
    public long read(long addr, long len, long off) {
        return FileIo.readFully((a, l, o) -> submit(sqe -> sqe.prepRead(fd, a, (int) l, o, 0)),
                addr, len, off, align);
    }

    @Override
    public long write(long addr, long len, long off, boolean fua) {
        return fuaWrites.write(this::writeOp, addr, len, off, align, fua, this::datasync);
    }

    /** One IORING_OP_WRITE attempt with {@code rwFlags}. */
    private Op writeOp(int rwFlags) {
        return (a, l, o) -> submit(sqe -> sqe.prepWrite(fd, a, (int) l, o, rwFlags));
    }

    @Override
    public int datasync() {
        for (;;) {
            int r = submit(sqe -> sqe.prepFsync(fd, IoUring.IORING_FSYNC_DATASYNC));
            if (r != -Linux.EINTR && r != -Linux.EAGAIN) {
                return r;
            }
        }
    }

    @Override
    public int fallocate(int mode, long off, long len) {
        for (;;) {
            int r = submit(sqe -> sqe.prepFallocate(fd, mode, off, len));
            if (r != -Linux.EINTR && r != -Linux.EAGAIN) {
                return r;
            }
        }
    }
}
