package io.jaio.fs;

import io.jaio.aio.AioContext;
import io.jaio.aio.FdMonitorKind;
import io.jaio.linux.Linux;
import io.jaio.linux.NativeException;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.nio.file.StandardOpenOption.CREATE;
import static java.nio.file.StandardOpenOption.READ;
import static java.nio.file.StandardOpenOption.WRITE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@link FixedBuffers}: registered buffers on an IO_URING context, used by {@link CoFile}'s
 * io_uring engine. Whether a request went out as READ_FIXED/WRITE_FIXED is observed two ways: the
 * engine's count of fixed attempts, and, once, by the kernel itself (a registered page replaced in
 * the process's mapping: only a fixed request still reaches the pinned page). No timing is asserted.
 */
class FixedBuffersTest extends CoFileHarness {
    private static final int PAGE = 4096;

    @Override
    FdMonitorKind fdMonitor() {
        return FdMonitorKind.IO_URING;
    }

    @Override
    String coroutineEngine() {
        return "continuation";
    }

    @Override
    String contextName() {
        return "fixed-test";
    }

    /** What {@code action} throws in another thread (one not the context's home), or null. */
    private static Throwable thrownElsewhere(Runnable action) throws Exception {
        return CompletableFuture.supplyAsync(() -> {
            try {
                action.run();
                return null;
            } catch (Throwable x) {
                return x;
            }
        }).get(DEADLINE_SECONDS, TimeUnit.SECONDS);
    }

    /** Reads {@code seg.byteSize()} bytes at {@code off} into {@code seg}; they must be {@code data}'s. Coroutine. */
    private static void assertReads(CoFile f, MemorySegment seg, long off, byte[] data) throws IOException {
        assertEquals(seg.byteSize(), f.read(seg, off));
        assertArrayEquals(Arrays.copyOfRange(data, (int) off, (int) (off + seg.byteSize())), seg.toArray(JAVA_BYTE),
                "bytes " + off + ".." + (off + seg.byteSize()));
    }

    private static long fixedRequests(CoFile f) {
        return ((FileEngine.Uring) f.fileEngine()).fixedRequests;
    }

    private CoFile open(Path p, java.nio.file.OpenOption... options) throws IOException {
        CoFile f = CoFile.open(ctx, p, CoFile.Engine.IO_URING, options);
        assertTrue(f.fileEngine() instanceof FileEngine.Uring);
        return f;
    }

    // ---- reads and writes ----

    @Test
    void readsIntoARegisteredBufferAreFixedAndGetTheFilesData() throws Exception {
        Path p = dir.resolve("r");
        byte[] data = random(16 * PAGE, 1);
        Files.write(p, data);
        try (Arena a = Arena.ofConfined(); CoFile f = open(p, READ)) {
            MemorySegment pool = a.allocate(8 * PAGE, PAGE);
            try (FixedBuffers fixed = FixedBuffers.register(ctx, pool)) {
                assertTrue(fixed.isOpen());
                assertEquals(1, fixed.size());
                run(() -> {
                    for (int i = 0; i < 8; i++) {
                        assertReads(f, pool.asSlice((long) i * PAGE, PAGE), (long) (15 - 2 * i) * PAGE, data);
                    }
                    // An unaligned slice in the middle, and the whole pool at once.
                    assertReads(f, pool.asSlice(100, 5000), 777, data);
                    assertReads(f, pool, 3 * PAGE, data);
                });
                assertEquals(10, fixedRequests(f), "every read lay inside the registered buffer");
            }
        }
    }

    @Test
    void coroutinesOnTheVirtualThreadEngineRegisterAndUseFixedBuffersToo() throws Exception {
        Path p = dir.resolve("virtual");
        byte[] data = random(4 * PAGE, 5);
        Files.write(p, data);
        try (Arena a = Arena.ofShared(); CoFile f = open(p, READ, WRITE)) {
            MemorySegment pool = a.allocate(2 * PAGE, PAGE);
            run(() -> {
                try (FixedBuffers fixed = FixedBuffers.register(ctx, pool)) { // a coroutine of the home thread
                    assertReads(f, pool, 2 * PAGE, data);
                    assertEquals(PAGE, f.write(pool.asSlice(PAGE, PAGE), 0));
                }
                assertEquals(0, ctx.ioUring().registeredBuffers());
            }, "virtual");
            assertEquals(2, fixedRequests(f));
        }
        assertArrayEquals(Arrays.copyOfRange(data, 3 * PAGE, 4 * PAGE), Arrays.copyOfRange(Files.readAllBytes(p), 0, PAGE));
    }

