package io.jaio.aio;

import io.jaio.aio.fdmon.IoUringFdMonitor;
import io.jaio.linux.IoUring;
import io.jaio.linux.Linux;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The request ring of the POLL and EPOLL monitors: set up by the first request, watched by the
 * monitor's own wait (a blocking poll wakes for a completion and for nothing else here), and
 * carried with its requests in flight across poll's move to epoll and epoll's fall back to poll.
 * The request semantics themselves are {@link IoUringRequestTest}'s, run on these monitors by
 * {@link IoUringRequestOnEpollTest} and {@link IoUringRequestOnPollTest}.
 */
class RequestRingTest {
    private final List<AioContext> contexts = new ArrayList<>();
    private final List<EventNotifier> notifiers = new ArrayList<>();
    private Arena arena;
    private Watchdog watchdog;
    /** A blocking pipe: an io_uring read of it waits in the kernel (a non-blocking one gets EAGAIN). */
    private int rfd = -1;
    private int wfd = -1;

    @BeforeEach
    void setUp() {
        arena = Arena.ofConfined();
        watchdog = Watchdog.start(Duration.ofSeconds(30));
        int[] fds = Linux.pipe2(Linux.O_CLOEXEC);
        rfd = fds[0];
        wfd = fds[1];
    }

    @AfterEach
    void tearDown() {
        watchdog.close();
        try {
            for (AioContext c : contexts) {
                long errors = c.stats().callbackErrors();
                c.close();
                assertEquals(0, errors, "callbacks threw (see the log)");
            }
        } finally {
            notifiers.forEach(EventNotifier::close);
            Linux.close(rfd);
            Linux.close(wfd);
            arena.close();
        }
    }

    private AioContext context(FdMonitorKind kind) {
        AioContext c = AioContext.builder().fdMonitor(kind).build();
        contexts.add(c);
        watchdog.watch(c);
        c.poll(false); // the creation's notify
        return c;
    }

    /**
     * Queues a one-byte read of the pipe; {@code res[0]} gets its result. A plain read waits on
     * the pipe inside the kernel and completes as task work of this thread (which also interrupts
     * its wait); an {@code IOSQE_ASYNC} one blocks in an io-wq worker. A kernel that posts such a
     * completion from the worker wakes the wait only through the ring's fd in the monitor's set;
     * Linux 6.18 hands it to this thread as task work too, so here both paths wake either way.
     */
    private void readPipe(AioContext c, int[] res, boolean async) {
        MemorySegment buf = arena.allocate(1);
        res[0] = Integer.MIN_VALUE;
        c.addSqe(sqe -> sqe.prepRead(rfd, buf.address(), 1, -1, 0).flags(async ? IoUring.IOSQE_ASYNC : 0),
                (r, f) -> res[0] = r);
    }

    /**
     * Writes the pipe from another thread 20 ms from now, then blocks in poll(true) until the
     * read completed: only the completion can wake those waits (nothing notifies the context; the
     * watchdog fails the test after 30 s), and only the monitor's servicing of the ring reaps it.
     */
    private void completeByAnotherThread(AioContext c, int[] res) throws InterruptedException {
        assertFalse(c.poll(false), "the read is in the kernel, waiting for data");
        Thread writer = TestSupport.startThread("writer", () -> {
            TestSupport.sleepMs(20);
            Linux.write(wfd, new byte[] {1});
        });
        while (res[0] == Integer.MIN_VALUE) {
            c.poll(true);
            watchdog.check();
        }
        writer.join();
        assertEquals(1, res[0], "the one byte written was read");
    }

    @ParameterizedTest
    @EnumSource(value = FdMonitorKind.class, names = {"POLL", "EPOLL"})
    void theRingIsSetUpByTheFirstRequestAndClosedWithTheContext(FdMonitorKind kind) {
        long before = TestSupport.openFdCount();
        AioContext c = AioContext.builder().fdMonitor(kind).build();
        try {
            long built = TestSupport.openFdCount();
            assertTrue(c.hasIoUring(), "the kernel allows io_uring");
            assertEquals(built, TestSupport.openFdCount(), "asking sets nothing up");
            int[] res = {Integer.MIN_VALUE};
            c.addSqe(sqe -> sqe.prepNop(), (r, f) -> res[0] = r);
            assertEquals(built + 1, TestSupport.openFdCount(), "the first request set up the ring");
            while (res[0] == Integer.MIN_VALUE) {
                c.poll(true);
            }
            assertEquals(0, res[0]);
            c.addSqe(sqe -> sqe.prepNop(), (r, f) -> res[0] = r + 1);
            assertEquals(built + 1, TestSupport.openFdCount(), "one ring per context");
            assertTrue(c.poll(true));
            assertEquals(1, res[0]);
        } finally {
            c.close();
        }
        assertEquals(before, TestSupport.openFdCount(), "the ring is closed with the context");
    }

