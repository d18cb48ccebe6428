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
 * A BH is rescheduled by another thread while the home thread is draining the slice that holds
 * it (docs/design/aio-semantics.md §2.2 dequeue: "the removal happens before PENDING is cleared"). A and B
 * are scheduled up front, so the stack is B -> A and the home poll dequeues B first. While B
 * is PENDING the reschedule collapses into the pending run; once the dequeue cleared PENDING it
 * pushes B again (rewriting B.next), which is safe only because the poll already unlinked B.
 * Were PENDING cleared before the unlink, the re-push would cut A off the slice.
 *
 * <p>r1 = BHs run by the home poll; arbiter: r2 = total runs of A; r3 = total runs of B;
 * r4 = runs of B by the arbiter's poll.
 */
@JCStressTest
@Description("BhList: reschedule a BH while the home poll drains it: collapses or re-queues, never corrupts the slice")
@Outcome(id = "2, 1, 1, 0", expect = ACCEPTABLE,
        desc = "the reschedule's fetch-or saw B still PENDING (on the stack or in the slice): it "
                + "collapsed into the run already queued")
@Outcome(id = "2, 1, 2, 1", expect = ACCEPTABLE,
        desc = "the reschedule's fetch-or came after the dequeue cleared B's PENDING: B was pushed "
                + "again and runs once more in the next poll")
@Outcome(expect = FORBIDDEN,
        desc = "A was lost from the slice (B's re-push rewrote B.next too early), or a BH ran a wrong "
                + "number of times")
@State
public class BhRescheduleDuringPollTest {
    private final BhList list = new BhList("stress", () -> { });
    private int runsA; // callbacks run on the polling threads only: the home actor, then the arbiter
    private int runsB;
    private final BottomHalf a = list.newBottomHalf("a", () -> runsA++);
    private final BottomHalf b = list.newBottomHalf("b", () -> runsB++);

    public BhRescheduleDuringPollTest() {
        a.schedule();
        b.schedule(); // stack: B -> A; B is dequeued first
    }

    @Actor
    public void home(IIII_Result r) {
        list.poll(new BhList.Slice(), BhProbe.RUN);
        r.r1 = runsA + runsB;
    }

    @Actor
    public void rescheduler() {
        b.schedule();
    }

    @Arbiter
    public void homeAgain(IIII_Result r) {
        int bBefore = runsB;
        BhProbe.pollIfSane(list, 4);
        r.r2 = runsA;
        r.r3 = runsB;
        r.r4 = runsB - bBefore;
    }
}
