package io.jaio.fs;

import io.jaio.aio.AioContext;
import io.jaio.aio.CqeHandler;
import io.jaio.aio.Sqe;
import io.jaio.coroutine.CoCompletion;
import io.jaio.coroutine.Coroutine;
import io.jaio.coroutine.ThreadPools;
import io.jaio.linux.FileSys;
import io.jaio.linux.IoUring;
import io.jaio.linux.Linux;

import java.lang.foreign.MemorySegment;
import java.util.Objects;
import java.util.function.Consumer;
import java.util.function.IntFunction;
import java.util.function.IntSupplier;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The engine under {@link CoFile}, and under jaio-block's {@code aio=io_uring} and
 * {@code aio=threads} file I/O: one implementation of each request on one open file
 * descriptor, at the level of QEMU's {@code raw_co_prw}. Raw native addresses, results
 * {@code ≥ 0} or {@code -errno} (never an exception for a kernel error), no bookkeeping: most code
 * wants {@link CoFile}, which adds options, buffers, exceptions and closing on top.
 *
 * <p>Three engines (the first two QEMU's {@code BlockdevAioOptions}):
 * <ul>
 *   <li>{@link #ioUring}: each attempt is one SQE queued with {@link AioContext#addSqe} on the
 *       context's ring ({@code IORING_OP_READ}/{@code WRITE}/{@code READV}/{@code WRITEV}/
 *       {@code FSYNC}/{@code FALLOCATE}); the calling coroutine is suspended until its CQE. Every
 *       SQE queued in one loop iteration reaches the kernel together at the loop's next wait.
 *       A read or write whose range lies wholly inside a buffer registered on the ring
 *       ({@link FixedBuffers}) is {@code READ_FIXED}/{@code WRITE_FIXED} instead.
 *       A durable ({@code dsync}) write is one write with {@code RWF_DSYNC}; if the kernel refuses
 *       the flag ({@code EOPNOTSUPP}) the engine switches to write + fdatasync for good.</li>
 *   <li>{@link #threadPool}: each request (its whole resubmission loop, and with {@code dsync} the
 *       fdatasync after it) is one job on the context's {@link io.jaio.aio.ThreadPool}, so one
 *       hand-off per request.</li>
 *   <li>{@link #inline}: each request is the plain syscall ({@code pread}, {@code pwrite}...) in
 *       the calling thread, which it blocks for its duration: for files whose data lives in memory
 *       ({@link MemoryFs#isMemoryBacked(int)}), where a request is a page-cache copy and the other
 *       engines' hand-off costs more than the copy (io_uring punts every tmpfs request to an io-wq
 *       worker: tmpfs cannot honour {@code IOCB_NOWAIT}). The thread-pool engine runs these same
 *       requests in its workers.</li>
 * </ul>
 *
 * <p>Completion rules (QEMU's {@code block/io_uring.c}, docs/design/aio-semantics.md §16.4):
 * {@code EINTR}/{@code EAGAIN} → resubmit; a short transfer → resubmit the remainder; a read of 0
 * → end of file; a write of 0 → {@code -ENOSPC}. With O_DIRECT ({@code align > 1}) a short
 * transfer that leaves the position unaligned ends a read (end of file) and fails a write
 * ({@code -ENOSPC}): the remainder could not be resubmitted. See {@link #readFully} and
 * {@link #writeFully}.
 *
 * <p>Threads: every request method runs inside a coroutine in the home thread of the engine's
 * context and suspends it (many coroutines may be inside at once); the buffers must stay valid
 * until it returns. The factories and the static helpers: any thread.
 */
public abstract sealed class FileEngine permits FileEngine.Uring, FileEngine.Threads, FileEngine.Inline {
    /**
     * Largest single request handed to the kernel, vectored or not: a multiple of every alignment,
     * and below the kernel's cap on one read or write call ({@code MAX_RW_COUNT}, {@code 0x7ffff000}).
     */
    public static final long MAX_CHUNK = 1L << 30;
    /** Size of one {@code struct iovec} (base, length: two 64-bit words). */
    public static final long IOVEC_SIZE = 16;

    final AioContext ctx;
    final int fd;

    private FileEngine(AioContext ctx, int fd) {
        this.ctx = Objects.requireNonNull(ctx, "ctx");
        if (fd < 0) {
            throw new IllegalArgumentException("bad file descriptor " + fd);
        }
        this.fd = fd;
    }

    /**
     * An io_uring engine over {@code fd} (not owned: never closed here) on {@code ctx}'s ring.
     * Any thread.
     *
     * @param ctx the context whose ring carries the requests, and whose home thread issues them
     * @param fd an open file descriptor, {@code >= 0}
     * @return the engine
     * @throws IllegalArgumentException if {@code ctx} has no ring ({@link AioContext#hasIoUring()}),
     *     or {@code fd} is negative
     */
    public static FileEngine ioUring(AioContext ctx, int fd) {
        if (!ctx.hasIoUring()) {
            throw new IllegalArgumentException(ctx.ioUringRefusal() + "; use the thread-pool engine");
        }
        return new Uring(ctx, fd);
    }

    /**
     * A thread-pool engine over {@code fd} (not owned) on {@code ctx}'s thread pool. Any thread.
     *
     * @param ctx the context whose {@link io.jaio.aio.ThreadPool} runs the requests, and whose home
     *     thread issues them
     * @param fd an open file descriptor, {@code >= 0}
     * @return the engine
     * @throws IllegalArgumentException if {@code fd} is negative
     */
    public static FileEngine threadPool(AioContext ctx, int fd) {
        return new Threads(ctx, fd);
    }

    /**
     * An inline engine over {@code fd} (not owned): each request is the syscall itself in the
     * calling thread (still inside a coroutine in {@code ctx}'s home thread, as every engine's
     * requests, but never suspending it). For memory-backed files; on a disk file a request blocks
     * the loop for the device's latency. Any thread.
     *
     * @param ctx the context whose home thread issues the requests
     * @param fd an open file descriptor, {@code >= 0}
     * @return the engine
     * @throws IllegalArgumentException if {@code fd} is negative
     */
    public static FileEngine inline(AioContext ctx, int fd) {
        return new Inline(ctx, fd);
    }

    /**
     * Whether this is the io_uring engine. Any thread.
     *
     * @return true for {@link #ioUring}, false for the thread-pool and inline engines
     */
    public abstract boolean isIoUring();

    /**
     * Reads up to {@code len} bytes at {@code off} into native memory at {@code addr} (the
     * {@link #readFully} rules, with {@code align} the O_DIRECT alignment or 1). Returns the bytes
     * read, less than {@code len} only at end of file, or {@code -errno}. Inside a coroutine in the
     * context's home thread (see the class comment).
     *
     * @param addr native address of the destination, valid for {@code len} bytes until this returns
     * @param len bytes to read, {@code >= 0}
     * @param off file offset in bytes, {@code >= 0}
     * @param align the O_DIRECT alignment in bytes (a power of two), or 1 without O_DIRECT
     * @return the bytes read ({@code len}, or fewer at end of file), or {@code -errno}
     * @throws IllegalStateException for the io_uring and thread-pool engines: outside a coroutine,
     *     off the home thread, or once the context is closed (the inline engine checks none of these)
     */
    public abstract long read(long addr, long len, long off, int align);

    /**
     * Writes all {@code len} bytes from {@code addr} at {@code off} (the {@link #writeFully}
     * rules); with {@code dsync} the data is durable on return. Returns {@code len} or {@code -errno}.
     * Inside a coroutine in the context's home thread.
     *
     * @param addr native address of the data, valid for {@code len} bytes until this returns
     * @param len bytes to write, {@code >= 0}
     * @param off file offset in bytes, {@code >= 0}
     * @param align the O_DIRECT alignment in bytes (a power of two), or 1 without O_DIRECT
     * @param dsync whether the data must be durable on return (FUA: {@code RWF_DSYNC} under
     *     io_uring while the kernel takes it, else the write then {@code fdatasync})
     * @return {@code len}, or {@code -errno} ({@code -ENOSPC} if a write made no progress)
     * @throws IllegalStateException as {@link #read}
     */
    public abstract long write(long addr, long len, long off, int align, boolean dsync);

    /**
     * Reads into the {@code iovcnt} struct iovec at native address {@code iov} from {@code off},
     * resubmitting after short reads; the iovec array is scratch (advanced in place). Returns the
     * bytes read, short only at end of file, or {@code -errno}. Inside a coroutine in the context's
     * home thread.
     *
     * @param iov native address of {@code iovcnt} {@code struct iovec} ({@link #IOVEC_SIZE} bytes
     *     each); overwritten
     * @param iovcnt number of iovecs, {@code >= 0}; more than IOV_MAX (1024) is {@code -EINVAL}
     * @param off file offset in bytes, {@code >= 0}
     * @param align the O_DIRECT alignment in bytes (a power of two), or 1 without O_DIRECT
     * @return the bytes read (the iovecs' total, or fewer at end of file), or {@code -errno}
     * @throws IllegalStateException as {@link #read}
     */
    public abstract long readv(long iov, int iovcnt, long off, int align);

    /**
     * Writes everything the {@code iovcnt} struct iovec at {@code iov} describe, resubmitting
     * after short writes (the {@link #writeFully} rules); the iovec array is scratch, as for
     * {@link #readv}. Inside a coroutine in the context's home thread.
     *
     * @param iov native address of {@code iovcnt} {@code struct iovec}; overwritten
     * @param iovcnt number of iovecs, {@code >= 0}; more than IOV_MAX (1024) is {@code -EINVAL}
     * @param off file offset in bytes, {@code >= 0}
     * @param align the O_DIRECT alignment in bytes (a power of two), or 1 without O_DIRECT
     * @return the iovecs' total in bytes, or {@code -errno} ({@code -ENOSPC} if a write made no
     *     progress)
     * @throws IllegalStateException as {@link #read}
     */
    public abstract long writev(long iov, int iovcnt, long off, int align);

    /**
     * {@code fsync} ({@code datasync} false) or {@code fdatasync} of the file; {@code EINTR} is
     * retried ({@code EAGAIN} too under io_uring). Inside a coroutine in the context's home thread.
     *
     * @param datasync true for {@code fdatasync} (data, and only the metadata needed to read it
     *     back), false for {@code fsync}
     * @return 0, or {@code -errno} (e.g. {@code -EIO} after a failed write-back)
     * @throws IllegalStateException as {@link #read}
     */
    public abstract int sync(boolean datasync);

    /**
     * {@code fallocate(2)} of {@code [off, off + len)}; {@code EINTR} is retried ({@code EAGAIN}
     * too under io_uring). Inside a coroutine in the context's home thread.
     *
     * @param mode 0 to allocate, or {@code FALLOC_FL_*} flags ({@link FileSys#FALLOC_FL_PUNCH_HOLE}...)
     * @param off file offset in bytes, {@code >= 0}
     * @param len length in bytes, {@code > 0}
     * @return 0, or {@code -errno} ({@code -EOPNOTSUPP} if the file system lacks {@code mode})
     * @throws IllegalStateException as {@link #read}
     */
    public abstract int fallocate(int mode, long off, long len);

    // ---- completion rules, shared with jaio-block's other engines ----

    /** One read or write attempt at native {@code addr}: bytes transferred or {@code -errno}. */
    @FunctionalInterface
    public interface Op {
        /**
         * Transfers up to {@code len} bytes at file offset {@code off}, once.
         *
         * @param addr native address of the buffer
         * @param len bytes to transfer, {@code > 0} and at most {@link #MAX_CHUNK}
         * @param off file offset in bytes
         * @return the bytes transferred (possibly fewer than {@code len}), or {@code -errno}
         */
        long apply(long addr, long len, long off);
    }

    /** One vectored attempt over {@code iovcnt} struct iovec at {@code iov}: bytes or {@code -errno}. */
    @FunctionalInterface
    public interface VecOp {
        /**
         * Transfers what the iovecs describe at file offset {@code off}, once.
         *
         * @param iov native address of the first {@code struct iovec}
         * @param iovcnt number of iovecs, {@code > 0}; together they describe at most
         *     {@link #MAX_CHUNK} bytes
         * @param off file offset in bytes
         * @return the bytes transferred (possibly fewer than described), or {@code -errno}
         */
        long apply(long iov, int iovcnt, long off);
    }

    /**
     * QEMU's read completion rules: {@code -EINTR}/{@code -EAGAIN} → resubmit; a short read →
     * resubmit the remainder; 0 → end of file. With O_DIRECT ({@code align > 1}) a short read that
     * leaves the position unaligned can only be the end of file, and the remainder could not be
     * resubmitted anyway: it ends the read too. Requests of more than {@link #MAX_CHUNK} bytes are
     * split. Returns the bytes read or {@code -errno}. Any thread (the thread {@code op} needs).
     *
     * @param op one read attempt
     * @param addr native address of the destination
     * @param len bytes to read, {@code >= 0}
     * @param off file offset in bytes
     * @param align the O_DIRECT alignment in bytes (a power of two), or 1 without O_DIRECT
     * @return the bytes read ({@code len}, or fewer at end of file), or {@code -errno}
     */
    public static long readFully(Op op, long addr, long len, long off, int align) {
        return fully(op, addr, len, off, align, false);
    }

    /**
     * Write completion rules: {@code -EINTR}/{@code -EAGAIN} → resubmit; a short write →
     * resubmit the remainder; no progress → {@code -ENOSPC} (QEMU gen 1 turns every short write
     * into {@code -ENOSPC}; resubmitting first lets a transient short write through). An unaligned
     * remainder under O_DIRECT → {@code -ENOSPC}. Requests of more than {@link #MAX_CHUNK} bytes are
     * split. Returns {@code len} or {@code -errno}. Any thread (the thread {@code op} needs).
     *
     * @param op one write attempt
     * @param addr native address of the data
     * @param len bytes to write, {@code >= 0}
     * @param off file offset in bytes
     * @param align the O_DIRECT alignment in bytes (a power of two), or 1 without O_DIRECT
     * @return {@code len}, or {@code -errno}
     */
    public static long writeFully(Op op, long addr, long len, long off, int align) {
        return fully(op, addr, len, off, align, true);
    }

    /** The one loop of {@link #readFully} ({@code write} false) and {@link #writeFully} (true). */
    private static long fully(Op op, long addr, long len, long off, int align, boolean write) {
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
                return stopped(done, write);
            }
            done += r;
            if (r < chunk && align > 1 && ((off + done) & (align - 1)) != 0) {
                return stopped(done, write); // an unaligned remainder under O_DIRECT
            }
        }
        return done;
    }

    /**
     * The result of a transfer that cannot go on (no progress, or an unaligned O_DIRECT
     * remainder): a read returns what it got (end of file), a write fails with {@code -ENOSPC}.
     */
    private static long stopped(long done, boolean write) {
        return write ? -Linux.ENOSPC : done;
    }

    /**
     * {@link #writeFully}, then, with {@code dsync}, {@code sync} (fdatasync) so the data is durable
     * on return: the FUA of engines without a per-write flag. Returns what writeFully returned, or
     * the sync's {@code -errno}. Any thread (the thread {@code op} and {@code sync} need).
     *
     * @param op one write attempt
     * @param addr native address of the data
     * @param len bytes to write, {@code >= 0}
     * @param off file offset in bytes
     * @param align the O_DIRECT alignment in bytes (a power of two), or 1 without O_DIRECT
     * @param dsync whether to call {@code sync} after a successful write
     * @param sync an {@code fdatasync}: 0 or {@code -errno}
     * @return {@code len}, or {@code -errno} of the write or the sync
     */
    public static long writeThenSync(Op op, long addr, long len, long off, int align, boolean dsync, IntSupplier sync) {
        long r = writeFully(op, addr, len, off, align);
        if (r >= 0 && dsync) {
            int s = sync.getAsInt();
            if (s < 0) {
                return s;
            }
        }
        return r;
    }

    /**
     * The vectored form of {@link #readFully} ({@code write} false) and {@link #writeFully}
     * ({@code write} true): after a short transfer the iovec array at {@code iov} is advanced in
     * place (consumed entries skipped, a partly consumed one trimmed) and the rest resubmitted.
     * Zero-length entries are skipped. As in {@link #readFully}, no attempt hands the kernel more
     * than {@link #MAX_CHUNK} bytes (the entries past it wait for the next attempt, one entry may be
     * cut at the limit): one call never reaches the kernel's cap of {@code 0x7ffff000} bytes, so a
     * short transfer is never only that cap. The O_DIRECT rule applies to short attempts only.
     * Returns the bytes transferred or {@code -errno}. Any thread (the thread {@code op} needs).
     *
     * @param op one vectored attempt
     * @param iov native address of {@code iovcnt} {@code struct iovec} ({@link #IOVEC_SIZE} bytes
     *     each); overwritten
     * @param iovcnt number of iovecs, {@code >= 0}
     * @param off file offset in bytes
     * @param align the O_DIRECT alignment in bytes (a power of two), or 1 without O_DIRECT
     * @param write true for the write rules, false for the read rules
     * @return the bytes transferred (a read: fewer than the total only at end of file; a write: the
     *     total), or {@code -errno}
     */
    public static long vecFully(VecOp op, long iov, int iovcnt, long off, int align, boolean write) {
        MemorySegment v = FileSys.view(iov, IOVEC_SIZE * iovcnt);
        long done = 0;
        int idx = 0;
        for (;;) {
            while (idx < iovcnt && v.get(JAVA_LONG, IOVEC_SIZE * idx + 8) == 0) {
                idx++;
            }
            if (idx == iovcnt) {
                return done;
            }
            // This attempt: entries idx..end-1 up to MAX_CHUNK bytes in all, the last one cut
            // (its length restored after the call). The kernel caps one call at MAX_RW_COUNT
            // (0x7ffff000): an attempt above it would come back short at a point that need not
            // be aligned, which the O_DIRECT rule below takes for end of file.
            long want = 0;
            int end = idx;
            long cutLength = -1;
            while (end < iovcnt && want < MAX_CHUNK) {
                long l = v.get(JAVA_LONG, IOVEC_SIZE * end + 8);
                if (l > MAX_CHUNK - want) {
                    cutLength = l;
                    v.set(JAVA_LONG, IOVEC_SIZE * end + 8, MAX_CHUNK - want);
                    l = MAX_CHUNK - want;
                }
                want += l;
                end++;
            }
            long r = op.apply(iov + IOVEC_SIZE * idx, end - idx, off + done);
            if (cutLength >= 0) {
                v.set(JAVA_LONG, IOVEC_SIZE * (end - 1) + 8, cutLength);
            }
            if (r == -Linux.EINTR || r == -Linux.EAGAIN) {
                continue;
            }
            if (r < 0) {
                return r;
            }
            if (r == 0) {
                return stopped(done, write);
            }
            done += r;
            boolean shortTransfer = r < want;
            while (r > 0) { // advance past what was transferred
                long at = IOVEC_SIZE * idx;
                long l = v.get(JAVA_LONG, at + 8);
                if (r >= l) {
                    r -= l;
                    idx++;
                } else {
                    v.set(JAVA_LONG, at, v.get(JAVA_LONG, at) + r);
                    v.set(JAVA_LONG, at + 8, l - r);
                    r = 0;
                }
            }
            if (shortTransfer && align > 1 && ((off + done) & (align - 1)) != 0) {
                return stopped(done, write); // an unaligned remainder under O_DIRECT
            }
        }
    }

    /**
     * Durable writes for the engines that pass per-write flags to the kernel (io_uring here, Linux
     * AIO in jaio-block): one write with {@code RWF_DSYNC} while the kernel takes the flag; from its
     * first {@code EOPNOTSUPP} on, for good, a write without it followed by {@code fdatasync}
     * (QEMU's {@code BDRV_REQ_FUA} fallback). One per engine instance.
     *
     * <p>Threads: the engine's home thread only (plain state).
     */
    public static final class DsyncWrites {
        /** Whether the kernel has taken RWF_DSYNC so far; cleared on its first refusal. Home thread (plain). */
        private boolean dsyncSupported = true;

        /** A writer that tries RWF_DSYNC first. Any thread. */
        public DsyncWrites() {}

        /**
         * Writes {@code len} bytes at {@code off} through {@code writeOp(rwFlags)} under the
         * {@link #writeFully} rules; with {@code dsync} the data is durable on return (by the flag,
         * or by {@code datasync} once the flag is refused). Returns {@code len} or {@code -errno}.
         * The home thread, inside the coroutine that issues the request.
         *
         * @param writeOp the engine's write attempt for {@code RWF_*} flags ({@code 0} or
         *     {@link FileSys#RWF_DSYNC})
         * @param addr native address of the data
         * @param len bytes to write, {@code >= 0}
         * @param off file offset in bytes
         * @param align the O_DIRECT alignment in bytes (a power of two), or 1 without O_DIRECT
         * @param dsync whether the data must be durable on return
         * @param datasync the engine's {@code fdatasync}: 0 or {@code -errno}
         * @return {@code len}, or {@code -errno} of the write or the datasync
         */
        public long write(IntFunction<Op> writeOp, long addr, long len, long off, int align, boolean dsync,
                          IntSupplier datasync) {
            if (dsync && dsyncSupported) {
                long r = writeFully(writeOp.apply(FileSys.RWF_DSYNC), addr, len, off, align);
                if (r != -Linux.EOPNOTSUPP) {
                    return r;
                }
                dsyncSupported = false; // an old kernel: rewrite without the flag, then fdatasync
            }
            return writeThenSync(writeOp.apply(0), addr, len, off, align, dsync, datasync);
        }
    }

    // ---- io_uring ----

    /**
     * The io_uring engine: one SQE per attempt on the context's ring. A read or write attempt
     * whose whole range lies inside one of the ring's registered buffers ({@link FixedBuffers})
     * is {@code READ_FIXED}/{@code WRITE_FIXED} with that buffer's index (no page pinning per
     * request); the buffer is looked up while the SQE is prepared, in the home thread.
     */
    static final class Uring extends FileEngine {
        /** FUA as RWF_DSYNC while the kernel takes it. Home thread. */
        private final DsyncWrites dsyncWrites = new DsyncWrites();
        private final IntSupplier datasync = () -> sync(true);
        /**
         * The context's ring, whose registered buffers are looked up per attempt; taken by the
         * first attempt (on the poll and epoll monitors the request ring is set up by its first
         * use, in the home thread). Home thread.
         */
        private IoUring ring;
        private final Op readOp = (a, l, o) -> submit(sqe -> prepRw(sqe, false, a, l, o, 0));
        /** Attempts sent as READ_FIXED/WRITE_FIXED, for tests. Home thread (plain). */
        long fixedRequests;

        Uring(AioContext ctx, int fd) {
            super(ctx, fd);
        }

        /**
         * Fills {@code sqe} for one read ({@code write} false) or write attempt: the fixed opcode
         * when a registered buffer holds {@code [a, a + l)}, else the plain one. Inside addSqe
         * (home thread, context open).
         */
        private void prepRw(Sqe sqe, boolean write, long a, long l, long o, int rwFlags) {
            IoUring r = ring;
            if (r == null) {
                ring = r = Objects.requireNonNull(ctx.ioUring(), "ring"); // inside addSqe: the ring exists
            }
            int idx = r.fixedBufferIndex(a, l);
            if (idx < 0) {
                if (write) {
                    sqe.prepWrite(fd, a, (int) l, o, rwFlags);
                } else {
                    sqe.prepRead(fd, a, (int) l, o, rwFlags);
                }
                return;
            }
            sqe.opcode(write ? IoUring.IORING_OP_WRITE_FIXED : IoUring.IORING_OP_READ_FIXED)
                    .fd(fd).addr(a).len((int) l).off(o).rwFlags(rwFlags).bufIndex(idx);
            fixedRequests++;
        }

        /**
         * One in-flight SQE: a completion that carries the CQE's result. {@code res} is plain: it is
         * written before {@code complete}, which publishes it (OneShot's release of DONE, paired with
         * the acquire in {@code isDone()} of the waiter; see CoCompletion).
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
                throw new IllegalStateException("io_uring file I/O must run inside a coroutine");
            }
            Waiter w = new Waiter();
            ctx.addSqe(prep, w); // the handler never runs inside addSqe
            w.await();
            return w.res;
        }

        @Override
        public boolean isIoUring() {
            return true;
        }

        @Override
        public long read(long addr, long len, long off, int align) {
            return readFully(readOp, addr, len, off, align);
        }

        private Op writeOp(int rwFlags) {
            return (a, l, o) -> submit(sqe -> prepRw(sqe, true, a, l, o, rwFlags));
        }

        @Override
        public long write(long addr, long len, long off, int align, boolean dsync) {
            return dsyncWrites.write(this::writeOp, addr, len, off, align, dsync, datasync);
        }

        @Override
        public long readv(long iov, int iovcnt, long off, int align) {
            return vecFully((v, n, o) -> submit(sqe -> sqe.prepReadv(fd, v, n, o, 0)), iov, iovcnt, off, align, false);
        }

        @Override
        public long writev(long iov, int iovcnt, long off, int align) {
            return vecFully((v, n, o) -> submit(sqe -> sqe.prepWritev(fd, v, n, o, 0)), iov, iovcnt, off, align, true);
        }

        @Override
        public int sync(boolean datasync) {
            int flags = datasync ? IoUring.IORING_FSYNC_DATASYNC : 0;
            return submitUntilDone(sqe -> sqe.prepFsync(fd, flags));
        }

        @Override
        public int fallocate(int mode, long off, long len) {
            return submitUntilDone(sqe -> sqe.prepFallocate(fd, mode, off, len));
        }

        /** {@link #submit}, again after {@code -EINTR}/{@code -EAGAIN}: for requests with no partial result. */
        private int submitUntilDone(Consumer<Sqe> prep) {
            for (;;) {
                int r = submit(prep);
                if (r != -Linux.EINTR && r != -Linux.EAGAIN) {
                    return r;
                }
            }
        }
    }

    // ---- inline, and the same requests in the thread pool's workers ----

    /** The inline engine: each request is its syscalls, run in the calling thread. */
    static final class Inline extends FileEngine {
        // Built once: every request runs through them (no capturing lambda per request).
        private final Op pread;
        private final Op pwrite;
        private final VecOp preadv;
        private final VecOp pwritev;
        private final IntSupplier datasync;

        Inline(AioContext ctx, int fd) {
            super(ctx, fd);
            this.pread = (a, l, o) -> FileSys.pread(fd, a, l, o);
            this.pwrite = (a, l, o) -> FileSys.pwrite(fd, a, l, o);
            this.preadv = (v, n, o) -> FileSys.preadv(fd, v, n, o);
            this.pwritev = (v, n, o) -> FileSys.pwritev(fd, v, n, o);
            this.datasync = () -> FileSys.fdatasync(fd);
        }

        @Override
        public boolean isIoUring() {
            return false;
        }

        @Override
        public long read(long addr, long len, long off, int align) {
            return readFully(pread, addr, len, off, align);
        }

        @Override
        public long write(long addr, long len, long off, int align, boolean dsync) {
            return writeThenSync(pwrite, addr, len, off, align, dsync, datasync);
        }

        @Override
        public long readv(long iov, int iovcnt, long off, int align) {
            return vecFully(preadv, iov, iovcnt, off, align, false);
        }

        @Override
        public long writev(long iov, int iovcnt, long off, int align) {
            return vecFully(pwritev, iov, iovcnt, off, align, true);
        }

        @Override
        public int sync(boolean datasync) {
            return datasync ? FileSys.fdatasync(fd) : FileSys.fsync(fd);
        }

        @Override
        public int fallocate(int mode, long off, long len) {
            return FileSys.fallocate(fd, mode, off, len);
        }
    }

    /**
     * The thread-pool engine: each request, its resubmission loop and (with {@code dsync}) its
     * fdatasync included, is one job in a worker, which runs the {@link Inline} engine's request.
     */
    static final class Threads extends FileEngine {
        private final Inline inline;

        Threads(AioContext ctx, int fd) {
            super(ctx, fd);
            this.inline = new Inline(ctx, fd);
        }

        @Override
        public boolean isIoUring() {
            return false;
        }

        @Override
        public long read(long addr, long len, long off, int align) {
            return ThreadPools.submitCo(ctx.threadPool(), () -> inline.read(addr, len, off, align));
        }

        @Override
        public long write(long addr, long len, long off, int align, boolean dsync) {
            return ThreadPools.submitCo(ctx.threadPool(), () -> inline.write(addr, len, off, align, dsync));
        }

        @Override
        public long readv(long iov, int iovcnt, long off, int align) {
            return ThreadPools.submitCo(ctx.threadPool(), () -> inline.readv(iov, iovcnt, off, align));
        }

        @Override
        public long writev(long iov, int iovcnt, long off, int align) {
            return ThreadPools.submitCo(ctx.threadPool(), () -> inline.writev(iov, iovcnt, off, align));
        }

        @Override
        public int sync(boolean datasync) {
            return ThreadPools.submitCo(ctx.threadPool(), () -> inline.sync(datasync));
        }

        @Override
        public int fallocate(int mode, long off, long len) {
            return ThreadPools.submitCo(ctx.threadPool(), () -> inline.fallocate(mode, off, len));
        }
    }
}
