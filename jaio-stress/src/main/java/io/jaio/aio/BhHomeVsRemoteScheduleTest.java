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
 * The home thread schedules a BH on its plain home stack (no atomic instruction) while another
 * thread schedules the same BH on the CAS stack, then the home thread polls. The BH may be on
 * both stacks at once; the home poll runs it exactly once for whatever schedules it finds (they
 * collapse), and a remote schedule that lands after that run runs in the next poll. Never twice
 * in one poll, never lost. (The home actor becomes the list's home thread on entry; the remote
 * actor reads the field as null or that thread, and so takes the cross-thread path.)
 *
 * <p>r1 = runs in the home poll; arbiter (another poll): r2 = total runs; r3 = whether the remote
 * actor had begun its schedule (a volatile flag it sets first) when the home poll's run started.
 * If it had not, its schedule came after that run's dequeue and must run again: a dequeue that
 * swallowed it (e.g. an unconditional clear of the shared SCHEDULED on the home entry) shows as
 * "1, 1, 0".
 */
@JCStressTest
@Description("BhList: home-thread schedule (plain home stack) vs remote schedule (CAS stack) of one BH")
@Outcome(id = {"1, 1, 1"}, expect = ACCEPTABLE,
        desc = "the remote schedule came before the home poll's run (or its OR did, with the push after): "
                + "both collapsed into the home poll's run")
@Outcome(id = {"1, 2, 1", "1, 2, 0"}, expect = ACCEPTABLE,
        desc = "the remote schedule came after the home poll's run: the next poll ran it again")
@Outcome(expect = FORBIDDEN, desc = "the BH was lost (a remote schedule begun after the run never ran), "
        + "ran twice in one poll, or a stack is corrupt")
@State
public class BhHomeVsRemoteScheduleTest {
    private final BhList list = new BhList("stress", () -> { });
    private int runs; // on the polling threads only: the home actor, then the arbiter
    /** Set by the remote actor before its schedule; volatile, read by the first run. */
    private volatile int remoteStarted;
    private int startedAtFirstRun;
    private final BottomHalf bh = list.newBottomHalf("bh", () -> {
        if (runs++ == 0) {
            startedAtFirstRun = remoteStarted;
        }
    });

    @Actor
    public void home(III_Result r) {
        list.home = Thread.currentThread();
        bh.schedule();
        list.poll(new BhList.Slice(), BhProbe.RUN);
        r.r1 = runs;
    }

    @Actor
    public void remote() {
        remoteStarted = 1;
        bh.schedule();
    }

    @Arbiter
    public void homeAgain(III_Result r) {
        r.r3 = startedAtFirstRun;
        if (BhProbe.stackLength(list, 4) == BhProbe.CORRUPT) {
            r.r2 = -1;
            return;
        }
        list.poll(new BhList.Slice(), BhProbe.RUN);
        r.r2 = runs;
        bh.delete();
    }
}
