package io.jaio.fs;

import io.jaio.linux.Linux;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static java.nio.file.StandardOpenOption.CREATE;
import static java.nio.file.StandardOpenOption.READ;
import static java.nio.file.StandardOpenOption.TRUNCATE_EXISTING;
import static java.nio.file.StandardOpenOption.WRITE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The {@link CoFile} contract, run per engine × fd monitor × coroutine engine by the subclasses,
 * on {@link CoFileHarness}: every I/O runs in coroutines entered from the test thread (the
 * context's home thread) and driven by {@code poll(true)}. No timing is asserted.
 */
abstract class CoFileContract extends CoFileHarness {
    /** The file engine under test. */
    abstract CoFile.Engine engine();

    private final List<Path> shmFiles = new ArrayList<>();

    @AfterEach
    void deleteShmFiles() throws IOException {
        for (Path p : shmFiles) {
            Files.deleteIfExists(p);
        }
    }

    CoFile open(Path p, java.nio.file.OpenOption... options) throws IOException {
        CoFile f = CoFile.open(ctx, p, engine(), options);
        assertEquals(engine(), f.engine());
        return f;
    }

    Path shmFile(String name) {
        Path p = Path.of("/dev/shm", "jaio-cofile-" + ProcessHandle.current().pid() + "-" + name);
        shmFiles.add(p);
        return p;
    }

    // ---- round trips ----

    @Test
    void writesAndReadsRoundTripExactBytesThroughEveryBufferKind() throws Exception {
        Path p = dir.resolve("rt");
        byte[] a = random(256 * 1024 + 7, 1);
        byte[] b = random(10_001, 2);
        byte[] c = random(4096, 3);
        byte[] d = random(333, 4);
        try (CoFile f = open(p, READ, WRITE, CREATE, TRUNCATE_EXISTING)) {
            run(() -> {
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment nat = arena.allocate(a.length);
                    nat.copyFrom(MemorySegment.ofArray(a));
                    assertEquals(a.length, f.write(nat, 0));                           // native segment
                    assertEquals(b.length, f.write(MemorySegment.ofArray(b), a.length)); // heap segment
                    ByteBuffer direct = ByteBuffer.allocateDirect(c.length).put(c).flip();
                    assertEquals(c.length, f.write(direct, a.length + b.length));       // direct buffer
                    assertEquals(0, direct.remaining(), "position advanced to the limit");
                    ByteBuffer heap = ByteBuffer.wrap(d);
                    assertEquals(d.length, f.write(heap, 1_000_000));                   // heap buffer, past EOF
                    assertEquals(1_000_000 + d.length, f.size());

                    MemorySegment back = arena.allocate(a.length);
                    assertEquals(a.length, f.read(back, 0));
                    assertArrayEquals(a, back.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
                    byte[] hb = new byte[b.length];
                    assertEquals(b.length, f.read(MemorySegment.ofArray(hb), a.length));
                    assertArrayEquals(b, hb);
                    ByteBuffer dc = ByteBuffer.allocateDirect(c.length);
                    assertEquals(c.length, f.read(dc, a.length + b.length));
                    assertEquals(c.length, dc.position());
                    byte[] cb = new byte[c.length];
                    dc.flip().get(cb);
                    assertArrayEquals(c, cb);
                    ByteBuffer hd = ByteBuffer.allocate(d.length);
                    assertEquals(d.length, f.read(hd, 1_000_000));
                    assertArrayEquals(d, hd.array());
                }
            });
        }
        byte[] all = Files.readAllBytes(p);
        assertEquals(1_000_000 + d.length, all.length);
        assertArrayEquals(a, Arrays.copyOfRange(all, 0, a.length));
        assertArrayEquals(b, Arrays.copyOfRange(all, a.length, a.length + b.length));
        assertArrayEquals(c, Arrays.copyOfRange(all, a.length + b.length, a.length + b.length + c.length));
        assertArrayEquals(new byte[1_000_000 - a.length - b.length - c.length],
                Arrays.copyOfRange(all, a.length + b.length + c.length, 1_000_000), "the gap reads as zeros");
        assertArrayEquals(d, Arrays.copyOfRange(all, 1_000_000, all.length));
    }

    @Test
    void defaultOpenPicksInlineForMemoryFilesAndTheContextsEngineElsewhere() throws Exception {
        Path disk = dir.resolve("auto");
        Files.write(disk, random(100, 11));
        Path shm = shmFile("auto");
        Files.write(shm, random(100, 12));
        assumeTrue(!MemoryFs.isMemoryBacked(FileSysProbe.fsType(disk)), "the test's temp dir is on tmpfs");
        try (CoFile d = CoFile.open(ctx, disk, READ); CoFile m = CoFile.open(ctx, shm, READ)) {
            assertEquals(ctx.hasIoUring() ? CoFile.Engine.IO_URING : CoFile.Engine.THREAD_POOL, d.engine(), d.toString());
            assertEquals(CoFile.Engine.INLINE, m.engine(), "a /dev/shm file is served inline");
            run(() -> {
                byte[] b = new byte[100];
                assertEquals(100, m.read(MemorySegment.ofArray(b), 0));
                assertArrayEquals(Files.readAllBytes(shm), b);
                assertEquals(100, d.read(MemorySegment.ofArray(b), 0));
                assertArrayEquals(Files.readAllBytes(disk), b);
            });
        }
    }

    /** The file system type of a path, through an fd of its own. */
    static final class FileSysProbe {
        static long fsType(Path p) {
            int fd = Linux.open(p.toString(), Linux.O_RDONLY | Linux.O_CLOEXEC, 0);
            try {
                return io.jaio.linux.FileSys.fsType(fd);
            } finally {
                Linux.close(fd);
            }
        }
    }

    @Test
    void readsStopOnlyAtEndOfFile() throws Exception {
        Path p = dir.resolve("eof");
        byte[] data = random(10_000, 5);
        Files.write(p, data);
        try (CoFile f = open(p, READ)) {
            run(() -> {
                byte[] buf = new byte[8192];
                assertEquals(10_000 - 8192, f.read(MemorySegment.ofArray(buf), 8192), "short only at EOF");
                assertArrayEquals(Arrays.copyOfRange(data, 8192, 10_000), Arrays.copyOf(buf, 10_000 - 8192));
                assertEquals(0, f.read(MemorySegment.ofArray(buf), 10_000));
                assertEquals(0, f.read(MemorySegment.ofArray(buf), 50_000));
                assertEquals(-1, f.read(ByteBuffer.allocate(16), 10_000), "the ByteBuffer form: -1 at EOF");
                assertEquals(0, f.read(ByteBuffer.allocate(0), 0), "no room: 0");
            });
        }
    }

    @Test
    void manyConcurrentReadsEachGetTheirOwnBytes() throws Exception {
        Path p = dir.resolve("qd");
        byte[] data = random(64 * 4096, 6);
        Files.write(p, data);
        try (CoFile f = open(p, READ)) {
            List<Body> bodies = new ArrayList<>();
            for (int i = 0; i < 64; i++) {
                int blk = (i * 37) % 64;
                bodies.add(() -> {
                    try (Arena a = Arena.ofConfined()) {
                        MemorySegment s = a.allocate(4096, 4096);
                        assertEquals(4096, f.read(s, blk * 4096L));
                        assertArrayEquals(Arrays.copyOfRange(data, blk * 4096, blk * 4096 + 4096),
                                s.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), "block " + blk);
                    }
                });
            }
            runAll(bodies);
        }
    }

    @Test
    void vectoredWritesAndReadsFollowBufferOrder() throws Exception {
        Path p = dir.resolve("vec");
        byte[] a = random(5000, 7);
        byte[] b = random(3, 8);
        byte[] c = random(70_000, 9);
        try (CoFile f = open(p, READ, WRITE, CREATE)) {
            run(() -> {
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment na = arena.allocate(a.length);
                    na.copyFrom(MemorySegment.ofArray(a));
                    long w = f.write(new MemorySegment[] {na, MemorySegment.ofArray(new byte[0]), MemorySegment.ofArray(b),
                            MemorySegment.ofArray(c)}, 100);
                    assertEquals(a.length + b.length + c.length, w);
                    // read back split differently, past EOF: short only by what the file lacks
                    byte[] r1 = new byte[4000];
                    MemorySegment r2 = arena.allocate(1003);
                    byte[] r3 = new byte[80_000];
                    long r = f.read(new MemorySegment[] {MemorySegment.ofArray(r1), r2, MemorySegment.ofArray(r3)}, 100);
                    assertEquals(a.length + b.length + c.length, r);
                    byte[] all = new byte[a.length + b.length + c.length];
                    System.arraycopy(a, 0, all, 0, a.length);
                    System.arraycopy(b, 0, all, a.length, b.length);
                    System.arraycopy(c, 0, all, a.length + b.length, c.length);
                    assertArrayEquals(Arrays.copyOfRange(all, 0, 4000), r1);
                    assertArrayEquals(Arrays.copyOfRange(all, 4000, 5003), r2.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
                    assertArrayEquals(Arrays.copyOfRange(all, 5003, all.length), Arrays.copyOf(r3, all.length - 5003));
                    // ByteBuffer forms advance each buffer
                    ByteBuffer x = ByteBuffer.allocate(10);
                    ByteBuffer y = ByteBuffer.allocateDirect(20);
                    assertEquals(30, f.read(new ByteBuffer[] {x, y}, 100));
                    assertEquals(10, x.position());
                    assertEquals(20, y.position());
                    assertEquals(-1, f.read(new ByteBuffer[] {ByteBuffer.allocate(4)}, 1_000_000));
                    assertThrows(IllegalArgumentException.class, () -> f.read(new MemorySegment[CoFile.MAX_BUFFERS + 1], 0));
                }
            });
        }
        byte[] file = Files.readAllBytes(p);
        assertArrayEquals(new byte[100], Arrays.copyOf(file, 100));
        assertArrayEquals(a, Arrays.copyOfRange(file, 100, 100 + a.length));
    }

    // ---- O_DIRECT ----

    @Test
    void directIoRoundTripsAlignedRequestsAndRefusesMisalignedOnesWithEinval() throws Exception {
        Path p = dir.resolve("direct");
        CoFile f;
        try {
            f = open(p, READ, WRITE, CREATE, CoFile.Option.DIRECT);
        } catch (java.nio.file.FileSystemException e) {
            assumeTrue(false, "no O_DIRECT on " + dir + ": " + e.getMessage());
            return;
        }
        try (f) {
            assertTrue(f.isDirect());
            byte[] data = random(8192, 10);
            run(() -> {
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment buf = arena.allocate(8192 + 4096, 4096);
                    MemorySegment aligned = buf.asSlice(0, 8192);
                    aligned.copyFrom(MemorySegment.ofArray(data));
                    assertEquals(8192, f.write(aligned, 4096));
                    MemorySegment back = arena.allocate(8192, 4096);
                    assertEquals(8192, f.read(back, 4096));
                    assertArrayEquals(data, back.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
                    byte[] heap = new byte[4096];
                    assertEquals(4096, f.read(MemorySegment.ofArray(heap), 8192), "heap buffers are bounced aligned");
                    assertArrayEquals(Arrays.copyOfRange(data, 4096, 8192), heap);
                    MemorySegment empty = MemorySegment.ofArray(new byte[0]);
                    assertEquals(8192, f.write(new MemorySegment[] {aligned, empty}, 4096),
                            "a vectored write ending in an empty buffer is complete, not cut short");
                    assertEquals(8192, f.read(new MemorySegment[] {back, empty}, 4096));

                    CoFileException offset = assertThrows(CoFileException.class, () -> f.read(back, 1));
                    assertEquals(Linux.EINVAL, offset.errno());
                    assertTrue(offset.getMessage().contains("O_DIRECT") && offset.getMessage().contains(" at 1 on "),
                            offset.getMessage());
                    CoFileException length = assertThrows(CoFileException.class, () -> f.write(buf.asSlice(0, 100), 0));
                    assertEquals(Linux.EINVAL, length.errno());
                    // The memory alignment O_DIRECT needs is the device's DMA alignment (Linux 6.0+),
                    // which may be below the block size: a misaligned address fails with EINVAL or works.
                    try {
                        assertEquals(4096, f.read(buf.asSlice(1, 4096), 4096));
                        assertArrayEquals(Arrays.copyOf(data, 4096),
                                buf.asSlice(1, 4096).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
                    } catch (CoFileException address) {
                        assertEquals(Linux.EINVAL, address.errno(), "a misaligned buffer address");
                    }
                }
            });
        }
    }

    // ---- sparse files ----

    @Test
    void seekDataAndSeekHoleFindTheExtentsOfASparseFile() throws Exception {
        Path p = shmFile("sparse");
        int mib = 1 << 20;
        try (CoFile f = open(p, READ, WRITE, CREATE, TRUNCATE_EXISTING)) {
            run(() -> {
                f.write(MemorySegment.ofArray(random(4096, 11)), 0);
                f.write(MemorySegment.ofArray(random(4096, 12)), mib);
                f.write(MemorySegment.ofArray(new byte[] {1}), 4L * mib - 1); // size 4 MiB, hole up to the last page
            });
            assertEquals(4L * mib, f.size(), "size() outside a coroutine, on the home thread");
            assertEquals(0, f.seekData(0));
            assertEquals(4096, f.seekHole(0));
            assertEquals(mib, f.seekData(4096));
            assertEquals(mib + 4096, f.seekHole(mib));
            assertEquals(4L * mib - 4096, f.seekData(mib + 4096), "tmpfs allocates the last byte's page");
            assertEquals(4L * mib, f.seekHole(4L * mib - 1), "the end of the file counts as a hole");
            assertEquals(-1, f.seekData(4L * mib), "no data at or past the end");
            assertEquals(-1, f.seekHole(4L * mib));
        }
    }

    @Test
    void punchHoleReadsBackZerosAndKeepsTheSize() throws Exception {
        Path p = shmFile("punch");
        byte[] data = new byte[64 * 1024];
        Arrays.fill(data, (byte) 0xab);
        try (CoFile f = open(p, READ, WRITE, CREATE, TRUNCATE_EXISTING)) {
            run(() -> {
                f.write(MemorySegment.ofArray(data), 0);
                f.punchHole(8192, 16384);
                byte[] back = new byte[data.length];
                assertEquals(data.length, f.read(MemorySegment.ofArray(back), 0));
                byte[] want = data.clone();
                Arrays.fill(want, 8192, 8192 + 16384, (byte) 0);
                assertArrayEquals(want, back);
                assertEquals(data.length, f.size(), "KEEP_SIZE");
                assertEquals(8192, f.seekHole(0), "the punched range is a hole");
                assertEquals(8192 + 16384, f.seekData(8192));
                assertThrows(IllegalArgumentException.class, () -> f.punchHole(0, 0));
            });
        }
    }

    @Test
    void allocateExtendsTheFileAndSyncsSucceed() throws Exception {
        Path p = dir.resolve("alloc");
        try (CoFile f = open(p, READ, WRITE, CREATE)) {
            run(() -> {
                f.allocate(0, 1 << 20);
                assertEquals(1 << 20, f.size());
                f.write(MemorySegment.ofArray(random(4096, 13)), 4096);
                f.fsync();
                f.fdatasync();
                assertEquals(1 << 20, f.size(), "a write inside the allocation keeps the size");
            });
        }
        assertEquals(1 << 20, Files.size(p));
    }

    // ---- errors and threads ----

    @Test
    void kernelErrorsAreIoExceptionsWithErrnoText() throws Exception {
        Path p = dir.resolve("ro");
        Files.write(p, new byte[4096]);
        assertThrows(NoSuchFileException.class, () -> open(dir.resolve("missing"), READ));
        try (CoFile f = open(p, READ)) {
            run(() -> {
                CoFileException e = assertThrows(CoFileException.class, () -> f.write(MemorySegment.ofArray(new byte[10]), 0));
                assertEquals(Linux.EBADF, e.errno(), "written through a read-only descriptor");
                assertTrue(e.getMessage().contains("Bad file descriptor") && e.getMessage().contains(p.toString()),
                        e.getMessage());
                assertThrows(IllegalArgumentException.class, () -> f.read(MemorySegment.ofArray(new byte[1]), -1));
                assertThrows(IllegalArgumentException.class,
                        () -> f.read(MemorySegment.ofArray(new byte[1]).asReadOnly(), 0));
            });
        }
        assertThrows(IllegalArgumentException.class, () -> CoFile.open(ctx, p, java.nio.file.StandardOpenOption.APPEND));
    }

    @Test
    void requestsOutsideACoroutineOrOffTheHomeThreadThrowAtOnce() throws Exception {
        Path p = dir.resolve("threads");
        Files.write(p, new byte[4096]);
        try (CoFile f = open(p, READ)) {
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> f.read(MemorySegment.ofArray(new byte[16]), 0));
            assertTrue(e.getMessage().contains("inside a coroutine"), e.getMessage());
            Throwable[] other = new Throwable[1];
            Thread t = new Thread(() -> other[0] = assertThrows(IllegalStateException.class, f::size));
            t.start();
            t.join();
            assertNotNull(other[0]);
            assertTrue(other[0].getMessage().contains("home thread"), other[0].getMessage());
        }
    }

    /** Nothing to transfer is no excuse: thread, closed state and position are checked first. */
    @Test
    void emptyRequestsAreCheckedLikeAnyOther() throws Exception {
        Path p = dir.resolve("empty");
        Files.write(p, new byte[4096]);
        CoFile f = open(p, READ, WRITE);
        try {
            ByteBuffer full = ByteBuffer.allocate(0);
            ByteBuffer[] fulls = {ByteBuffer.allocate(0), ByteBuffer.allocate(0)};
            assertThrows(IllegalStateException.class, () -> f.read(full, 0), "outside a coroutine");
            assertThrows(IllegalStateException.class, () -> f.read(fulls, 0));
            assertThrows(IllegalStateException.class, () -> f.write(full, 0));
            run(() -> {
                assertThrows(IllegalArgumentException.class, () -> f.read(full, -1));
                assertThrows(IllegalArgumentException.class, () -> f.read(fulls, -1));
                assertThrows(IllegalArgumentException.class, () -> f.write(full, -1));
                assertEquals(0, f.read(full, 0), "no room: 0");
                assertEquals(0, f.read(full, 1_000_000), "no room: 0, even past the end");
                assertEquals(0, f.read(fulls, 1_000_000));
                assertEquals(0, f.write(full, 0));
                f.close();
                assertThrows(ClosedChannelException.class, () -> f.read(full, 0));
                assertThrows(ClosedChannelException.class, () -> f.read(fulls, 0));
                assertThrows(ClosedChannelException.class, () -> f.write(full, 0));
            });
        } finally {
            f.close();
        }
    }

    @Test
    void aNullOpenOptionIsANullPointerException() throws Exception {
        Path p = dir.resolve("null-option");
        Files.write(p, new byte[16]);
        long fds = Linux.openFdCount();
        assertThrows(NullPointerException.class, () -> open(p, (java.nio.file.OpenOption) null));
        assertThrows(NullPointerException.class, () -> CoFile.open(ctx, p, READ, null));
        assertEquals(fds, Linux.openFdCount(), "nothing opened");
    }

    // ---- closing ----

    @Test
    void closeWithRequestsInFlightLetsThemFinishThenReleasesTheFd() throws Exception {
        Path p = dir.resolve("inflight");
        byte[] data = random(32 * 4096, 14);
        Files.write(p, data);
        try (CoFile warm = open(p, READ)) { // starts what the engine creates lazily (pool workers...)
            run(() -> warm.read(MemorySegment.ofArray(new byte[16]), 0));
        }
        long fdsBefore = Linux.openFdCount();
        CoFile f = open(p, READ);
        assertEquals(fdsBefore + 1, Linux.openFdCount());
        int n = 32;
        List<Body> bodies = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int k = i;
            bodies.add(() -> {
                byte[] b = new byte[4096];
                assertEquals(4096, f.read(MemorySegment.ofArray(b), k * 4096L));
                assertArrayEquals(Arrays.copyOfRange(data, k * 4096, k * 4096 + 4096), b, "read " + k + " got its bytes");
            });
        }
        Started reads = start(bodies);
        if (engine() == CoFile.Engine.INLINE) { // never suspends: every read is done when its coroutine yields
            assertEquals(0, reads.remaining, "an inline read completes inside the call");
            reads.await();
            f.close();
            assertEquals(fdsBefore, Linux.openFdCount(), "closed with nothing in flight: the fd at once");
            run(() -> assertThrows(ClosedChannelException.class, () -> f.read(MemorySegment.ofArray(new byte[1]), 0)));
            return;
        }
        assertEquals(n, reads.remaining, "every read is suspended in flight");
        f.close();
        assertFalse(f.isOpen());
        assertEquals(fdsBefore + 1, Linux.openFdCount(), "the fd stays open while the kernel or a worker may use it");
        reads.await();
        assertEquals(fdsBefore, Linux.openFdCount(), "the last request to finish closed the fd");
        run(() -> assertThrows(ClosedChannelException.class, () -> f.read(MemorySegment.ofArray(new byte[1]), 0)));
        assertThrows(ClosedChannelException.class, f::size);
        f.close(); // idempotent
    }

    @Test
    void closeFromAnotherThreadRunsOnTheHomeThread() throws Exception {
        Path p = dir.resolve("close-other");
        Files.write(p, new byte[16]);
        long fdsBefore = Linux.openFdCount();
        CoFile f = open(p, READ);
        java.util.concurrent.atomic.AtomicBoolean returned = new java.util.concurrent.atomic.AtomicBoolean();
        Thread t = new Thread(() -> {
            f.close(); // blocks until the home thread has run the close
            returned.set(true); // volatile write before the wake-up; read by pollUntil's check
            ctx.wakeup();
        });
        t.start();
        pollUntil(returned::get);
        t.join();
        assertFalse(f.isOpen());
        assertEquals(fdsBefore, Linux.openFdCount());
    }

    /** glibc's {@code mallinfo2()}: bytes in use (uordblks + hblkhd), where Arena memory comes from. */
    private static long mallocInUse() {
        try {
            java.lang.foreign.Linker linker = java.lang.foreign.Linker.nativeLinker();
            java.lang.foreign.StructLayout info = java.lang.foreign.MemoryLayout.structLayout(
                    java.util.stream.Stream.generate(() -> java.lang.foreign.ValueLayout.JAVA_LONG).limit(10)
                            .toArray(java.lang.foreign.MemoryLayout[]::new));
            java.lang.invoke.MethodHandle h = linker.downcallHandle(linker.defaultLookup().find("mallinfo2").orElseThrow(),
                    java.lang.foreign.FunctionDescriptor.of(info));
            try (Arena a = Arena.ofConfined()) {
                MemorySegment m = (MemorySegment) h.invokeExact((java.lang.foreign.SegmentAllocator) a);
                return m.getAtIndex(java.lang.foreign.ValueLayout.JAVA_LONG, 7) + m.getAtIndex(java.lang.foreign.ValueLayout.JAVA_LONG, 4);
            }
        } catch (Throwable t) {
            throw new AssertionError("mallinfo2", t);
        }
    }

    @Test
    void repeatedUseReleasesFdsAndNativeMemory() throws Exception {
        Path p = shmFile("leak"); // tmpfs: fdatasync is free, the cycle stays cheap on a loaded machine
        int big = 256 * 1024;
        Files.write(p, random(3 * big, 15));
        Runnable cycle = () -> {
            try (CoFile f = open(p, READ, WRITE)) {
                run(() -> {
                    byte[] b = new byte[big];
                    f.read(MemorySegment.ofArray(b), 0);                                          // bounced read
                    f.write(MemorySegment.ofArray(b), big);                                       // bounced write
                    f.read(new MemorySegment[] {MemorySegment.ofArray(b), MemorySegment.ofArray(new byte[10])}, 0);
                    f.fdatasync();
                });
            } catch (IOException e) {
                throw new AssertionError(e);
            }
        };
        for (int i = 0; i < 30; i++) {
            cycle.run(); // warm-up: class loading, lazily opened files, JIT
        }
        long fds = Linux.openFdCount();
        long mem = mallocInUse();
        for (int i = 0; i < 100; i++) {
            cycle.run();
        }
        assertEquals(fds, Linux.openFdCount(), "fds leaked");
        // Each cycle bounces 768 KiB through native memory (malloc underneath Arena): a leak would
        // show as >= 75 MB. The JVM's own malloc use (JIT, GC) moves by far less.
        long grown = mallocInUse() - mem;
        assertTrue(grown < 16L << 20, "native memory leaked: " + grown + " bytes over 100 cycles");
    }
}
