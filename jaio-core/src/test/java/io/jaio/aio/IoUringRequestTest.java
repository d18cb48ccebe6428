package io.jaio.aio;

import io.jaio.aio.fdmon.IoUringFdMonitor;
import io.jaio.linux.IoUring;
import io.jaio.linux.Linux;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * io_uring requests through {@link AioContext#addSqe} (QEMU's aio_add_sqe), on the IO_URING
 * monitor's ring; {@link IoUringRequestOnEpollTest} and {@link IoUringRequestOnPollTest} run the
 * same tests on the request ring of the other monitors.
 */
class IoUringRequestTest {
    private AioContext ctx;
    private Arena arena;
    private Watchdog watchdog;

    /** {@return the fd monitor the tests run on} */
    FdMonitorKind kind() {
        return FdMonitorKind.IO_URING;
    }

    @BeforeEach
    void setUp() {
        ctx = AioContext.builder().fdMonitor(kind()).build();
        arena = Arena.ofConfined();
        watchdog = Watchdog.start(Duration.ofSeconds(30));
        watchdog.watch(ctx);
        assertFalse(ctx.poll(false), "consume the creation's aio_notify");
    }

    @AfterEach
    void tearDown() {
        watchdog.close();
        long errors = ctx.stats().callbackErrors();
        ctx.close();
        arena.close();
        assertEquals(0, errors, "callbacks threw (see the log)");
    }

    private void pollUntil(java.util.function.BooleanSupplier done) {
        while (!done.getAsBoolean()) {
            ctx.poll(true);
            watchdog.check();
        }
    }

    @Test
    void monitorReportsIoUring() {
        assertEquals(kind(), ctx.fdMonitorKind());
        assertTrue(ctx.hasIoUring());
    }

    @Test
    void nopCompletesOnTheHomeThreadDuringALaterPoll() {
        int[] res = {Integer.MIN_VALUE};
        Thread[] ranOn = {null};
        ctx.addSqe(sqe -> sqe.opcode(IoUring.IORING_OP_NOP), (r, f) -> {
            res[0] = r;
            ranOn[0] = Thread.currentThread();
        });
        assertEquals(Integer.MIN_VALUE, res[0], "never completed inside addSqe");
        assertTrue(ctx.poll(true), "a CQE handler ran: progress");
        assertEquals(0, res[0]);
        assertSame(Thread.currentThread(), ranOn[0]);
        assertFalse(ctx.poll(false), "nothing left");
    }

    @Test
    void writeThenReadATempFile(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("data");
        int fd = Linux.open(file.toString(), Linux.O_RDWR | Linux.O_CREAT | Linux.O_CLOEXEC, 0600);
        try {
            byte[] data = new byte[8192];
            for (int i = 0; i < data.length; i++) {
                data[i] = (byte) (i * 31 + 7);
            }
            MemorySegment out = arena.allocate(data.length, 4096);
            MemorySegment.copy(data, 0, out, ValueLayout.JAVA_BYTE, 0, data.length);
            int[] wrote = {Integer.MIN_VALUE};
            ctx.addSqe(sqe -> sqe.opcode(IoUring.IORING_OP_WRITE).fd(fd).addr(out.address()).len(data.length).off(4096),
                    (r, f) -> wrote[0] = r);
            pollUntil(() -> wrote[0] != Integer.MIN_VALUE);
            assertEquals(data.length, wrote[0]);
            byte[] onDisk = Files.readAllBytes(file);
            assertEquals(4096 + data.length, onDisk.length);
            assertArrayEquals(data, java.util.Arrays.copyOfRange(onDisk, 4096, onDisk.length));

            MemorySegment in = arena.allocate(data.length, 4096);
            int[] read = {Integer.MIN_VALUE};
            ctx.addSqe(sqe -> sqe.opcode(IoUring.IORING_OP_READ).fd(fd).addr(in.address()).len(data.length).off(4096),
                    (r, f) -> read[0] = r);
            pollUntil(() -> read[0] != Integer.MIN_VALUE);
            assertEquals(data.length, read[0]);
            assertArrayEquals(data, in.toArray(ValueLayout.JAVA_BYTE));

            int[] fsync = {Integer.MIN_VALUE};
            ctx.addSqe(sqe -> sqe.opcode(IoUring.IORING_OP_FSYNC).fd(fd).rwFlags(IoUring.IORING_FSYNC_DATASYNC),
                    (r, f) -> fsync[0] = r);
            pollUntil(() -> fsync[0] != Integer.MIN_VALUE);
            assertEquals(0, fsync[0]);
        } finally {
            Linux.close(fd);
        }
    }

    @Test
    void typedPrepCallsBuildTheSameRequests(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("typed");
        int fd = Linux.open(file.toString(), Linux.O_RDWR | Linux.O_CREAT | Linux.O_CLOEXEC, 0600);
        try {
            byte[] data = "written with prepWrite, read back with prepReadv"
                    .getBytes(java.nio.charset.StandardCharsets.US_ASCII);
            MemorySegment out = arena.allocateFrom(ValueLayout.JAVA_BYTE, data);
            int[] res = {Integer.MIN_VALUE, Integer.MIN_VALUE, Integer.MIN_VALUE, Integer.MIN_VALUE, Integer.MIN_VALUE};
            ctx.addSqe(sqe -> sqe.prepWrite(fd, out.address(), data.length, 512, io.jaio.linux.FileSys.RWF_DSYNC),
                    (r, f) -> res[0] = r);
            ctx.addSqe(sqe -> sqe.prepNop(), (r, f) -> res[1] = r);
            pollUntil(() -> res[0] != Integer.MIN_VALUE && res[1] != Integer.MIN_VALUE);
            assertEquals(data.length, res[0]);
            assertEquals(0, res[1]);

            MemorySegment a = arena.allocate(10);
            MemorySegment b = arena.allocate(data.length - 10);
            MemorySegment iov = arena.allocate(32, 8);
            iov.set(ValueLayout.JAVA_LONG, 0, a.address());
            iov.set(ValueLayout.JAVA_LONG, 8, a.byteSize());
            iov.set(ValueLayout.JAVA_LONG, 16, b.address());
            iov.set(ValueLayout.JAVA_LONG, 24, b.byteSize());
            ctx.addSqe(sqe -> sqe.prepReadv(fd, iov.address(), 2, 512, 0), (r, f) -> res[2] = r);
            ctx.addSqe(sqe -> sqe.prepFsync(fd, IoUring.IORING_FSYNC_DATASYNC), (r, f) -> res[3] = r);
            pollUntil(() -> res[2] != Integer.MIN_VALUE && res[3] != Integer.MIN_VALUE);
            assertEquals(data.length, res[2]);
            byte[] back = new byte[data.length];
            MemorySegment.copy(a, ValueLayout.JAVA_BYTE, 0, back, 0, 10);
            MemorySegment.copy(b, ValueLayout.JAVA_BYTE, 0, back, 10, data.length - 10);
            assertArrayEquals(data, back);
            assertEquals(0, res[3]);

            // Grow the file to 1 MiB without writing: the size changes, the data stays.
            ctx.addSqe(sqe -> sqe.prepFallocate(fd, 0, 0, 1 << 20), (r, f) -> res[4] = r);
            pollUntil(() -> res[4] != Integer.MIN_VALUE);
            org.junit.jupiter.api.Assumptions.assumeTrue(res[4] != -Linux.EOPNOTSUPP, "no fallocate here");
            assertEquals(0, res[4]);
            assertEquals(1 << 20, Files.size(file));
            assertArrayEquals(data, java.util.Arrays.copyOfRange(Files.readAllBytes(file), 512, 512 + data.length));
        } finally {
            Linux.close(fd);
        }
    }

    @Test
    void errorsArriveAsNegativeErrno() {
        int[] res = {Integer.MIN_VALUE};
        MemorySegment buf = arena.allocate(16);
        ctx.addSqe(sqe -> sqe.opcode(IoUring.IORING_OP_READ).fd(1_000_000).addr(buf.address()).len(16),
                (r, f) -> res[0] = r);
        pollUntil(() -> res[0] != Integer.MIN_VALUE);
        assertEquals(-Linux.EBADF, res[0]);
    }

    @Test
    void timeoutRequestExpires() {
        MemorySegment ts = arena.allocate(16, 8);
        ts.set(ValueLayout.JAVA_LONG, 0, 0);
        ts.set(ValueLayout.JAVA_LONG, 8, 2_000_000); // 2 ms
        int[] res = {Integer.MIN_VALUE};
        ctx.addSqe(sqe -> sqe.opcode(IoUring.IORING_OP_TIMEOUT).addr(ts.address()).len(1), (r, f) -> res[0] = r);
        pollUntil(() -> res[0] != Integer.MIN_VALUE);
        assertEquals(-Linux.ETIME, res[0]);
    }

    @Test
    void burstLargerThanTheRingCompletesInOrderWithNoneDropped() {
        int n = 10_000;
        assertTrue(n > IoUringFdMonitor.RING_ENTRIES);
        List<Integer> order = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            int id = i;
            ctx.addSqe(sqe -> sqe.opcode(IoUring.IORING_OP_NOP), (r, f) -> {
                assertEquals(0, r);
                order.add(id);
            });
        }
        pollUntil(() -> order.size() == n);
        assertEquals(n, order.size());
        for (int i = 0; i < n; i++) {
            assertEquals(i, order.get(i), "NOPs complete in submission (CQE) order");
        }
        assertFalse(ctx.poll(false));
    }

    @Test
    void handlerMaySubmitFromItsCompletion() {
        int[] chain = {0};
        CqeHandler[] next = new CqeHandler[1];
        next[0] = (r, f) -> {
            chain[0]++;
            if (chain[0] < 100) {
                ctx.addSqe(sqe -> sqe.opcode(IoUring.IORING_OP_NOP), next[0]);
            }
        };
        ctx.addSqe(sqe -> sqe.opcode(IoUring.IORING_OP_NOP), next[0]);
        pollUntil(() -> chain[0] == 100);
        assertEquals(100, chain[0]);
        assertFalse(ctx.poll(false), "the chain ended");
    }

    @Test
    void addSqeOffTheHomeThreadThrows() throws Exception {
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        Thread t = TestSupport.startThread("other", () -> {
            try {
                ctx.addSqe(sqe -> sqe.opcode(IoUring.IORING_OP_NOP), (r, f) -> { });
            } catch (Throwable e) {
                thrown.set(e);
            }
        });
        t.join();
        assertTrue(thrown.get() instanceof IllegalStateException, String.valueOf(thrown.get()));
    }

    @Test
    void aThrowingPreparerQueuesNothing() {
        RuntimeException boom = new RuntimeException("boom");
        boolean[] called = {false};
        RuntimeException e = assertThrows(RuntimeException.class,
                () -> ctx.addSqe(sqe -> { throw boom; }, (r, f) -> called[0] = true));
        assertSame(boom, e);
        assertFalse(ctx.poll(false), "the slot became an ignored NOP");
        assertFalse(called[0]);
    }

    @Test
    void removingAnFdHandlerWhileItsPollRequestIsInFlight() {
        try (Pipe p = Pipe.open()) {
            int[] reads = {0};
            ctx.setFdHandler(p.r, () -> {
                p.drain();
                reads[0]++;
            }, null, null, null);
            assertFalse(ctx.poll(false), "POLL_ADD submitted; nothing readable");
            ctx.setFdHandler(p.r, null, null, null, null); // POLL_REMOVE queued
            p.writeByte();
            ctx.poll(false);
            ctx.poll(false);
            assertEquals(0, reads[0], "a removed handler is never called");
            // Register again: the fd is readable and the new handler sees it.
            ctx.setFdHandler(p.r, () -> {
                p.drain();
                reads[0] += 10;
            }, null, null, null);
            pollUntil(() -> reads[0] == 10);
            ctx.setFdHandler(p.r, null, null, null, null);
            assertFalse(ctx.poll(false));
        }
    }

    @Test
    void closeWithRequestsPendingCancelsThemAndRunsNoHandler() throws Exception {
        long fdsBefore = TestSupport.openFdCount();
        AioContext c = AioContext.builder().fdMonitor(kind()).maxBatch(1).build();
        int[] called = {0};
        try (Pipe p = Pipe.open()) {
            MemorySegment buf = arena.allocate(64);
            for (int i = 0; i < 8; i++) { // reads that can never complete: nobody writes the pipe
                c.addSqe(sqe -> sqe.opcode(IoUring.IORING_OP_READ).fd(p.r).addr(buf.address()).len(64),
                        (r, f) -> called[0]++);
            }
            c.addSqe(sqe -> sqe.opcode(IoUring.IORING_OP_NOP), (r, f) -> called[0]++);
            // aio-max-batch 1: each addSqe already entered the kernel; the NOP's CQE is waiting.
            c.close();
        }
        assertEquals(0, called[0], "no handler runs at or after close");
        assertEquals(fdsBefore, TestSupport.openFdCount(), "the ring fd and the eventfd are closed");
    }

    @Test
    void ioUringTimeoutDrivesBlockingWaitForTimers() {
        boolean[] fired = {false};
        Timer t = ctx.newTimer(ClockType.REALTIME, TimeUnit.MILLISECONDS, () -> fired[0] = true);
        t.modNs(ctx.nowNs(ClockType.REALTIME) + 3_000_000);
        pollUntil(() -> fired[0]);
        assertFalse(t.isPending());
    }

    @Test
    void maxBatchSubmitsEarly() {
        ctx.setAioParams(4);
        int[] done = {0};
        for (int i = 0; i < 10; i++) {
            ctx.addSqe(sqe -> sqe.opcode(IoUring.IORING_OP_NOP), (r, f) -> done[0]++);
        }
        pollUntil(() -> done[0] == 10);
        assertEquals(10, done[0]);
    }
}
