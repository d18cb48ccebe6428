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
 * Two threads schedule two different BHs at once (docs/design/aio-semantics.md §2.2): their CAS pushes on
 * the list head contend, and neither may be lost. The two-thread form of
 * {@link BhConcurrentSchedulePollTest} (which needs three CPUs); the push-vs-swap race is
 * {@link BhPollVsOneshotTest}.
 *
 * <p>Arbiter: r1 = BHs on the list; r2 = the poll's progress; r3 = runs of A; r4 = runs of B.
 */
@JCStressTest
@Description("BhList: two threads schedule two different BHs: both pushes land, each BH runs once")
@Outcome(id = "2, 1, 1, 1", expect = ACCEPTABLE,
        desc = "either push won the first CAS on the head; the other retried (or came later) on top "
                + "of it: both listed, each runs once")
@Outcome(expect = FORBIDDEN, desc = "a push was lost (a CAS overwrote the other's head), or a BH ran twice")
@State
public class BhTwoSchedulersTest {
    private final BhList list = new BhList("stress", () -> { });
    private int runsA; // callbacks run on the arbiter only
    private int runsB;
    private final BottomHalf a = list.newBottomHalf("a", () -> runsA++);
    private final BottomHalf b = list.newBottomHalf("b", () -> runsB++);

    @Actor
    public void schedulerA() {
        a.schedule();
    }

    @Actor
    public void schedulerB() {
        b.schedule();
    }

    @Arbiter
    public void poller(IIII_Result r) {
        r.r1 = BhProbe.stackLength(list, 4);
        r.r2 = BhProbe.pollIfSane(list, 4);
        r.r3 = runsA;
        r.r4 = runsB;
    }
}
