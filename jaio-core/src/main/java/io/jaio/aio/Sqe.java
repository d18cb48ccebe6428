package io.jaio.aio;

import io.jaio.linux.IoUring;

/**
 * A flyweight view of one io_uring submission queue entry, handed to the preparer of
 * {@link AioContext#addSqe}. The entry starts zeroed; set what the operation needs. Setters write
 * straight into the shared ring at fixed offsets. {@code user_data} belongs to the context and
 * cannot be set. Valid only inside the preparer; home thread only.
 *
 * <pre>{@code
 * ctx.addSqe(sqe -> sqe.opcode(IoUring.IORING_OP_READ).fd(fd).addr(buf.address()).len(4096).off(0),
 *            (res, flags) -> System.out.println("read " + res));
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
