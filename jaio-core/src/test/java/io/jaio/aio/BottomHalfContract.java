package io.jaio.aio;

import static io.jaio.aio.ClockType.HOST;
import static io.jaio.aio.ClockType.REALTIME;
import static io.jaio.aio.ClockType.VIRTUAL_RT;
import static io.jaio.aio.TestSupport.join;
import static io.jaio.aio.TestSupport.sleepMs;
import static io.jaio.aio.TestSupport.spinNs;
import static io.jaio.aio.TestSupport.startThread;
import static java.util.concurrent.TimeUnit.MICROSECONDS;
import static java.util.concurrent.TimeUnit.MILLISECONDS;
import static java.util.concurrent.TimeUnit.NANOSECONDS;
import static java.util.concurrent.TimeUnit.SECONDS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.opentest4j.AssertionFailedError;

/**
 * The AioContext contract, bottom halves and close(): QEMU's test-aio.c bh* cases (qemu-test-scenarios.md), aio-semantics.md §2 and §1.3.
 * Run once per fd monitor: {@code PollBottomHalfContractTest}, {@code EpollBottomHalfContractTest},
 * {@code IoUringBottomHalfContractTest}. The harness is {@link AioContractTest}.
 */
abstract class BottomHalfContract extends AioContractTest {
    @Test
    @DisplayName("/aio/bh/schedule")
    void bhSchedule() {
        BhData d = new BhData(0);
        d.bh = ctx.newBottomHalf("bh_test_cb", d::testCb);
        assertEquals("bh_test_cb", d.bh.name());
        d.bh.schedule();
        assertEquals(0, d.n, "scheduling does not run the BH synchronously");

        assertTrue(ctx.poll(true));
        assertEquals(1, d.n);

        assertFalse(ctx.poll(false));
        assertEquals(1, d.n);
        d.bh.delete();
    }

    @Test
    @DisplayName("/aio/bh/schedule10")
    void bhSchedule10() {
        BhData d = new BhData(10);
        d.bh = ctx.newBottomHalf("bh_test_cb", d::testCb);
        d.bh.schedule();
        assertEquals(0, d.n);

        assertTrue(ctx.poll(false));
        assertEquals(1, d.n, "slice semantics: a self-rescheduling BH runs once per poll (spec 2.3)");

        assertTrue(ctx.poll(true));
        assertEquals(2, d.n);

        pollWhile(() -> d.n < 10);
        assertEquals(10, d.n);

        assertFalse(ctx.poll(false));
        assertEquals(10, d.n);
        d.bh.delete();
    }

    @Test
    @DisplayName("/aio/bh/cancel")
    void bhCancel() {
        BhData d = new BhData(0);
        d.bh = ctx.newBottomHalf("bh_test_cb", d::testCb);
        d.bh.schedule();
        assertEquals(0, d.n);

        d.bh.cancel();
        assertEquals(0, d.n);

        assertFalse(ctx.poll(false), "a cancelled BH is skipped and is not progress");
        assertEquals(0, d.n);
        d.bh.delete();
    }

    @Test
    @DisplayName("/aio/bh/delete")
    void bhDelete() {
        BhData d = new BhData(0);
        d.bh = ctx.newBottomHalf("bh_test_cb", d::testCb);
        d.bh.schedule();
        assertEquals(0, d.n);

        d.bh.delete();
        assertEquals(0, d.n);

        assertFalse(ctx.poll(false), "freeing a deleted BH is not progress");
        assertEquals(0, d.n);
    }

    @Test
    @DisplayName("/aio/bh/callback-delete/one")
    void bhCallbackDeleteOne() {
        BhData d = new BhData(1);
        d.bh = ctx.newBottomHalf("bh_delete_cb", d::deleteCb);
        d.bh.schedule();
        assertEquals(0, d.n);

        pollWhile(() -> d.n < 1);
        assertEquals(1, d.n);
        assertNull(d.bh, "the callback deleted its own BH");

        assertFalse(ctx.poll(false));
    }

