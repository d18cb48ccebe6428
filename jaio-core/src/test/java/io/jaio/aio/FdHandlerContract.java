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
 * The AioContext contract, fd handlers and event notifiers: QEMU's test-aio.c event* cases, test-fdmon-epoll.c, aio-semantics.md §4 and §5.2.
 * Run once per fd monitor: {@code PollFdHandlerContractTest}, {@code EpollFdHandlerContractTest},
 * {@code IoUringFdHandlerContractTest}. The harness is {@link AioContractTest}.
 */
abstract class FdHandlerContract extends AioContractTest {
    @Test
    void fdMonitorIsTheRequestedKind() {
        assertEquals(kind(), ctx.fdMonitorKind());
        assertEquals(1, ctx.handlerCount(), "a fresh context has only its own notifier registered");
        assertTrue(ctx.isHomeThread());
        assertSame(clock, ctx.clockSource());
        assertEquals(0, ctx.pollMaxNs(), "bare context default poll-max-ns (spec 1.2)");
        assertEquals(0, ctx.pollGrow());
        assertEquals(0, ctx.pollShrink());
        assertEquals(0, ctx.maxBatch());
    }

    @Test
    @DisplayName("/aio/event/add-remove")
    void eventAddRemove() {
        EventData data = new EventData(0, false);
        data.register();
        assertEquals(2, ctx.handlerCount());
        assertFalse(ctx.poll(false));
        assertEquals(0, data.n);

        data.unregister();
        assertEquals(1, ctx.handlerCount());
        assertFalse(ctx.poll(false));
        assertEquals(0, data.n);
    }

    @Test
    @DisplayName("/aio/event/wait")
    void eventWait() {
        EventData data = new EventData(1, false);
        data.register();
        drainNonBlocking();
        assertEquals(0, data.n);
        assertEquals(1, data.active);

        data.e.set();
        assertTrue(ctx.poll(false));
        assertEquals(1, data.n);
        assertEquals(0, data.active);

        assertFalse(ctx.poll(false));
        assertEquals(1, data.n);
        assertEquals(0, data.active);

        data.unregister();
        assertFalse(ctx.poll(false));
        assertEquals(1, data.n);
    }

    @Test
    @DisplayName("/aio/event/wait/no-flush-cb")
    void eventWaitNoFlushCb() {
        EventData data = new EventData(0, false);
        EventData dummy = new EventData(1, false);
        data.register();

        assertFalse(ctx.poll(false));
        assertEquals(0, data.n);

        data.e.set();
        assertTrue(ctx.poll(true), "must not block: the notifier is set");
        data.n = 0;

        dummy.register();
        data.e.set();
        assertTrue(ctx.poll(false));
        assertEquals(1, data.n);
        assertFalse(ctx.poll(false));
        assertEquals(1, data.n);

        data.e.set();
        assertTrue(ctx.poll(false));
        assertEquals(2, data.n);
        assertFalse(ctx.poll(false));
        assertEquals(2, data.n);

        dummy.e.set();
        dummy.waitUntilInactive();
        assertEquals(2, data.n);
        assertEquals(1, dummy.n);
        assertEquals(0, dummy.active);

        dummy.unregister();
        data.unregister();
        assertFalse(ctx.poll(false));
        assertEquals(2, data.n);
    }

    @Test
    @DisplayName("/aio/event/flush")
    void eventFlush() {
        EventData data = new EventData(10, true);
        data.register();
        drainNonBlocking();
        assertEquals(0, data.n);
        assertEquals(10, data.active);

        data.e.set();
        assertTrue(ctx.poll(false));
        assertEquals(1, data.n);
        assertEquals(9, data.active);
        assertTrue(ctx.poll(false), "the callback set the notifier again");

        data.waitUntilInactive();
        assertEquals(10, data.n);
        assertEquals(0, data.active);
        assertFalse(ctx.poll(false));

        data.unregister();
        assertFalse(ctx.poll(false));
    }

