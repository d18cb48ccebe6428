package io.jaio.aio;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.III_Result;

/**
 * The outermost walker's free-and-resume step (FdHandlers.freeDeleted): decIfLock() from
 * the only walker takes the mutex with count 0, and incAndUnlock() must re-count it before it
 * releases the mutex, so a writer that locks in between never sees 0 turn into 1 under its lock.
 *
 * <p>The walker (count 1 from the start) does decIfLock() [r1], incAndUnlock(), dec(). The
 * writer locks and reads the count: r2 = first read, r3 = the largest later read.
 */
@JCStressTest
@Description("LockCnt: decIfLock() + incAndUnlock() vs a writer: the re-increment happens before the unlock")
@Outcome(id = "1, 1, 1", expect = ACCEPTABLE,
        desc = "the writer locked before the walker's decIfLock() (which waited), or after its "
                + "incAndUnlock() while it was still counted")
@Outcome(id = "1, 1, 0", expect = ACCEPTABLE,
        desc = "the writer locked after the walker's incAndUnlock(); the walker's dec() landed after "
                + "the writer's first read")
@Outcome(id = "1, 0, 0", expect = ACCEPTABLE,
        desc = "the writer locked after the walker's final dec()")
@Outcome(id = "1, 0, 1", expect = FORBIDDEN,
        desc = "the writer saw 0 and then 1 under its lock: incAndUnlock() released the mutex before "
                + "incrementing")
@Outcome(expect = FORBIDDEN, desc = "decIfLock() failed for the only walker, or an impossible count")
@State
public class LockCntIncAndUnlockTest {
    private final LockCnt lc = new LockCnt();

    public LockCntIncAndUnlockTest() {
        lc.inc(); // the walker is inside
    }

    @Actor
    public void walker(III_Result r) {
        if (lc.decIfLock()) {
            r.r1 = 1;
            lc.incAndUnlock();
        }
        lc.dec();
    }

    @Actor
    public void writer(III_Result r) {
        lc.lock();
        try {
            r.r2 = lc.count();
            int max = 0;
            for (int i = 0; i < 4; i++) {
                max = Math.max(max, lc.count());
            }
            r.r3 = max;
        } finally {
            lc.unlock();
        }
    }
}
