package io.jaio.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * Linux native AIO ({@code io_setup}, {@code io_submit}, {@code io_getevents}, {@code io_cancel},
 * {@code io_destroy}) through {@code syscall(2)}: glibc exports no wrappers (libaio does, and jaio
 * does not link it). Also the native tables one AIO user needs — iocbs with their iovecs, the
 * pointer array {@code io_submit} takes, the {@code io_event} array {@code io_getevents} fills —
 * so that no {@code MemorySegment} arithmetic leaves this package.
 *
 * <p>Results are {@code -errno} on failure (never an exception), except {@link #ioSetup}, which
 * throws {@link NativeException}. {@code EINTR} is retried through {@link Linux#retry}, the one
 * EINTR loop. The syscalls may be called from any thread; a {@link Table} has one owner thread.
 */
@SuppressWarnings("restricted")
public final class LinuxAioAbi {
    private LinuxAioAbi() {}

    // ---- syscall numbers, <asm/unistd_64.h> (x86-64) and <asm-generic/unistd.h> (arm64) ----
    private static final boolean AARCH64 = "aarch64".equals(System.getProperty("os.arch"));
    private static final long SYS_IO_SETUP = AARCH64 ? 0 : 206;
    private static final long SYS_IO_DESTROY = AARCH64 ? 1 : 207;
    private static final long SYS_IO_SUBMIT = AARCH64 ? 2 : 209;
    private static final long SYS_IO_CANCEL = AARCH64 ? 3 : 210;
    private static final long SYS_IO_GETEVENTS = AARCH64 ? 4 : 208;

    // ---- enum iocb->aio_lio_opcode, <linux/aio_abi.h> ----
    /** iocb opcode: {@code pread} into {@code aio_buf}. */
    public static final int IOCB_CMD_PREAD = 0;
    /** iocb opcode: {@code pwrite} from {@code aio_buf}. */
    public static final int IOCB_CMD_PWRITE = 1;
    /** iocb opcode: {@code fsync} (Linux 4.18; EINVAL before). */
    public static final int IOCB_CMD_FSYNC = 2;
    /** iocb opcode: {@code fdatasync} (Linux 4.18; EINVAL before). */
    public static final int IOCB_CMD_FDSYNC = 3;
    /** iocb opcode: no operation (the kernel rejects it with EINVAL; defined for completeness). */
    public static final int IOCB_CMD_NOOP = 6;
    /** iocb opcode: {@code preadv}; {@code aio_buf} points at an iovec array of {@code aio_nbytes} entries. */
    public static final int IOCB_CMD_PREADV = 7;
    /** iocb opcode: {@code pwritev}, as {@link #IOCB_CMD_PREADV}. */
    public static final int IOCB_CMD_PWRITEV = 8;

    // ---- iocb->aio_flags, <linux/aio_abi.h> ----
    /** Signal {@code aio_resfd} (an eventfd) when the iocb completes. */
    public static final int IOCB_FLAG_RESFD = 1;

    /**
     * {@code struct iocb}, <linux/aio_abi.h> (64 bytes; the {@code aio_key}/{@code aio_rw_flags}
     * pair is in this order on little-endian machines, the only ones jaio supports):
     * <pre>
     *   u64 aio_data;  u32 aio_key;  u32 aio_rw_flags;  u16 aio_lio_opcode;  s16 aio_reqprio;
     *   u32 aio_fildes;  u64 aio_buf;  u64 aio_nbytes;  s64 aio_offset;  u64 aio_reserved2;
     *   u32 aio_flags;  u32 aio_resfd;
     * </pre>
     */
    static final long IOCB_SIZE = 64;
    static final long IOCB_DATA = 0;
    static final long IOCB_KEY = 8;
    static final long IOCB_RW_FLAGS = 12;
    static final long IOCB_OPCODE = 16;
    static final long IOCB_REQPRIO = 18;
    static final long IOCB_FILDES = 20;
    static final long IOCB_BUF = 24;
    static final long IOCB_NBYTES = 32;
    static final long IOCB_OFFSET = 40;
    static final long IOCB_RESERVED2 = 48;
    static final long IOCB_FLAGS = 56;
    static final long IOCB_RESFD = 60;

    /** {@code struct iovec { void *iov_base; size_t iov_len; }}, <linux/uio.h>. */
    static final long IOVEC_SIZE = 16;

    /** One table slot: the iocb, then the one-element iovec its PREADV/PWRITEV points at. */
    static final long SLOT_SIZE = IOCB_SIZE + IOVEC_SIZE;

    /**
     * {@code struct io_event { u64 data; u64 obj; s64 res; s64 res2; }}, <linux/aio_abi.h>:
     * {@code data} is the iocb's {@code aio_data}, {@code obj} the iocb's user address.
     */
    static final long EVENT_SIZE = 32;
    static final long EVENT_DATA = 0;
    static final long EVENT_OBJ = 8;
    static final long EVENT_RES = 16;
    static final long EVENT_RES2 = 24;

    /**
     * {@code struct aio_ring} (fs/aio.c, not uapi but stable since 2.6 and read by libaio and QEMU):
     * mapped at the address {@code io_setup} returns as the context id; {@code u32 id, nr, head,
     * tail, magic, compat_features, incompat_features, header_length}, then the {@code io_event}s.
     */
    private static final long RING_HEAD = 8;
    private static final long RING_TAIL = 12;
    private static final long RING_MAGIC = 16;
    private static final long RING_INCOMPAT = 24;
    private static final long RING_HEADER = 32;
    private static final int AIO_RING_MAGIC = 0xa10a10a1;


    /** Per-thread [errno capture][aio_context_t or a zero struct timespec]. Freed by the GC with the thread. */
    private static final ThreadLocal<MemorySegment> SCRATCH = ThreadLocal.withInitial(
            () -> Arena.ofAuto().allocate(Linux.SCRATCH_ARG + 16, 16));

    private static long syscall(long nr, long a, long b, long c, long d, long e) {
        return Linux.retry(SCRATCH.get(), s -> (long) Linux.SYSCALL6.invokeExact(s, nr, a, b, c, d, e, 0L));
    }

    /**
     * {@code io_setup(nrEvents, &ctx)}: a new kernel AIO context able to hold {@code nrEvents}
     * requests in flight. Returns its id (the address of its completion ring).
     *
     * @param nrEvents requests in flight at most, &gt; 0
     * @return the context id, for the other calls and {@link #ioDestroy}
     * @throws NativeException ENOSYS without AIO support (or a seccomp filter), EAGAIN past
     *     {@code /proc/sys/fs/aio-max-nr}, ENOMEM, ...
     */
    public static long ioSetup(int nrEvents) {
        MemorySegment s = SCRATCH.get();
        s.set(JAVA_LONG, Linux.SCRATCH_ARG, 0L); // the kernel requires *ctxp == 0
        long r = Linux.retry(s, c -> (long) Linux.SYSCALL6.invokeExact(c, SYS_IO_SETUP, (long) nrEvents,
                c.address() + Linux.SCRATCH_ARG, 0L, 0L, 0L, 0L));
        if (r < 0) {
            throw new NativeException("io_setup", (int) -r, nrEvents + " events");
        }
        return s.get(JAVA_LONG, Linux.SCRATCH_ARG);
    }

    /**
     * {@code io_destroy(ctx)}: cancels what it can and blocks until every request in flight has
     * completed, then unmaps the ring. 0 or {@code -errno}.
     *
     * @param ctx a context id from {@link #ioSetup}
     * @return 0, or {@code -errno}
     */
    public static int ioDestroy(long ctx) {
        return (int) syscall(SYS_IO_DESTROY, ctx, 0, 0, 0, 0);
    }

    /**
     * {@code io_submit(ctx, nr, table's pointer array)}: the number of iocbs the kernel accepted
     * (the first ones; possibly fewer than {@code nr}), or {@code -errno} if it accepted none
     * ({@code -EAGAIN} when out of resources, {@code -EINVAL}/{@code -EBADF} for a bad first iocb).
     *
     * @param ctx the context id
     * @param t the table whose submit array ({@link Table#setSubmit}) holds the iocbs
     * @param nr entries of the submit array to submit
     * @return iocbs accepted, or {@code -errno}
     */
    public static int ioSubmit(long ctx, Table t, int nr) {
        return (int) syscall(SYS_IO_SUBMIT, ctx, nr, t.ptrs.address(), 0, 0);
    }

    /**
     * {@code io_getevents(ctx, 0, max, table's events, {0, 0})}: the completions ready now, at most
     * {@code min(max, table capacity)}, without waiting. Count or {@code -errno}.
     *
     * @param ctx the context id
     * @param t the table whose event array receives them (read with {@link Table#eventSlot} and
     *     {@link Table#eventResult})
     * @param max events to reap at most
     * @return events reaped, or {@code -errno}
     */
    public static int ioGeteventsNow(long ctx, Table t, int max) {
        MemorySegment s = SCRATCH.get();
        s.set(JAVA_LONG, Linux.SCRATCH_ARG, 0L);
        s.set(JAVA_LONG, Linux.SCRATCH_ARG + 8, 0L);
        long ts = s.address() + Linux.SCRATCH_ARG;
        return (int) syscall(SYS_IO_GETEVENTS, ctx, 0, Math.min(max, t.eventCapacity), t.events.address(), ts);
    }

    /**
     * {@code io_cancel(ctx, iocb of slot, result)}: {@code -EINPROGRESS} if the kernel started
     * cancelling it (Linux 4.19+ never returns 0 here: the cancelled request's event always
     * arrives through the completion ring later, with {@code -ECANCELED} or its real result, and
     * {@code result} is not written), else {@code -errno}: {@code -EINVAL} for a request that
     * already completed or whose driver has no cancel hook: all regular-file and block-device
     * I/O (only a few drivers, such as USB gadget endpoints, have one). Either way the slot stays
     * in flight until its event is reaped.
     *
     * @param ctx the context id
     * @param t the table holding the iocb
     * @param slot the iocb's slot
     * @return {@code -EINPROGRESS} or another {@code -errno}, as above
     */
    public static int ioCancel(long ctx, Table t, int slot) {
        return (int) syscall(SYS_IO_CANCEL, ctx, t.iocbAddress(slot), t.events.address(), 0, 0);
    }

    private static final VarHandle INT_AT = JAVA_INT.varHandle();

    /**
     * Whether the completion ring of {@code ctx} holds events (head != tail), read in user space
     * as QEMU's {@code io_getevents_peek} does: no syscall, so a busy-polling loop can ask cheaply.
     * False if the ring is not the layout this reads (wrong magic or incompatible features).
     * Acquire loads: pair with the kernel's {@code smp_wmb()} before it publishes {@code tail} in
     * {@code aio_complete()}. The owner thread of {@code ctx}, while it is set up.
     *
     * @param ctx the context id
     * @return whether events are ready to reap
     */
    public static boolean ringHasEvents(long ctx) {
        MemorySegment ring = MemorySegment.ofAddress(ctx).reinterpret(RING_HEADER);
        if ((int) INT_AT.getAcquire(ring, RING_MAGIC) != AIO_RING_MAGIC
                || (int) INT_AT.getAcquire(ring, RING_INCOMPAT) != 0) {
            return false;
        }
        return (int) INT_AT.getAcquire(ring, RING_HEAD) != (int) INT_AT.getAcquire(ring, RING_TAIL);
    }

    /**
     * The native memory of one AIO user: {@code capacity} slots (an iocb and its iovec each), the
     * iocb pointer array {@code io_submit} reads, and {@code eventCapacity} {@code io_event}s.
     * Slots are addressed by index; {@code aio_data} carries it back in the event. Grows by whole
     * chunks ({@link #grow}), so existing iocb addresses never move.
     *
     * <p>Threads: one owner thread (the AIO context's home thread). {@link #close()} frees all
     * memory; only once the kernel holds no iocb of the table (after {@link #ioDestroy}).
     */
    public static final class Table implements AutoCloseable {
        private static final int CHUNK_SHIFT = 8;
        private static final int CHUNK = 1 << CHUNK_SHIFT;

        private final Arena arena = Arena.ofShared();
        private MemorySegment[] chunks = new MemorySegment[0];
        private MemorySegment ptrs;
        private int ptrCapacity;
        private final MemorySegment events;
        private final int eventCapacity;
        private boolean closed;

        /**
         * A table with no slot yet, {@code eventCapacity} events and as many submit pointers.
         *
         * @param eventCapacity size of the event array, &gt; 0 (usually the context's {@code nrEvents})
         */
        public Table(int eventCapacity) {
            this.eventCapacity = eventCapacity;
            this.events = arena.allocate(EVENT_SIZE * eventCapacity, 8);
            this.ptrCapacity = eventCapacity;
            this.ptrs = arena.allocate(8L * eventCapacity, 8);
        }

        /** {@return the number of slots} */
        public int capacity() {
            return chunks.length << CHUNK_SHIFT;
        }

        /** {@return the number of events {@link #ioGeteventsNow} can return at once} */
        public int eventCapacity() {
            return eventCapacity;
        }

        /** Adds {@value #CHUNK} slots (zeroed) at indexes {@code [capacity(), capacity() + CHUNK)}. */
        public void grow() {
            if (closed) {
                throw new IllegalStateException("AIO table closed");
            }
            MemorySegment[] c = java.util.Arrays.copyOf(chunks, chunks.length + 1);
            c[chunks.length] = arena.allocate(SLOT_SIZE * CHUNK, 64);
            chunks = c;
        }

        private long iocbAddress(int slot) {
            return chunks[slot >>> CHUNK_SHIFT].address() + SLOT_SIZE * (slot & (CHUNK - 1));
        }

        /**
         * Fills slot {@code slot}'s iocb: {@code opcode} on {@code fd}; for PREADV/PWRITEV one iovec
         * {@code [buf, buf + len)} at file offset {@code offset}, for PREAD/PWRITE the buffer itself,
         * ignored for FSYNC/FDSYNC; {@code rwFlags} ({@code RWF_*}); {@code aio_data = slot};
         * completion signalled on eventfd {@code resfd} (IOCB_FLAG_RESFD) unless it is negative.
         *
         * @param slot the slot, below {@link #capacity()}
         * @param opcode an {@code IOCB_CMD_*} opcode
         * @param fd the file descriptor
         * @param buf native address of the buffer
         * @param len bytes to transfer
         * @param offset file offset
         * @param rwFlags {@code RWF_*} bits, 0 for none
         * @param resfd an eventfd to signal on completion, or -1
         */
        public void prep(int slot, int opcode, int fd, long buf, long len, long offset, int rwFlags, int resfd) {
            MemorySegment c = chunks[slot >>> CHUNK_SHIFT];
            long at = SLOT_SIZE * (slot & (CHUNK - 1));
            boolean vectored = opcode == IOCB_CMD_PREADV || opcode == IOCB_CMD_PWRITEV;
            boolean sync = opcode == IOCB_CMD_FSYNC || opcode == IOCB_CMD_FDSYNC;
            c.set(JAVA_LONG, at + IOCB_DATA, slot);
            c.set(JAVA_INT, at + IOCB_KEY, 0);
            c.set(JAVA_INT, at + IOCB_RW_FLAGS, rwFlags);
            c.set(JAVA_SHORT, at + IOCB_OPCODE, (short) opcode);
            c.set(JAVA_SHORT, at + IOCB_REQPRIO, (short) 0);
            c.set(JAVA_INT, at + IOCB_FILDES, fd);
            if (vectored) {
                c.set(JAVA_LONG, at + IOCB_SIZE, buf);
                c.set(JAVA_LONG, at + IOCB_SIZE + 8, len);
                c.set(JAVA_LONG, at + IOCB_BUF, c.address() + at + IOCB_SIZE);
                c.set(JAVA_LONG, at + IOCB_NBYTES, 1L);
            } else {
                c.set(JAVA_LONG, at + IOCB_BUF, sync ? 0 : buf);
                c.set(JAVA_LONG, at + IOCB_NBYTES, sync ? 0 : len);
            }
            c.set(JAVA_LONG, at + IOCB_OFFSET, sync ? 0 : offset);
            c.set(JAVA_LONG, at + IOCB_RESERVED2, 0L);
            c.set(JAVA_INT, at + IOCB_FLAGS, resfd >= 0 ? IOCB_FLAG_RESFD : 0);
            c.set(JAVA_INT, at + IOCB_RESFD, Math.max(resfd, 0));
        }

        /**
         * Puts slot {@code slot}'s iocb at position {@code i} of the submit array, growing it as needed.
         *
         * @param i the position in the submit array
         * @param slot the slot whose iocb goes there
         */
        public void setSubmit(int i, int slot) {
            if (i >= ptrCapacity) {
                int n = Math.max(i + 1, ptrCapacity * 2);
                MemorySegment p = arena.allocate(8L * n, 8);
                MemorySegment.copy(ptrs, 0, p, 0, 8L * ptrCapacity);
                ptrs = p;
                ptrCapacity = n;
            }
            ptrs.setAtIndex(JAVA_LONG, i, iocbAddress(slot));
        }

        /**
         * The slot (the {@code aio_data}) of event {@code i} of the last {@link #ioGeteventsNow}.
         *
         * @param i the event's index, below that call's result
         * @return the completed iocb's slot
         */
        public int eventSlot(int i) {
            return (int) events.get(JAVA_LONG, EVENT_SIZE * i + EVENT_DATA);
        }

        /**
         * The result of event {@code i}: bytes transferred or {@code -errno}. The kernel stores a
         * {@code long} in {@code res} ({@code res2} is 0 for file I/O); QEMU's 32/32 split of
         * res/res2 dates from libaio's old {@code unsigned long} fields.
         *
         * @param i the event's index, below the last {@link #ioGeteventsNow}'s result
         * @return bytes transferred, or {@code -errno}
         */
        public long eventResult(int i) {
            return events.get(JAVA_LONG, EVENT_SIZE * i + EVENT_RES);
        }

        /** Frees the native memory. Idempotent. */
        @Override
        public void close() {
            if (!closed) {
                closed = true;
                arena.close();
            }
        }
    }
}
