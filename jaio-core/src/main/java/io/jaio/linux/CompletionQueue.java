package io.jaio.linux;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The completion side of an io_uring. Protocol (single consumer, the ring's owner): acquire-load
 * the kernel's tail (pairs with the kernel's release after it wrote the CQEs), read the entries
 * from the local head up to it, and release-store the new head only after they were read, so the
 * kernel never overwrites an entry still being read.
 */
final class CompletionQueue {
    // struct io_uring_cqe, <uapi/linux/io_uring.h>
    static final long CQE_SIZE = 16;
    static final long USER_DATA = 0;
    static final long RES = 8;
    static final long FLAGS = 12;

    private static final VarHandle INT = JAVA_INT.varHandle();

    private final MemorySegment khead;
    private final MemorySegment ktail;
    private final MemorySegment koverflow;
    private final MemorySegment cqes;
    final int mask;
    final int entries;
    /**
     * The head as last stored to {@link #khead}: only this thread writes the CQ head, so it needs
     * no read of the shared word (one bounds- and liveness-checked access fewer per peek).
     */
    private int head;

    CompletionQueue(MemorySegment ring, long headOff, long tailOff, long maskOff, long entriesOff,
                    long overflowOff, long cqesOff) {
        this.khead = ring.asSlice(headOff, 4);
        this.ktail = ring.asSlice(tailOff, 4);
        this.koverflow = ring.asSlice(overflowOff, 4);
        this.mask = ring.get(JAVA_INT, maskOff);
        this.entries = ring.get(JAVA_INT, entriesOff);
        this.cqes = ring.asSlice(cqesOff, CQE_SIZE * entries);
        this.head = (int) INT.getVolatile(khead, 0L);
    }

    /** Completions ready to read. */
    int ready() {
        return (int) INT.getAcquire(ktail, 0L) - head; // pairs with the kernel's release of the tail
    }

    /** CQEs the kernel dropped for lack of room (only without IORING_FEAT_NODROP). */
    int overflow() {
        return (int) INT.getVolatile(koverflow, 0L);
    }

    /**
     * Hands every ready CQE to {@code consumer}, in ring order, publishing the head before each
     * callback (the entry was copied out first). Re-entrant: a consumer that drains again (a
     * nested loop) continues from where it is, and this call resumes after it. Returns how many
     * entries this call consumed.
     */
    int drain(IoUring.CqeConsumer consumer) {
        int n = 0;
        for (;;) {
            int head = this.head; // a nested drain advanced it: continue from there
            int tail = (int) INT.getAcquire(ktail, 0L); // pairs with the kernel's release of the tail
            if (head == tail) {
                return n;
            }
            long base = (head & mask) * CQE_SIZE;
            long userData = cqes.get(JAVA_LONG, base + USER_DATA);
            int res = cqes.get(JAVA_INT, base + RES);
            int flags = cqes.get(JAVA_INT, base + FLAGS);
            this.head = head + 1;
            INT.setRelease(khead, 0L, head + 1); // after the reads: pairs with the kernel's acquire
            n++;
            consumer.accept(userData, res, flags);
        }
    }
}