    @Test
    @DisplayName("/aio/bh/callback-delete/many")
    void bhCallbackDeleteMany() {
        BhData d1 = new BhData(1);
        BhData d2 = new BhData(3);
        BhData d3 = new BhData(2);
        BhData d4 = new BhData(4);
        BhData[] all = {d1, d2, d3, d4};
        for (BhData d : all) {
            d.bh = ctx.newBottomHalf("bh_delete_cb", d::deleteCb);
        }
        for (BhData d : all) {
            d.bh.schedule();
        }
        for (BhData d : all) {
            assertEquals(0, d.n);
        }

        assertTrue(ctx.poll(false));
        for (BhData d : all) {
            assertEquals(1, d.n);
        }
        assertNull(d1.bh);

        pollWhile(() -> d1.n < d1.max || d2.n < d2.max || d3.n < d3.max || d4.n < d4.max);
        assertEquals(1, d1.n);
        assertEquals(3, d2.n);
        assertEquals(2, d3.n);
        assertEquals(4, d4.n);
        for (BhData d : all) {
            assertNull(d.bh);
        }
    }

    @Test
    @DisplayName("/aio/bh/flush")
    void bhFlush() {
        BhData d = new BhData(0);
        d.bh = ctx.newBottomHalf("bh_test_cb", d::testCb);
        d.bh.schedule();
        assertEquals(0, d.n);

        assertTrue(ctx.poll(true));
        assertEquals(1, d.n);

        assertFalse(ctx.poll(false));
        assertEquals(1, d.n);
        d.bh.delete();
    }

    /** Spec 2.3: BHs scheduled during a pass (by another BH) run in the next pass, not this one. */
    @Test
    void bhScheduledByABhRunsInTheNextPoll() {
        int[] second = {0};
        BottomHalf b2 = ctx.newBottomHalf("second", () -> second[0]++);
        BottomHalf b1 = ctx.newBottomHalf("first", b2::schedule);
        b1.schedule();
        assertTrue(ctx.poll(false));
        assertEquals(0, second[0]);
        assertTrue(ctx.poll(false));
        assertEquals(1, second[0]);
        assertFalse(ctx.poll(false));
        b1.delete();
        b2.delete();
    }

    /** Spec 2.5: any number of schedules before a run collapse into one run. */
    @Test
    void repeatedSchedulesCollapseIntoOneRun() {
        int[] n = {0};
        BottomHalf bh = ctx.newBottomHalf("collapse", () -> n[0]++);
        bh.schedule();
        bh.schedule();
        bh.schedule();
        assertTrue(ctx.poll(false));
        assertEquals(1, n[0]);
        assertFalse(ctx.poll(false));
        assertEquals(1, n[0]);
        bh.delete();
    }

    /** Runs {@code body} on another thread (the cross-thread paths of BhList) and waits for it. */
    private static void onOtherThread(Runnable body) {
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread t = startThread("bh-remote", () -> {
            try {
                body.run();
            } catch (Throwable e) {
                failure.set(e);
            }
        });
        assertTrue(join(t, 10_000), "the other thread finished");
        if (failure.get() != null) {
            throw new AssertionError("on the other thread: " + failure.get(), failure.get());
        }
    }

    /**
     * Spec 2.5 across jaio's two stacks: a schedule from the home thread (plain, home stack) and one
     * from another thread (atomic, CAS stack) before a pass collapse into one run.
     */
    @Test
    void homeAndRemoteSchedulesBeforeAPassCollapseIntoOneRun() {
        int[] n = {0};
        BottomHalf bh = ctx.newBottomHalf("both", () -> n[0]++);
        for (int order = 0; order < 2; order++) {
            if (order == 0) {
                bh.schedule();
                onOtherThread(bh::schedule);
            } else {
                onOtherThread(bh::schedule);
                bh.schedule();
            }
            assertEquals(0, ctx.computeTimeoutNs());
            assertTrue(ctx.poll(false));
            assertEquals(order + 1, n[0], "one run for both schedules");
            assertFalse(ctx.poll(false), "the other entry finds nothing: no run, no progress");
            assertEquals(order + 1, n[0]);
        }
        bh.delete();
    }

