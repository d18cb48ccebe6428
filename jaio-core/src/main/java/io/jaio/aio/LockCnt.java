package io.jaio.aio;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A walker count with a mutex beside it (QEMU's {@code QemuLockCnt}): many concurrent walkers,
 * an occasional writer, and records freed only when nobody walks.
 *
 * <p>The guarantee: the count never goes 0 → 1 while the mutex is held. So a writer that holds
 * the mutex and reads a count of 0 knows nobody walks and nobody can start; with a count above 0
 * it only marks records deleted, and the last walker frees them ({@link #decIfLock()}).
 *
 * <p>Any thread. Implementation: one atomic word (walkers, plus a {@code LOCKED} bit while a
 * thread holds the mutex through this class) beside a {@link ReentrantLock}, as QEMU's futex-based
 * {@code QemuLockCnt} keeps both in one word. A walker's inc is one CAS, which turns the word from
 * {@code 0} into {@code 1} only while {@code LOCKED} is clear: so the outermost
 * {@code poll()} of an uncontended context pays one CAS and one decrement, no mutex. A writer sets
 * {@code LOCKED} by an atomic add right after it takes the mutex and only then reads the count;
 * both are read-modify-writes of the same word, so either a walker's 0 → 1 CAS came first (the
 * writer reads 1) or it fails on the bit and the walker waits for the mutex.
 */
final class LockCnt {
    /** In {@link #count} while a thread holds the mutex through this class (not counted as a walker). */
    private static final int LOCKED = 1 << 30;
    /** Walkers, plus {@link #LOCKED}. Every access an atomic (sequentially consistent) one. */
    private final AtomicInteger count = new AtomicInteger();
    private final ReentrantLock lock = new ReentrantLock();

    /** Enters as a walker. */
    void inc() {
        for (;;) {
            int old = count.get();
            if (old == LOCKED) {
                // No walker and a writer holds the mutex: 0 -> 1 must wait for its unlock. Holding
                // the mutex ourselves (without LOCKED: we read no count) no writer can be inside.
                lock.lock();
                try {
                    count.incrementAndGet();
                } finally {
                    lock.unlock();
                }
                return;
            }
            if (count.compareAndSet(old, old + 1)) { // old is 0 (no LOCKED) or has walkers
                return;
            }
        }
    }

    /** Leaves as a walker. */
    void dec() {
        int v = count.decrementAndGet();
        assert v != -1 && v != LOCKED - 1 : "LockCnt.dec below zero";
    }

    /** Decrements; if the count reaches 0, returns true with the mutex held. */
    boolean decAndLock() {
        for (;;) {
            int old = count.get();
            if ((old & ~LOCKED) > 1) {
                if (count.compareAndSet(old, old - 1)) {
                    return false;
                }
                continue;
            }
            lock();
            if ((count.decrementAndGet() & ~LOCKED) == 0) {
                return true;
            }
            unlock();
            return false;
        }
    }

    /**
     * If the count is exactly 1 (the caller is the only walker), makes it 0 and returns true with
     * the mutex held; otherwise changes nothing and returns false.
     */
    boolean decIfLock() {
        if ((count.get() & ~LOCKED) > 1) {
            return false;
        }
        lock();
        if (count.compareAndSet(LOCKED | 1, LOCKED)) {
            return true;
        }
        unlock();
        return false;
    }

    /** Takes the mutex; from then on no walker can enter from a count of 0 until {@link #unlock()}. */
    void lock() {
        lock.lock();
        if (lock.getHoldCount() == 1) {
            count.getAndAdd(LOCKED); // before any read of the count under the mutex (class comment)
        }
    }

    /** Releases the mutex taken by {@link #lock()}, {@link #decAndLock()} or {@link #decIfLock()}. */
    void unlock() {
        if (lock.getHoldCount() == 1) {
            count.getAndAdd(-LOCKED);
        }
        lock.unlock();
    }

    /** Increments the count and releases the mutex, in that order (so no writer sees 0 in between). */
    void incAndUnlock() {
        count.incrementAndGet();
        unlock();
    }

    /** The number of walkers. */
    int count() {
        return count.get() & ~LOCKED;
    }

    boolean isLockedByCurrentThread() {
        return lock.isHeldByCurrentThread();
    }
}
