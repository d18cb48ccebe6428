package io.jaio.aio;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.II_Result;

/**
 * LockCnt's core guarantee (docs/design/aio-semantics.md §1.6): the count never goes 0 -> 1 while the mutex
 * is held. A writer holds the mutex and reads the count several times; a walker does inc(), dec().
 *
 * <p>r1 = the writer's first read; r2 = the largest of its later reads (all under the mutex).
 * A writer that reads 0 must keep reading 0: the walker's inc() from 0 has to wait for the mutex.
 */
@JCStressTest
@Description("LockCnt: a writer holding the mutex that reads count 0 never sees it become 1")
@Outcome(id = "0, 0", expect = ACCEPTABLE,
        desc = "the walker finished (inc, dec) before the writer locked, or its inc() from 0 waited "
                + "for the writer's unlock")
@Outcome(id = "1, 1", expect = ACCEPTABLE,
        desc = "the walker's inc() came before the writer locked and it was still counted at a later "
                + "read (dec needs no mutex, so it may leave during the section)")
@Outcome(id = "1, 0", expect = ACCEPTABLE,
        desc = "the walker's inc() came before the writer locked; its dec() landed right after the "
                + "first read")
@Outcome(id = "0, 1", expect = FORBIDDEN,
        desc = "the count went 0 -> 1 while the writer held the mutex: a walker started under the writer")
@Outcome(expect = FORBIDDEN, desc = "impossible count")
@State
public class LockCntNoZeroToOneUnderLockTest {
    private final LockCnt lc = new LockCnt();

    @Actor
    public void writer(II_Result r) {
        lc.lock();
        try {
            r.r1 = lc.count();
            int max = 0;
            for (int i = 0; i < 4; i++) {
                max = Math.max(max, lc.count());
            }
            r.r2 = max;
        } finally {
            lc.unlock();
        }
    }

    @Actor
    public void walker() {
        lc.inc();
        lc.dec();
    }
}
