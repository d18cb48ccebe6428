package io.jaio.aio;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Description;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.II_Result;

/**
 * The home thread schedules a BH on its plain home stack (no atomic instruction) while another
 * thread schedules the same BH on the CAS stack, then the home thread polls. The BH may be on
 * both stacks at once; the home poll runs it exactly once for whatever schedules it finds (they
 * collapse), and a remote schedule that lands after that run runs in the next poll. Never twice
 * in one poll, never lost. (The home actor becomes the list's home thread on entry; the remote
 * actor reads the field as null or that thread, and so takes the cross-thread path.)
 *
 * <p>r1 = runs in the home poll; arbiter (another poll): r2 = total runs.
 */
@JCStressTest
@Description("BhList: home-thread schedule (plain home stack) vs remote schedule (CAS stack) of one BH")
@Outcome(id = "1, 1", expect = ACCEPTABLE,
        desc = "the remote schedule came before the home poll's run (or its OR did, with the push after): "
                + "both collapsed into the home poll's run")
@Outcome(id = "1, 2", expect = ACCEPTABLE,
        desc = "the remote schedule came after the home poll's run: the next poll ran it again")
@Outcome(expect = FORBIDDEN, desc = "the BH was lost, ran twice in one poll, or a stack is corrupt")
@State
public class BhHomeVsRemoteScheduleTest {
    private final BhList list = new BhList("stress", () -> { });
    private int runs; // on the polling threads only: the home actor, then the arbiter
    private final BottomHalf bh = list.newBottomHalf("bh", () -> runs++);

    @Actor
    public void home(II_Result r) {
        list.home = Thread.currentThread();
        bh.schedule();
        list.poll(new BhList.Slice(), BhProbe.RUN);
        r.r1 = runs;
    }

    @Actor
    public void remote() {
        bh.schedule();
    }

    @Arbiter
    public void homeAgain(II_Result r) {
        if (BhProbe.stackLength(list, 4) == BhProbe.CORRUPT) {
            r.r2 = -1;
            return;
        }
        list.poll(new BhList.Slice(), BhProbe.RUN);
        r.r2 = runs;
        bh.delete();
    }
}
