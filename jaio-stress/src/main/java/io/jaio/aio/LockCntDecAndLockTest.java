package io.jaio.aio;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.III_Result;

/**
 * decAndLock() under concurrency (docs/design/aio-semantics.md §1.6): the decrement that reaches 0 returns
 * true with the mutex held, and the count then stays 0 until unlock (a concurrent inc() from 0
 * waits). Walker 1 is counted from the start; walker 2 enters (inc()) concurrently; both leave
 * with decAndLock(). The final count is 0, so at least one decAndLock() must report the zero.
 *
 * <p>r1, r2 = walker 1's, walker 2's decAndLock(): 0 = false, 1 = true and the count stayed 0
 * while it held the mutex, 2 = true but the count moved under the mutex. Arbiter: r3 = final count.
 */
@JCStressTest
@Description("LockCnt: decAndLock() vs inc()+decAndLock(): the zero is always reported, with the mutex held")
@Outcome(id = "1, 1, 0", expect = ACCEPTABLE,
        desc = "walker 1 left (1 -> 0, locked) before walker 2 entered; walker 2's inc() from 0 waited "
                + "for the unlock, then it left (1 -> 0) too")
@Outcome(id = "0, 1, 0", expect = ACCEPTABLE,
        desc = "walker 2 entered while walker 1 was counted (1 -> 2); walker 1 left first (2 -> 1), "
                + "walker 2 reached zero")
@Outcome(id = "1, 0, 0", expect = ACCEPTABLE,
        desc = "walker 2 entered while walker 1 was counted (1 -> 2) and left first (2 -> 1); walker 1 "
                + "reached zero")
@Outcome(id = "0, 0, 0", expect = FORBIDDEN,
        desc = "the count reached 0 but no decAndLock() reported it")
@Outcome(expect = FORBIDDEN,
        desc = "the count moved while a decAndLock() winner held the mutex, both reported a single zero, "
                + "or the final count is wrong")
@State
public class LockCntDecAndLockTest {
    private final LockCnt lc = new LockCnt();

    public LockCntDecAndLockTest() {
        lc.inc(); // walker 1 is inside
    }

    private int leave() {
        if (!lc.decAndLock()) {
            return 0;
        }
        try {
            int seen = 0;
            for (int i = 0; i < 4; i++) {
                seen |= lc.count();
            }
            return seen == 0 ? 1 : 2;
        } finally {
            lc.unlock();
        }
    }

    @Actor
    public void walker1(III_Result r) {
        r.r1 = leave();
    }

    @Actor
    public void walker2(III_Result r) {
        lc.inc();
        r.r2 = leave();
    }

    @Arbiter
    public void after(III_Result r) {
        r.r3 = lc.count();
    }
}
