package io.jaio.aio;

import static io.jaio.aio.TestSupport.join;
import static io.jaio.aio.TestSupport.startThread;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** {@code LockCnt} is QEMU's QemuLockCnt (docs/design/aio-semantics.md 1.6). */
class LockCntTest {

    @Test
    void incAndDec() {
        LockCnt lc = new LockCnt();
        assertEquals(0, lc.count());
        lc.inc();
        assertEquals(1, lc.count());
        lc.inc();
        assertEquals(2, lc.count());
        lc.dec();
        assertEquals(1, lc.count());
        lc.dec();
        assertEquals(0, lc.count());
    }

    @Test
    void decAndLockTakesTheLockOnlyWhenReachingZero() {
        LockCnt lc = new LockCnt();
        lc.inc();
        lc.inc();
        assertFalse(lc.decAndLock(), "2 -> 1: no lock");
        assertEquals(1, lc.count());
        assertNotLocked(lc);
        assertTrue(lc.decAndLock(), "1 -> 0: returns true with the lock held");
        assertEquals(0, lc.count());
        assertLockedByUs(lc);
        lc.unlock();
        assertNotLocked(lc);
    }

    @Test
    void decIfLockOnlyActsOnExactlyOne() {
        LockCnt lc = new LockCnt();
        assertFalse(lc.decIfLock(), "count 0: nothing changes");
        assertEquals(0, lc.count());
        assertNotLocked(lc);

        lc.inc();
        lc.inc();
        assertFalse(lc.decIfLock(), "count 2: nothing changes");
        assertEquals(2, lc.count());
        assertNotLocked(lc);

        lc.dec();
        assertTrue(lc.decIfLock(), "count 1: decrement to 0 with the lock held");
        assertEquals(0, lc.count());
        assertLockedByUs(lc);

        lc.incAndUnlock();
        assertEquals(1, lc.count());
        assertNotLocked(lc);
        lc.dec();
    }

    @Test
    void lockUnlockAndIncAndUnlock() {
        LockCnt lc = new LockCnt();
        lc.lock();
        assertEquals(0, lc.count());
        assertLockedByUs(lc);
        lc.unlock();
        assertNotLocked(lc);

        lc.lock();
        lc.incAndUnlock();
        assertEquals(1, lc.count());
        assertNotLocked(lc);
        lc.dec();
        assertEquals(0, lc.count());
    }

    /** The guarantee: the count cannot go 0 -> 1 while another thread holds the lock. */
    @Test
    void countCannotLeaveZeroWhileAnotherThreadHoldsTheLock() {
        LockCnt lc = new LockCnt();
        lc.lock();
        AtomicBoolean incremented = new AtomicBoolean();
        Thread t = startThread("lockcnt-inc", () -> {
            lc.inc();
            incremented.set(true);
        });
        assertFalse(join(t, 100), "inc() from 0 must wait for the lock (bounded check)");
        assertFalse(incremented.get());
        assertEquals(0, lc.count());
        lc.unlock();
        assertTrue(join(t, 10_000));
        assertTrue(incremented.get());
        assertEquals(1, lc.count());
    }

    /** Non-zero counts increment without touching the lock. */
    @Test
    void nonZeroCountIncrementsWhileLocked() {
        LockCnt lc = new LockCnt();
        lc.inc();
        lc.lock();
        Thread t = startThread("lockcnt-inc-nonzero", lc::inc);
        assertTrue(join(t, 10_000), "inc() of a non-zero count must not wait for the lock");
        assertEquals(2, lc.count());
        lc.unlock();
        lc.dec();
        lc.dec();
        assertEquals(0, lc.count());
    }

    /**
     * Stress: a writer that holds the lock and sees count 0 keeps seeing 0 until it unlocks, while
     * walkers keep entering (inc from 0 must wait for the lock) and leaving. Bounded: it stops after
     * 2000 exclusive sections or 2 s.
     */
    @Test
    void writerHoldingTheLockAtZeroNeverSeesAWalker() {
        LockCnt lc = new LockCnt();
        AtomicBoolean stop = new AtomicBoolean();
        AtomicInteger violations = new AtomicInteger();
        AtomicInteger walks = new AtomicInteger();
        int exclusiveSections = 0;
        List<Thread> walkers = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            walkers.add(startThread("walker-" + i, () -> {
                while (!stop.get()) {
                    lc.inc(); // start walking
                    walks.incrementAndGet();
                    lc.dec(); // stop walking
                    for (int k = 0; k < 20; k++) {
                        Thread.onSpinWait(); // idle, so that the count is often 0
                    }
                    lc.inc(); // the outermost walker frees deleted nodes under the lock
                    if (lc.decAndLock()) {
                        lc.unlock();
                    }
                }
            }));
        }
        long deadline = System.nanoTime() + 2_000_000_000L;
        try {
            while (exclusiveSections < 2000 && System.nanoTime() - deadline < 0) {
                lc.lock();
                try {
                    if (lc.count() == 0) {
                        exclusiveSections++;
                        for (int k = 0; k < 50; k++) {
                            if (lc.count() != 0) {
                                violations.incrementAndGet();
                            }
                            Thread.onSpinWait();
                        }
                    }
                } finally {
                    lc.unlock();
                }
            }
        } finally {
            stop.set(true);
            for (Thread w : walkers) {
                assertTrue(join(w, 10_000));
            }
        }
        assertEquals(0, violations.get(), "a walker entered (count 0 -> 1) while the writer held the lock");
        assertEquals(0, lc.count());
        assertTrue(walks.get() > 0, "the walkers never ran");
        assertTrue(exclusiveSections > 0, "the writer never found the count at 0");
    }

    /**
     * Lock state observed from another thread: a probe that takes and releases the lock cannot get
     * through while we hold it. The probe never touches the count; it finishes after our unlock().
     */
    private static void assertLockedByUs(LockCnt lc) {
        Thread probe = startThread("probe-locked", () -> {
            lc.lock();
            lc.unlock();
        });
        assertFalse(join(probe, 50), "expected the lock to be held");
    }

    private static void assertNotLocked(LockCnt lc) {
        Thread probe = startThread("probe-unlocked", () -> {
            lc.lock();
            lc.unlock();
        });
        assertTrue(join(probe, 10_000), "expected the lock to be free");
    }
}
