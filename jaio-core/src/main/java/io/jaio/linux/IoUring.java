package io.jaio.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * One io_uring instance: {@code io_uring_setup} through FFM, the SQ and CQ rings and the SQE
 * array mapped once, opcode support probed with {@code IORING_REGISTER_PROBE}.
 *
 * <p>Threads: one owner thread submits and reaps (the rings are single-producer,
 * single-consumer). {@link #close()} on that thread. SQEs are addressed by slot index, so filling
 * one allocates nothing.
 */
@SuppressWarnings("restricted")
public final class IoUring implements AutoCloseable {
    // ---- opcodes, <uapi/linux/io_uring.h> enum io_uring_op ----
    public static final int IORING_OP_NOP = 0;
    public static final int IORING_OP_READV = 1;
    public static final int IORING_OP_WRITEV = 2;
    public static final int IORING_OP_FSYNC = 3;
    public static final int IORING_OP_READ_FIXED = 4;
    public static final int IORING_OP_WRITE_FIXED = 5;
    public static final int IORING_OP_POLL_ADD = 6;
    public static final int IORING_OP_POLL_REMOVE = 7;
    public static final int IORING_OP_SYNC_FILE_RANGE = 8;
    public static final int IORING_OP_SENDMSG = 9;
    public static final int IORING_OP_RECVMSG = 10;
    public static final int IORING_OP_TIMEOUT = 11;
    public static final int IORING_OP_TIMEOUT_REMOVE = 12;
    public static final int IORING_OP_ACCEPT = 13;
    public static final int IORING_OP_ASYNC_CANCEL = 14;
    public static final int IORING_OP_LINK_TIMEOUT = 15;
    public static final int IORING_OP_CONNECT = 16;
    public static final int IORING_OP_FALLOCATE = 17;
    public static final int IORING_OP_OPENAT = 18;
    public static final int IORING_OP_CLOSE = 19;
    public static final int IORING_OP_READ = 22;
    public static final int IORING_OP_WRITE = 23;
    public static final int IORING_OP_SEND = 26;
    public static final int IORING_OP_RECV = 27;
    public static final int IORING_OP_SHUTDOWN = 34;

    // ---- sqe->flags (IOSQE_*) ----
    public static final int IOSQE_FIXED_FILE = 1;
    public static final int IOSQE_IO_DRAIN = 2;
    public static final int IOSQE_IO_LINK = 4;
    public static final int IOSQE_IO_HARDLINK = 8;
    public static final int IOSQE_ASYNC = 16;
    public static final int IOSQE_CQE_SKIP_SUCCESS = 64;

    // ---- io_uring_setup flags and features ----
    public static final int IORING_SETUP_CLAMP = 1 << 4;
    public static final int IORING_SETUP_SUBMIT_ALL = 1 << 7;
    public static final int IORING_SETUP_COOP_TASKRUN = 1 << 8;
    public static final int IORING_SETUP_TASKRUN_FLAG = 1 << 9;
    public static final int IORING_SETUP_SINGLE_ISSUER = 1 << 12;
    public static final int IORING_FEAT_SINGLE_MMAP = 1;
    public static final int IORING_FEAT_NODROP = 1 << 1;
    public static final int IORING_FEAT_SUBMIT_STABLE = 1 << 2;
    public static final int IORING_FEAT_FAST_POLL = 1 << 5;
    public static final int IORING_FEAT_POLL_32BITS = 1 << 6;
    public static final int IORING_FEAT_EXT_ARG = 1 << 8;
    /** Linux 5.13, the release that also brought multishot {@code POLL_ADD}. */
    public static final int IORING_FEAT_RSRC_TAGS = 1 << 10;

    // ---- io_uring_enter flags, SQ ring flags ----
    public static final int IORING_ENTER_GETEVENTS = 1;
    public static final int IORING_SQ_CQ_OVERFLOW = 1 << 1;
    /** Task work is pending (with {@link #IORING_SETUP_TASKRUN_FLAG}): enter with GETEVENTS to run it. */
    public static final int IORING_SQ_TASKRUN = 1 << 2;

    // ---- op-specific flags ----
    public static final int IORING_TIMEOUT_ABS = 1;
    public static final int IORING_FSYNC_DATASYNC = 1;
    public static final int IORING_POLL_ADD_MULTI = 1;
    /** {@code ASYNC_CANCEL}: cancel every request that matches, not just the first. */
    public static final int IORING_ASYNC_CANCEL_ALL = 1;
    /** {@code ASYNC_CANCEL}: match on the request's fd rather than its {@code user_data}. */
    public static final int IORING_ASYNC_CANCEL_FD = 1 << 1;
    /** {@code ASYNC_CANCEL}: match every request in the ring (Linux 5.19). */
    public static final int IORING_ASYNC_CANCEL_ANY = 1 << 2;

    // ---- CQE flags ----
    /** The request stays armed and will post more completions (multishot). */
    public static final int IORING_CQE_F_MORE = 1 << 1;

    // ---- syscall numbers (x86-64 and aarch64 share the io_uring ones), <asm/unistd.h> ----
    private static final long SYS_IO_URING_SETUP = 425;
    private static final long SYS_IO_URING_ENTER = 426;
    private static final long SYS_IO_URING_REGISTER = 427;
    private static final int IORING_REGISTER_PROBE = 8;
    private static final long IORING_OFF_SQ_RING = 0;
    private static final long IORING_OFF_CQ_RING = 0x8000000L;
    private static final long IORING_OFF_SQES = 0x10000000L;

    // struct io_uring_params, <uapi/linux/io_uring.h>
    private static final long P_SIZE = 120;
    private static final long P_SQ_ENTRIES = 0;
    private static final long P_CQ_ENTRIES = 4;
    private static final long P_FLAGS = 8;
    private static final long P_FEATURES = 20;
    private static final long P_SQ_OFF = 40;
    private static final long P_CQ_OFF = 80;

    // mmap, <asm-generic/mman-common.h>
    private static final int PROT_READ = 1;
    private static final int PROT_WRITE = 2;
    private static final int MAP_SHARED = 1;
    private static final int MAP_POPULATE = 0x8000;

    private static final long CAPTURE_SIZE = Linux.CAPTURE_SIZE;
    private static final MethodHandle MMAP = Linux.errnoCall("mmap",
            FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG));
    private static final MethodHandle MUNMAP = Linux.plainCall("munmap",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));

    /** Consumes one completion: {@code user_data}, {@code res} (≥ 0 or -errno), {@code flags}. */
    @FunctionalInterface
    public interface CqeConsumer {
        void accept(long userData, int res, int flags);
    }

    private final int ringFd;
    private final int features;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment capture;
    private final MemorySegment sqRing;
    private final MemorySegment cqRing;
    private final MemorySegment sqesMap;
    private final long sqRingSize;
    private final long cqRingSize;
    private final SubmissionQueue sq;
    private final CompletionQueue cq;
    private final boolean[] supported = new boolean[256];
    private boolean closed;

    private IoUring(int entries, int flags) {
        this.capture = arena.allocate(CAPTURE_SIZE, 8);
        MemorySegment p = arena.allocate(P_SIZE, 8);
        p.set(JAVA_INT, P_FLAGS, flags);
        long fd = syscall(SYS_IO_URING_SETUP, entries, p.address(), 0, 0, 0, 0);
        if (fd < 0) {
            arena.close();
            throw new NativeException("io_uring_setup", (int) -fd, entries + " entries");
        }
        this.ringFd = (int) fd;
        boolean ok = false;
        MemorySegment sqr = MemorySegment.NULL;
        MemorySegment cqr = MemorySegment.NULL;
        MemorySegment sqes = MemorySegment.NULL;
        try {
            this.features = p.get(JAVA_INT, P_FEATURES);
            int sqEntries = p.get(JAVA_INT, P_SQ_ENTRIES);
            int cqEntries = p.get(JAVA_INT, P_CQ_ENTRIES);
            long sqArray = Integer.toUnsignedLong(p.get(JAVA_INT, P_SQ_OFF + 24));
            long cqCqes = Integer.toUnsignedLong(p.get(JAVA_INT, P_CQ_OFF + 20));
            long sqSize = sqArray + 4L * sqEntries;
            long cqSize = cqCqes + CompletionQueue.CQE_SIZE * cqEntries;
            if ((features & IORING_FEAT_SINGLE_MMAP) != 0) {
                sqSize = cqSize = Math.max(sqSize, cqSize);
            }
            sqr = mmap(sqSize, IORING_OFF_SQ_RING);
            cqr = (features & IORING_FEAT_SINGLE_MMAP) != 0 ? sqr : mmap(cqSize, IORING_OFF_CQ_RING);
            sqes = mmap(SubmissionQueue.SQE_SIZE * sqEntries, IORING_OFF_SQES);
            this.sqRing = sqr;
            this.cqRing = cqr;
            this.sqesMap = sqes;
            this.sqRingSize = sqSize;
            this.cqRingSize = cqSize;
            this.sq = new SubmissionQueue(sqr, off(p, P_SQ_OFF), off(p, P_SQ_OFF + 4), off(p, P_SQ_OFF + 8),
                    off(p, P_SQ_OFF + 12), off(p, P_SQ_OFF + 16), sqArray, sqes);
            this.cq = new CompletionQueue(cqr, off(p, P_CQ_OFF), off(p, P_CQ_OFF + 4), off(p, P_CQ_OFF + 8),
                    off(p, P_CQ_OFF + 12), off(p, P_CQ_OFF + 16), cqCqes);
            probe();
            ok = true;
        } finally {
            if (!ok) {
                if (sqes != MemorySegment.NULL) {
                    munmap(sqes, sqes.byteSize());
                }
                if (cqr != MemorySegment.NULL && cqr != sqr) {
                    munmap(cqr, cqr.byteSize());
                }
                if (sqr != MemorySegment.NULL) {
                    munmap(sqr, sqr.byteSize());
                }
                Linux.close(ringFd);
                arena.close();
            }
        }
    }

    private static long off(MemorySegment p, long at) {
        return Integer.toUnsignedLong(p.get(JAVA_INT, at));
    }

    /**
     * Sets up a ring of {@code entries} SQ entries (CQ twice that) with {@code flags}
     * ({@code IORING_SETUP_*}).
     *
     * @throws NativeException if the kernel refuses (ENOSYS without io_uring, EPERM when
     *     {@code kernel.io_uring_disabled} forbids it, ENOMEM past the memlock limit...)
     */
    public static IoUring create(int entries, int flags) {
        if (entries <= 0) {
            throw new IllegalArgumentException("io_uring entries must be > 0, got " + entries);
        }
        return new IoUring(entries, flags);
    }

    private long syscall(long nr, long a, long b, long c, long d, long e, long f) {
        try {
            long r = (long) Linux.SYSCALL6.invokeExact(capture, nr, a, b, c, d, e, f);
            return r == -1 ? -(int) capture.get(JAVA_INT, 0) : r;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private MemorySegment mmap(long size, long offset) {
        try {
            MemorySegment m = (MemorySegment) MMAP.invokeExact(capture, MemorySegment.NULL, size,
                    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ringFd, offset);
            if (m.address() == -1L) {
                throw new NativeException("mmap", capture.get(JAVA_INT, 0), "io_uring offset 0x" + Long.toHexString(offset));
            }
            return m.reinterpret(size);
        } catch (NativeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static void munmap(MemorySegment m, long size) {
        try {
            int r = (int) MUNMAP.invokeExact(m, size);
            assert r == 0;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private void probe() {
        int ops = 256;
        MemorySegment buf = arena.allocate(16 + 8L * ops, 8);
        long r = syscall(SYS_IO_URING_REGISTER, ringFd, IORING_REGISTER_PROBE, buf.address(), ops, 0, 0);
        if (r < 0) {
            // Kernels before 5.6 have no probe: assume the 5.1 basics.
            for (int op : new int[] {IORING_OP_NOP, IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC,
                    IORING_OP_POLL_ADD, IORING_OP_POLL_REMOVE}) {
                supported[op] = true;
            }
            return;
        }
        int n = buf.get(JAVA_BYTE, 1) & 0xff; // ops_len
        for (int i = 0; i < n; i++) {
            long e = 16 + 8L * i;
            int op = buf.get(JAVA_BYTE, e) & 0xff;
            int fl = buf.get(JAVA_SHORT, e + 2) & 0xffff;
            if ((fl & 1) != 0) { // IO_URING_OP_SUPPORTED
                supported[op] = true;
            }
        }
    }

    // ---- properties ----

    public int ringFd() {
        return ringFd;
    }

    /** {@code IORING_FEAT_*} bits the kernel reported. */
    public int features() {
        return features;
    }

    /** Whether the kernel supports {@code opcode} (IORING_REGISTER_PROBE). */
    public boolean supports(int opcode) {
        return opcode >= 0 && opcode < supported.length && supported[opcode];
    }

    public int sqEntries() {
        return sq.entries;
    }

    public int cqEntries() {
        return cq.entries;
    }

    // ---- submission ----

    /** Takes and zeroes the next SQE slot; -1 if the SQ is full (submit, then retry). */
    public int nextSqe() {
        return sq.next();
    }

    /** Free SQ slots. */
    public int sqSpace() {
        return sq.space();
    }

    /** SQEs filled but not yet handed to the kernel. */
    public int unsubmitted() {
        return sq.unpublished() + sq.inKernel();
    }

    // ---- SQE fields ----
    // Raw field writers, for io.jaio.aio.Sqe's generic setters (opcodes without a typed helper
    // below). jaio's own requests are built with the typed prep* helpers. Slot from nextSqe().

    public void sqeOpcode(int slot, int v) { sq.opcode(slot, v); }
    public void sqeFlags(int slot, int v) { sq.flags(slot, v); }
    public void sqeIoprio(int slot, int v) { sq.ioprio(slot, v); }
    public void sqeFd(int slot, int v) { sq.fd(slot, v); }
    public void sqeOff(int slot, long v) { sq.off(slot, v); }
    public void sqeAddr(int slot, long v) { sq.addr(slot, v); }
    public void sqeLen(int slot, int v) { sq.len(slot, v); }
    public void sqeRwFlags(int slot, int v) { sq.rwFlags(slot, v); }
    public void sqeUserData(int slot, long v) { sq.userData(slot, v); }
    public void sqeBufIndex(int slot, int v) { sq.bufIndex(slot, v); }
    public void sqePersonality(int slot, int v) { sq.personality(slot, v); }
    public void sqeSpliceFdIn(int slot, int v) { sq.spliceFdIn(slot, v); }
    public void sqeAddr3(int slot, long v) { sq.addr3(slot, v); }

    /** Zeroes the whole entry (every field, {@code user_data} included), as {@link #nextSqe} does. */
    public void clearSqe(int slot) { sq.clear(slot); }

    // ---- typed preparation: liburing's io_uring_prep_*, on a slot fresh from nextSqe() ----
    // Each writes the fields its operation reads and leaves the others as nextSqe() left them
    // (zero); IOSQE_* flags and user_data are set separately (sqeFlags, sqeUserData). No
    // allocation, no slicing: fixed-offset writes into the mapped SQE array. Owner thread.

    /** {@code IORING_OP_NOP}: completes with res 0. */
    public void prepNop(int slot) {
        sq.prepNop(slot);
    }

    /**
     * {@code IORING_OP_READ} of {@code len} bytes at file offset {@code off} into native address
     * {@code addr} ({@code off} -1: the file position). {@code rwFlags}: {@code RWF_*}.
     */
    public void prepRead(int slot, int fd, long addr, int len, long off, int rwFlags) {
        sq.prepRw(slot, IORING_OP_READ, fd, addr, len, off, rwFlags);
    }

    /** {@code IORING_OP_WRITE}; as {@link #prepRead} ({@code RWF_DSYNC} for a FUA write). */
    public void prepWrite(int slot, int fd, long addr, int len, long off, int rwFlags) {
        sq.prepRw(slot, IORING_OP_WRITE, fd, addr, len, off, rwFlags);
    }

    /** {@code IORING_OP_READV}: {@code iovecs} is the native address of {@code nrVecs} struct iovec. */
    public void prepReadv(int slot, int fd, long iovecs, int nrVecs, long off, int rwFlags) {
        sq.prepRw(slot, IORING_OP_READV, fd, iovecs, nrVecs, off, rwFlags);
    }

    /** {@code IORING_OP_WRITEV}; as {@link #prepReadv}. */
    public void prepWritev(int slot, int fd, long iovecs, int nrVecs, long off, int rwFlags) {
        sq.prepRw(slot, IORING_OP_WRITEV, fd, iovecs, nrVecs, off, rwFlags);
    }

    /** {@code IORING_OP_FSYNC}; {@code fsyncFlags} 0 or {@link #IORING_FSYNC_DATASYNC}. */
    public void prepFsync(int slot, int fd, int fsyncFlags) {
        sq.prepFsync(slot, fd, fsyncFlags);
    }

    /**
     * {@code IORING_OP_FALLOCATE} with {@code FALLOC_FL_*} {@code mode} over {@code [off, off+len)}
     * (the kernel reads the length from {@code addr} and the mode from {@code len}).
     */
    public void prepFallocate(int slot, int fd, int mode, long off, long len) {
        sq.prepFallocate(slot, fd, mode, off, len);
    }

    /**
     * {@code IORING_OP_POLL_ADD} for {@code events} ({@code POLL*} bits, as poll(2)) on {@code fd};
     * with {@code multishot} ({@link #IORING_POLL_ADD_MULTI}, Linux 5.13) it stays armed and its
     * completions carry {@link #IORING_CQE_F_MORE}.
     */
    public void prepPollAdd(int slot, int fd, int events, boolean multishot) {
        sq.prepPollAdd(slot, fd, events, multishot);
    }

    /** {@code IORING_OP_POLL_REMOVE} of the {@code POLL_ADD} whose {@code user_data} is {@code target}. */
    public void prepPollRemove(int slot, long target) {
        sq.prepPollRemove(slot, target);
    }

    /**
     * {@code IORING_OP_TIMEOUT}: completes with {@code -ETIME} after the time in {@code ts}, or
     * with 0 once {@code count} other requests have completed (0: only the time counts).
     * {@code timeoutFlags}: 0 (relative) or {@link #IORING_TIMEOUT_ABS}. The kernel copies
     * {@code ts} when it consumes the entry, so {@code ts} may be reused after the next submit.
     */
    public void prepTimeout(int slot, KernelTimespec ts, int count, int timeoutFlags) {
        sq.prepTimeout(slot, ts.address(), count, timeoutFlags);
    }

    /**
     * {@code IORING_OP_ASYNC_CANCEL} of the request whose {@code user_data} is {@code target}, or,
     * with {@link #IORING_ASYNC_CANCEL_ANY} in {@code cancelFlags}, of every request in the ring
     * ({@code target} then ignored).
     */
    public void prepCancel(int slot, long target, int cancelFlags) {
        sq.prepCancel(slot, target, cancelFlags);
    }

    /**
     * Hands filled SQEs to the kernel and, if {@code minComplete > 0}, waits until that many
     * completions are ready ({@code io_uring_enter}). EINTR is retried unless waiting (then the
     * wait simply ends early). Returns the number of SQEs the kernel consumed, or {@code -errno}
     * for EBUSY/EAGAIN (no room: reap completions first) or ETIME; other errors throw.
     */
    public int enter(int minComplete) {
        sq.flush();
        int toSubmit = sq.inKernel(); // published and not yet consumed by the kernel
        int flags = minComplete > 0 || (sq.ringFlags() & (IORING_SQ_CQ_OVERFLOW | IORING_SQ_TASKRUN)) != 0
                ? IORING_ENTER_GETEVENTS : 0;
        for (;;) {
            long r = syscall(SYS_IO_URING_ENTER, ringFd, toSubmit, minComplete, flags, 0, 0);
            if (r >= 0) {
                return (int) r;
            }
            int e = (int) -r;
            if (e == Linux.EINTR) {
                if (minComplete > 0) {
                    return 0;
                }
                continue;
            }
            if (e == Linux.EAGAIN || e == 16 /* EBUSY */ || e == Linux.ETIME) {
                return (int) r;
            }
            throw new NativeException("io_uring_enter", e);
        }
    }

    /**
     * Moves CQEs the kernel held back for lack of room into the CQ ring, without submitting
     * anything ({@code io_uring_enter(fd, 0, 0, GETEVENTS)}).
     */
    public void flushOverflow() {
        long r = syscall(SYS_IO_URING_ENTER, ringFd, 0, 0, IORING_ENTER_GETEVENTS, 0, 0);
        if (r < 0 && r != -Linux.EINTR && r != -Linux.EAGAIN && r != -16 && r != -Linux.ETIME) {
            throw new NativeException("io_uring_enter", (int) -r, "flushing the CQ overflow");
        }
    }

    /** Submits without waiting. */
    public int submit() {
        return enter(0);
    }

    // ---- completion ----

    /** Completions ready to reap. */
    public int cqReady() {
        return cq.ready();
    }

    /**
     * Whether the kernel holds completions it has not posted yet (with
     * {@link #IORING_SETUP_COOP_TASKRUN} and {@link #IORING_SETUP_TASKRUN_FLAG}): any
     * {@link #enter} runs them into the CQ ring.
     */
    public boolean taskRunPending() {
        return (sq.ringFlags() & IORING_SQ_TASKRUN) != 0;
    }

    /** Whether the kernel is holding overflowed CQEs (fetch them with {@link #enter}). */
    public boolean cqOverflowed() {
        return (sq.ringFlags() & IORING_SQ_CQ_OVERFLOW) != 0;
    }

    /** Reaps every ready completion in ring order; see {@link CompletionQueue#drain}. */
    public int drain(CqeConsumer consumer) {
        return cq.drain(consumer);
    }

    /** Unmaps the rings and closes the ring fd (the kernel cancels what is in flight). Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        munmap(sqesMap, sqesMap.byteSize());
        if (cqRing != sqRing) {
            munmap(cqRing, cqRingSize);
        }
        munmap(sqRing, sqRingSize);
        Linux.close(ringFd);
        arena.close();
    }
}
