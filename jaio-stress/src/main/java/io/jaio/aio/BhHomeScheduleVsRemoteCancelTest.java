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
 * The home thread schedules a BH (plain stores in its home word) and polls, while another thread
 * cancels it. The cancel cannot clear the home word; it leaves CANCELLED in the shared word, and
 * the home schedule clears a CANCELLED it finds (that cancel came first). So a cancel after the
 * schedule withdraws it for good, and a cancel before it withdraws nothing.
 *
 * <p>r1 = runs in the home poll; arbiter (another poll): r2 = total runs, r3 = the arbiter
 * poll's progress, r4 = 1 if the order the actors saw contradicts the result: the cancel had
 * returned before the schedule began but the schedule did not run (a home schedule that does not
 * clear CANCELLED), or the schedule had returned before the cancel began and the cancel had
 * returned before the poll, but the poll ran it (a cancel that cannot reach the home word).
 */
@JCStressTest
@Description("BhList: home-thread schedule vs cancel() from another thread")
@Outcome(id = "1, 1, 0, 0", expect = ACCEPTABLE,
        desc = "the cancel came before the schedule (which cleared its CANCELLED), or after the run: one run")
@Outcome(id = "0, 0, 0, 0", expect = ACCEPTABLE,
        desc = "the cancel came between the schedule and the run: withdrawn, never runs")
@Outcome(expect = FORBIDDEN,
        desc = "a withdrawn schedule ran later, the BH ran twice, the arbiter's poll made progress, or the "
                + "result contradicts the order the actors saw")
@State
public class BhHomeScheduleVsRemoteCancelTest {
    private final BhList list = new BhList("stress", () -> { });
    private int runs; // on the polling threads only: the home actor, then the arbiter
    private final BottomHalf bh = list.newBottomHalf("bh", () -> runs++);
    /** Volatile flags: the home schedule has returned; the remote cancel has returned. */
    private volatile int scheduled;
    private volatile int cancelled;
    private int cancelledBeforeSchedule;
    private int cancelledBeforePoll;
    private int scheduledBeforeCancel;

    @Actor
    public void home(IIII_Result r) {
        list.home = Thread.currentThread();
        cancelledBeforeSchedule = cancelled;
        bh.schedule();
        scheduled = 1;
        cancelledBeforePoll = cancelled;
        list.poll(new BhList.Slice(), BhProbe.RUN);
        r.r1 = runs;
    }

    @Actor
    public void remote() {
        scheduledBeforeCancel = scheduled;
        bh.cancel();
        cancelled = 1;
    }

    @Arbiter
    public void homeAgain(IIII_Result r) {
        boolean homeRun = r.r1 == 1;
        r.r4 = cancelledBeforeSchedule == 1 && !homeRun
                || scheduledBeforeCancel == 1 && cancelledBeforePoll == 1 && homeRun ? 1 : 0;
        r.r3 = list.poll(new BhList.Slice(), BhProbe.RUN) ? 1 : 0;
        r.r2 = runs;
    }
}
