package io.jaio.nbd;

import io.jaio.coroutine.Coroutine;
import io.jaio.coroutine.CoQueue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * A bounded pool of native, 4 KiB-aligned I/O buffers in power-of-two size classes (4 KiB to
 * 32 MiB), so request payloads and read data go between the socket and the backend without a
 * copy or a per-request allocation. The bytes held (lent out plus cached) never exceed the
 * budget: a request that does not fit evicts cached buffers of other classes, and if that is
 * not enough its coroutine waits until buffers come back. This is what bounds a connection's
 * (and a server's) memory whatever clients send.
 *
 * <p>Threads: the owning context's home thread only (no locking); {@link #acquire} may suspend
 * the calling coroutine, and only does so inside one.
 */
final class BufferPool implements AutoCloseable {
    /*
     * Implementation overview. Class c holds buffers of 4096 << c bytes. `held` = bytes of every
     * buffer that exists (lent + cached); `cached` = bytes in the free lists. acquire():
     *  1. A free buffer of the class: pop it.
     *  2. Else, while held + size > budget: evict a cached buffer (largest class first) by
     *     closing its arena; if nothing is cached, wait on `waiters` (woken by release()).
     *  3. Allocate a new buffer in an arena of its own (shared: a thread-pool backend may pass
     *     it to a worker thread), so eviction frees it at once.
     * release() pushes the buffer on its free list and wakes one waiter. Invariant:
     * held <= budget. Correctness of waiting: release and acquire run in the home thread, so a
     * release between the check and the await cannot happen (the coroutine awaits before any
     * other coroutine runs).
     */

    static final int MIN_SHIFT = 12;
    static final int MAX_SHIFT = 25;
    private static final int CLASSES = MAX_SHIFT - MIN_SHIFT + 1;

    /** One pooled buffer: {@link #segment()} is the whole class-sized segment. */
    static final class Buffer {
        private final Arena arena;
        private final MemorySegment segment;
        private final int cls;
        private boolean lent;

        private Buffer(Arena arena, MemorySegment segment, int cls) {
            this.arena = arena;
            this.segment = segment;
            this.cls = cls;
        }

        MemorySegment segment() {
            return segment;
        }
    }

    private final long budget;
    private final List<ArrayDeque<Buffer>> free = new ArrayList<>(CLASSES);
    private final CoQueue waiters = new CoQueue();
    private long held;
    private long cached;
    private long lentCount;
    private boolean closed;

    /** A pool holding at most {@code budget} bytes (at least 32 MiB + 64 KiB, one maximal request). */
    BufferPool(long budget) {
        if (budget < (1L << MAX_SHIFT) + 65536) {
            throw new IllegalArgumentException("buffer budget must be at least 32 MiB + 64 KiB, got " + budget);
        }
        this.budget = budget;
        for (int i = 0; i < CLASSES; i++) {
            free.add(new ArrayDeque<>());
        }
    }

    static int classOf(long size) {
        if (size <= 0 || size > (1L << MAX_SHIFT)) {
            throw new IllegalArgumentException("buffer size out of range: " + size);
        }
        int shift = 64 - Long.numberOfLeadingZeros(size - 1);
        return Math.max(0, shift - MIN_SHIFT);
    }

    /**
     * A buffer of at least {@code size} bytes (1 to 32 MiB); may suspend the calling coroutine
     * until enough bytes are returned. Home thread.
     *
     * @throws IllegalStateException if the pool is closed, or it would have to wait outside a
     *     coroutine
     */
    Buffer acquire(long size) {
        int cls = classOf(size);
        long bytes = 1L << (cls + MIN_SHIFT);
        for (;;) {
            if (closed) {
                throw new IllegalStateException("buffer pool closed");
            }
            Buffer b = free.get(cls).pollFirst();
            if (b != null) {
                cached -= bytes;
                return lend(b);
            }
            while (held + bytes > budget && cached > 0) {
                evictOne();
            }
            if (held + bytes <= budget) {
                Arena arena = Arena.ofShared();
                MemorySegment seg = arena.allocate(bytes, 4096);
                held += bytes;
                return lend(new Buffer(arena, seg, cls));
            }
            if (!Coroutine.inCoroutine()) {
                throw new IllegalStateException("buffer pool exhausted (" + held + " of " + budget
                        + " bytes lent) outside a coroutine");
            }
            waiters.await(null);
        }
    }

    /**
     * Whether {@link #acquire} of {@code size} bytes would return (or throw) without waiting.
     * Home thread.
     */
    boolean canLendNow(long size) {
        int cls = classOf(size);
        long bytes = 1L << (cls + MIN_SHIFT);
        return closed || !free.get(cls).isEmpty() || held - cached + bytes <= budget;
    }

    private Buffer lend(Buffer b) {
        b.lent = true;
        lentCount++;
        return b;
    }

    private void evictOne() {
        for (int c = CLASSES - 1; c >= 0; c--) {
            Buffer b = free.get(c).pollFirst();
            if (b != null) {
                long bytes = 1L << (c + MIN_SHIFT);
                cached -= bytes;
                held -= bytes;
                b.arena.close();
                return;
            }
        }
        throw new AssertionError("cached bytes without a cached buffer");
    }

    /** Gives a buffer back (null is ignored). Home thread. */
    void release(Buffer b) {
        if (b == null) {
            return;
        }
        if (!b.lent) {
            throw new IllegalStateException("buffer released twice");
        }
        b.lent = false;
        lentCount--;
        long bytes = 1L << (b.cls + MIN_SHIFT);
        if (closed) {
            held -= bytes;
            b.arena.close();
            return;
        }
        free.get(b.cls).addFirst(b);
        cached += bytes;
        waiters.next();
    }

    /** Bytes of every buffer that exists (lent and cached). */
    long heldBytes() {
        return held;
    }

    /** Buffers lent out now. */
    long lentCount() {
        return lentCount;
    }

    /** Frees the cached buffers; buffers still lent are freed when released. Home thread. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        while (cached > 0) {
            evictOne();
        }
        waiters.restartAll();
    }
}