    @Test
    @DisplayName("/fdmon-epoll/external-disabled (100 notifiers, set one, blocking poll returns true)")
    @SuppressWarnings("deprecation") // QEMU's case disables external clients: the legacy API, deprecated but kept
    void hundredNotifiers() {
        List<EventNotifier> ns = new ArrayList<>();
        int[] reads = new int[100];
        for (int i = 0; i < 100; i++) {
            EventNotifier e = notifier();
            int idx = i;
            ctx.setEventNotifier(e, false, x -> {
                x.testAndClear();
                reads[idx]++;
            }, null, null);
            ns.add(e);
        }
        assertEquals(101, ctx.handlerCount());

        ns.get(0).set();
        assertTrue(ctx.poll(true));
        assertEquals(1, reads[0]);

        ctx.disableExternal();
        ns.get(0).set();
        assertTrue(ctx.poll(true), "non-external handlers still work while external clients are disabled");
        assertEquals(2, reads[0]);
        ctx.enableExternal();

        ns.get(50).set();
        ns.get(99).set();
        assertTrue(ctx.poll(true));
        assertEquals(1, reads[50]);
        assertEquals(1, reads[99]);
        int total = 0;
        for (int r : reads) {
            total += r;
        }
        assertEquals(4, total, "only the notifiers that were set are dispatched");

        for (EventNotifier e : ns) {
            unregister(e);
        }
        assertEquals(1, ctx.handlerCount());
        assertEquals(kind(), ctx.fdMonitorKind(), "an explicitly chosen monitor is kept");
    }

    /** Spec 4.2: after setFdHandler returns, the old callbacks are never called again. */
    @Test
    void replacedHandlersOldReadIsNeverCalledAgain() {
        Pipe p = pipe();
        int[] oldReads = {0};
        int[] newReads = {0};
        ctx.setFdHandler(p.r, () -> oldReads[0]++, null, null, null); // does not drain: level-triggered
        p.writeByte();
        assertTrue(ctx.poll(true));
        assertEquals(1, oldReads[0]);

        ctx.setFdHandler(p.r, () -> {
            p.drain();
            newReads[0]++;
        }, null, null, null);
        assertEquals(2, ctx.handlerCount(), "replacement keeps one live handler per fd");
        assertTrue(ctx.poll(true));
        assertEquals(1, oldReads[0], "the replaced read callback ran again");
        assertEquals(1, newReads[0]);
        removeFd(p.r);
        assertEquals(1, ctx.handlerCount());
    }

    /**
     * Spec 4.2: replacing a handler that sits on the current ready list. Each handler's read
     * replaces the other one; exactly one old callback runs, and the replacement (a new node) is
     * not on this pass's ready list but is dispatched in the next pass.
     */
    @Test
    void replacingAHandlerThatIsOnTheReadyList() {
        Pipe p = pipe();
        Pipe q = pipe();
        int[] p1 = {0};
        int[] q1 = {0};
        int[] p2 = {0};
        int[] q2 = {0};
        boolean[] replaced = {false};
        Runnable p2cb = () -> {
            p.drain();
            p2[0]++;
        };
        Runnable q2cb = () -> {
            q.drain();
            q2[0]++;
        };
        ctx.setFdHandler(p.r, () -> {
            p.drain();
            p1[0]++;
            if (!replaced[0]) {
                replaced[0] = true;
                ctx.setFdHandler(q.r, q2cb, null, null, null);
            }
        }, null, null, null);
        ctx.setFdHandler(q.r, () -> {
            q.drain();
            q1[0]++;
            if (!replaced[0]) {
                replaced[0] = true;
                ctx.setFdHandler(p.r, p2cb, null, null, null);
            }
        }, null, null, null);
        assertFalse(ctx.poll(false), "nothing readable yet");

        p.writeByte();
        q.writeByte();
        assertTrue(ctx.poll(true));
        assertEquals(1, p1[0] + q1[0], "the replaced handler's old read ran although it was replaced first");
        assertEquals(0, p2[0] + q2[0], "a replacement is a new node, not on the current ready list");

        assertTrue(ctx.poll(true), "the still-readable fd is reported again (level-triggered)");
        assertEquals(1, p1[0] + q1[0]);
        assertEquals(1, p2[0] + q2[0]);
        removeFd(p.r);
        removeFd(q.r);
        assertFalse(ctx.poll(false));
    }

