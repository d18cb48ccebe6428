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
 * The home thread polls while another thread schedules a oneshot BH (docs/design/aio-semantics.md §2.2-2.3):
 * the push either lands before the poll's take-all swap (that poll runs it) or after it (the
 * next poll runs it). It must never be lost between the read and the clear of the head, and a
 * oneshot must not run twice.
 *
 * <p>r1 = the home poll's progress; r2 = runs seen by the home thread after its poll;
 * arbiter (the home thread's next poll): r3 = its progress; r4 = total runs.
 */
@JCStressTest
@Description("BhList: home poll() vs scheduleOneshot() from another thread: the oneshot runs exactly once")
@Outcome(id = "1, 1, 0, 1", expect = ACCEPTABLE,
        desc = "the oneshot was pushed before the home poll's take-all swap: that poll ran it; the "
                + "next poll finds nothing")
@Outcome(id = "0, 0, 1, 1", expect = ACCEPTABLE,
        desc = "the oneshot was pushed after the home poll's swap: that poll saw an empty list; the "
                + "next poll runs it")
@Outcome(expect = FORBIDDEN, desc = "the oneshot was lost or ran twice, or progress disagrees with the runs")
@State
public class BhPollVsOneshotTest {
    private final BhList list = new BhList("stress", () -> { });
    private int runs; // callbacks run on the polling threads only: the home actor, then the arbiter

    @Actor
    public void home(IIII_Result r) {
        r.r1 = list.poll(new BhList.Slice(), BhProbe.RUN) ? 1 : 0;
        r.r2 = runs;
    }

    @Actor
    public void scheduler() {
        list.scheduleOneshot("oneshot", () -> runs++);
    }

    @Arbiter
    public void homeAgain(IIII_Result r) {
        r.r3 = BhProbe.pollIfSane(list, 4);
        r.r4 = runs;
    }
}