    /**
     * Spec 2.3's rule with a BH on both stacks: it runs through the first entry the pass reaches,
     * reschedules itself from its callback, and the second entry of the same pass must not run it
     * again: the reschedule runs in the next pass, once per pass.
     */
    @Test
    void bhOnBothStacksReschedulingItselfRunsOncePerPass() {
        int[] n = {0};
        BottomHalf[] self = new BottomHalf[1];
        self[0] = ctx.newBottomHalf("both-chain", () -> {
            if (++n[0] < 4) {
                self[0].schedule();
            }
        });
        onOtherThread(self[0]::schedule); // CAS stack
        self[0].schedule();               // home stack
        for (int pass = 1; pass <= 4; pass++) {
            assertTrue(ctx.poll(false));
            assertEquals(pass, n[0], "pass " + pass + " runs it once");
        }
        assertFalse(ctx.poll(false));
        assertEquals(4, n[0]);
        self[0].delete();
    }

    /**
     * The CAS-stack side of the next-pass rule: X runs in a nested poll through its home entry,
     * schedules itself from another thread meanwhile (PENDING is still set, so nothing is pushed and
     * its CAS entry, already in the nested poll's slice, carries the new schedule); that entry must
     * not run X again in the same pass but hand it to the next one.
     */
    @Test
    void aRemoteRescheduleDuringANestedRunWaitsForTheNextPass() {
        int[] xRuns = {0};
        BottomHalf[] x = new BottomHalf[1];
        x[0] = ctx.newBottomHalf("x", () -> {
            if (xRuns[0]++ == 0) {
                onOtherThread(x[0]::schedule);
            }
        });
        BottomHalf y = ctx.newBottomHalf("y", () -> {
            onOtherThread(x[0]::schedule); // X on the CAS stack too
            ctx.poll(false);               // nested: runs X through its home entry
        });
        x[0].schedule(); // home stack: X, then Y on top (Y is dequeued first)
        y.schedule();
        assertTrue(ctx.poll(false));
        assertEquals(1, xRuns[0], "once in the nested pass, though its CAS entry was rescheduled there");
        assertTrue(ctx.poll(false));
        assertEquals(2, xRuns[0], "the reschedule runs in the next pass");
        assertFalse(ctx.poll(false));
        assertEquals(2, xRuns[0]);
        x[0].delete();
        y.delete();
    }

    /**
     * qemu_bh_cancel from another thread withdraws a schedule the home thread made before it (jaio
     * keeps that schedule in a word only the home thread writes: the cancel leaves CANCELLED for
     * it); a home schedule after the cancel runs.
     */
    @Test
    void cancelFromAnotherThreadWithdrawsAnEarlierHomeSchedule() {
        int[] n = {0};
        BottomHalf bh = ctx.newBottomHalf("remote-cancel", () -> n[0]++);
        bh.schedule();
        onOtherThread(bh::cancel);
        assertEquals(-1, ctx.computeTimeoutNs(), "cancelled: nothing to run");
        assertFalse(ctx.poll(false));
        assertEquals(0, n[0]);
        bh.schedule();
        assertEquals(0, ctx.computeTimeoutNs());
        assertTrue(ctx.poll(false));
        assertEquals(1, n[0], "the schedule after the cancel runs");
        onOtherThread(bh::cancel); // nothing scheduled: a later home schedule still runs
        bh.schedule();
        assertTrue(ctx.poll(false));
        assertEquals(2, n[0]);
        onOtherThread(bh::schedule); // and one from the other thread, after its own cancel
        onOtherThread(bh::cancel);
        onOtherThread(bh::schedule);
        assertTrue(ctx.poll(false));
        assertEquals(3, n[0]);
        assertFalse(ctx.poll(false));
        bh.delete();
    }

