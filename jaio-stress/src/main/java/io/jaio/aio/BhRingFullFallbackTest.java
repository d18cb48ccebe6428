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
 * A two-slot ring, three oneshots (two from the polling thread, one from another) and a home poll:
 * whoever finds no free slot (taken by the other oneshots, or by an item the poll has not released
 * yet) falls back to a bottom half of its own on the CAS stack. The fallback and the ring must together run each oneshot exactly once, and a slot
 * the poll released must be reusable by the producer that wraps around onto it.
 *
 * <p>Two actors (the machine has two CPUs): the polling thread hands over A1 and A2 itself first (the
 * list has no home thread, so that is the cross-thread path too), then polls; B races with both.
 *
 * <p>r1 = oneshots the home poll ran; arbiter (another poll): r2 = runs of A1 and A2, r3 = runs of B.
 */
@JCStressTest
@Description("BhList: a full oneshot ring falls back to the BH stack; each oneshot runs exactly once")
@Outcome(id = {"0, 2, 1", "1, 2, 1", "2, 2, 1", "3, 2, 1"}, expect = ACCEPTABLE,
        desc = "ring or fallback, each oneshot ran once: in the home poll or a later one")
@Outcome(expect = FORBIDDEN, desc = "a oneshot was lost or ran twice")
@State
public class BhRingFullFallbackTest {
    private final BhList list = new BhList("stress", () -> { }, null, 2);
    private int runsA; // callbacks run on the polling threads only: the home actor, then the arbiter
    private int runsB;

    @Actor
    public void homeAndProducerA(III_Result r) {
        list.scheduleOneshot("a1", () -> runsA++); // home is null: the cross-thread path, like B's
        list.scheduleOneshot("a2", () -> runsA++);
        list.poll(new BhList.Slice(), BhProbe.RUN);
        r.r1 = runsA + runsB;
    }

    @Actor
    public void producerB() {
        list.scheduleOneshot("b", () -> runsB++);
    }

    @Arbiter
    public void homeAgain(III_Result r) {
        if (BhProbe.stackLength(list, 4) == BhProbe.CORRUPT) {
            r.r2 = -1;
            return;
        }
        list.poll(new BhList.Slice(), BhProbe.RUN);
        r.r2 = runsA;
        r.r3 = runsB;
    }
}