    @Test
    void writesFromARegisteredBufferLandInTheFile() throws Exception {
        Path p = dir.resolve("w");
        byte[] data = random(6 * PAGE, 2);
        try (Arena a = Arena.ofConfined(); CoFile f = open(p, READ, WRITE, CREATE)) {
            MemorySegment other = a.allocate(PAGE, PAGE);
            MemorySegment pool = a.allocate(6 * PAGE, PAGE);
            pool.copyFrom(MemorySegment.ofArray(data));
            try (FixedBuffers fixed = FixedBuffers.register(ctx, other, pool)) {
                assertEquals(pool, fixed.buffer(1));
                run(() -> {
                    assertEquals(2 * PAGE, f.write(pool.asSlice(4 * PAGE, 2 * PAGE), 4 * PAGE)); // buf_index 1
                    assertEquals(4 * PAGE, f.write(pool.asSlice(0, 4 * PAGE), 0));
                    f.fdatasync();
                });
                assertEquals(2, fixedRequests(f));
            }
        }
        assertArrayEquals(data, Files.readAllBytes(p));
    }

    @Test
    void aSegmentPartlyOutsideTheRegisteredBufferFallsBackAndStillWorks() throws Exception {
        Path p = dir.resolve("fallback");
        byte[] data = random(4 * PAGE, 3);
        Files.write(p, data);
        byte[][] written = new byte[1][];
        try (Arena a = Arena.ofConfined(); CoFile f = open(p, READ, WRITE)) {
            MemorySegment mem = a.allocate(3 * PAGE, PAGE);
            MemorySegment elsewhere = a.allocate(PAGE, PAGE);
            try (FixedBuffers fixed = FixedBuffers.register(ctx, mem.asSlice(0, 2 * PAGE))) {
                run(() -> {
                    assertReads(f, mem, 0, data);                               // one page past the buffer's end
                    assertReads(f, mem.asSlice(PAGE + 10, PAGE), 3 * PAGE, data); // ends 10 bytes past it
                    assertReads(f, elsewhere, PAGE, data);                      // another allocation altogether
                    byte[] heap = new byte[PAGE];
                    assertEquals(PAGE, f.read(MemorySegment.ofArray(heap), 0)); // bounced through native memory
                    assertArrayEquals(Arrays.copyOfRange(data, 0, PAGE), heap);
                    assertEquals(PAGE, f.read(new MemorySegment[] {mem.asSlice(0, PAGE)}, 2 * PAGE)); // vectored
                    assertArrayEquals(Arrays.copyOfRange(data, 2 * PAGE, 3 * PAGE), mem.asSlice(0, PAGE).toArray(JAVA_BYTE));
                    written[0] = mem.toArray(JAVA_BYTE);
                    assertEquals(3 * PAGE, f.write(mem, PAGE));              // a write past the end too
                    f.fdatasync();
                });
                assertEquals(0, fixedRequests(f), "no request lay wholly inside the registered buffer");
            }
        }
        byte[] expect = data.clone();
        System.arraycopy(written[0], 0, expect, PAGE, 3 * PAGE);
        assertArrayEquals(expect, Files.readAllBytes(p));
    }

    @Test
    void theKernelReallyUsesTheRegisteredPages() throws Throwable {
        // Registration pins the buffer's page. Mapping a fresh page at the same address afterwards
        // leaves the pinned page in the kernel's table only: a READ_FIXED fills that page (our
        // mapping stays zero), a WRITE_FIXED sends it (the file gets what the read put there). A
        // plain READ/WRITE would use the page mapped now, and both checks would fail.
        Path p = dir.resolve("kernel");
        byte[] data = random(2 * PAGE, 4);
        Files.write(p, data);
        MemorySegment page = Mmap.anonymous(PAGE, 0);
        try (CoFile f = open(p, READ, WRITE)) {
            try (FixedBuffers fixed = FixedBuffers.register(ctx, page)) {
                Mmap.anonymous(PAGE, page.address()); // MAP_FIXED over the registered page
                run(() -> {
                    assertEquals(PAGE, f.read(page, 0));
                    assertArrayEquals(new byte[PAGE], page.toArray(JAVA_BYTE),
                            "a READ_FIXED fills the pinned page, not the one mapped now");
                    assertEquals(PAGE, f.write(page, PAGE));
                    f.fdatasync();
                });
                assertEquals(2, fixedRequests(f));
            }
        } finally {
            Mmap.unmap(page);
        }
        byte[] back = Files.readAllBytes(p);
        assertArrayEquals(Arrays.copyOfRange(data, 0, PAGE), Arrays.copyOfRange(back, PAGE, 2 * PAGE),
                "the WRITE_FIXED sent the pinned page, which holds what the READ_FIXED put there");
    }