    @ParameterizedTest
    @CsvSource({"POLL, false", "POLL, true", "EPOLL, false", "EPOLL, true"})
    void aBlockingWaitWakesForACompletion(FdMonitorKind kind, boolean workerPosted) throws InterruptedException {
        AioContext c = context(kind);
        int[] res = new int[1];
        readPipe(c, res, workerPosted);
        completeByAnotherThread(c, res);
        assertEquals(kind, c.fdMonitorKind());
    }

    @ParameterizedTest
    @EnumSource(value = FdMonitorKind.class, names = {"POLL", "EPOLL"})
    void completionsAndFdEventsAreBothDispatched(FdMonitorKind kind) {
        AioContext c = context(kind);
        try (Pipe other = Pipe.open()) {
            int[] reads = {0};
            c.setFdHandler(other.r, () -> reads[0] += other.drain(), null, null, null);
            int[] res = new int[1];
            readPipe(c, res, false);
            assertFalse(c.poll(false));
            Linux.write(wfd, new byte[] {1});
            other.writeByte();
            other.writeByte();
            while (res[0] == Integer.MIN_VALUE || reads[0] < 2) {
                c.poll(true);
                watchdog.check();
            }
            assertEquals(1, res[0]);
            assertEquals(2, reads[0]);
            c.setFdHandler(other.r, null, null, null, null);
            assertFalse(c.poll(false), "nothing left");
        }
    }

    @ParameterizedTest
    @EnumSource(value = FdMonitorKind.class, names = {"POLL", "EPOLL"})
    void aCompletionEndsABusyPollingWindow(FdMonitorKind kind) throws InterruptedException {
        // A window far longer than the watchdog: polling that does not end at the completion fails.
        // (Checked: with needWait blind to reaped, undispatched completions both runs fail here,
        // spinning out the 60 s window with the completion reaped; the EPOLL one not every time,
        // when the completion is reaped outside the window.)
        AioContext c = context(kind);
        try (Pipe other = Pipe.open()) {
            int[] reads = {0};
            // Readiness polled through the monitor: every polling round peeks, which services the
            // request ring too (and may reap the completion before the round looks for it).
            c.setFdHandler(other.r, () -> reads[0] += other.drain(), null, AioContext.POLL_READINESS, null);
            long window = 60_000_000_000L;
            c.setPollParams(window, window, 0); // grow straight to the window
            for (int i = 0; i < 50 && c.pollNsOf(other.r) != window; i++) {
                int expected = reads[0] + 1;
                Thread w = TestSupport.startThread("writer", () -> {
                    TestSupport.sleepMs(5); // blocked longer than the window so far: it grows
                    other.writeByte();
                });
                while (reads[0] != expected) {
                    c.poll(true);
                    watchdog.check();
                }
                w.join();
            }
            assertEquals(window, c.pollNsOf(other.r), "the handler polls for 60 s now");
            int[] res = new int[1];
            readPipe(c, res, false);
            completeByAnotherThread(c, res); // busy-polls: ended by the completion, not the watchdog
            c.setPollParams(0, 0, 0);
            c.setFdHandler(other.r, null, null, null, null);
        }
    }

    @ParameterizedTest
    @EnumSource(value = FdMonitorKind.class, names = {"POLL", "EPOLL"})
    void aWaitWithADeadlineWakesForAWorkerPostedCompletion(FdMonitorKind kind) throws InterruptedException {
        // A finite wait (ppoll with a timeout) is not cut short by the task work that posts an
        // io-wq completion here: only the ring's fd in the monitor's set ends it before the timer.
        AioContext c = context(kind);
        boolean[] fired = {false};
        Timer t = c.newTimer(ClockType.REALTIME, java.util.concurrent.TimeUnit.NANOSECONDS, () -> fired[0] = true);
        t.modNs(c.nowNs(ClockType.REALTIME) + 600_000_000_000L); // 10 minutes: the watchdog ends it first
        int[] res = new int[1];
        readPipe(c, res, true);
        completeByAnotherThread(c, res);
        assertFalse(fired[0]);
        t.del();
    }

