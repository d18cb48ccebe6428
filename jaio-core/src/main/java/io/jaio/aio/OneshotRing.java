package io.jaio.aio;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The cross-thread hand-off of oneshot bottom halves: a bounded multi-producer, single-consumer
 * array queue of a name and a callback (in the manner of JCTools' {@code MpscArrayQueue}). A
 * producer claims an index with one CAS on the tail and publishes the item with a release store of
 * its callback; a non-null callback is the consumer's sign that the item is there. Fullness is
 * judged against the consumer's position, read only when the producers' cached limit runs out
 * (once per lap of the ring, not per item). Nothing is allocated per item: a full ring makes
 * {@link #offer} return false and the caller falls back to a {@link BottomHalf} of its own (so the
 * hand-off stays unbounded).
 *
 * <p>Memory layout is part of the design: with a consumer that keeps up (a polling loop), the
 * producer and the consumer work a few items apart, so every cache line they both write moves
 * between the CPUs. An item's name and callback sit side by side in one array (one line per item,
 * not one per field), and the three positions live in {@link #index}, 128 bytes apart and from the
 * array's ends: the producers' tail and limit, the consumer's head, and whatever the heap puts
 * next to the array never share a line (nor an adjacent-line prefetch pair). The object's own
 * fields are final and padded on both sides, so reading them costs no transfer either, whatever
 * the garbage collector puts beside the object when it moves it.
 *
 * <p>Threads: {@link #offer} from any thread; everything else from the consumer only.
 */
@SuppressWarnings("unused")
final class OneshotRing extends OneshotRingFields {
    // 128 bytes after the fields (LeadingPad puts 128 before them): see the layout note.
    long q00, q01, q02, q03, q04, q05, q06, q07;
    long q08, q09, q10, q11, q12, q13, q14, q15;

    private static final VarHandle SLOT = MethodHandles.arrayElementVarHandle(Object[].class);
    private static final VarHandle INDEX = MethodHandles.arrayElementVarHandle(long[].class);
    /** Next index a producer claims (CAS); the consumer reads it (volatile) as the pass's limit. */
    private static final int TAIL = 16;
    /** Producers' cached bound: indices below it are free (consumer head + capacity when read). */
    static final int LIMIT = 17;
    /** Next index the consumer takes; every index below it is consumed and its slot cleared. */
    private static final int HEAD = 32;
    static final int INDEX_LENGTH = 48;


    /** @param capacity a power of two, at least 1 */
    OneshotRing(int capacity) {
        if (capacity < 1 || Integer.bitCount(capacity) != 1) {
            throw new IllegalArgumentException("oneshot ring capacity must be a power of two >= 1, got " + capacity);
        }
        super(capacity);
    }

    /** Queues one item; false if the ring is full (nothing changed). Any thread, lock-free. */
    boolean offer(String name, Runnable cb) {
        long t;
        do {
            t = (long) INDEX.getVolatile(index, TAIL); // pairs with the other producers' CAS below
            if (t >= (long) INDEX.getAcquire(index, LIMIT)) { // pairs with the setRelease below
                // Acquire: pairs with release()'s setRelease, so the consumer's clearing of the
                // slot happens before this producer (or one that reads our LIMIT) fills it again.
                long limit = (long) INDEX.getAcquire(index, HEAD) + capacity;
                if (t >= limit) {
                    return false; // the slot still holds the item of index t - capacity: full
                }
                // Racy among producers: a smaller value written late only sends a producer back
                // here; every value written is a true bound, because the head only grows.
                INDEX.setRelease(index, LIMIT, limit);
            }
        } while (!INDEX.compareAndSet(index, TAIL, t, t + 1)); // the claim: pairs with tail()
        int i = 2 * ((int) t & mask);
        slots[i] = name; // plain: published with the callback
        SLOT.setRelease(slots, i + 1, cb); // publishes the item: pairs with published()'s getAcquire
        return true;
    }

    /**
     * The next index a producer will claim: items below it are claimed (maybe not yet published).
     * Consumer. A volatile read: pairs with {@link #offer}'s CAS, which is in the synchronization
     * order with the producer's later wake-up (see {@link BhList#timeoutNs}).
     */
    long tail() {
        return (long) INDEX.getVolatile(index, TAIL); // pairs with offer's compareAndSet
    }

    /**
     * The callback of item {@code index} (claimed, below {@link #tail()}) if its producer has
     * published it, else null. Consumer.
     */
    Runnable published(long index) {
        return (Runnable) SLOT.getAcquire(slots, 2 * ((int) index & mask) + 1); // pairs with offer's setRelease
    }

    /** The name of the published item {@code index}. Consumer. */
    String name(long index) {
        return (String) slots[2 * ((int) index & mask)];
    }

    /** Clears the published item {@code index} and frees its slot for the producer of {@code index + capacity}. Consumer. */
    void release(long index) {
        int i = 2 * ((int) index & mask);
        slots[i] = null;
        slots[i + 1] = null;
        INDEX.setRelease(this.index, HEAD, index + 1); // pairs with offer's getAcquire of HEAD
    }
}


/** {@link OneshotRing}'s final fields, between its two pads. */
abstract class OneshotRingFields extends LeadingPad {
    final int mask;
    final int capacity;
    /** Per item {@code i}: {@code [2(i & mask)]} its name, {@code [2(i & mask) + 1]} its callback. */
    final Object[] slots;
    /** The positions, at OneshotRing's TAIL, LIMIT and HEAD (see its class comment). */
    final long[] index = new long[OneshotRing.INDEX_LENGTH];

    OneshotRingFields(int capacity) {
        this.capacity = capacity;
        this.mask = capacity - 1;
        this.slots = new Object[2 * capacity];
        // Written before this constructor ends, so the final field `index` publishes it: a
        // producer that saw 0 would only take the slow path and read the head.
        index[OneshotRing.LIMIT] = capacity;
    }
}
