package io.jaio.aio;

import io.jaio.linux.IoUring;

/**
 * A flyweight view of one io_uring submission queue entry, handed to the preparer of
 * {@link AioContext#addSqe}. The entry starts zeroed; set what the operation needs, preferably with
 * one typed {@code prep*} call (liburing's {@code io_uring_prep_*}), or field by field for an
 * opcode without one. Both write straight into the shared ring at fixed offsets through
 * {@link IoUring}'s helpers in {@code io.jaio.linux}. {@code user_data} belongs to the context and
 * cannot be set. Valid only inside the preparer; home thread only.
 *
 * <pre>{@code
 * ctx.addSqe(sqe -> sqe.prepRead(fd, buf.address(), 4096, 0, 0),
 *            (res, flags) -> System.out.println("read " + res));
 * ctx.addSqe(sqe -> sqe.opcode(IoUring.IORING_OP_READ).fd(fd).addr(buf.address()).len(4096).off(0),
 *            (res, flags) -> System.out.println("read " + res)); // the same entry
 * }</pre>
 */
public final class Sqe {
    private final IoUring ring;
    private int slot = -1;

    /**
     * Internal: the io_uring monitor makes one view per ring.
     *
     * @param ring the ring whose SQEs this view writes
     */
    public Sqe(IoUring ring) {
        this.ring = ring;
    }

    /**
     * Internal: points the view at SQ slot {@code slot}.
     *
     * @param slot a slot from {@link IoUring#nextSqe}
     * @return this view, for chaining
     */
    public Sqe bindSlot(int slot) {
        this.slot = slot;
        return this;
    }

    // ---- typed preparation (see IoUring's prep* for the fields each one writes) ----

    /**
     * {@code IORING_OP_NOP}: completes with res 0.
     *
     * @return this view, for chaining
     */
    public Sqe prepNop() {
        ring.prepNop(slot);
        return this;
    }

    /**
     * {@code IORING_OP_READ} of {@code len} bytes at {@code off} into native address {@code addr}.
     *
     * @param fd the file descriptor
     * @param addr native address of the buffer
     * @param len bytes to transfer
     * @param off file offset, or -1 for the file position
     * @param rwFlags {@code RWF_*} bits, 0 for none
     * @return this view, for chaining
     */
    public Sqe prepRead(int fd, long addr, int len, long off, int rwFlags) {
        ring.prepRead(slot, fd, addr, len, off, rwFlags);
        return this;
    }

    /**
     * {@code IORING_OP_WRITE} of {@code len} bytes at {@code off} from native address {@code addr}.
     *
     * @param fd the file descriptor
     * @param addr native address of the buffer
     * @param len bytes to transfer
     * @param off file offset, or -1 for the file position
     * @param rwFlags {@code RWF_*} bits (e.g. {@code RWF_DSYNC} for a FUA write), 0 for none
     * @return this view, for chaining
     */
    public Sqe prepWrite(int fd, long addr, int len, long off, int rwFlags) {
        ring.prepWrite(slot, fd, addr, len, off, rwFlags);
        return this;
    }

    /**
     * {@code IORING_OP_READV} over {@code nrVecs} struct iovec at native address {@code iovecs}.
     *
     * @param fd the file descriptor
     * @param iovecs native address of the iovec array
     * @param nrVecs number of iovecs
     * @param off file offset, or -1 for the file position
     * @param rwFlags {@code RWF_*} bits, 0 for none
     * @return this view, for chaining
     */
    public Sqe prepReadv(int fd, long iovecs, int nrVecs, long off, int rwFlags) {
        ring.prepReadv(slot, fd, iovecs, nrVecs, off, rwFlags);
        return this;
    }

    /**
     * {@code IORING_OP_WRITEV} from {@code nrVecs} struct iovec at native address {@code iovecs}.
     *
     * @param fd the file descriptor
     * @param iovecs native address of the iovec array
     * @param nrVecs number of iovecs
     * @param off file offset, or -1 for the file position
     * @param rwFlags {@code RWF_*} bits, 0 for none
     * @return this view, for chaining
     */
    public Sqe prepWritev(int fd, long iovecs, int nrVecs, long off, int rwFlags) {
        ring.prepWritev(slot, fd, iovecs, nrVecs, off, rwFlags);
        return this;
    }

