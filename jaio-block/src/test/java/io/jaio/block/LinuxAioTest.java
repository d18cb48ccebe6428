package io.jaio.block;

import io.jaio.aio.AioContext;
import io.jaio.aio.FdMonitorKind;
import io.jaio.aio.fdmon.IoUringFdMonitor;
import io.jaio.block.RawFileBackend.Engine;
import io.jaio.block.RawFileBackend.Options;
import io.jaio.coroutine.Coroutine;
import io.jaio.linux.Linux;
import io.jaio.linux.LinuxAioAbi;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntUnaryOperator;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Linux AIO engine's own mechanics, beyond the backend contract ({@link NativeAioDirectTest}):
 * batching by {@code aio-max-batch} and plug/unplug (counted io_submit calls, no timing),
 * resubmission after short submits, EAGAIN and a failed first iocb (forced through
 * {@link LinuxAio#submitHook}), the FDSYNC fallback, close with iocbs in flight, fd and mapping
 * leaks over 100 open/close cycles, and AUTO selection with io_uring refused. Files live in the
 * JUnit temp dir, which must allow O_DIRECT (ext4/xfs); skipped otherwise.
 */
class LinuxAioTest {
    private static final int BLK = 4096;

    @TempDir
    Path dir;
    private Harness h;
    private Arena arena;
    private final List<RawFileBackend> opened = new ArrayList<>();

    @BeforeEach
    void setUp() {
        h = Harness.create(Engine.NATIVE);
        arena = Arena.ofShared();
    }

    @AfterEach
    void tearDown() {
        try {
            for (RawFileBackend b : opened) {
                b.close();
            }
        } finally {
            h.close();
            arena.close();
        }
    }

    /** A file of {@code blocks} blocks, block i filled with byte i + 1. */
    private Path image(int blocks) throws IOException {
        byte[] data = new byte[blocks * BLK];
        for (int i = 0; i < blocks; i++) {
            java.util.Arrays.fill(data, i * BLK, (i + 1) * BLK, (byte) (i + 1));
        }
        Path p = dir.resolve("img");
        Files.write(p, data);
        return p;
    }

    private RawFileBackend open(Path f, AioContext ctx, Options o) {
        try {
            RawFileBackend b = RawFileBackend.open(ctx, f, o);
            opened.add(b);
            return b;
        } catch (BlockException e) {
            if (e.errno() == Linux.EINVAL) {
                Assumptions.abort("the file system of " + dir + " refuses O_DIRECT: " + e.getMessage());
            }
            throw e;
        }
    }

    private RawFileBackend openNative(Path f) {
        RawFileBackend b = open(f, h.ctx, Options.defaults().withEngine(Engine.NATIVE).withCacheNone(true));
        assertEquals(Engine.NATIVE, b.engine());
        return b;
    }

    /** One coroutine per block reading it; each checks its block's fill byte. */
    private List<Harness.Body> readers(RawFileBackend b, int n) {
        List<Harness.Body> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int k = i;
            MemorySegment buf = arena.allocate(BLK, BLK);
            out.add(() -> {
                b.read((long) k * BLK, buf);
                byte[] want = new byte[BLK];
                java.util.Arrays.fill(want, (byte) (k + 1));
                assertArrayEquals(want, buf.toArray(ValueLayout.JAVA_BYTE), "block " + k);
            });
        }
        return out;
    }

    @Test
    void requestsOfOneLoopPassGoOutInBatchesOfMaxBatch() throws Exception {
        RawFileBackend b = openNative(image(100));
        LinuxAio aio = LinuxAio.get(h.ctx);
        assertEquals(LinuxAio.DEFAULT_MAX_BATCH, aio.maxBatch(), "aio-max-batch 0: QEMU's default 32");
        aio.submitCalls = 0;
        h.runAll(readers(b, 100), finished -> {
            assertEquals(3, aio.submitCalls, "the 32nd, 64th and 96th request each submit a full batch at once");
            assertEquals(4, aio.queued(), "the last 4 wait for the flush bottom half");
            assertEquals(96, aio.inFlight() + 0 * finished);
        });
        assertEquals(4, aio.submitCalls, "ceil(100 / 32) io_submit calls");
        assertEquals(0, aio.inFlight());

        h.ctx.setAioParams(10);
        aio.submitCalls = 0;
        h.runAll(readers(b, 100));
        assertEquals(10, aio.submitCalls, "ceil(100 / 10)");

        h.ctx.setAioParams(1_000_000);
        assertEquals(LinuxAio.MAX_EVENTS, aio.maxBatch(), "capped by the kernel context's 1024 events");
        aio.submitCalls = 0;
        h.runAll(readers(b, 100));
        assertEquals(1, aio.submitCalls, "the whole pass in one io_submit");
    }

    @Test
    void neverMoreThanMaxEventsInFlightTheRestFollowsCompletions() throws Exception {
        int n = LinuxAio.MAX_EVENTS + 76;
        RawFileBackend b = openNative(image(n));
        LinuxAio aio = LinuxAio.get(h.ctx);
        h.ctx.setAioParams(1 << 20);
        aio.submitCalls = 0;
        h.runAll(readers(b, n), finished -> {
            assertEquals(LinuxAio.MAX_EVENTS, aio.inFlight(), "the kernel context is full");
            assertEquals(76, aio.queued(), "the rest waits, its iocbs in grown slot chunks");
            assertEquals(1, aio.submitCalls);
        });
        assertEquals(0, aio.inFlight());
        assertEquals(0, aio.queued());
        assertTrue(aio.submitCalls >= 2, "the 76 went out after completions freed room: " + aio.submitCalls);
    }

    @Test
    void nativeAlsoRunsOnAnIoUringContext() throws Exception {
        Path f = image(40);
        try (Harness u = Harness.create(Engine.IO_URING)) { // skipped without io_uring
            RawFileBackend b = open(f, u.ctx, Options.defaults().withEngine(Engine.NATIVE).withCacheNone(true));
            assertEquals("aio=native requested", b.engineReason());
            u.runAll(readers(b, 40));
            assertEquals(2, LinuxAio.get(u.ctx).submitCalls, "32, then the 8 left by the flush bottom half");
            b.close();
            opened.remove(b);
        }
    }

    @Test
    void pluggedSubmissionsWaitForTheLastUnplug() throws Exception {
        RawFileBackend b = openNative(image(20));
        LinuxAio aio = LinuxAio.get(h.ctx);
        aio.submitCalls = 0;
        aio.plug();
        aio.plug();
        h.runAll(readers(b, 20), finished -> {
            assertEquals(0, aio.submitCalls);
            assertEquals(20, aio.queued());
            aio.unplug();
            assertEquals(0, aio.submitCalls, "still plugged once");
            aio.unplug();
            assertEquals(1, aio.submitCalls, "the last unplug submits all 20 at once");
            assertEquals(0, aio.queued());
        });
        assertEquals(1, aio.submitCalls);
        assertThrows(IllegalStateException.class, aio::unplug);
    }

    /** Records each hook call as "asked->answer" and answers from {@code answers} (then passes all). */
    private static IntUnaryOperator scripted(List<String> log, int... answers) {
        int[] call = {0};
        return n -> {
            int c = call[0]++;
            int a = c < answers.length ? answers[c] : n;
            log.add(n + "->" + a);
            return a;
        };
    }

    @Test
    void shortSubmitAndEagainKeepTheRestQueuedAndResubmitAfterACompletion() throws Exception {
        RawFileBackend b = openNative(image(20));
        LinuxAio aio = LinuxAio.get(h.ctx);
        List<String> log = new ArrayList<>();
        aio.submitCalls = 0;
        aio.submitHook = scripted(log, 5, -Linux.EAGAIN);
        h.runAll(readers(b, 20), finished -> {
            assertEquals(List.of(), log, "below max-batch: nothing submitted before the loop pass");
        });
        assertEquals(List.of("20->5", "15->-11", "15->15"), log,
                "the kernel took 5, then EAGAIN kept 15 queued, then a later retry took them all");
        assertEquals(3, aio.submitCalls);
        assertEquals(0, aio.queued());
        assertEquals(0, aio.inFlight());
    }

    @Test
    void eagainWithNothingInFlightIsRetriedNextPass() throws Exception {
        RawFileBackend b = openNative(image(3));
        LinuxAio aio = LinuxAio.get(h.ctx);
        List<String> log = new ArrayList<>();
        aio.submitHook = scripted(log, -Linux.EAGAIN, -Linux.EAGAIN);
        h.runAll(readers(b, 3));
        assertEquals(List.of("3->-11", "3->-11", "3->3"), log, "no completion to wait for: the flush bottom half retries");
    }

    @Test
    void aFailedFirstIocbFailsOnlyThatRequest() throws Exception {
        RawFileBackend b = openNative(image(3));
        LinuxAio aio = LinuxAio.get(h.ctx);
        List<String> log = new ArrayList<>();
        aio.submitHook = scripted(log, -Linux.EBADF);
        List<Harness.Body> bodies = new ArrayList<>();
        bodies.add(() -> assertEquals(Linux.EBADF, assertThrows(BlockException.class,
                () -> b.read(0, arena.allocate(BLK, BLK))).errno()));
        bodies.addAll(readers(b, 3).subList(1, 3));
        h.runAll(bodies);
        assertEquals(List.of("3->-9", "2->2"), log, "the first request failed, the other two resubmitted at once");
    }

    @Test
    void fdsyncRefusedWithEinvalMovesFlushToTheThreadPoolForGood() throws Exception {
        RawFileBackend b = openNative(image(1));
        LinuxAio aio = LinuxAio.get(h.ctx);
        List<String> log = new ArrayList<>();
        aio.submitHook = scripted(log, -Linux.EINVAL);
        aio.submitCalls = 0;
        h.run(b::flush);
        assertEquals(List.of("1->-22"), log, "FDSYNC refused...");
        assertEquals(1, aio.submitCalls);
        h.run(b::flush);
        assertEquals(1, aio.submitCalls, "...so the next flush never reaches Linux AIO");
        aio.submitHook = null;
        h.run(() -> b.write(0, arena.allocate(BLK, BLK), true)); // FUA: RWF_DSYNC still through AIO
        assertEquals(2, aio.submitCalls);
    }

    @Test
    void realFdsyncAndFuaGoThroughAio() throws Exception {
        RawFileBackend b = openNative(image(2));
        LinuxAio aio = LinuxAio.get(h.ctx);
        aio.submitCalls = 0;
        MemorySegment buf = arena.allocate(BLK, BLK);
        buf.fill((byte) 0x77);
        h.run(() -> {
            b.write(BLK, buf, true);
            b.flush();
        });
        assertEquals(2, aio.submitCalls, "one PWRITEV with RWF_DSYNC, one FDSYNC: no thread-pool fallback on ext4");
        byte[] back = Files.readAllBytes(b.path());
        for (int i = BLK; i < 2 * BLK; i++) {
            assertEquals(0x77, back[i]);
        }
    }

    @Test
    void nativeWithoutCacheNoneIsRefusedWithAClearMessage() throws Exception {
        Path f = image(1);
        int fds = Linux.openFdCount();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> RawFileBackend.open(h.ctx, f, Options.defaults().withEngine(Engine.NATIVE)));
        assertTrue(e.getMessage().contains("aio=native") && e.getMessage().contains("cache.direct=on"), e.getMessage());
        assertEquals(fds, Linux.openFdCount(), "nothing left open");
        int fd = Linux.open(f.toString(), Linux.O_RDWR | Linux.O_CLOEXEC, 0);
        try {
            IllegalArgumentException e2 = assertThrows(IllegalArgumentException.class,
                    () -> new LinuxAioFileIo(LinuxAio.get(h.ctx), fd, 1));
            assertTrue(e2.getMessage().contains("O_DIRECT"), e2.getMessage());
        } finally {
            Linux.close(fd);
        }
    }

    /** Lines of /proc/self/maps for kernel AIO rings (one per io_setup not yet destroyed). */
    private static long aioRings() throws IOException {
        try (var lines = Files.lines(Path.of("/proc/self/maps"))) {
            return lines.filter(l -> l.contains("[aio]")).count();
        }
    }

    @Test
    void hundredOpenCloseCyclesLeakNoFdAndNoAioContext() throws Exception {
        Path f = image(4);
        int fds = Linux.openFdCount();
        long rings = aioRings();
        MemorySegment buf = arena.allocate(BLK, BLK);
        for (int i = 0; i < 100; i++) {
            try (AioContext ctx = AioContext.builder().fdMonitor(FdMonitorKind.EPOLL).name("laio-leak").build()) {
                RawFileBackend b = open(f, ctx, Options.defaults().withEngine(Engine.NATIVE).withCacheNone(true));
                if (i == 0) {
                    assertEquals(rings + 1, aioRings(), "one kernel AIO context per AioContext");
                }
                buf.fill((byte) i);
                b.write(BLK, buf, false); // outside a coroutine: runs in one and polls
                b.read(BLK, buf);
                assertEquals((byte) i, buf.get(ValueLayout.JAVA_BYTE, BLK - 1));
                b.close();
                opened.remove(b);
            }
        }
        assertEquals(fds, Linux.openFdCount(), "no fd left behind by 100 contexts");
        assertEquals(rings, aioRings(), "every io_setup destroyed");
    }

    @Test
    void closingTheContextWithAnIocbInFlightWaitsForItAndReleasesEverything() throws Exception {
        Path f = image(256);
        int fds = Linux.openFdCount();
        long rings = aioRings();
        int fd = Linux.open(f.toString(), Linux.O_RDONLY | Linux.O_DIRECT | Linux.O_CLOEXEC, 0);
        MemorySegment buf = arena.allocate(256 * BLK, BLK);
        boolean[] resumed = {false};
        try (AioContext ctx = AioContext.builder().fdMonitor(FdMonitorKind.EPOLL).name("laio-close").build()) {
            ctx.setAioParams(1); // submit at once, inside the coroutine
            LinuxAio aio = LinuxAio.get(ctx);
            Coroutine co = Coroutine.create(() -> {
                aio.submit(LinuxAioAbi.IOCB_CMD_PREADV, fd, buf.address(), 256 * BLK, 0, 0);
                resumed[0] = true;
            });
            co.enter();
            assertEquals(1, aio.inFlight(), "in the kernel, not yet reaped");
            assertEquals(rings + 1, aioRings());
        }
        assertFalse(resumed[0], "a closed context resumes no coroutine");
        assertEquals(rings, aioRings(), "io_destroy ran");
        Linux.close(fd);
        assertEquals(fds, Linux.openFdCount(), "eventfd closed");
    }

    @Test
    void autoWithIoUringRefusedPicksNativeForCacheNoneAndThreadsOtherwise() throws Exception {
        Path f = image(1);
        AioContext ctx;
        System.setProperty(IoUringFdMonitor.FORCE_FAILURE_PROPERTY, "true"); // the kernel refuses io_uring
        ctx = AioContext.builder().fdMonitor(FdMonitorKind.AUTO).name("no-uring").build();
        try (ctx) {
            assertFalse(ctx.hasIoUring());
            RawFileBackend direct = open(f, ctx, Options.defaults().withCacheNone(true));
            assertEquals(Engine.NATIVE, direct.engine(), direct.engineReason());
            assertEquals("auto: context 'no-uring' has no io_uring (" + ctx.fdMonitorKind()
                    + " fd monitor, and the kernel refuses io_uring); cache=none, so Linux native AIO",
                    direct.engineReason());
            RawFileBackend buffered = open(f, ctx, Options.defaults());
            assertEquals(Engine.THREADS, buffered.engine());
            assertEquals("auto: context 'no-uring' has no io_uring (" + ctx.fdMonitorKind()
                    + " fd monitor, and the kernel refuses io_uring), and native AIO needs cache=none (O_DIRECT)",
                    buffered.engineReason());
            MemorySegment buf = arena.allocate(BLK, BLK);
            direct.read(0, buf);
            assertEquals(1, buf.get(ValueLayout.JAVA_BYTE, 0));
            direct.close();
            buffered.close();
            opened.clear();
        } finally {
            System.clearProperty(IoUringFdMonitor.FORCE_FAILURE_PROPERTY);
        }
    }
}