    /** Spec 4.2: deleting a handler while it sits on the ready list is safe; it is not called. */
    @Test
    void removingAHandlerThatIsOnTheReadyList() {
        Pipe p = pipe();
        Pipe q = pipe();
        int[] pr = {0};
        int[] qr = {0};
        ctx.setFdHandler(p.r, () -> {
            p.drain();
            pr[0]++;
            removeFd(q.r);
        }, null, null, null);
        ctx.setFdHandler(q.r, () -> {
            q.drain();
            qr[0]++;
            removeFd(p.r);
        }, null, null, null);
        assertFalse(ctx.poll(false));
        p.writeByte();
        q.writeByte();
        assertTrue(ctx.poll(true));
        assertEquals(1, pr[0] + qr[0], "the first read removed the other ready handler, which must not be called");
        assertEquals(2, ctx.handlerCount());
        assertFalse(ctx.poll(false));
        assertEquals(1, pr[0] + qr[0]);
        removeFd(p.r);
        removeFd(q.r);
        assertEquals(1, ctx.handlerCount());
    }

    /** Spec 4.2 step 4: deleting an fd that has no handler is a no-op. */
    @Test
    void removingAnUnregisteredFdIsANoOp() {
        Pipe p = pipe();
        removeFd(p.r);
        assertEquals(1, ctx.handlerCount());
        assertEquals(-1, ctx.pollNsOf(p.r));
        assertFalse(ctx.poll(false));
    }

    /** Spec 4.1/5.2: HUP triggers the read callback. */
    @Test
    void hupTriggersRead() {
        Pipe p = pipe();
        int[] reads = {0};
        ctx.setFdHandler(p.r, () -> {
            reads[0]++;
            removeFd(p.r); // HUP is level-triggered
        }, null, null, null);
        assertFalse(ctx.poll(false));
        p.closeWrite();
        assertTrue(ctx.poll(true));
        assertEquals(1, reads[0]);
    }

    /** Spec 4.1/5.2: ERR triggers the read callback (write end of a pipe whose reader is gone). */
    @Test
    void errTriggersRead() {
        Pipe p = pipe();
        int[] reads = {0};
        ctx.setFdHandler(p.w, () -> {
            reads[0]++;
            removeFd(p.w);
        }, null, null, null);
        assertFalse(ctx.poll(false));
        p.closeRead();
        assertTrue(ctx.poll(true));
        assertEquals(1, reads[0]);
    }

    /**
     * Spec 4.1/5.2 steps 4–5: ERR alone triggers both read and write in one dispatch. The pipe is
     * filled first, so its write end reports ERR without OUT once the reader is gone.
     */
    @Test
    void errTriggersReadAndWrite() {
        Pipe p = pipe();
        p.fill();
        int[] reads = {0};
        int[] writes = {0};
        ctx.setFdHandler(p.w, () -> reads[0]++, () -> writes[0]++, null, null);
        assertFalse(ctx.poll(false), "a full pipe is not writable");
        assertEquals(0, writes[0]);
        p.closeRead();
        assertTrue(ctx.poll(false));
        assertEquals(1, reads[0]);
        assertEquals(1, writes[0]);
        removeFd(p.w);

        ctx.setFdHandler(p.w, null, () -> writes[0]++, null, null);
        assertTrue(ctx.poll(false), "ERR triggers a write-only handler");
        assertEquals(2, writes[0]);
        removeFd(p.w);
    }

    /** Spec 5.2 step 5: a read callback that deletes its own handler suppresses its write callback. */
    @Test
    void readCallbackDeletingItsHandlerSuppressesWrite() {
        EventNotifier e = notifier();
        int fd = e.fd();
        int[] reads = {0};
        int[] writes = {0};

        // control: an eventfd that is set is readable and writable: both callbacks in one pass
        ctx.setFdHandler(fd, () -> {
            e.testAndClear();
            reads[0]++;
        }, () -> writes[0]++, null, null);
        e.set();
        assertTrue(ctx.poll(false));
        assertEquals(1, reads[0]);
        assertEquals(1, writes[0]);
        removeFd(fd);

        ctx.setFdHandler(fd, () -> {
            e.testAndClear();
            reads[0]++;
            removeFd(fd);
        }, () -> writes[0]++, null, null);
        e.set();
        assertTrue(ctx.poll(false));
        assertEquals(2, reads[0]);
        assertEquals(1, writes[0], "the write callback of a handler deleted by its read callback ran");
        assertFalse(ctx.poll(false));
        assertEquals(1, writes[0]);
    }