    @Test
    void aBufferWhoseArenaClosedIsNoLongerUsed() throws Exception {
        Arena a = Arena.ofConfined();
        MemorySegment seg = a.allocate(PAGE, PAGE);
        try (FixedBuffers fixed = FixedBuffers.register(ctx, seg)) {
            assertEquals(0, ctx.ioUring().fixedBufferIndex(seg.address() + 8, 100));
            a.close();
            assertEquals(-1, ctx.ioUring().fixedBufferIndex(seg.address() + 8, 100),
                    "its address may now hold other memory than the pinned page");
        }
    }

    // ---- life cycle ----

    @Test
    void registeringTwiceThrowsAndCloseReleasesSoRegisteringAgainWorks() throws Exception {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s1 = a.allocate(PAGE, PAGE);
            MemorySegment s2 = a.allocate(PAGE, PAGE);
            FixedBuffers first = FixedBuffers.register(ctx, s1);
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> FixedBuffers.register(ctx, s2));
            assertTrue(e.getMessage().contains("'fixed-test'"), e.getMessage());
            assertEquals(0, ctx.ioUring().fixedBufferIndex(s1.address(), PAGE), "the first set is intact");
            first.close();
            assertFalse(first.isOpen());
            assertEquals(0, ctx.ioUring().registeredBuffers());
            first.close(); // idempotent
            try (FixedBuffers second = FixedBuffers.register(ctx, s2)) {
                first.close(); // still a no-op: it must not unregister the second set
                assertEquals(1, ctx.ioUring().registeredBuffers());
                assertEquals(-1, ctx.ioUring().fixedBufferIndex(s1.address(), PAGE));
                assertEquals(0, ctx.ioUring().fixedBufferIndex(s2.address(), PAGE));
            }
        }
    }

    @Test
    void offTheHomeThreadRegisterAndCloseThrow() throws Exception {
        try (Arena a = Arena.ofShared()) {
            MemorySegment s = a.allocate(PAGE, PAGE);
            Throwable t = thrownElsewhere(() -> FixedBuffers.register(ctx, s).close());
            assertInstanceOf(IllegalStateException.class, t);
            assertTrue(t.getMessage().contains("home thread"), t.getMessage());
            assertEquals(0, ctx.ioUring().registeredBuffers());
            try (FixedBuffers fixed = FixedBuffers.register(ctx, s)) {
                Throwable c = thrownElsewhere(fixed::close);
                assertInstanceOf(IllegalStateException.class, c);
                assertTrue(fixed.isOpen(), "a refused close leaves the set registered");
                assertEquals(1, ctx.ioUring().registeredBuffers());
            }
        }
    }

    @Test
    void pollAndEpollContextsRegisterOnTheirRequestRing() {
        for (FdMonitorKind kind : new FdMonitorKind[] {FdMonitorKind.EPOLL, FdMonitorKind.POLL}) {
            try (AioContext other = AioContext.builder().fdMonitor(kind).name("requests").build();
                 Arena a = Arena.ofConfined()) {
                MemorySegment s = a.allocate(PAGE, PAGE);
                try (FixedBuffers fixed = FixedBuffers.register(other, s)) {
                    assertEquals(1, other.ioUring().registeredBuffers(), kind.toString());
                    assertEquals(0, other.ioUring().fixedBufferIndex(s.address(), PAGE));
                    assertTrue(fixed.isOpen());
                }
                assertEquals(0, other.ioUring().registeredBuffers(), kind + ": close unregisters");
            }
        }
    }

    @Test
    void contextsWithoutIoUringRefuseClearly() {
        String key = io.jaio.aio.fdmon.IoUringFdMonitor.FORCE_FAILURE_PROPERTY;
        for (FdMonitorKind kind : new FdMonitorKind[] {FdMonitorKind.EPOLL, FdMonitorKind.POLL}) {
            System.setProperty(key, "true"); // the kernel refuses io_uring
            try (AioContext other = AioContext.builder().fdMonitor(kind).name("no-uring").build();
                 Arena a = Arena.ofConfined()) {
                MemorySegment s = a.allocate(PAGE);
                UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class,
                        () -> FixedBuffers.register(other, s));
                assertTrue(e.getMessage().contains("'no-uring'") && e.getMessage().contains("refuses io_uring"),
                        e.getMessage());
            } finally {
                System.clearProperty(key);
            }
        }
    }

    @Test
    void badBuffersAreRefusedBeforeTheKernelSeesThem() {
        try (Arena a = Arena.ofConfined()) {
            assertThrows(IllegalArgumentException.class, () -> FixedBuffers.register(ctx));
            assertThrows(IllegalArgumentException.class,
                    () -> FixedBuffers.register(ctx, MemorySegment.ofArray(new byte[PAGE])));
            assertThrows(IllegalArgumentException.class, () -> FixedBuffers.register(ctx, a.allocate(PAGE), a.allocate(0)));
            assertThrows(NullPointerException.class, () -> FixedBuffers.register(ctx, (MemorySegment) null));
            assertEquals(0, ctx.ioUring().registeredBuffers());
        }
    }

    @Test
    void kernelRefusalsAreNativeExceptionsWithTheErrnoAndRegisterNothing() {
        // Nothing is mapped at page 1: the kernel cannot pin it.
        MemorySegment unmapped = MemorySegment.ofAddress(PAGE).reinterpret(PAGE);
        NativeException e = assertThrows(NativeException.class, () -> FixedBuffers.register(ctx, unmapped));
        assertEquals(14 /* EFAULT */, e.errno(), e.getMessage());
        assertEquals(0, ctx.ioUring().registeredBuffers());
        try (Arena a = Arena.ofConfined(); FixedBuffers ok = FixedBuffers.register(ctx, a.allocate(PAGE))) {
            assertTrue(ok.isOpen(), "a refused registration leaves the ring free");
        }
    }

    @Test
    void closingTheContextReleasesTheBuffers() throws Exception {
        long before = vmPinKb();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment big = a.allocate(1 << 20, PAGE);
            FixedBuffers fixed = FixedBuffers.register(ctx, big);
            long pinned = vmPinKb();
            assumeTrue(pinned >= before + 1024, "this kernel does not show registered buffers in VmPin");
            ctx.close();
            assertFalse(fixed.isOpen());
            fixed.close(); // a no-op now, from any thread too
            assertEquals(null, thrownElsewhere(fixed::close));
            // The kernel frees a closed ring in a worker: wait (bounded) until the pages are unpinned.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(DEADLINE_SECONDS);
            while (vmPinKb() > before && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            assertEquals(before, vmPinKb(), "the ring's close unpinned the buffer");
        }
    }

    @Test
    void repeatedRegistrationLeaksNoFdsPinnedPagesOrNativeMemory() throws Exception {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(64 * 1024, PAGE);
            MemorySegment t = a.allocate(PAGE, PAGE);
            for (int i = 0; i < 20; i++) {
                FixedBuffers.register(ctx, s, t).close(); // warm-up
            }
            long fds = Linux.openFdCount();
            long pin = vmPinKb();
            for (int i = 0; i < 500; i++) {
                try (FixedBuffers f = FixedBuffers.register(ctx, s, t)) {
                    assertEquals(2, f.size());
                }
            }
            assertEquals(fds, Linux.openFdCount(), "fds leaked");
            assertEquals(pin, vmPinKb(), "pinned pages leaked (VmPin)");
        }
    }

    /** The process's pinned memory in KiB ({@code VmPin} of /proc/self/status). */
    private static long vmPinKb() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmPin:")) {
                return Long.parseLong(line.substring(6).replace("kB", "").trim());
            }
        }
        throw new AssertionError("no VmPin in /proc/self/status");
    }

    /** mmap/munmap of anonymous private pages, for the test that replaces a registered page. */
    private static final class Mmap {
        private static final Linker LINKER = Linker.nativeLinker();
        private static final MethodHandle MMAP = LINKER.downcallHandle(LINKER.defaultLookup().find("mmap").orElseThrow(),
                FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG));
        private static final MethodHandle MUNMAP = LINKER.downcallHandle(LINKER.defaultLookup().find("munmap").orElseThrow(),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));

        /** {@code len} fresh zero bytes, at {@code at} (MAP_FIXED, replacing what was there) unless 0. */
        static MemorySegment anonymous(long len, long at) throws Throwable {
            int flags = 0x02 /* MAP_PRIVATE */ | 0x20 /* MAP_ANONYMOUS */ | (at != 0 ? 0x10 /* MAP_FIXED */ : 0);
            MemorySegment m = (MemorySegment) MMAP.invokeExact(MemorySegment.ofAddress(at), len, 0x3 /* RW */, flags, -1, 0L);
            if (m.address() == -1L) {
                throw new AssertionError("mmap failed");
            }
            return m.reinterpret(len);
        }

        static void unmap(MemorySegment m) throws Throwable {
            assertEquals(0, (int) MUNMAP.invokeExact(m, m.byteSize()));
        }
    }
}
