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
    /** Opcode: do nothing; completes with 0 (tests the ring). */
    public static final int IORING_OP_NOP = 0;
    /** Opcode: {@code preadv2}: vectored read at an offset ({@code addr} = iovec array, {@code len} = count). */
    public static final int IORING_OP_READV = 1;
    /** Opcode: {@code pwritev2}: vectored write at an offset. */
    public static final int IORING_OP_WRITEV = 2;
    /** Opcode: {@code fsync}, or {@code fdatasync} with {@link #IORING_FSYNC_DATASYNC}. */
    public static final int IORING_OP_FSYNC = 3;
    /** Opcode: read into a registered buffer ({@code buf_index}). */
    public static final int IORING_OP_READ_FIXED = 4;
    /** Opcode: write from a registered buffer ({@code buf_index}). */
    public static final int IORING_OP_WRITE_FIXED = 5;
    /** Opcode: wait until the fd is ready for the {@code poll(2)} events in {@code poll32_events}. */
    public static final int IORING_OP_POLL_ADD = 6;
    /** Opcode: cancel a {@code POLL_ADD} by its {@code user_data} ({@code addr}). */
    public static final int IORING_OP_POLL_REMOVE = 7;
    /** Opcode: {@code sync_file_range(2)}. */
    public static final int IORING_OP_SYNC_FILE_RANGE = 8;
    /** Opcode: {@code sendmsg(2)}. */
    public static final int IORING_OP_SENDMSG = 9;
    /** Opcode: {@code recvmsg(2)}. */
    public static final int IORING_OP_RECVMSG = 10;
    /** Opcode: complete after a timeout ({@code addr} = {@code __kernel_timespec}) or {@code off} completions; res {@code -ETIME} on expiry. */
    public static final int IORING_OP_TIMEOUT = 11;
    /** Opcode: cancel a {@code TIMEOUT} by its {@code user_data}. */
    public static final int IORING_OP_TIMEOUT_REMOVE = 12;
    /** Opcode: {@code accept4(2)}. */
    public static final int IORING_OP_ACCEPT = 13;
    /** Opcode: cancel an in-flight request by {@code user_data} (or fd/any, see {@code IORING_ASYNC_CANCEL_*}). */
    public static final int IORING_OP_ASYNC_CANCEL = 14;
    /** Opcode: timeout for the linked request before it; cancels that request on expiry. */
    public static final int IORING_OP_LINK_TIMEOUT = 15;
    /** Opcode: {@code connect(2)}. */
    public static final int IORING_OP_CONNECT = 16;
    /** Opcode: {@code fallocate(2)} ({@code len} = mode, {@code addr} = length). */
    public static final int IORING_OP_FALLOCATE = 17;
    /** Opcode: {@code openat(2)}. */
    public static final int IORING_OP_OPENAT = 18;
    /** Opcode: {@code close(2)}. */
    public static final int IORING_OP_CLOSE = 19;
    /** Opcode: {@code pread(2)} into one buffer (Linux 5.6). */
    public static final int IORING_OP_READ = 22;
    /** Opcode: {@code pwrite(2)} from one buffer (Linux 5.6). */
    public static final int IORING_OP_WRITE = 23;
    /** Opcode: {@code send(2)}. */
    public static final int IORING_OP_SEND = 26;
    /** Opcode: {@code recv(2)}. */
    public static final int IORING_OP_RECV = 27;
    /** Opcode: {@code shutdown(2)} (Linux 5.11). */
    public static final int IORING_OP_SHUTDOWN = 34;

    // ---- sqe->flags (IOSQE_*) ----
    /** SQE flag: {@code fd} is an index into the registered files, not a file descriptor. */
    public static final int IOSQE_FIXED_FILE = 1;
    /** SQE flag: start only after every earlier request has completed. */
    public static final int IOSQE_IO_DRAIN = 2;
    /** SQE flag: the next SQE starts only after this one succeeds (a chain; an error cancels the rest). */
    public static final int IOSQE_IO_LINK = 4;
    /** SQE flag: like {@link #IOSQE_IO_LINK}, but the chain continues even if this request fails. */
    public static final int IOSQE_IO_HARDLINK = 8;
    /** SQE flag: issue from a kernel worker at once, without a non-blocking attempt first. */
    public static final int IOSQE_ASYNC = 16;
    /** SQE flag: post no CQE if the request succeeds (Linux 5.17). */
    public static final int IOSQE_CQE_SKIP_SUCCESS = 64;

    // ---- io_uring_setup flags and features ----
    /** Setup flag: clamp too-large ring sizes to the maximum instead of failing with {@code EINVAL}. */
    public static final int IORING_SETUP_CLAMP = 1 << 4;
    /** Setup flag: keep submitting the rest of a batch after one SQE fails to submit (Linux 5.18). */
    public static final int IORING_SETUP_SUBMIT_ALL = 1 << 7;
    /** Setup flag: run task work only at {@code io_uring_enter}, no interrupting IPIs (Linux 5.19). */
    public static final int IORING_SETUP_COOP_TASKRUN = 1 << 8;
    /** Setup flag: set {@link #IORING_SQ_TASKRUN} in the SQ ring flags when task work is pending (Linux 5.19). */
    public static final int IORING_SETUP_TASKRUN_FLAG = 1 << 9;
    /** Setup flag: only one task ever submits, letting the kernel skip locking (Linux 6.0). */
    public static final int IORING_SETUP_SINGLE_ISSUER = 1 << 12;
    /** Feature: the SQ and CQ rings share one mmap (Linux 5.4). */
    public static final int IORING_FEAT_SINGLE_MMAP = 1;
    /** Feature: completions are never dropped when the CQ ring is full; they wait in an overflow list (Linux 5.5). */
    public static final int IORING_FEAT_NODROP = 1 << 1;
    /** Feature: the kernel has consumed an SQE's data once {@code io_uring_enter} returns (Linux 5.5). */
    public static final int IORING_FEAT_SUBMIT_STABLE = 1 << 2;
    /** Feature: requests on fds that are not ready are retried by internal polling, not a worker (Linux 5.7). */
    public static final int IORING_FEAT_FAST_POLL = 1 << 5;
    /** Feature: {@code POLL_ADD} takes 32-bit event masks (Linux 5.9). */
    public static final int IORING_FEAT_POLL_32BITS = 1 << 6;
    /** Feature: {@code io_uring_enter} accepts {@code IORING_ENTER_EXT_ARG}, a wait with a timeout (Linux 5.11). */
    public static final int IORING_FEAT_EXT_ARG = 1 << 8;
    /** Linux 5.13, the release that also brought multishot {@code POLL_ADD}. */
    public static final int IORING_FEAT_RSRC_TAGS = 1 << 10;

    // ---- io_uring_enter flags, SQ ring flags ----
    /** {@code io_uring_enter} flag: wait for {@code min_complete} completions, not only submit. */
    public static final int IORING_ENTER_GETEVENTS = 1;
    /** SQ ring flag: the CQ ring has overflowed; enter with GETEVENTS to flush the overflow list. */
    public static final int IORING_SQ_CQ_OVERFLOW = 1 << 1;
    /** Task work is pending (with {@link #IORING_SETUP_TASKRUN_FLAG}): enter with GETEVENTS to run it. */
    public static final int IORING_SQ_TASKRUN = 1 << 2;

    // ---- op-specific flags ----
    /** {@code TIMEOUT} flag: the timespec is an absolute time, not relative. */
    public static final int IORING_TIMEOUT_ABS = 1;
    /** {@code FSYNC} flag: {@code fdatasync} semantics (data and the metadata needed to read it). */
    public static final int IORING_FSYNC_DATASYNC = 1;
    /** {@code POLL_ADD} flag ({@code len}): multishot; stays armed and posts a CQE per readiness. */
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
    private static final int IORING_REGISTER_BUFFERS = 0;
    private static final int IORING_UNREGISTER_BUFFERS = 1;
    private static final int IORING_REGISTER_PROBE = 8;
    /** Most buffers one {@code IORING_REGISTER_BUFFERS} takes ({@code IORING_MAX_REG_BUFFERS}). */
    public static final int MAX_REGISTERED_BUFFERS = 1 << 14;
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
        /**
         * Called on the reaping thread for one CQE, which the ring has already released.
         *
         * @param userData the request's {@code user_data}
         * @param res the result: a byte count or other value ≥ 0, or {@code -errno}
         * @param flags {@code IORING_CQE_F_*} bits
         */
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
    /**
     * The registered buffers ({@link #registerBuffers}), by {@code buf_index}; empty when none.
     * Owner thread (plain).
     */
    private MemorySegment[] fixed = new MemorySegment[0];

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
     * @param entries SQ size, > 0 (the kernel rounds it up to a power of two; with
     *     {@link #IORING_SETUP_CLAMP} it clamps too-large sizes)
     * @param flags {@code IORING_SETUP_*} bits, 0 for none
     * @return the ring, owned by the calling thread
     * @throws IllegalArgumentException if {@code entries} ≤ 0
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

    /** {@return the ring's file descriptor (for {@code io_uring_register} or an eventfd pairing)} */
    public int ringFd() {
        return ringFd;
    }

    /** {@return the {@code IORING_FEAT_*} bits the kernel reported at setup} */
    public int features() {
        return features;
    }

    /**
     * Whether the kernel supports {@code opcode} (IORING_REGISTER_PROBE; before Linux 5.6, only
     * the 5.1 basics are assumed).
     *
     * @param opcode an {@code IORING_OP_*} value; out-of-range values are unsupported
     * @return whether the opcode is supported
     */
    public boolean supports(int opcode) {
        return opcode >= 0 && opcode < supported.length && supported[opcode];
    }

    /** {@return the SQ ring's size in entries, as the kernel set it up} */
    public int sqEntries() {
        return sq.entries;
    }

    /** {@return the CQ ring's size in entries, as the kernel set it up} */
    public int cqEntries() {
        return cq.entries;
    }

    // ---- registered buffers ----

    /**
     * Registers {@code buffers} as the ring's fixed buffers ({@code IORING_REGISTER_BUFFERS}): the
     * kernel pins their pages once, and {@code IORING_OP_READ_FIXED}/{@code WRITE_FIXED} with
     * {@code buf_index} {@code i} then transfer into or out of {@code buffers[i]} without pinning
     * per request. The pinned pages count against {@code RLIMIT_MEMLOCK} (unless the process has
     * {@code CAP_IPC_LOCK}). One set per ring at a time; the kernel copies the iovec array, so no
     * native memory is kept here. The ring keeps the segments until {@link #unregisterBuffers} or
     * {@link #close}: {@link #fixedBufferIndex} only names a buffer whose scope is still alive.
     * Owner thread.
     *
     * @param buffers native segments, each non-empty and at most 1 GiB (the kernel's limit), at
     *     most {@link #MAX_REGISTERED_BUFFERS} of them
     * @throws IllegalStateException if buffers are registered already, or the ring is closed
     * @throws IllegalArgumentException if {@code buffers} is empty or one is not native, empty or
     *     already closed
     * @throws NullPointerException if a buffer is null
     * @throws NativeException if the kernel refuses ({@code ENOMEM} past {@code RLIMIT_MEMLOCK},
     *     {@code EFAULT} for memory it cannot pin, {@code EINVAL} for too many or too large
     *     buffers), with nothing registered
     */
    public void registerBuffers(MemorySegment... buffers) {
        if (closed) {
            throw new IllegalStateException("io_uring ring is closed");
        }
        if (fixed.length > 0) {
            throw new IllegalStateException("io_uring ring already has " + fixed.length + " registered buffers");
        }
        if (buffers.length == 0) {
            throw new IllegalArgumentException("no buffers to register");
        }
        MemorySegment[] copy = buffers.clone();
        for (int i = 0; i < copy.length; i++) {
            MemorySegment b = java.util.Objects.requireNonNull(copy[i], "buffer " + i);
            if (!b.isNative()) {
                throw new IllegalArgumentException("buffer " + i + " is a heap segment: only native memory can be registered");
            }
            if (b.byteSize() == 0) {
                throw new IllegalArgumentException("buffer " + i + " is empty");
            }
            if (!b.scope().isAlive()) {
                throw new IllegalArgumentException("buffer " + i + " is already closed");
            }
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment iov = a.allocate(16L * copy.length, 8);
            for (int i = 0; i < copy.length; i++) {
                iov.set(JAVA_LONG, 16L * i, copy[i].address());
                iov.set(JAVA_LONG, 16L * i + 8, copy[i].byteSize());
            }
            long r = syscall(SYS_IO_URING_REGISTER, ringFd, IORING_REGISTER_BUFFERS, iov.address(), copy.length, 0, 0);
            if (r < 0) {
                throw new NativeException("io_uring_register", (int) -r, "IORING_REGISTER_BUFFERS of "
                        + copy.length + " buffers");
            }
        }
        fixed = copy;
    }

    /**
     * Unregisters the ring's fixed buffers ({@code IORING_UNREGISTER_BUFFERS}); their pages are
     * unpinned once no request still uses them. No-op if none are registered or the ring is
     * closed (closing the ring releases them). Owner thread.
     *
     * @throws NativeException if the kernel refuses
     */
    public void unregisterBuffers() {
        if (closed || fixed.length == 0) {
            return;
        }
        fixed = new MemorySegment[0]; // forgotten even if the kernel refuses: no request may name them
        long r = syscall(SYS_IO_URING_REGISTER, ringFd, IORING_UNREGISTER_BUFFERS, 0, 0, 0, 0);
        if (r < 0) {
            throw new NativeException("io_uring_register", (int) -r, "IORING_UNREGISTER_BUFFERS");
        }
    }

    /** {@return how many fixed buffers are registered (0 when none, or once closed)} Owner thread. */
    public int registeredBuffers() {
        return fixed.length;
    }

    /**
     * The {@code buf_index} of the registered buffer that holds all of {@code [addr, addr + len)},
     * or -1 if none does (or the buffer's scope has been closed: its pages, still pinned, may no
     * longer be what lives at that address). A linear scan: meant for a few buffers. Owner thread.
     *
     * @param addr native address of the range
     * @param len length of the range in bytes, {@code >= 0}
     * @return the index for a {@code READ_FIXED}/{@code WRITE_FIXED} request's {@code buf_index}, or -1
     */
    public int fixedBufferIndex(long addr, long len) {
        MemorySegment[] f = fixed;
        for (int i = 0; i < f.length; i++) {
            long start = f[i].address();
            if (addr >= start && len <= f[i].byteSize() - (addr - start)) {
                return f[i].scope().isAlive() ? i : -1;
            }
        }
        return -1;
    }

    // ---- submission ----

    /**
     * Takes and zeroes the next SQE slot.
     *
     * @return the slot index, or -1 if the SQ is full (submit, then retry)
     */
    public int nextSqe() {
        return sq.next();
    }

    /** {@return free SQ slots} */
    public int sqSpace() {
        return sq.space();
    }

    /** {@return SQEs filled but not yet consumed by the kernel} */
    public int unsubmitted() {
        return sq.unpublished() + sq.inKernel();
    }

    // ---- SQE fields ----
    // Raw field writers, for io.jaio.aio.Sqe's generic setters (opcodes without a typed helper
    // below). jaio's own requests are built with the typed prep* helpers. Slot from nextSqe().

    /**
     * Writes the SQE's {@code opcode}. This and the following {@code sqe*} writers set one
     * field of {@code struct io_uring_sqe} in {@code slot} (from {@link #nextSqe}) to {@code v};
     * owner thread.
     *
     * @param slot the SQE slot
     * @param v an {@code IORING_OP_*} value
     */
    public void sqeOpcode(int slot, int v) { sq.opcode(slot, v); }
    /**
     * Writes {@code flags}.
     *
     * @param slot the SQE slot
     * @param v {@code IOSQE_*} bits
     */
    public void sqeFlags(int slot, int v) { sq.flags(slot, v); }
    /**
     * Writes {@code ioprio}.
     *
     * @param slot the SQE slot
     * @param v the I/O priority, or op-specific flags (e.g. {@code IORING_RECVSEND_*})
     */
    public void sqeIoprio(int slot, int v) { sq.ioprio(slot, v); }
    /**
     * Writes {@code fd}.
     *
     * @param slot the SQE slot
     * @param v the file descriptor, or a registered-file index with {@link #IOSQE_FIXED_FILE}
     */
    public void sqeFd(int slot, int v) { sq.fd(slot, v); }
    /**
     * Writes {@code off}.
     *
     * @param slot the SQE slot
     * @param v the file offset (or op-specific: {@code addr2}, a timeout count)
     */
    public void sqeOff(int slot, long v) { sq.off(slot, v); }
    /**
     * Writes {@code addr}.
     *
     * @param slot the SQE slot
     * @param v a native buffer or iovec address (or op-specific: the target {@code user_data})
     */
    public void sqeAddr(int slot, long v) { sq.addr(slot, v); }
    /**
     * Writes {@code len}.
     *
     * @param slot the SQE slot
     * @param v a byte length or iovec count (or op-specific: a mode)
     */
    public void sqeLen(int slot, int v) { sq.len(slot, v); }
    /**
     * Writes the op-specific flags union ({@code rw_flags}, {@code fsync_flags}, {@code poll32_events}, ...).
     *
     * @param slot the SQE slot
     * @param v the flags for the SQE's opcode
     */
    public void sqeRwFlags(int slot, int v) { sq.rwFlags(slot, v); }
    /**
     * Writes {@code user_data}.
     *
     * @param slot the SQE slot
     * @param v the value the CQE carries back
     */
    public void sqeUserData(int slot, long v) { sq.userData(slot, v); }
    /**
     * Writes {@code buf_index}.
     *
     * @param slot the SQE slot
     * @param v a registered-buffer index (or buffer group)
     */
    public void sqeBufIndex(int slot, int v) { sq.bufIndex(slot, v); }
    /**
     * Writes {@code personality}.
     *
     * @param slot the SQE slot
     * @param v a registered credentials id, 0 for the ring's own
     */
    public void sqePersonality(int slot, int v) { sq.personality(slot, v); }
    /**
     * Writes {@code splice_fd_in} (also {@code file_index}).
     *
     * @param slot the SQE slot
     * @param v the op-specific value
     */
    public void sqeSpliceFdIn(int slot, int v) { sq.spliceFdIn(slot, v); }
    /**
     * Writes {@code addr3}.
     *
     * @param slot the SQE slot
     * @param v the op-specific value
     */
    public void sqeAddr3(int slot, long v) { sq.addr3(slot, v); }

    /**
     * Zeroes the whole entry (every field, {@code user_data} included), as {@link #nextSqe} does.
     *
     * @param slot the SQE slot
     */
    public void clearSqe(int slot) { sq.clear(slot); }

    // ---- typed preparation: liburing's io_uring_prep_*, on a slot fresh from nextSqe() ----
    // Each writes the fields its operation reads and leaves the others as nextSqe() left them
    // (zero); IOSQE_* flags and user_data are set separately (sqeFlags, sqeUserData). No
    // allocation, no slicing: fixed-offset writes into the mapped SQE array. Owner thread.

    /**
     * {@code IORING_OP_NOP}: completes with res 0.
     *
     * @param slot the SQE slot
     */
    public void prepNop(int slot) {
        sq.prepNop(slot);
    }

    /**
     * {@code IORING_OP_READ} of {@code len} bytes at file offset {@code off} into native address
     * {@code addr} ({@code off} -1: the file position). {@code rwFlags}: {@code RWF_*}.
     *
     * @param slot the SQE slot
     * @param fd the file descriptor
     * @param addr native address of the buffer
     * @param len bytes to transfer
     * @param off file offset, or -1 for the file position
     * @param rwFlags {@code RWF_*} bits, 0 for none
     */
    public void prepRead(int slot, int fd, long addr, int len, long off, int rwFlags) {
        sq.prepRw(slot, IORING_OP_READ, fd, addr, len, off, rwFlags);
    }

    /**
     * {@code IORING_OP_WRITE}; as {@link #prepRead} ({@code RWF_DSYNC} for a FUA write).
     *
     * @param slot the SQE slot
     * @param fd the file descriptor
     * @param addr native address of the data
     * @param len bytes to transfer
     * @param off file offset, or -1 for the file position
     * @param rwFlags {@code RWF_*} bits, 0 for none
     */
    public void prepWrite(int slot, int fd, long addr, int len, long off, int rwFlags) {
        sq.prepRw(slot, IORING_OP_WRITE, fd, addr, len, off, rwFlags);
    }

    /**
     * {@code IORING_OP_READV}: {@code iovecs} is the native address of {@code nrVecs} struct iovec.
     *
     * @param slot the SQE slot
     * @param fd the file descriptor
     * @param iovecs native address of the iovec array
     * @param nrVecs number of iovecs
     * @param off file offset, or -1 for the file position
     * @param rwFlags {@code RWF_*} bits, 0 for none
     */
    public void prepReadv(int slot, int fd, long iovecs, int nrVecs, long off, int rwFlags) {
        sq.prepRw(slot, IORING_OP_READV, fd, iovecs, nrVecs, off, rwFlags);
    }

    /**
     * {@code IORING_OP_WRITEV}; as {@link #prepReadv}.
     *
     * @param slot the SQE slot
     * @param fd the file descriptor
     * @param iovecs native address of the iovec array
     * @param nrVecs number of iovecs
     * @param off file offset, or -1 for the file position
     * @param rwFlags {@code RWF_*} bits, 0 for none
     */
    public void prepWritev(int slot, int fd, long iovecs, int nrVecs, long off, int rwFlags) {
        sq.prepRw(slot, IORING_OP_WRITEV, fd, iovecs, nrVecs, off, rwFlags);
    }

    /**
     * {@code IORING_OP_FSYNC} of the whole file.
     *
     * @param slot the SQE slot
     * @param fd the file descriptor
     * @param fsyncFlags 0, or {@link #IORING_FSYNC_DATASYNC} for {@code fdatasync}
     */
    public void prepFsync(int slot, int fd, int fsyncFlags) {
        sq.prepFsync(slot, fd, fsyncFlags);
    }

    /**
     * {@code IORING_OP_FALLOCATE} with {@code FALLOC_FL_*} {@code mode} over {@code [off, off+len)}
     * (the kernel reads the length from {@code addr} and the mode from {@code len}).
     *
     * @param slot the SQE slot
     * @param fd the file descriptor
     * @param mode {@code FALLOC_FL_*} bits, 0 to allocate
     * @param off start of the range
     * @param len length of the range in bytes
     */
    public void prepFallocate(int slot, int fd, int mode, long off, long len) {
        sq.prepFallocate(slot, fd, mode, off, len);
    }

    /**
     * {@code IORING_OP_POLL_ADD} for {@code events} ({@code POLL*} bits, as poll(2)) on {@code fd};
     * with {@code multishot} ({@link #IORING_POLL_ADD_MULTI}, Linux 5.13) it stays armed and its
     * completions carry {@link #IORING_CQE_F_MORE}.
     *
     * @param slot the SQE slot
     * @param fd the file descriptor to watch
     * @param events {@code POLL*} bits
     * @param multishot whether the poll stays armed after each completion
     */
    public void prepPollAdd(int slot, int fd, int events, boolean multishot) {
        sq.prepPollAdd(slot, fd, events, multishot);
    }

    /**
     * {@code IORING_OP_POLL_REMOVE} of the {@code POLL_ADD} whose {@code user_data} is {@code target}.
     *
     * @param slot the SQE slot
     * @param target the {@code user_data} of the poll to remove
     */
    public void prepPollRemove(int slot, long target) {
        sq.prepPollRemove(slot, target);
    }

    /**
     * {@code IORING_OP_TIMEOUT}: completes with {@code -ETIME} after the time in {@code ts}, or
     * with 0 once {@code count} other requests have completed (0: only the time counts).
     * {@code timeoutFlags}: 0 (relative) or {@link #IORING_TIMEOUT_ABS}. The kernel copies
     * {@code ts} when it consumes the entry, so {@code ts} may be reused after the next submit.
     *
     * @param slot the SQE slot
     * @param ts the timeout
     * @param count completions that end the timeout early, 0 for none
     * @param timeoutFlags 0 or {@link #IORING_TIMEOUT_ABS}
     */
    public void prepTimeout(int slot, KernelTimespec ts, int count, int timeoutFlags) {
        sq.prepTimeout(slot, ts.address(), count, timeoutFlags);
    }

    /**
     * {@code IORING_OP_ASYNC_CANCEL} of the request whose {@code user_data} is {@code target}, or,
     * with {@link #IORING_ASYNC_CANCEL_ANY} in {@code cancelFlags}, of every request in the ring
     * ({@code target} then ignored).
     *
     * @param slot the SQE slot
     * @param target the {@code user_data} of the request to cancel
     * @param cancelFlags {@code IORING_ASYNC_CANCEL_*} bits, 0 for the first match by {@code user_data}
     */
    public void prepCancel(int slot, long target, int cancelFlags) {
        sq.prepCancel(slot, target, cancelFlags);
    }

    /**
     * Hands filled SQEs to the kernel and, if {@code minComplete > 0}, waits until that many
     * completions are ready ({@code io_uring_enter}). EINTR is retried unless waiting (then the
     * wait simply ends early). Returns the number of SQEs the kernel consumed, or {@code -errno}
     * for EBUSY/EAGAIN (no room: reap completions first) or ETIME; other errors throw.
     *
     * @param minComplete completions to wait for, 0 to only submit
     * @return SQEs consumed, or a negative errno as above
     * @throws NativeException on any other {@code io_uring_enter} error
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

    /**
     * Submits without waiting: {@code enter(0)}.
     *
     * @return SQEs consumed, or a negative errno as {@link #enter} returns
     */
    public int submit() {
        return enter(0);
    }

    // ---- completion ----

    /** {@return completions ready to reap} */
    public int cqReady() {
        return cq.ready();
    }

    /**
     * Whether the kernel holds completions it has not posted yet (with
     * {@link #IORING_SETUP_COOP_TASKRUN} and {@link #IORING_SETUP_TASKRUN_FLAG}): any
     * {@link #enter} runs them into the CQ ring.
     *
     * @return whether {@link #IORING_SQ_TASKRUN} is set
     */
    public boolean taskRunPending() {
        return (sq.ringFlags() & IORING_SQ_TASKRUN) != 0;
    }

    /**
     * Whether the kernel is holding overflowed CQEs (fetch them with {@link #enter}).
     *
     * @return whether {@link #IORING_SQ_CQ_OVERFLOW} is set
     */
    public boolean cqOverflowed() {
        return (sq.ringFlags() & IORING_SQ_CQ_OVERFLOW) != 0;
    }

    /**
     * Reaps every ready completion in ring order; see {@link CompletionQueue#drain}.
     *
     * @param consumer called once per CQE
     * @return the number of CQEs reaped
     */
    public int drain(CqeConsumer consumer) {
        return cq.drain(consumer);
    }

    /**
     * Unmaps the rings and closes the ring fd (the kernel cancels what is in flight, and releases
     * the registered buffers once the ring is gone). Idempotent.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        fixed = new MemorySegment[0];
        munmap(sqesMap, sqesMap.byteSize());
        if (cqRing != sqRing) {
            munmap(cqRing, cqRingSize);
        }
        munmap(sqRing, sqRingSize);
        Linux.close(ringFd);
        arena.close();
    }
}