    /** Spec 4.2: registration from another thread wakes a blocked loop, which then dispatches it. */
    @Test
    void handlerRegisteredFromAnotherThreadIsPickedUpByABlockedLoop() {
        Pipe p = pipe();
        p.writeByte();
        AtomicInteger reads = new AtomicInteger();
        Thread t = startThread("registrar", () -> {
            sleepMs(30);
            ctx.setFdHandler(p.r, () -> {
                p.drain();
                reads.incrementAndGet();
            }, null, null, null);
        });
        pollWhile(() -> reads.get() == 0);
        assertTrue(join(t, 10_000));
        assertEquals(1, reads.get());
        removeFd(p.r);
    }

    /**
     * jaio extension, setEdgeFdHandler: a handler that drains its fd is called once per arrival
     * on every monitor. One that leaves data unread is called again while it stays on poll and
     * epoll (level-triggered), but on io_uring (one multishot POLL_ADD, not re-armed) only when
     * more arrives.
     */
    @Test
    void edgeTriggeredHandler() {
        Pipe p = pipe();
        int[] reads = {0};
        boolean[] drain = {true};
        ctx.setEdgeFdHandler(p.r, () -> {
            reads[0]++;
            if (drain[0]) {
                p.drain();
            }
        }, null, null, null);
        assertFalse(ctx.poll(false), "registered; nothing readable yet");
        for (int i = 1; i <= 3; i++) {
            p.writeByte();
            assertTrue(ctx.poll(true));
            assertEquals(i, reads[0], "one call per arrival");
        }
        drain[0] = false;
        p.writeByte();
        assertTrue(ctx.poll(true));
        assertEquals(4, reads[0]);
        if (kind() == FdMonitorKind.IO_URING && kernelHasMultishotPoll()) {
            assertFalse(ctx.poll(false), "edge: the unread byte is not reported again");
            assertFalse(ctx.poll(false));
            assertEquals(4, reads[0]);
            p.writeByte();
            assertTrue(ctx.poll(true));
            assertEquals(5, reads[0], "a new arrival is");
        } else { // poll, epoll, and io_uring re-arming one-shot polls before Linux 5.13
            assertTrue(ctx.poll(false), "level-triggered: the unread byte is reported again");
            assertEquals(5, reads[0]);
        }
        ctx.setFdHandler(p.r, null, null, null, null);
        assertFalse(ctx.poll(false));
    }

    /** What the io_uring monitor checks before using multishot POLL_ADD (IORING_FEAT_RSRC_TAGS, Linux 5.13+). */
    private static boolean kernelHasMultishotPoll() {
        io.jaio.linux.IoUring ring = io.jaio.linux.IoUring.create(2, 0);
        try {
            return (ring.features() & io.jaio.linux.IoUring.IORING_FEAT_RSRC_TAGS) != 0;
        } finally {
            ring.close();
        }
    }

    /**
     * jaio extension, hasPendingWork: false when idle; true with a scheduled bottom half, inside
     * a handler while another reported handler waits in the same pass, and on io_uring as soon as
     * the kernel has a completion for a registered fd; home thread only.
     */
    @Test
    void hasPendingWorkSeesWhatWaitsToRun() throws Exception {
        assertFalse(ctx.hasPendingWork(), "idle");
        BottomHalf bh = ctx.newBottomHalf("pending", () -> { });
        bh.schedule();
        assertTrue(ctx.hasPendingWork(), "a scheduled bottom half");
        assertTrue(ctx.poll(false));
        assertFalse(ctx.hasPendingWork());

        Pipe a = pipe();
        Pipe b = pipe();
        List<Boolean> seen = new ArrayList<>();
        Runnable onA = () -> {
            a.drain();
            seen.add(ctx.hasPendingWork());
        };
        Runnable onB = () -> {
            b.drain();
            seen.add(ctx.hasPendingWork());
        };
        ctx.setFdHandler(a.r, onA, null, null, null);
        ctx.setFdHandler(b.r, onB, null, null, null);
        assertFalse(ctx.poll(false), "registered; nothing readable");
        a.writeByte();
        if (kind() == FdMonitorKind.IO_URING) {
            assertTrue(ctx.hasPendingWork(), "io_uring: the kernel has the POLL_ADD completion");
        }
        b.writeByte();
        while (seen.size() < 2) {
            ctx.poll(true);
        }
        // Both were readable before the wait, so one pass reports both: the first handler sees
        // the second waiting, the last one sees nothing.
        assertEquals(List.of(true, false), seen);
        assertFalse(ctx.hasPendingWork());
        java.util.concurrent.CompletableFuture<Boolean> off = java.util.concurrent.CompletableFuture.supplyAsync(ctx::hasPendingWork);
        java.util.concurrent.CompletionException e = assertThrows(java.util.concurrent.CompletionException.class, off::join);
        assertInstanceOf(IllegalStateException.class, e.getCause(), "off the home thread it throws");
        ctx.setFdHandler(a.r, null, null, null, null);
        ctx.setFdHandler(b.r, null, null, null, null);
        bh.delete();
        assertFalse(ctx.poll(false));
    }

