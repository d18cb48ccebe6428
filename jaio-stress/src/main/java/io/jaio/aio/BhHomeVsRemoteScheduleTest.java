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
 * The home thread schedules a BH on its plain local stack (no CAS) while another thread
 * schedules the same BH on the CAS stack, then the home thread polls. The atomic OR of PENDING
 * decides who pushes, so the BH is on at most one stack: it runs once per push, never twice from
 * one push and never not at all. (The home actor becomes the list's home thread on entry; the
 * remote actor reads the field as null or that thread, and so takes the cross-thread path.)
 *
 * <p>r1 = runs in the home poll; arbiter (another poll): r2 = total runs.
 */
@JCStressTest
@Description("BhList: home-thread schedule (plain local stack) vs remote schedule (CAS stack) of one BH")
@Outcome(id = "1, 1", expect = ACCEPTABLE,
        desc = "one push (the other schedule found PENDING set): the home poll ran it")
@Outcome(id = "1, 2", expect = ACCEPTABLE,
        desc = "the remote schedule came after the home poll cleared PENDING: it pushed again, the next poll ran it")
@Outcome(id = "0, 1", expect = ACCEPTABLE,
        desc = "the remote OR came first, so the home schedule did not push, but the remote CAS-push landed "
                + "after the home poll read the stack: the next poll ran it")
@Outcome(expect = FORBIDDEN, desc = "the BH was lost, ran twice from one push, or sits on both stacks")
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