    /** qemu_bh_delete from another thread: a home schedule made before it never runs. */
    @Test
    void deleteFromAnotherThreadVoidsAHomeSchedule() {
        int[] n = {0};
        BottomHalf bh = ctx.newBottomHalf("remote-delete", () -> n[0]++);
        bh.schedule();
        onOtherThread(bh::delete);
        assertEquals(-1, ctx.computeTimeoutNs());
        assertFalse(ctx.poll(false));
        assertFalse(ctx.poll(false));
        assertEquals(0, n[0]);
        assertThrows(IllegalStateException.class, bh::schedule);
    }

    /** Spec 2.2/2.5: cancel is skipped, not progress; the BH can be scheduled again afterwards. */
    @Test
    void cancelledBhIsSkippedNotProgressAndCanBeRescheduled() {
        int[] n = {0};
        BottomHalf bh = ctx.newBottomHalf("cancel", () -> n[0]++);
        bh.schedule();
        bh.cancel();
        assertEquals(-1, ctx.computeTimeoutNs(), "a cancelled BH does not make the timeout 0");
        assertFalse(ctx.poll(false));
        assertEquals(0, n[0]);
        bh.schedule();
        assertTrue(ctx.poll(false));
        assertEquals(1, n[0]);
        assertFalse(ctx.poll(false));
        bh.delete();
    }

    /** Spec 2.2: cancel from the home thread (here: another BH of the same slice) is reliable. */
    @Test
    void bhCancelledByAnotherBhOfTheSameSliceDoesNotRunAfterCancel() {
        for (int round = 0; round < 2; round++) {
            int[] bRuns = {0};
            int[] bRunsAtCancel = {-1};
            BottomHalf b = ctx.newBottomHalf("victim", () -> bRuns[0]++);
            BottomHalf a = ctx.newBottomHalf("canceller", () -> {
                bRunsAtCancel[0] = bRuns[0];
                b.cancel();
            });
            // both scheduling orders, so that with FIFO or LIFO the victim is still queued once
            if (round == 0) {
                a.schedule();
                b.schedule();
            } else {
                b.schedule();
                a.schedule();
            }
            assertTrue(ctx.poll(false));
            assertEquals(bRunsAtCancel[0], bRuns[0], "round " + round + ": the victim ran after cancel() returned");
            assertFalse(ctx.poll(false));
            a.delete();
            b.delete();
        }
    }

    /** Spec 2.2: a deleted BH's callback never runs after delete() returns in the home thread. */
    @Test
    void bhDeletedByAnotherBhOfTheSameSliceDoesNotRunAfterDelete() {
        for (int round = 0; round < 2; round++) {
            int[] bRuns = {0};
            int[] bRunsAtDelete = {-1};
            BottomHalf b = ctx.newBottomHalf("victim", () -> bRuns[0]++);
            BottomHalf a = ctx.newBottomHalf("deleter", () -> {
                bRunsAtDelete[0] = bRuns[0];
                b.delete();
            });
            if (round == 0) {
                a.schedule();
                b.schedule();
            } else {
                b.schedule();
                a.schedule();
            }
            assertTrue(ctx.poll(false));
            assertEquals(bRunsAtDelete[0], bRuns[0], "round " + round + ": the victim ran after delete() returned");
            assertFalse(ctx.poll(false), "freeing the deleted BH is not progress");
            a.delete();
        }
    }

    /** Spec 2.5: delete from the BH's own callback; the freeing pass reports no progress. */
    @Test
    void bhDeletedFromItsOwnCallback() {
        int[] n = {0};
        BottomHalf[] self = new BottomHalf[1];
        self[0] = ctx.newBottomHalf("self-delete", () -> {
            n[0]++;
            self[0].schedule(); // DELETED wins over SCHEDULED
            self[0].delete();
        });
        self[0].schedule();
        assertTrue(ctx.poll(false));
        assertEquals(1, n[0]);
        assertEquals(-1, ctx.computeTimeoutNs(), "a deleted BH does not make the timeout 0");
        assertFalse(ctx.poll(false), "freeing a deleted BH is not progress");
        assertEquals(1, n[0]);
        assertFalse(ctx.poll(false));
        assertEquals(1, n[0]);
    }

