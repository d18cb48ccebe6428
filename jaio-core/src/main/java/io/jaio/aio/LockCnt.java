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
 * <p>Any thread. Implementation: an atomic count plus a {@link ReentrantLock}. A non-zero count
 * is incremented by CAS without the lock; 0 → 1 happens only while holding it. The count's
 * atomics are sequentially consistent, which orders them with the lock's acquire/release.
 */
final class LockCnt {
    private final AtomicInteger count = new AtomicInteger();
    private final ReentrantLock lock = new ReentrantLock();

    /** Enters as a walker. */
    void inc() {
        for (;;) {
            int old = count.get();
            if (old == 0) {
                lock.lock();
                incAndUnlock();
                return;
            }
            if (count.compareAndSet(old, old + 1)) {
                return;
            }
        }
    }

    /** Leaves as a walker. */
    void dec() {
        int v = count.decrementAndGet();
        assert v >= 0 : "LockCnt.dec below zero";
    }

    /** Decrements; if the count reaches 0, returns true with the mutex held. */
    boolean decAndLock() {
        for (;;) {
            int old = count.get();
            if (old > 1) {
                if (count.compareAndSet(old, old - 1)) {
                    return false;
                }
                continue;
            }
            lock.lock();
            if (count.decrementAndGet() == 0) {
                return true;
            }
            lock.unlock();
            return false;
        }
    }

    /**
     * If the count is exactly 1 (the caller is the only walker), makes it 0 and returns true with
     * the mutex held; otherwise changes nothing and returns false.
     */
    boolean decIfLock() {
        if (count.get() > 1) {
            return false;
        }
        lock.lock();
        if (count.compareAndSet(1, 0)) {
            return true;
        }
        lock.unlock();
        return false;
    }

    void lock() {
        lock.lock();
    }

    void unlock() {
        lock.unlock();
    }

    /** Increments the count and releases the mutex, in that order (so no writer sees 0 in between). */
    void incAndUnlock() {
        count.incrementAndGet();
        lock.unlock();
    }

    int count() {
        return count.get();
    }

    boolean isLockedByCurrentThread() {
        return lock.isHeldByCurrentThread();
    }
}
