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
 * Two threads hand a oneshot each to the cross-thread ring ({@link OneshotRing}) while the home
 * thread polls: each producer claims a slot by CAS and publishes it with a release store; the
 * poll takes published slots in order and stops at one still being filled. Each oneshot must run
 * exactly once, in the home poll or the next one, never lost and never twice.
 *
 * <p>Two actors (the machine has two CPUs): the polling thread hands over A itself first (the
 * list has no home thread, so that is the cross-thread path too), then polls; B races with both.
 *
 * <p>r1 = oneshots the home poll ran; arbiter (the next poll): r2 = runs of A, r3 = runs of B.
 */
@JCStressTest
@Description("BhList: two producers' oneshots through the MPSC ring against a home poll: each runs exactly once")
@Outcome(id = {"0, 1, 1", "1, 1, 1", "2, 1, 1"}, expect = ACCEPTABLE,
        desc = "the home poll ran the oneshots published (in slot order) before it read them; the next poll ran the rest")
@Outcome(expect = FORBIDDEN, desc = "a oneshot was lost or ran twice")
@State
public class BhRingTwoProducersTest {
    private final BhList list = new BhList("stress", () -> { }, null, 4);
    private int runsA; // callbacks run on the polling threads only: the home actor, then the arbiter
    private int runsB;

    @Actor
    public void homeAndProducerA(III_Result r) {
        list.scheduleOneshot("a", () -> runsA++); // home is null: the cross-thread path, like B's
        list.poll(new BhList.Slice(), BhProbe.RUN);
        r.r1 = runsA + runsB;
    }

    @Actor
    public void producerB() {
        list.scheduleOneshot("b", () -> runsB++);
    }

    @Arbiter
    public void homeAgain(III_Result r) {
        list.poll(new BhList.Slice(), BhProbe.RUN);
        r.r2 = runsA;
        r.r3 = runsB;
    }
}