    @Test
    void scheduleAfterDeleteThrows() {
        BottomHalf bh = ctx.newBottomHalf("deleted", () -> {});
        bh.delete();
        assertThrows(IllegalStateException.class, bh::schedule);
        assertFalse(ctx.poll(false));
        assertThrows(IllegalStateException.class, bh::schedule, "also after the deleted BH was freed");
    }

    /** Spec 2.1: IDLE BHs run but are not progress. */
    @Test
    void idleBhRunsButIsNotProgress() {
        int[] n = {0};
        BottomHalf bh = ctx.newBottomHalf("idle", () -> n[0]++);
        bh.scheduleIdle();
        long timeout = ctx.computeTimeoutNs();
        assertTrue(timeout > 0 && timeout <= 10_000_000L, "an idle BH caps the timeout at 10 ms: " + timeout);
        assertFalse(ctx.poll(false), "an idle BH is not progress");
        assertEquals(1, n[0], "but it ran");
        assertEquals(-1, ctx.computeTimeoutNs());
        bh.delete();
    }

    /** Spec 2.2: a oneshot BH runs once and is freed (no leak at close). */
    @Test
    void oneshotRunsOnceOnTheHomeThread() {
        int[] n = {0};
        AtomicReference<Thread> ranOn = new AtomicReference<>();
        ctx.scheduleOneshot("oneshot", () -> {
            n[0]++;
            ranOn.set(Thread.currentThread());
        });
        assertEquals(0, n[0]);
        assertEquals(0, ctx.computeTimeoutNs());
        assertTrue(ctx.poll(false));
        assertEquals(1, n[0]);
        assertSame(home, ranOn.get());
        assertFalse(ctx.poll(false));
        assertEquals(1, n[0]);
    }

    /**
     * Spec 2.2/2.3: the home thread's oneshots (its own allocation-free queue, BhList) each run
     * exactly once, also when the queue grows while its live entries wrap around the array end,
     * and one scheduled by a running oneshot waits for the next pass.
     */
    @Test
    void homeThreadOneshotsRunOnceAcrossQueueGrowth() {
        int[] first = new int[40];
        for (int i = 0; i < first.length; i++) {
            int ii = i;
            ctx.scheduleOneshot("before", () -> first[ii]++);
        }
        assertTrue(ctx.poll(false));
        for (int i = 0; i < first.length; i++) {
            assertEquals(1, first[i], "first batch " + i);
        }
        // The queue's take position is now 40: the next 100 wrap past its initial 64 slots and
        // make it grow with entries on both sides of the wrap.
        int[] runs = new int[100];
        int[] chained = {0};
        for (int i = 0; i < runs.length; i++) {
            int ii = i;
            ctx.scheduleOneshot("grow", () -> {
                runs[ii]++;
                if (ii == 50) {
                    ctx.scheduleOneshot("chained", () -> chained[0]++);
                }
            });
        }
        assertEquals(0, ctx.computeTimeoutNs(), "queued home-thread oneshots: do not block");
        assertTrue(ctx.poll(false));
        for (int i = 0; i < runs.length; i++) {
            assertEquals(1, runs[i], "second batch " + i);
        }
        assertEquals(0, chained[0], "scheduled during the pass: runs in the next one");
        assertTrue(ctx.poll(false));
        assertEquals(1, chained[0]);
        assertFalse(ctx.poll(false));
        assertEquals(1, chained[0]);
    }