    @Test
    void autoWithIoUringRefusedRunsNoRequestsAndStillMovesToEpoll() {
        String key = IoUringFdMonitor.FORCE_FAILURE_PROPERTY;
        System.setProperty(key, "true");
        List<EventNotifier> ns = new ArrayList<>(); // closed here, not by tearDown
        try (AioContext c = AioContext.builder().fdMonitor(FdMonitorKind.AUTO).build()) {
            // QEMU's fallback: epoll, dormant (ppoll) until a wait watches 64 fds. While io_uring
            // is refused the poll monitor cannot set up its request ring either.
            assertEquals(FdMonitorKind.POLL, c.fdMonitorKind());
            assertFalse(c.hasIoUring());
            UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class,
                    () -> c.addSqe(sqe -> sqe.opcode(IoUring.IORING_OP_NOP), (r, f) -> { }));
            assertTrue(e.getMessage().contains("refuses io_uring"), e.getMessage());
            System.clearProperty(key);
            for (int i = 0; i < 64; i++) {
                EventNotifier n = EventNotifier.create();
                ns.add(n);
                c.setEventNotifier(n, EventNotifier::testAndClear, null, null);
            }
            ns.get(0).set();
            assertTrue(c.poll(true));
            assertEquals(FdMonitorKind.EPOLL, c.fdMonitorKind());
            for (EventNotifier n : ns) {
                c.setEventNotifier(n, null, null, null);
            }
        } finally {
            System.clearProperty(key);
            ns.forEach(EventNotifier::close);
        }
        assertThrows(io.jaio.linux.NativeException.class, () -> {
            System.setProperty(key, "true");
            try {
                AioContext.builder().fdMonitor(FdMonitorKind.IO_URING).build();
            } finally {
                System.clearProperty(key);
            }
        }, "an explicit IO_URING request does not fall back");
    }

    @Test
    void pollMovesToEpollWithARequestInFlight() throws InterruptedException {
        System.setProperty(IoUringFdMonitor.FORCE_FAILURE_PROPERTY, "true");
        AioContext c;
        try {
            c = context(FdMonitorKind.AUTO); // io_uring refused: QEMU's poll, moving to epoll at 64 fds
        } finally {
            System.clearProperty(IoUringFdMonitor.FORCE_FAILURE_PROPERTY);
        }
        assertEquals(FdMonitorKind.POLL, c.fdMonitorKind());
        int[] res = new int[1];
        readPipe(c, res, true); // io_uring allowed again: the poll monitor's request ring
        assertFalse(c.poll(false));
        for (int i = 0; i < 64; i++) {
            EventNotifier n = EventNotifier.create();
            notifiers.add(n);
            c.setEventNotifier(n, EventNotifier::testAndClear, null, null);
        }
        notifiers.get(0).set();
        assertTrue(c.poll(true));
        assertEquals(FdMonitorKind.EPOLL, c.fdMonitorKind(), "moved to epoll");
        assertEquals(Integer.MIN_VALUE, res[0], "the read is still in flight");
        completeByAnotherThread(c, res); // woken through the new epoll set
        for (EventNotifier n : notifiers) {
            c.setEventNotifier(n, null, null, null);
        }
    }

    @Test
    void epollFallsBackToPollWithARequestInFlight(@TempDir Path dir) throws Exception {
        AioContext c = context(FdMonitorKind.EPOLL);
        int[] res = new int[1];
        readPipe(c, res, true);
        assertFalse(c.poll(false));
        int file = Linux.open(dir.resolve("plain").toString(), Linux.O_RDWR | Linux.O_CREAT | Linux.O_CLOEXEC, 0600);
        try {
            c.setFdHandler(file, () -> { }, null, null, null); // epoll_ctl: EPERM for a regular file
            assertEquals(FdMonitorKind.POLL, c.fdMonitorKind(), "QEMU's fdmon_epoll_disable");
            c.setFdHandler(file, null, null, null, null); // always readable: would keep every wait short
        } finally {
            Linux.close(file);
        }
        assertEquals(Integer.MIN_VALUE, res[0], "the read is still in flight");
        completeByAnotherThread(c, res); // woken through poll's set, which now holds the ring
        int[] nop = {Integer.MIN_VALUE};
        c.addSqe(sqe -> sqe.opcode(IoUring.IORING_OP_NOP), (r, f) -> nop[0] = r);
        assertTrue(c.poll(true));
        assertEquals(0, nop[0], "the same ring keeps working");
    }

    @Test
    void requestsStillRunWhileExternalClientsAreDisabled() throws InterruptedException {
        AioContext c = context(FdMonitorKind.EPOLL);
        int[] res = new int[1];
        readPipe(c, res, true);
        @SuppressWarnings("deprecation") // the legacy API, kept; epoll then waits with one ppoll
        Runnable disable = c::disableExternal;
        disable.run();
        try {
            completeByAnotherThread(c, res);
        } finally {
            @SuppressWarnings("deprecation")
            Runnable enable = c::enableExternal;
            enable.run();
        }
    }

    @Test
    void bytesReadThroughTheRingAreTheBytesWritten() {
        AioContext c = context(FdMonitorKind.EPOLL);
        MemorySegment buf = arena.allocate(3);
        int[] res = {Integer.MIN_VALUE};
        c.addSqe(sqe -> sqe.prepRead(rfd, buf.address(), 3, -1, 0), (r, f) -> res[0] = r);
        Linux.write(wfd, new byte[] {7, 8, 9});
        while (res[0] == Integer.MIN_VALUE) {
            c.poll(true);
            watchdog.check();
        }
        assertEquals(3, res[0]);
        assertEquals(7, buf.get(ValueLayout.JAVA_BYTE, 0));
        assertEquals(9, buf.get(ValueLayout.JAVA_BYTE, 2));
    }
}
