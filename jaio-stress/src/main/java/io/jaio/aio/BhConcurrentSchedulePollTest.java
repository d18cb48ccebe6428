package io.jaio.aio;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.IIII_Result;

/**
 * Two threads schedule two different BHs while the home thread polls (docs/design/aio-semantics.md §2.2-2.3):
 * the CAS pushes must not lose each other, and the take-all swap must not lose either; each BH
 * runs exactly once over the home poll and the arbiter's poll.
 *
 * <p>r1 = BHs run by the home poll; arbiter: r2 = total runs of A; r3 = total runs of B;
 * r4 = 1 if each poll's progress matched whether it ran something.
 */
@JCStressTest
@Description("BhList: two schedulers of different BHs vs the home poll: each BH runs exactly once")
@Outcome(id = "0, 1, 1, 1", expect = ACCEPTABLE,
        desc = "both pushes landed after the home poll's swap: the next poll runs both")
@Outcome(id = "1, 1, 1, 1", expect = ACCEPTABLE,
        desc = "one push before the home poll's swap, one after: one BH runs in each poll")
@Outcome(id = "2, 1, 1, 1", expect = ACCEPTABLE,
        desc = "both pushes (one on top of the other) landed before the home poll's swap: it runs both")
@Outcome(expect = FORBIDDEN,
        desc = "a push was lost (a BH never ran), a BH ran twice, or progress disagrees with the runs")
@State
public class BhConcurrentSchedulePollTest {
    private final BhList list = new BhList("stress", () -> { });
    private int runsA; // callbacks run on the polling threads only: the home actor, then the arbiter
    private int runsB;
    private final BottomHalf a = list.newBottomHalf("a", () -> runsA++);
    private final BottomHalf b = list.newBottomHalf("b", () -> runsB++);
    private boolean progressOk;

    @Actor
    public void schedulerA() {
        a.schedule();
    }

    @Actor
    public void schedulerB() {
        b.schedule();
    }

    @Actor
    public void home(IIII_Result r) {
        boolean progress = list.poll(new BhList.Slice(), BhProbe.RUN);
        r.r1 = runsA + runsB;
        progressOk = progress == (r.r1 > 0);
    }

    @Arbiter
    public void homeAgain(IIII_Result r) {
        int before = runsA + runsB;
        int progress = BhProbe.pollIfSane(list, 4);
        r.r2 = runsA;
        r.r3 = runsB;
        r.r4 = progressOk && progress == (runsA + runsB > before ? 1 : 0) ? 1 : 0;
    }
}
