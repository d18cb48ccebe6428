package io.jaio.aio;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import java.util.concurrent.atomic.AtomicInteger;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.IIII_Result;

/**
 * Two walkers each do inc(), walk, then decIfLock() (docs/design/aio-semantics.md §1.6: "I am the only,
 * outermost walker"); the winner holds the mutex with count 0 (exclusive: it may unlink and
 * free), then incAndUnlock(), dec(). Exclusivity must be real: while one walker is exclusive the
 * other is not walking, cannot start walking, and the count stays 0.
 *
 * <p>Per walker i (r1/r2 for walker 1, r3/r4 for walker 2): got = decIfLock() returned true;
 * bad = it saw the other walking while exclusive, saw the count move while exclusive, or saw the
 * other exclusive while it walked itself.
 */
@JCStressTest
@Description("LockCnt: two walkers' decIfLock(): an exclusive walker never overlaps the other's walk")
@Outcome(id = "1, 0, 1, 0", expect = ACCEPTABLE,
        desc = "the walks did not overlap: each walker was alone (count 1) at its decIfLock()")
@Outcome(id = "1, 0, 0, 0", expect = ACCEPTABLE,
        desc = "walker 1 was alone at its decIfLock(); walker 2 checked while walker 1 was still counted")
@Outcome(id = "0, 0, 1, 0", expect = ACCEPTABLE,
        desc = "walker 2 was alone at its decIfLock(); walker 1 checked while walker 2 was still counted")
@Outcome(id = "0, 0, 0, 0", expect = ACCEPTABLE,
        desc = "both walkers were counted at both checks: neither is exclusive")
@Outcome(expect = FORBIDDEN,
        desc = "a walker was exclusive while the other walked or entered (or the count moved under it)")
@State
public class LockCntDecIfLockTest {
    private final LockCnt lc = new LockCnt();
    /** Walkers inside their walk (after inc(), before leaving). */
    private final AtomicInteger walking = new AtomicInteger();
    private volatile boolean exclusive;

    private int walk() {
        int bad = 0;
        lc.inc();
        walking.incrementAndGet();
        if (exclusive) {
            bad = 1; // entered while the other holds the mutex with count 0
        }
        walking.decrementAndGet();
        if (lc.decIfLock()) {
            exclusive = true;
            if (walking.get() != 0) {
                bad = 1; // the other walker is inside while we are exclusive
            }
            if (lc.count() != 0) {
                bad = 1; // a walker got counted while we hold the mutex at count 0
            }
            exclusive = false;
            lc.incAndUnlock();
            lc.dec();
            return 2 | bad;
        }
        lc.dec();
        return bad;
    }

    @Actor
    public void walker1(IIII_Result r) {
        int v = walk();
        r.r1 = v >> 1;
        r.r2 = v & 1;
    }

    @Actor
    public void walker2(IIII_Result r) {
        int v = walk();
        r.r3 = v >> 1;
        r.r4 = v & 1;
    }
}