    /** Spec 1.4/2.2: oneshot from another thread wakes a loop blocked in poll(true). */
    @Test
    void scheduleOneshotFromAnotherThreadWakesABlockingPoll() {
        AtomicInteger runs = new AtomicInteger();
        AtomicReference<Thread> ranOn = new AtomicReference<>();
        Thread t = startThread("oneshot-producer", () -> {
            sleepMs(30); // bounded: give the loop time to block first
            ctx.scheduleOneshot("cross-thread", () -> {
                ranOn.set(Thread.currentThread());
                runs.incrementAndGet();
            });
        });
        pollWhile(() -> runs.get() == 0);
        assertTrue(join(t, 10_000));
        assertEquals(1, runs.get());
        assertSame(home, ranOn.get(), "BHs run on the home thread");
        assertFalse(ctx.poll(false));
        assertEquals(1, runs.get());
    }

    /** Spec 2.5: cross-thread oneshots from several producers each run exactly once. */
    @Test
    void oneshotsFromManyThreadsRunExactlyOnce() {
        final int threads = 4;
        final int perThread = 5_000;
        int[][] runs = new int[threads][perThread]; // written by the home thread only
        int[] total = {0};
        List<Thread> producers = new ArrayList<>();
        for (int p = 0; p < threads; p++) {
            int pi = p;
            producers.add(startThread("oneshot-producer-" + p, () -> {
                for (int i = 0; i < perThread; i++) {
                    int ii = i;
                    ctx.scheduleOneshot("storm", () -> {
                        runs[pi][ii]++;
                        total[0]++;
                    });
                }
            }));
        }
        pollWhile(() -> total[0] < threads * perThread);
        for (Thread t : producers) {
            assertTrue(join(t, 10_000));
        }
        assertFalse(ctx.poll(false));
        assertEquals(threads * perThread, total[0]);
        for (int p = 0; p < threads; p++) {
            for (int i = 0; i < perThread; i++) {
                assertEquals(1, runs[p][i], "oneshot " + p + "/" + i);
            }
        }
    }

    /** Spec 2.2: a BH scheduled from another thread wakes a loop blocked in poll(true). */
    @Test
    void bhScheduledFromAnotherThreadWakesABlockingPoll() {
        int[] n = {0};
        BottomHalf bh = ctx.newBottomHalf("remote", () -> n[0]++);
        Thread t = startThread("bh-scheduler", () -> {
            sleepMs(30);
            bh.schedule();
        });
        pollWhile(() -> n[0] == 0);
        assertTrue(join(t, 10_000));
        assertEquals(1, n[0]);
        bh.delete();
    }

    @Test
    void pollOffTheHomeThreadThrows() {
        AtomicReference<Throwable> nonBlocking = new AtomicReference<>();
        AtomicReference<Throwable> blocking = new AtomicReference<>();
        AtomicBoolean homeThere = new AtomicBoolean(true);
        Thread t = startThread("not-home", () -> {
            homeThere.set(ctx.isHomeThread());
            try {
                ctx.poll(false);
            } catch (Throwable x) {
                nonBlocking.set(x);
            }
            try {
                ctx.poll(true);
            } catch (Throwable x) {
                blocking.set(x);
            }
        });
        assertTrue(join(t, 10_000), "poll(true) off the home thread must throw, not block");
        assertFalse(homeThere.get());
        assertInstanceOf(IllegalStateException.class, nonBlocking.get());
        assertInstanceOf(IllegalStateException.class, blocking.get());
        assertTrue(ctx.isHomeThread());
        assertFalse(ctx.poll(false), "the context is still usable from its home thread");
    }

