package io.jaio.linux;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * The submission side of an io_uring: the SQ ring's shared indices and the SQE array, written
 * at fixed offsets with no allocation or slicing per entry.
 *
 * <p>Protocol (single producer, the ring's owner thread): fill the entry at {@code tail & mask},
 * bump the local tail; {@link #flush()} release-stores the tail into the ring (the kernel's
 * acquire-load of it pairs with that, so it sees the filled entries); the kernel advances the
 * head as it consumes entries, which {@link #space()} acquire-loads. The SQ array is filled once
 * with the identity mapping, so entry {@code i} always lives in slot {@code i}.
 */
final class SubmissionQueue {
    // struct io_uring_sqe offsets, <uapi/linux/io_uring.h>
    static final long SQE_SIZE = 64;
    static final long OPCODE = 0;
    static final long FLAGS = 1;
    static final long IOPRIO = 2;
    static final long FD = 4;
    static final long OFF = 8;
    static final long ADDR = 16;
    static final long LEN = 24;
    static final long RW_FLAGS = 28;
    static final long USER_DATA = 32;
    static final long BUF_INDEX = 40;
    static final long PERSONALITY = 42;
    static final long SPLICE_FD_IN = 44;
    static final long ADDR3 = 48;

    private static final VarHandle INT = JAVA_INT.varHandle();

    private final MemorySegment khead;
    private final MemorySegment ktail;
    private final MemorySegment kflags;
    final MemorySegment sqes;
    final int mask;
    final int entries;
    /** Next free slot (local, not yet visible to the kernel until flush). */
    private int tail;
    /** The tail last published to the kernel. */
    private int published;
    /** The kernel's SQ head as last read (it only grows, up to {@link #published}). */
    private int headSeen;

    SubmissionQueue(MemorySegment ring, long headOff, long tailOff, long maskOff, long entriesOff,
                    long flagsOff, long arrayOff, MemorySegment sqes) {
        this.khead = ring.asSlice(headOff, 4);
        this.ktail = ring.asSlice(tailOff, 4);
        this.kflags = ring.asSlice(flagsOff, 4);
        this.mask = ring.get(JAVA_INT, maskOff);
        this.entries = ring.get(JAVA_INT, entriesOff);
        this.sqes = sqes;
        this.tail = (int) INT.getAcquire(ktail, 0L);
        this.published = tail;
        this.headSeen = (int) INT.getAcquire(khead, 0L);
        for (int i = 0; i < entries; i++) {
            ring.set(JAVA_INT, arrayOff + 4L * i, i);
        }
    }

    /** Free slots: entries minus those filled and not yet consumed by the kernel. */
    int space() {
        int head = (int) INT.getAcquire(khead, 0L); // pairs with the kernel's release of the head
        headSeen = head;
        return entries - (tail - head);
    }

    /**
     * Takes the next slot, zeroes it and returns its index, or -1 if the ring is full (the caller
     * submits and retries).
     */
    int next() {
        if (space() <= 0) {
            return -1;
        }
        int idx = tail & mask;
        tail++;
        clear(idx);
        return idx;
    }

    /** Zeroes all 64 bytes of entry {@code i}. */
    void clear(int i) {
        long base = i * SQE_SIZE;
        sqes.set(JAVA_LONG, base, 0L);
        sqes.set(JAVA_LONG, base + 8, 0L);
        sqes.set(JAVA_LONG, base + 16, 0L);
        sqes.set(JAVA_LONG, base + 24, 0L);
        sqes.set(JAVA_LONG, base + 32, 0L);
        sqes.set(JAVA_LONG, base + 40, 0L);
        sqes.set(JAVA_LONG, base + 48, 0L);
        sqes.set(JAVA_LONG, base + 56, 0L);
    }

    /** Entries filled since the last {@link #flush()}. */
    int unpublished() {
        return tail - published;
    }

    /** Publishes filled entries to the kernel; returns how many were added. */
    int flush() {
        int n = tail - published;
        if (n != 0) {
            INT.setRelease(ktail, 0L, tail); // pairs with the kernel's acquire of the SQ tail
            published = tail;
        }
        return n;
    }

    /**
     * Entries published and not yet consumed by the kernel. The kernel's head never passes what
     * was published, so once it was seen equal to {@code published} the answer stays 0 until the
     * next flush: the common peek then reads no shared word.
     */
    int inKernel() {
        if (published == headSeen) {
            return 0;
        }
        headSeen = (int) INT.getAcquire(khead, 0L); // pairs with the kernel's release of the head
        return published - headSeen;
    }

    int ringFlags() {
        return (int) INT.getVolatile(kflags, 0L);
    }

    // ---- field access (index = slot) ----
    void opcode(int i, int v) { sqes.set(JAVA_BYTE, i * SQE_SIZE + OPCODE, (byte) v); }
    void flags(int i, int v) { sqes.set(JAVA_BYTE, i * SQE_SIZE + FLAGS, (byte) v); }
    void ioprio(int i, int v) { sqes.set(JAVA_SHORT, i * SQE_SIZE + IOPRIO, (short) v); }
    void fd(int i, int v) { sqes.set(JAVA_INT, i * SQE_SIZE + FD, v); }
    void off(int i, long v) { sqes.set(JAVA_LONG, i * SQE_SIZE + OFF, v); }
    void addr(int i, long v) { sqes.set(JAVA_LONG, i * SQE_SIZE + ADDR, v); }
    void len(int i, int v) { sqes.set(JAVA_INT, i * SQE_SIZE + LEN, v); }
    void rwFlags(int i, int v) { sqes.set(JAVA_INT, i * SQE_SIZE + RW_FLAGS, v); }
    void userData(int i, long v) { sqes.set(JAVA_LONG, i * SQE_SIZE + USER_DATA, v); }
    void bufIndex(int i, int v) { sqes.set(JAVA_SHORT, i * SQE_SIZE + BUF_INDEX, (short) v); }
    void personality(int i, int v) { sqes.set(JAVA_SHORT, i * SQE_SIZE + PERSONALITY, (short) v); }
    void spliceFdIn(int i, int v) { sqes.set(JAVA_INT, i * SQE_SIZE + SPLICE_FD_IN, v); }
    void addr3(int i, long v) { sqes.set(JAVA_LONG, i * SQE_SIZE + ADDR3, v); }

    // ---- typed preparation (liburing's io_uring_prep_*), on an entry fresh from next() ----
    // Each writes only the fields its operation reads; the rest stay as next() left them (zero).
    // Layout per operation: io_uring/<op>.c's io_*_prep in the kernel, liburing's src/include/liburing.h.

    /** opcode, fd, addr, len, off: the common shape of io_uring_prep_rw. */
    private void rw(int i, int op, int fd, long addr, int len, long off) {
        long base = i * SQE_SIZE;
        sqes.set(JAVA_BYTE, base + OPCODE, (byte) op);
        sqes.set(JAVA_INT, base + FD, fd);
        sqes.set(JAVA_LONG, base + OFF, off);
        sqes.set(JAVA_LONG, base + ADDR, addr);
        sqes.set(JAVA_INT, base + LEN, len);
    }

    void prepNop(int i) {
        sqes.set(JAVA_BYTE, i * SQE_SIZE + OPCODE, (byte) IoUring.IORING_OP_NOP);
    }

    void prepRw(int i, int op, int fd, long addr, int len, long off, int rwFlags) {
        rw(i, op, fd, addr, len, off);
        sqes.set(JAVA_INT, i * SQE_SIZE + RW_FLAGS, rwFlags);
    }

    void prepFsync(int i, int fd, int fsyncFlags) {
        rw(i, IoUring.IORING_OP_FSYNC, fd, 0L, 0, 0L);
        sqes.set(JAVA_INT, i * SQE_SIZE + RW_FLAGS, fsyncFlags);
    }

    void prepFallocate(int i, int fd, int mode, long off, long len) {
        rw(i, IoUring.IORING_OP_FALLOCATE, fd, len, mode, off); // io_fallocate_prep: addr = length, len = mode
    }

    void prepPollAdd(int i, int fd, int events, boolean multishot) {
        rw(i, IoUring.IORING_OP_POLL_ADD, fd, 0L, multishot ? IoUring.IORING_POLL_ADD_MULTI : 0, 0L);
        sqes.set(JAVA_INT, i * SQE_SIZE + RW_FLAGS, events); // poll32_events (little-endian hosts)
    }

    void prepPollRemove(int i, long targetUserData) {
        rw(i, IoUring.IORING_OP_POLL_REMOVE, 0, targetUserData, 0, 0L);
    }

    void prepTimeout(int i, long timespecAddr, int count, int timeoutFlags) {
        rw(i, IoUring.IORING_OP_TIMEOUT, 0, timespecAddr, 1, Integer.toUnsignedLong(count));
        sqes.set(JAVA_INT, i * SQE_SIZE + RW_FLAGS, timeoutFlags);
    }

    void prepCancel(int i, long targetUserData, int cancelFlags) {
        rw(i, IoUring.IORING_OP_ASYNC_CANCEL, -1, targetUserData, 0, 0L);
        sqes.set(JAVA_INT, i * SQE_SIZE + RW_FLAGS, cancelFlags);
    }
}
