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
 * The home thread schedules a BH (plain stores in its home word) and polls, while another thread
 * cancels it. The cancel cannot clear the home word; it leaves CANCELLED in the shared word, and
 * the home schedule clears a CANCELLED it finds (that cancel came first). So a cancel after the
 * schedule withdraws it for good, and a cancel before it withdraws nothing.
 *
 * <p>r1 = runs in the home poll; arbiter (another poll): r2 = total runs, r3 = the arbiter
 * poll's progress.
 */
@JCStressTest
@Description("BhList: home-thread schedule vs cancel() from another thread")
@Outcome(id = "1, 1, 0", expect = ACCEPTABLE,
        desc = "the cancel came before the schedule (which cleared its CANCELLED), or after the run: one run")
@Outcome(id = "0, 0, 0", expect = ACCEPTABLE,
        desc = "the cancel came between the schedule and the run: withdrawn, never runs")
@Outcome(expect = FORBIDDEN,
        desc = "a withdrawn schedule ran later, the BH ran twice, or the arbiter's poll made progress")
@State
public class BhHomeScheduleVsRemoteCancelTest {
    private final BhList list = new BhList("stress", () -> { });
    private int runs; // on the polling threads only: the home actor, then the arbiter
    private final BottomHalf bh = list.newBottomHalf("bh", () -> runs++);

    @Actor
    public void home(III_Result r) {
        list.home = Thread.currentThread();
        bh.schedule();
        list.poll(new BhList.Slice(), BhProbe.RUN);
        r.r1 = runs;
    }

    @Actor
    public void remote() {
        bh.cancel();
    }

    @Arbiter
    public void homeAgain(III_Result r) {
        r.r3 = list.poll(new BhList.Slice(), BhProbe.RUN) ? 1 : 0;
        r.r2 = runs;
    }
}