    /** Style 10: a callback that throws is logged and counted; the loop goes on. */
    @Test
    void throwingCallbacksAreCountedAndTheLoopGoesOn() {
        // a BH
        int[] goodBh = {0};
        BottomHalf bad = ctx.newBottomHalf("throws", () -> {
            throw new IllegalStateException("thrown on purpose by a test BH");
        });
        BottomHalf good = ctx.newBottomHalf("good", () -> goodBh[0]++);
        bad.schedule();
        good.schedule();
        assertTrue(ctx.poll(false));
        assertEquals(1, goodBh[0], "the other BH of the same pass still ran");
        assertEquals(1, ctx.stats().callbackErrors());

        // an AssertionError (what a failing assertion inside a callback throws) is counted too
        BottomHalf asserting = ctx.newBottomHalf("asserts", () -> {
            throw new AssertionError("thrown on purpose by a test BH");
        });
        asserting.schedule();
        good.schedule();
        assertTrue(ctx.poll(false));
        assertEquals(2, goodBh[0]);
        assertEquals(2, ctx.stats().callbackErrors());

        // a timer (the throwing one expires first)
        int[] goodTimer = {0};
        Timer tBad = ctx.newTimer(REALTIME, NANOSECONDS, () -> {
            throw new IllegalArgumentException("thrown on purpose by a test timer");
        });
        Timer tGood = ctx.newTimer(REALTIME, NANOSECONDS, () -> goodTimer[0]++);
        long now = clock.nowNs(REALTIME);
        tBad.modNs(now + 1);
        tGood.modNs(now + 2);
        clock.advance(REALTIME, 2);
        assertTrue(ctx.poll(false));
        assertEquals(1, goodTimer[0], "the later timer still ran");
        assertEquals(3, ctx.stats().callbackErrors());

        // an fd read handler
        EventNotifier e1 = notifier();
        EventNotifier e2 = notifier();
        int[] goodReads = {0};
        ctx.setEventNotifier(e1, x -> {
            x.testAndClear();
            throw new IllegalStateException("thrown on purpose by a test read handler");
        }, null, null);
        ctx.setEventNotifier(e2, x -> {
            x.testAndClear();
            goodReads[0]++;
        }, null, null);
        e1.set();
        e2.set();
        assertTrue(ctx.poll(false));
        assertEquals(1, goodReads[0], "the other ready handler still ran");
        assertEquals(4, ctx.stats().callbackErrors());
        assertFalse(ctx.poll(false));

        expectedCallbackErrors = 4;
        unregister(e1);
        unregister(e2);
        bad.delete();
        good.delete();
        asserting.delete();
    }

    private AioContext localContext() {
        return AioContext.builder().fdMonitor(kind()).clockSource(clock).build();
    }

    @Test
    void closeWithAScheduledNeverDeletedBhThrowsNamingIt() {
        AioContext c = localContext();
        BottomHalf bh = c.newBottomHalf("leaky-bh-7f3a", () -> {});
        bh.schedule();
        IllegalStateException e = assertThrows(IllegalStateException.class, c::close);
        assertNotNull(e.getMessage());
        assertTrue(e.getMessage().contains("leaky-bh-7f3a"), "message must name the BH: " + e.getMessage());
    }

    @Test
    void closeWithABhThatRanButWasNeverDeletedThrowsNamingIt() {
        AioContext c = localContext();
        BottomHalf bh = c.newBottomHalf("ran-not-deleted-91c2", () -> {});
        bh.schedule();
        c.poll(false);
        IllegalStateException e = assertThrows(IllegalStateException.class, c::close);
        assertNotNull(e.getMessage());
        assertTrue(e.getMessage().contains("ran-not-deleted-91c2"), "message must name the BH: " + e.getMessage());
    }

    @Test
    void closeAfterBhDeleteSucceedsEvenBeforeThePollThatFreesIt() {
        AioContext c = localContext();
        BottomHalf bh = c.newBottomHalf("deleted-before-close", () -> {});
        bh.schedule();
        bh.delete();
        c.close();
    }

    @Test
    void closeWithAnArmedTimerThrowsNamingIt() {
        AioContext c = localContext();
        Timer t = c.newTimer(REALTIME, MILLISECONDS, () -> {});
        t.mod(5);
        IllegalStateException e = assertThrows(IllegalStateException.class, c::close);
        assertNotNull(e.getMessage());
        assertTrue(e.getMessage().toLowerCase().contains("timer"), "message must name the armed timer: " + e.getMessage());
    }

    @Test
    void closeAfterTimerDelSucceeds() {
        AioContext c = localContext();
        Timer t = c.newTimer(REALTIME, MILLISECONDS, () -> {});
        t.mod(5);
        t.del();
        c.close();
    }
}
