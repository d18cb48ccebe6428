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

    /** Internal: the io_uring monitor makes one view per ring. */
    public Sqe(IoUring ring) {
        this.ring = ring;
    }

    /** Internal: points the view at SQ slot {@code slot}. */
    public Sqe bindSlot(int slot) {
        this.slot = slot;
        return this;
    }

    // ---- typed preparation (see IoUring's prep* for the fields each one writes) ----

    /** {@code IORING_OP_NOP}. */
    public Sqe prepNop() {
        ring.prepNop(slot);
        return this;
    }

    /** {@code IORING_OP_READ} of {@code len} bytes at {@code off} into native address {@code addr}. */
    public Sqe prepRead(int fd, long addr, int len, long off, int rwFlags) {
        ring.prepRead(slot, fd, addr, len, off, rwFlags);
        return this;
    }

    /** {@code IORING_OP_WRITE}; {@code rwFlags} e.g. {@code RWF_DSYNC}. */
    public Sqe prepWrite(int fd, long addr, int len, long off, int rwFlags) {
        ring.prepWrite(slot, fd, addr, len, off, rwFlags);
        return this;
    }

    /** {@code IORING_OP_READV} over {@code nrVecs} struct iovec at native address {@code iovecs}. */
    public Sqe prepReadv(int fd, long iovecs, int nrVecs, long off, int rwFlags) {
        ring.prepReadv(slot, fd, iovecs, nrVecs, off, rwFlags);
        return this;
    }

    /** {@code IORING_OP_WRITEV}. */
    public Sqe prepWritev(int fd, long iovecs, int nrVecs, long off, int rwFlags) {
        ring.prepWritev(slot, fd, iovecs, nrVecs, off, rwFlags);
        return this;
    }

    /** {@code IORING_OP_FSYNC}; {@code fsyncFlags} 0 or {@code IORING_FSYNC_DATASYNC}. */
    public Sqe prepFsync(int fd, int fsyncFlags) {
        ring.prepFsync(slot, fd, fsyncFlags);
        return this;
    }

    /** {@code IORING_OP_FALLOCATE} with {@code FALLOC_FL_*} {@code mode} over {@code [off, off+len)}. */
    public Sqe prepFallocate(int fd, int mode, long off, long len) {
        ring.prepFallocate(slot, fd, mode, off, len);
        return this;
    }

    // ---- single fields ----

    public Sqe opcode(int opcode) {
        ring.sqeOpcode(slot, opcode);
        return this;
    }

    /** {@code IOSQE_*} flags. */
    public Sqe flags(int flags) {
        ring.sqeFlags(slot, flags);
        return this;
    }

    public Sqe ioprio(int ioprio) {
        ring.sqeIoprio(slot, ioprio);
        return this;
    }

    public Sqe fd(int fd) {
        ring.sqeFd(slot, fd);
        return this;
    }

    public Sqe off(long off) {
        ring.sqeOff(slot, off);
        return this;
    }

    /** A native address (e.g. {@code MemorySegment.address()} of a buffer or iovec array). */
    public Sqe addr(long addr) {
        ring.sqeAddr(slot, addr);
        return this;
    }

    public Sqe len(int len) {
        ring.sqeLen(slot, len);
        return this;
    }

    /** The op-specific flags word (rw_flags, fsync_flags, poll32_events, timeout_flags...). */
    public Sqe rwFlags(int flags) {
        ring.sqeRwFlags(slot, flags);
        return this;
    }

    public Sqe bufIndex(int index) {
        ring.sqeBufIndex(slot, index);
        return this;
    }

    public Sqe personality(int personality) {
        ring.sqePersonality(slot, personality);
        return this;
    }

    public Sqe spliceFdIn(int fd) {
        ring.sqeSpliceFdIn(slot, fd);
        return this;
    }

    public Sqe addr3(long addr3) {
        ring.sqeAddr3(slot, addr3);
        return this;
    }
}
