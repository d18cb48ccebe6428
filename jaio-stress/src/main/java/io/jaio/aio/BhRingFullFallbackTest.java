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
 * A two-slot ring, three oneshots (two from the polling thread, one from another) and a home poll.
 * It covers the ring's whole cross-thread hand-off ({@link OneshotRing}):
 * <ul>
 *   <li>two producers race for a slot: each claims one by CAS on the tail and publishes it with a
 *       release store (A1 or A2 against B);
 *   <li>the poll takes published slots in order and stops at one still being filled (B claimed
 *       slot 0 and has not published it when the poll reads it);
 *   <li>whoever finds no free slot (taken by the other oneshots, or by an item the poll has not
 *       released yet) falls back to a bottom half of its own on the CAS stack, and a slot the poll
 *       released is reusable by the producer that wraps around onto it.
 * </ul>
 * The fallback and the ring must together run each oneshot exactly once, in the home poll or the
 * next one. (This test also holds what a four-slot two-producer test held: its interleavings are
 * the ones here in which nobody finds the ring full.)
 *
 * <p>Two actors (the machine has two CPUs): the polling thread hands over A1 and A2 itself first (the
 * list has no home thread, so that is the cross-thread path too), then polls; B races with both.
 * The home poll runs at least one oneshot: two slots cannot hold A1, A2 and B's claim, so if B's
 * unpublished claim stops the ring, one of A's went to the stack, which the poll drains first.
 *
 * <p>r1 = oneshots the home poll ran; arbiter (another poll): r2 = runs of A1 and A2, r3 = runs of B.
 */
@JCStressTest
@Description("BhList: two producers on a full oneshot ring: claim race, unpublished slot, fallback; each runs exactly once")
@Outcome(id = {"1, 2, 1", "2, 2, 1", "3, 2, 1"}, expect = ACCEPTABLE,
        desc = "ring or fallback, each oneshot ran once: in the home poll or a later one")
@Outcome(expect = FORBIDDEN, desc = "a oneshot was lost or ran twice, or the home poll missed one of A's "
        + "published or stacked oneshots")
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
