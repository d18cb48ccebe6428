package io.jaio.aio;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The cross-thread hand-off of oneshot bottom halves: a bounded multi-producer, single-consumer
 * array queue (Vyukov's bounded queue, one sequence number per slot) of a callback and its name.
 * A producer claims a slot with one CAS on {@link #tail} and publishes it with a release store of
 * the slot's sequence; the consumer (the home thread) takes slots in index order with plain reads
 * after an acquire of the sequence and hands each slot back with a release store. Nothing is
 * allocated per item: a full ring makes {@link #offer} return false and the caller falls back to a
 * {@link BottomHalf} of its own (so the hand-off stays unbounded).
 *
 * <p>Threads: {@link #offer} from any thread; everything else from the consumer only. The consumer's
 * position is kept by the caller ({@link BhList}), in another object than {@link #tail}, so the
 * consumer's writes do not share a cache line with the producers' CAS.
 */
final class OneshotRing {
    private static final VarHandle TAIL;
    private static final VarHandle SEQ = MethodHandles.arrayElementVarHandle(long[].class);

    static {
        try {
            TAIL = MethodHandles.lookup().findVarHandle(OneshotRing.class, "tail", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final int mask;
    /**
     * Per slot: {@code i} (lap 0) or {@code index + capacity}: free for the producer of
     * {@code index}; {@code index + 1}: holds the item of {@code index}. Written with release
     * (producer after filling, consumer after clearing), read with acquire, so a slot's
     * {@link #cbs}/{@link #names} entries are handed over with it.
     */
    private final long[] seq;
    private final Runnable[] cbs;
    private final String[] names;
    /** Next index a producer claims (CAS); the consumer reads it (volatile) as the pass's limit. */
    @SuppressWarnings("unused")
    private volatile long tail;

    /**
     * @param capacity a power of two, at least 2 (with one slot, "free for the next lap" and
     *     "published" would be the same sequence value)
     */
    OneshotRing(int capacity) {
        if (capacity < 2 || Integer.bitCount(capacity) != 1) {
            throw new IllegalArgumentException("oneshot ring capacity must be a power of two >= 2, got " + capacity);
        }
        mask = capacity - 1;
        seq = new long[capacity];
        for (int i = 0; i < capacity; i++) {
            seq[i] = i;
        }
        cbs = new Runnable[capacity];
        names = new String[capacity];
    }

    /** Queues one item; false if the ring is full (nothing changed). Any thread, lock-free. */
    boolean offer(String name, Runnable cb) {
        for (;;) {
            long t = (long) TAIL.getVolatile(this); // pairs with the other producers' CAS below
            int i = (int) t & mask;
            long s = (long) SEQ.getAcquire(seq, i); // pairs with the consumer's setRelease in take()
            if (s == t) {
                if (TAIL.compareAndSet(this, t, t + 1)) { // the claim: pairs with tail()'s read (the consumer's limit)
                    cbs[i] = cb;
                    names[i] = name;
                    SEQ.setRelease(seq, i, t + 1); // publishes cbs[i]/names[i]: pairs with published()
                    return true;
                }
            } else if (s < t) {
                return false; // the slot still holds the item of index t - capacity: full
            }
            // s > t: another producer claimed index t since we read tail; read it again
        }
    }

    /**
     * The next index a producer will claim: items below it are claimed (maybe not yet published).
     * Consumer. A volatile read: pairs with {@link #offer}'s CAS, which is in the synchronization
     * order with the producer's later wake-up (see {@link BhList#timeoutNs}).
     */
    long tail() {
        return (long) TAIL.getVolatile(this); // pairs with offer's TAIL.compareAndSet
    }

    /** Whether the item of {@code index} (claimed, below {@link #tail()}) is published. Consumer. */
    boolean published(long index) {
        return (long) SEQ.getAcquire(seq, (int) index & mask) == index + 1; // pairs with offer's setRelease
    }

    /** The callback of the published item {@code index}. Consumer. */
    Runnable cb(long index) {
        return cbs[(int) index & mask];
    }

    /** The name of the published item {@code index}. Consumer. */
    String name(long index) {
        return names[(int) index & mask];
    }

    /** Frees the slot of the published item {@code index} for the producer of {@code index + capacity}. Consumer. */
    void release(long index) {
        int i = (int) index & mask;
        cbs[i] = null;
        names[i] = null;
        SEQ.setRelease(seq, i, index + mask + 1); // pairs with offer's getAcquire
    }
}