    /** Spec 5: dispatch order within one call is BHs, then fd handlers, then timers. */
    @Test
    void dispatchOrderIsBottomHalvesThenFdHandlersThenTimers() {
        List<String> order = new ArrayList<>();
        EventNotifier e = notifier();
        ctx.setEventNotifier(e, x -> {
            x.testAndClear();
            order.add("fd");
        }, null, null);
        assertFalse(ctx.poll(false));
        Timer t = ctx.newTimer(REALTIME, NANOSECONDS, () -> order.add("timer"));
        t.modNs(clock.nowNs(REALTIME));
        BottomHalf bh = ctx.newBottomHalf("order", () -> order.add("bh"));
        e.set();
        bh.schedule();
        assertTrue(ctx.poll(false));
        assertEquals(List.of("bh", "fd", "timer"), order);
        unregister(e);
        bh.delete();
    }

    /**
     * An fd that becomes ready while a bottom half reschedules itself every pass is not starved
     * by the chain: it is dispatched within a few passes (every monitor looks every pass: an
     * unpollable handler makes need_wait true on poll and epoll, io_uring reads its ring; 8
     * leaves room for TASKRUN's sampling). The chain keeps running, one run per pass.
     */
    @Test
    void fdReadyDuringABhChainIsDispatchedWithinEightPasses() {
        Pipe p = pipe();
        int[] reads = {0};
        ctx.setFdHandler(p.r, drainCounting(p, reads), null, null, null);
        drainNonBlocking(); // io_uring: the POLL_ADD is in the kernel
        int[] runs = {0};
        BottomHalf[] self = {null};
        self[0] = ctx.newBottomHalf("chain", () -> {
            runs[0]++;
            self[0].schedule();
        });
        self[0].schedule();
        assertTrue(ctx.poll(true));
        assertEquals(1, runs[0]);
        p.writeByte();
        int passes = 0;
        while (reads[0] == 0 && passes < 100) {
            assertTrue(ctx.poll(true), "the chain is progress");
            passes++;
        }
        assertEquals(1, reads[0], "the fd was never dispatched during the chain");
        assertTrue(passes <= 8, "dispatched after " + passes + " passes of the chain");
        assertEquals(1 + passes, runs[0], "one run of the chain per pass");
        self[0].delete();
        removeFd(p.r);
        drainNonBlocking();
    }

    /**
     * The same after a long silence, where the io_uring monitor reads its ring on every 8th pass
     * of a chain only: the first event still comes within 8 passes, and once one has come the
     * ring counts as busy, so the next is dispatched in the pass right after it is posted.
     */
    @Test
    void afterAQuietChainAnFdWaitsAtMostEightPassesAndTheNextOne() {
        Pipe p = pipe();
        int[] reads = {0};
        ctx.setFdHandler(p.r, drainCounting(p, reads), null, null, null);
        drainNonBlocking();
        BottomHalf[] self = {null};
        self[0] = ctx.newBottomHalf("chain", () -> self[0].schedule());
        self[0].schedule();
        for (int i = 0; i < 200; i++) { // far past io_uring's 64 empty reads
            assertTrue(ctx.poll(true));
        }
        assertEquals(0, reads[0]);
        p.writeByte();
        int passes = 0;
        while (reads[0] == 0 && passes < 100) {
            assertTrue(ctx.poll(true));
            passes++;
        }
        assertEquals(1, reads[0], "the fd was never dispatched during the chain");
        assertTrue(passes <= 8, "dispatched after " + passes + " passes of a quiet chain");
        for (int i = 0; i < 3; i++) { // io_uring: the re-armed poll goes to the kernel
            assertTrue(ctx.poll(true));
        }
        assertEquals(1, reads[0]);
        p.writeByte();
        assertTrue(ctx.poll(true));
        assertEquals(2, reads[0], "the next event, right after one, waited for the ring's sampling");
        self[0].delete();
        removeFd(p.r);
        drainNonBlocking();
    }
}