    /**
     * {@code IORING_OP_FSYNC} of the whole file.
     *
     * @param fd the file descriptor
     * @param fsyncFlags 0, or {@code IORING_FSYNC_DATASYNC} for {@code fdatasync}
     * @return this view, for chaining
     */
    public Sqe prepFsync(int fd, int fsyncFlags) {
        ring.prepFsync(slot, fd, fsyncFlags);
        return this;
    }

    /**
     * {@code IORING_OP_FALLOCATE} with {@code FALLOC_FL_*} {@code mode} over {@code [off, off+len)}.
     *
     * @param fd the file descriptor
     * @param mode {@code FALLOC_FL_*} bits, 0 to allocate
     * @param off start of the range
     * @param len length of the range in bytes
     * @return this view, for chaining
     */
    public Sqe prepFallocate(int fd, int mode, long off, long len) {
        ring.prepFallocate(slot, fd, mode, off, len);
        return this;
    }

    // ---- single fields ----

    /**
     * Sets {@code opcode} (default 0, {@code IORING_OP_NOP}).
     *
     * @param opcode an {@code IORING_OP_*} value the kernel supports
     * @return this view, for chaining
     */
    public Sqe opcode(int opcode) {
        ring.sqeOpcode(slot, opcode);
        return this;
    }

    /**
     * Sets {@code flags} (default 0).
     *
     * @param flags {@code IOSQE_*} bits
     * @return this view, for chaining
     */
    public Sqe flags(int flags) {
        ring.sqeFlags(slot, flags);
        return this;
    }

    /**
     * Sets {@code ioprio} (default 0): the I/O priority, or op-specific flags for some opcodes.
     *
     * @param ioprio an {@code ioprio_set(2)} value or the opcode's flags
     * @return this view, for chaining
     */
    public Sqe ioprio(int ioprio) {
        ring.sqeIoprio(slot, ioprio);
        return this;
    }

    /**
     * Sets {@code fd} (default 0).
     *
     * @param fd the file descriptor, or a registered-file index with {@code IOSQE_FIXED_FILE}
     * @return this view, for chaining
     */
    public Sqe fd(int fd) {
        ring.sqeFd(slot, fd);
        return this;
    }

    /**
     * Sets {@code off} (default 0): the file offset, or an op-specific value.
     *
     * @param off the offset (-1: the file position, for reads and writes)
     * @return this view, for chaining
     */
    public Sqe off(long off) {
        ring.sqeOff(slot, off);
        return this;
    }

    /**
     * Sets {@code addr} (default 0).
     *
     * @param addr a native address (e.g. {@code MemorySegment.address()} of a buffer or iovec array), which must stay valid until the completion
     * @return this view, for chaining
     */
    public Sqe addr(long addr) {
        ring.sqeAddr(slot, addr);
        return this;
    }

    /**
     * Sets {@code len} (default 0): a byte count, an iovec count, or an op-specific value.
     *
     * @param len the length
     * @return this view, for chaining
     */
    public Sqe len(int len) {
        ring.sqeLen(slot, len);
        return this;
    }

    /**
     * Sets the op-specific flags word (default 0).
     *
     * @param flags {@code rw_flags}, {@code fsync_flags}, {@code poll32_events}, {@code timeout_flags}..., as the opcode reads it
     * @return this view, for chaining
     */
    public Sqe rwFlags(int flags) {
        ring.sqeRwFlags(slot, flags);
        return this;
    }

    /**
     * Sets {@code buf_index} (default 0).
     *
     * @param index a registered-buffer index (for {@code READ_FIXED}/{@code WRITE_FIXED}) or buffer group
     * @return this view, for chaining
     */
    public Sqe bufIndex(int index) {
        ring.sqeBufIndex(slot, index);
        return this;
    }

    /**
     * Sets {@code personality} (default 0: the ring's own credentials).
     *
     * @param personality a credentials id from {@code IORING_REGISTER_PERSONALITY}
     * @return this view, for chaining
     */
    public Sqe personality(int personality) {
        ring.sqePersonality(slot, personality);
        return this;
    }

    /**
     * Sets {@code splice_fd_in} (default 0), also {@code file_index} for some opcodes.
     *
     * @param fd the splice source fd, or the opcode's value
     * @return this view, for chaining
     */
    public Sqe spliceFdIn(int fd) {
        ring.sqeSpliceFdIn(slot, fd);
        return this;
    }

    /**
     * Sets {@code addr3} (default 0), read by a few newer opcodes.
     *
     * @param addr3 the opcode's value
     * @return this view, for chaining
     */
    public Sqe addr3(long addr3) {
        ring.sqeAddr3(slot, addr3);
        return this;
    }
}
