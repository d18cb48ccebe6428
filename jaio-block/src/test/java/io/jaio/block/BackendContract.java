package io.jaio.block;

import io.jaio.linux.FileSys;
import io.jaio.linux.Linux;
import io.jaio.block.BlockBackend.Extent;
import io.jaio.block.RawFileBackend.Engine;
import io.jaio.block.RawFileBackend.Options;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The {@link BlockBackend} contract over {@link RawFileBackend}, run by one subclass per
 * engine × cache mode. Every test drives coroutines in a context created in the test thread.
 */
abstract class BackendContract {
    static final int K = 1024;
    static final int M = 1024 * 1024;

    @TempDir
    Path tempDir;
    /** Where the test's files go: {@link #tempDir}, or a directory in /dev/shm for {@link #inline()}. */
    Path dir;
    Harness h;
    Arena arena;
    private final List<RawFileBackend> opened = new ArrayList<>();

    abstract Engine engine();

    abstract boolean cacheNone();

    /**
     * Whether this variant runs on tmpfs (/dev/shm) with inline I/O; the engine variants turn
     * inline I/O off, so they test their engine even where the temp directory is tmpfs.
     */
    boolean inline() {
        return false;
    }

    @BeforeEach
    void setUp() throws IOException {
        if (inline()) {
            Path shm = Path.of("/dev/shm");
            Assumptions.assumeTrue(Files.isDirectory(shm), "no /dev/shm on this machine");
            dir = Files.createTempDirectory(shm, "jaio-block-test-");
        } else {
            dir = tempDir;
        }
        h = Harness.create(engine());
        arena = Arena.ofShared();
    }

    @AfterEach
    void tearDown() throws IOException {
        try {
            for (RawFileBackend b : opened) {
                b.close();
            }
        } finally {
            h.close();
            arena.close();
            if (inline()) {
                try (var files = Files.walk(dir)) {
                    files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
                }
            }
        }
    }

    Options opts() {
        return Options.defaults().withEngine(engine()).withCacheNone(cacheNone()).withDiscard(true)
                .withInlineMemoryFiles(inline());
    }

    /** Opens {@code file}; skips the test if cache=none is asked on a file system without O_DIRECT. */
    RawFileBackend open(Path file, Options o) {
        return open(file, o, java.util.function.UnaryOperator.identity());
    }

    /** {@link #open(Path, Options)} with the backend's engine seen through {@code ioFilter}. */
    RawFileBackend open(Path file, Options o, java.util.function.UnaryOperator<FileIo> ioFilter) {
        try {
            RawFileBackend b = RawFileBackend.open(h.ctx, file, o, ioFilter);
            opened.add(b);
            assertEquals(engine(), b.engine());
            assertEquals(o.inlineMemoryFiles() && inline(), b.inlineIo(),
                    "inline I/O exactly for the tmpfs variant (file system of " + dir + ")");
            return b;
        } catch (BlockException e) {
            if (o.cacheNone() && e.errno() == Linux.EINVAL) {
                Assumptions.abort("skipped: the file system of " + dir + " refuses O_DIRECT (" + e.getMessage() + ")");
            }
            throw e;
        }
    }

    RawFileBackend open(Path file) {
        return open(file, opts());
    }

    /** A sparse file of {@code size} bytes. */
    Path sparseFile(String name, long size) throws IOException {
        Path p = dir.resolve(name);
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(size);
        }
        return p;
    }

    static byte[] pattern(int len, int seed) {
        byte[] b = new byte[len];
        int x = seed * 0x9E3779B1 + 1;
        for (int i = 0; i < len; i++) {
            x ^= x << 13;
            x ^= x >>> 17;
            x ^= x << 5;
            b[i] = (byte) x;
        }
        return b;
    }

    /** A native, 4096-aligned copy of {@code data}. */
    MemorySegment nativeOf(byte[] data) {
        MemorySegment s = arena.allocate(Math.max(1, data.length), 4096).asSlice(0, data.length);
        MemorySegment.copy(data, 0, s, ValueLayout.JAVA_BYTE, 0, data.length);
        return s;
    }

    MemorySegment buffer(long len) {
        return arena.allocate(Math.max(1, len), 4096).asSlice(0, len);
    }

    byte[] readBytes(BlockBackend b, long off, int len) {
        MemorySegment s = buffer(len);
        s.fill((byte) 0x5a);
        b.read(off, s);
        return s.toArray(ValueLayout.JAVA_BYTE);
    }

    static void assertZero(byte[] b, int from, int to) {
        for (int i = from; i < to; i++) {
            if (b[i] != 0) {
                throw new AssertionError("byte " + i + " is " + b[i] + ", expected 0 in [" + from + ", " + to + ")");
            }
        }
    }

    static void assertSlice(byte[] expected, int expFrom, byte[] actual, int actFrom, int len) {
        assertArrayEquals(java.util.Arrays.copyOfRange(expected, expFrom, expFrom + len),
                java.util.Arrays.copyOfRange(actual, actFrom, actFrom + len));
    }

    static BlockException blockError(int errno, org.junit.jupiter.api.function.Executable e) {
        BlockException x = assertThrows(BlockException.class, e);
        assertEquals(errno, x.errno(), x.getMessage());
        return x;
    }

    long allocatedBlocks(RawFileBackend b) {
        long r = FileSys.allocatedBlocks(b.fd());
        assertTrue(r >= 0, "fstat failed: " + r);
        return r;
    }

    /**
     * An engine whose file system refuses {@code fallocate(0)} ({@code EOPNOTSUPP}) while
     * {@link #refuseAllocate} is set, and that records every fallocate mode it is asked for.
     */
    static final class RefusingIo implements FileIo {
        final FileIo inner;
        boolean refuseAllocate;
        final List<Integer> fallocates = new ArrayList<>();

        RefusingIo(FileIo inner, boolean refuseAllocate) {
            this.inner = inner;
            this.refuseAllocate = refuseAllocate;
        }

        @Override
        public long read(long addr, long len, long off) {
            return inner.read(addr, len, off);
        }

        @Override
        public long write(long addr, long len, long off, boolean fua) {
            return inner.write(addr, len, off, fua);
        }

        @Override
        public int datasync() {
            return inner.datasync();
        }

        @Override
        public int fallocate(int mode, long off, long len) {
            fallocates.add(mode);
            return mode == 0 && refuseAllocate ? -Linux.EOPNOTSUPP : inner.fallocate(mode, off, len);
        }

        boolean punched() {
            return fallocates.contains(FileSys.FALLOC_FL_PUNCH_HOLE | FileSys.FALLOC_FL_KEEP_SIZE);
        }
    }

    static Extent data(long len) {
        return new Extent(len, false, false);
    }

    static Extent hole(long len) {
        return new Extent(len, true, true);
    }

    // =====================================================================================

    @Test
    void reportsItsShape() throws Exception {
        RawFileBackend b = open(sparseFile("img", 4 * M));
        assertEquals(4 * M, b.size());
        assertFalse(b.isReadOnly());
        assertTrue(b.canDiscard());
        int fl = io.jaio.linux.Linux.fcntl(b.fd(), io.jaio.linux.Linux.F_GETFL, 0);
        assertEquals(cacheNone(), (fl & io.jaio.linux.Linux.O_DIRECT) != 0, "O_DIRECT iff cache=none");
        assertEquals(io.jaio.linux.Linux.O_RDWR, fl & 3);
        if (cacheNone()) {
            assertTrue(b.alignment() >= 512 && b.alignment() <= 4096 && Integer.bitCount(b.alignment()) == 1,
                    "O_DIRECT alignment " + b.alignment());
        } else {
            assertEquals(1, b.alignment());
        }
    }

    @Test
    void writeReadRoundTrip() throws Exception {
        RawFileBackend b = open(sparseFile("img", 4 * M));
        byte[] a = pattern(64 * K, 1);
        byte[] c = pattern(128 * K, 2);
        h.run(() -> {
            b.write(0, nativeOf(a), false);
            b.write(M, nativeOf(c), false);
            assertArrayEquals(a, readBytes(b, 0, a.length));
            assertArrayEquals(c, readBytes(b, M, c.length));
            assertZero(readBytes(b, 64 * K, 64 * K), 0, 64 * K); // never written: zero
        });
        // On disk, through the page cache, too.
        byte[] onDisk = Files.readAllBytes(b.path());
        assertSlice(a, 0, onDisk, 0, a.length);
        assertSlice(c, 0, onDisk, M, c.length);
    }

    @Test
    void heapAndMisalignedBuffersAreBounced() throws Exception {
        RawFileBackend b = open(sparseFile("img", M));
        byte[] a = pattern(16 * K, 3);
        h.run(() -> {
            b.write(4 * K, MemorySegment.ofArray(a.clone()), false); // heap segment
            byte[] back = new byte[a.length];
            b.read(4 * K, MemorySegment.ofArray(back));
            assertArrayEquals(a, back);

            // A native buffer one byte off alignment.
            MemorySegment odd = arena.allocate(a.length + 1, 4096).asSlice(1, a.length);
            MemorySegment.copy(a, 0, odd, ValueLayout.JAVA_BYTE, 0, a.length);
            b.write(64 * K, odd, false);
            MemorySegment odd2 = arena.allocate(a.length + 1, 4096).asSlice(1, a.length);
            b.read(64 * K, odd2);
            assertArrayEquals(a, odd2.toArray(ValueLayout.JAVA_BYTE));
        });
    }

    @Test
    void unalignedRequests() throws Exception {
        RawFileBackend b = open(sparseFile("img", M));
        byte[] p = pattern(8 * K, 4);
        h.run(() -> {
            b.write(0, nativeOf(p), false);
            if (!cacheNone()) {
                b.write(4097, MemorySegment.ofArray(new byte[] {1, 2, 3}), false);
                byte[] got = readBytes(b, 4095, 10);
                byte[] want = java.util.Arrays.copyOfRange(p, 4095, 4105);
                want[2] = 1;
                want[3] = 2;
                want[4] = 3;
                assertArrayEquals(want, got);
                b.writeZeroes(4099, 3, false, false, false);
                b.discard(1, 3, false);
                byte[] after = readBytes(b, 0, 8);
                assertEquals(p[0], after[0]);
                assertZero(after, 1, 4);
                assertEquals(p[4], after[4]);
            } else {
                int al = b.alignment();
                blockError(Linux.EINVAL, () -> b.write(al / 2, nativeOf(new byte[al]), false));
                blockError(Linux.EINVAL, () -> b.write(0, nativeOf(new byte[al + 1]), false));
                blockError(Linux.EINVAL, () -> b.writeZeroes(1, al, false, false, false));
                blockError(Linux.EINVAL, () -> b.writeZeroes(0, al - 1, false, false, false));
                // Reads may be unaligned: bounced through an aligned buffer.
                assertSlice(p, 4000, readBytes(b, 4000, 333), 0, 333);
                assertSlice(p, 1, readBytes(b, 1, 8 * K - 1), 0, 8 * K - 1);
                // Discard needs no alignment either (advisory).
                b.discard(100, 50, false);
                assertZero(readBytes(b, 100, 50), 0, 50);
            }
        });
    }

    @Test
    void fuaWriteAndFlush() throws Exception {
        RawFileBackend b = open(sparseFile("img", M));
        byte[] p = pattern(128 * K, 5);
        h.run(() -> {
            b.write(512 * K, nativeOf(p), true);
            assertArrayEquals(p, readBytes(b, 512 * K, p.length));
            b.write(0, nativeOf(p), false);
            b.flush();
            b.write(0, buffer(0), true); // empty FUA write = flush
            assertArrayEquals(p, readBytes(b, 0, p.length));
        });
    }

    @Test
    void discardPunchesAHoleThatReadsAsZeroes() throws Exception {
        RawFileBackend b = open(sparseFile("img", 4 * M));
        byte[] p = pattern(256 * K, 6);
        h.run(() -> {
            b.write(0, nativeOf(p), false);
            b.flush();
            b.discard(64 * K, 64 * K, false);
            byte[] got = readBytes(b, 0, p.length);
            assertSlice(p, 0, got, 0, 64 * K);
            assertZero(got, 64 * K, 128 * K);
            assertSlice(p, 128 * K, got, 128 * K, 128 * K);
            assertEquals(List.of(data(64 * K), hole(64 * K), data(128 * K)), b.blockStatus(0, 256 * K));
            b.discard(192 * K, 64 * K, true);
            assertEquals(List.of(data(64 * K), hole(64 * K), data(64 * K), hole(64 * K)), b.blockStatus(0, 256 * K));
        });
    }

    @Test
    void discardIsANoOpWhenNotAllowed() throws Exception {
        RawFileBackend b = open(sparseFile("img", M), opts().withDiscard(false));
        assertFalse(b.canDiscard());
        byte[] p = pattern(64 * K, 7);
        h.run(() -> {
            b.write(0, nativeOf(p), false);
            b.discard(0, 64 * K, false);
            assertArrayEquals(p, readBytes(b, 0, p.length));
            // mayUnmap is not honoured either: the zeroes stay allocated.
            b.writeZeroes(0, 64 * K, true, false, false);
            assertZero(readBytes(b, 0, 64 * K), 0, 64 * K);
        });
    }

    @Test
    void writeZeroesMayUnmapPunchesAHole() throws Exception {
        RawFileBackend b = open(sparseFile("img", M));
        byte[] p = pattern(256 * K, 8);
        h.run(() -> {
            b.write(0, nativeOf(p), false);
            b.flush();
            long before = allocatedBlocks(b);
            b.writeZeroes(64 * K, 64 * K, true, true, false);
            byte[] got = readBytes(b, 0, p.length);
            assertSlice(p, 0, got, 0, 64 * K);
            assertZero(got, 64 * K, 128 * K);
            assertSlice(p, 128 * K, got, 128 * K, 128 * K);
            assertEquals(List.of(data(64 * K), hole(64 * K), data(128 * K)), b.blockStatus(0, 256 * K));
            assertTrue(allocatedBlocks(b) < before, "the hole released blocks");
        });
    }

    /**
     * Without mayUnmap the range stays allocated: {@code st_blocks} does not shrink. (On ext4/xfs
     * FALLOC_FL_ZERO_RANGE leaves unwritten extents, which SEEK_DATA reports as holes, so block
     * status is not the witness here; QEMU's file-posix reports the same.)
     */
    @Test
    void writeZeroesWithoutUnmapKeepsTheRangeAllocated() throws Exception {
        RawFileBackend b = open(sparseFile("img", M));
        byte[] p = pattern(256 * K, 9);
        h.run(() -> {
            b.write(0, nativeOf(p), false);
            b.flush();
            long before = allocatedBlocks(b);
            b.writeZeroes(64 * K, 64 * K, false, false, true);
            byte[] got = readBytes(b, 0, p.length);
            assertSlice(p, 0, got, 0, 64 * K);
            assertZero(got, 64 * K, 128 * K);
            assertSlice(p, 128 * K, got, 128 * K, 128 * K);
            assertTrue(allocatedBlocks(b) >= before, "no block was released");
            for (Extent e : b.blockStatus(64 * K, 64 * K)) {
                assertTrue(!e.hole() || e.zero(), "a hole reads as zero");
            }
        });
    }

    /** ZERO_RANGE refused (as on tmpfs): punch a hole, then fallocate(0) to allocate it again. */
    @Test
    void writeZeroesWithoutZeroRangeReallocates() throws Exception {
        RawFileBackend b = open(sparseFile("img", M));
        b.zeroRangeSupported = false;
        byte[] p = pattern(256 * K, 10);
        h.run(() -> {
            b.write(0, nativeOf(p), false);
            b.flush();
            long before = allocatedBlocks(b);
            b.writeZeroes(64 * K, 64 * K, false, true, false); // still fast
            assertZero(readBytes(b, 64 * K, 64 * K), 0, 64 * K);
            assertSlice(p, 128 * K, readBytes(b, 128 * K, 128 * K), 0, 128 * K);
            assertTrue(allocatedBlocks(b) >= before, "reallocated");
        });
    }

    /** Nothing fast (no ZERO_RANGE, no fallocate(0)): fastOnly refuses with ENOTSUP, else zero buffers are written. */
    @Test
    void writeZeroesFastOnlyAndTheWriteFallback() throws Exception {
        RawFileBackend b = open(sparseFile("img", 4 * M));
        b.zeroRangeSupported = false;
        b.fallocateSupported = false;
        byte[] p = pattern(M, 11);
        h.run(() -> {
            b.write(0, nativeOf(p), false);
            blockError(Linux.ENOTSUP, () -> b.writeZeroes(0, 64 * K, false, true, false));
            assertArrayEquals(p, readBytes(b, 0, p.length), "a refused fast zero changes nothing");

            // mayUnmap with discard allowed: punching a hole is fast.
            b.writeZeroes(0, 64 * K, true, true, false);
            assertZero(readBytes(b, 0, 64 * K), 0, 64 * K);

            // Slow path: explicit zero writes, so the range is data (allocated) afterwards,
            // across more than one zero-buffer chunk and into a hole.
            b.writeZeroes(64 * K, 2 * M, false, false, true);
            byte[] got = readBytes(b, 0, 3 * M);
            assertZero(got, 0, 64 * K + 2 * M);
            assertEquals(List.of(hole(64 * K), data(2 * M)), b.blockStatus(0, 64 * K + 2 * M));
        });
    }

    /**
     * No ZERO_RANGE and a file system that refuses fallocate(0): step 3 (punch, then allocate)
     * cannot leave the range allocated, so it must not start. A fast-only zero fails with ENOTSUP
     * having changed nothing; without fastOnly the zeroes are written, and no hole is ever punched
     * when mayUnmap is false.
     */
    @Test
    void writeZeroesNeverPunchesWhatItCannotReallocate() throws Exception {
        RefusingIo[] io = new RefusingIo[1];
        RawFileBackend b = open(sparseFile("img", M), opts(), inner -> io[0] = new RefusingIo(inner, true));
        b.zeroRangeSupported = false;
        byte[] p = pattern(256 * K, 19);
        h.run(() -> {
            b.write(0, nativeOf(p), false);
            b.flush();
            long before = allocatedBlocks(b);
            blockError(Linux.ENOTSUP, () -> b.writeZeroes(64 * K, 64 * K, false, true, false));
            assertArrayEquals(p, readBytes(b, 0, p.length), "a refused fast zero changes no byte");
            assertTrue(allocatedBlocks(b) >= before, "and deallocates nothing");
            assertFalse(io[0].punched(), "no hole punched: " + io[0].fallocates);
            assertFalse(b.fallocateSupported, "the refusal is remembered");

            b.writeZeroes(64 * K, 64 * K, false, false, false); // written
            assertZero(readBytes(b, 64 * K, 64 * K), 0, 64 * K);
            assertSlice(p, 128 * K, readBytes(b, 128 * K, 128 * K), 0, 128 * K);
            assertTrue(allocatedBlocks(b) >= before, "still allocated");
            assertFalse(io[0].punched(), "no hole punched without mayUnmap: " + io[0].fallocates);
        });
    }

    /**
     * fallocate(0) works once, then is refused right after step 3 punched the hole: the request
     * has changed the range already, so it may not fail with ENOTSUP; the hole is filled with
     * written zeroes (allocated again), even with fastOnly.
     */
    @Test
    void writeZeroesRefillsAHoleWhenAllocateIsRefusedAfterThePunch() throws Exception {
        RefusingIo[] io = new RefusingIo[1];
        RawFileBackend b = open(sparseFile("img", M), opts().withDiscard(false), inner -> io[0] = new RefusingIo(inner, false));
        b.zeroRangeSupported = false;
        byte[] p = pattern(256 * K, 20);
        h.run(() -> {
            b.write(0, nativeOf(p), false);
            b.flush();
            long before = allocatedBlocks(b);
            b.writeZeroes(0, 64 * K, true, true, false); // discard off: stays allocated; proves fallocate(0)
            assertTrue(b.fallocateProven);
            assertZero(readBytes(b, 0, 64 * K), 0, 64 * K);
            assertTrue(allocatedBlocks(b) >= before, "reallocated");

            io[0].refuseAllocate = true;
            b.writeZeroes(64 * K, 64 * K, false, true, false);
            assertFalse(b.fallocateSupported, "the refusal is remembered");
            byte[] got = readBytes(b, 0, p.length);
            assertZero(got, 0, 128 * K);
            assertSlice(p, 128 * K, got, 128 * K, 128 * K);
            assertTrue(allocatedBlocks(b) >= before, "the punched range was written again");
            // (Not [0, 64K): fallocate(0) on ext4/xfs makes unwritten extents, which SEEK_DATA calls holes.)
            assertEquals(List.of(data(64 * K)), b.blockStatus(64 * K, 64 * K), "written zeroes are data, no hole");
        });
    }

    @Test
    void readsPastEndOfAShortFileAreZeroFilled() throws Exception {
        Path f = sparseFile("img", M);
        byte[] p = pattern(M, 12);
        Files.write(f, p);
        RawFileBackend b = open(f);
        int cut = 10_000;
        try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
            raf.setLength(M - cut); // behind the backend's back: size() stays M
        }
        assertEquals(M, b.size());
        h.run(() -> {
            byte[] got = readBytes(b, M - 64 * K, 64 * K);
            assertSlice(p, M - 64 * K, got, 0, 64 * K - cut);
            assertZero(got, 64 * K - cut, 64 * K);
            byte[] tail = readBytes(b, M - 4096, 4096); // entirely past EOF
            assertZero(tail, 0, 4096);
            assertEquals(List.of(hole(8192)), b.blockStatus(M - 8192, 8192), "past EOF: a hole");
        });
    }

    @Test
    void outOfRangeRequestsFailBeforeAnyIo() throws Exception {
        RawFileBackend b = open(sparseFile("img", M));
        h.run(() -> {
            blockError(Linux.EINVAL, () -> b.read(M - 4096, buffer(8192)));
            blockError(Linux.EINVAL, () -> b.read(-4096, buffer(4096)));
            blockError(Linux.EINVAL, () -> b.read(M + 4096, buffer(4096)));
            b.read(M, buffer(0)); // empty at the end: fine
            blockError(Linux.ENOSPC, () -> b.write(M, nativeOf(new byte[4096]), false));
            blockError(Linux.ENOSPC, () -> b.write(M - 4096, nativeOf(new byte[8192]), false));
            blockError(Linux.EINVAL, () -> b.write(-4096, nativeOf(new byte[4096]), false));
            blockError(Linux.ENOSPC, () -> b.writeZeroes(M - 4096, 8192, false, false, false));
            blockError(Linux.ENOSPC, () -> b.writeZeroes(Long.MAX_VALUE - 4095, 4096, false, false, false));
            blockError(Linux.ENOSPC, () -> b.discard(M, 4096, false));
            blockError(Linux.EINVAL, () -> b.discard(0, -1, false));
            blockError(Linux.EINVAL, () -> b.blockStatus(M, 1));
            blockError(Linux.EINVAL, () -> b.blockStatus(-1, 1));
            blockError(Linux.EINVAL, () -> b.blockStatus(0, 0));
            assertEquals(List.of(hole(4096)), b.blockStatus(M - 4096, Long.MAX_VALUE), "clamped to size");
        });
        assertEquals(M, Files.size(b.path()), "nothing was written");
    }

    @Test
    void readOnlyRefusesWritesWithEperm() throws Exception {
        Path f = sparseFile("img", M);
        byte[] p = pattern(64 * K, 13);
        Files.write(f, p, StandardOpenOption.WRITE);
        RawFileBackend b = open(f, opts().withReadOnly(true));
        assertTrue(b.isReadOnly());
        assertFalse(b.canDiscard());
        h.run(() -> {
            blockError(Linux.EPERM, () -> b.write(0, nativeOf(new byte[4096]), false));
            blockError(Linux.EPERM, () -> b.write(M, nativeOf(new byte[4096]), false)); // EPERM first
            blockError(Linux.EPERM, () -> b.writeZeroes(0, 4096, true, false, false));
            blockError(Linux.EPERM, () -> b.discard(0, 4096, false));
            assertArrayEquals(p, readBytes(b, 0, p.length));
            b.flush();
            assertEquals(List.of(data(64 * K), hole(M - 64 * K)), b.blockStatus(0, M));
        });
    }

    @Test
    void manyConcurrentRequestsFromManyCoroutines() throws Exception {
        int n = 256;
        int blk = 4096;
        RawFileBackend b = open(sparseFile("img", (long) n * blk));
        long[] want = new long[n];
        List<Harness.Body> writers = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int k = i;
            byte[] p = pattern(blk, 100 + i);
            CRC32 crc = new CRC32();
            crc.update(p);
            want[i] = crc.getValue();
            MemorySegment buf = nativeOf(p);
            writers.add(() -> b.write((long) k * blk, buf, k % 16 == 0));
        }
        // Inline I/O never suspends: each write is done before the next coroutine starts.
        h.runAll(writers, finished -> assertEquals(inline() ? n : 0, finished,
                inline() ? "inline: every write done on entry" : "all " + n + " writes in flight at once"));
        long[] got = new long[n];
        List<Harness.Body> readers = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int k = i;
            readers.add(() -> {
                byte[] back = readBytes(b, (long) k * blk, blk);
                CRC32 crc = new CRC32();
                crc.update(back);
                got[k] = crc.getValue();
            });
        }
        h.runAll(readers);
        assertArrayEquals(want, got);
    }

    @Test
    void sparseFileBlockStatusLayout() throws Exception {
        Path f = dir.resolve("sparse");
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(pattern(64 * K, 14)), 0);
            ch.write(ByteBuffer.wrap(pattern(4 * K, 15)), M);
            ch.force(true);
        }
        RawFileBackend b = open(f);
        assertEquals(M + 4 * K, b.size());
        h.run(() -> {
            assertEquals(List.of(data(64 * K), hole(M - 64 * K), data(4 * K)), b.blockStatus(0, b.size()));
            assertEquals(List.of(data(32 * K), hole(32 * K)), b.blockStatus(32 * K, 64 * K));
            assertEquals(List.of(hole(4 * K)), b.blockStatus(128 * K, 4 * K));
            assertEquals(List.of(hole(4 * K), data(4 * K)), b.blockStatus(M - 4 * K, M));
            assertEquals(List.of(data(4 * K)), b.blockStatus(M, 4 * K));
        });
    }

    @Test
    void closeReleasesTheFd() throws Exception {
        Path f = sparseFile("img", M);
        int before = io.jaio.linux.Linux.openFdCount();
        RawFileBackend b = open(f);
        // Inline with cache=none: a second, buffered fd for sendfile (RawFileBackend.sendFileFd).
        int own = inline() && cacheNone() ? 2 : 1;
        assertEquals(before + own, io.jaio.linux.Linux.openFdCount());
        b.zeroRangeSupported = false;
        b.fallocateSupported = false;
        h.run(() -> {
            b.write(0, nativeOf(pattern(4096, 16)), false);
            b.writeZeroes(0, 8192, false, false, false); // allocates the zero buffer
            b.read(1, MemorySegment.ofArray(new byte[100])); // bounce
        });
        b.close();
        assertEquals(before, io.jaio.linux.Linux.openFdCount());
        b.close(); // idempotent
        h.run(() -> blockError(RawFileBackend.ESHUTDOWN, () -> b.read(0, buffer(4096))));
        assertEquals(before, io.jaio.linux.Linux.openFdCount());
    }

    /**
     * After close() every request fails with ESHUTDOWN before anything else is looked at: empty
     * requests, a discard that would be a no-op, read-only refusals and ranges out of bounds too.
     */
    @Test
    void everyRequestAfterCloseFailsWithEshutdownFirst() throws Exception {
        RawFileBackend b = open(sparseFile("img", M));
        RawFileBackend noDiscard = open(sparseFile("img2", M), opts().withDiscard(false));
        RawFileBackend ro = open(sparseFile("img3", M), opts().withReadOnly(true));
        b.close();
        noDiscard.close();
        ro.close();
        int shut = RawFileBackend.ESHUTDOWN;
        h.run(() -> {
            blockError(shut, () -> b.read(0, buffer(0)));
            blockError(shut, () -> b.write(0, buffer(0), false));
            blockError(shut, () -> b.write(0, buffer(0), true));
            blockError(shut, () -> b.discard(0, 0, false));
            blockError(shut, () -> b.writeZeroes(0, 0, true, false, false));
            blockError(shut, () -> b.flush());
            blockError(shut, () -> noDiscard.discard(0, 4096, false));
            blockError(shut, () -> b.read(M, buffer(4096)));
            blockError(shut, () -> b.blockStatus(M, 1));
            blockError(shut, () -> ro.write(0, nativeOf(new byte[4096]), false));
            blockError(shut, () -> ro.discard(0, 0, false));
        });
        blockError(shut, () -> b.read(0, buffer(0))); // outside a coroutine, too
        blockError(shut, () -> noDiscard.discard(0, 4096, false));
    }

    /**
     * blockStatus keeps plain state (the last data run) and the requests too: from a thread other
     * than the home thread they throw IllegalStateException, even with nothing to do.
     */
    @Test
    void offTheHomeThreadBlockStatusAndRequestsThrowIllegalState() throws Exception {
        RawFileBackend b = open(sparseFile("img", M));
        List<org.junit.jupiter.api.function.Executable> calls = List.of(
                () -> b.blockStatus(0, M),
                () -> b.read(0, buffer(0)),
                () -> b.write(0, buffer(0), false),
                () -> b.discard(0, 0, false),
                () -> b.writeZeroes(0, 0, false, false, false));
        List<Throwable> got = new ArrayList<>();
        Thread t = new Thread(() -> {
            for (org.junit.jupiter.api.function.Executable c : calls) {
                try {
                    c.execute();
                    got.add(null);
                } catch (Throwable e) {
                    got.add(e);
                }
            }
        }, "not-the-home-thread");
        t.start();
        t.join();
        assertEquals(calls.size(), got.size());
        for (int i = 0; i < got.size(); i++) {
            Throwable e = got.get(i);
            assertTrue(e instanceof IllegalStateException, "call " + i + ": " + e);
            assertTrue(e.getMessage().contains("home thread") && e.getMessage().contains("not-the-home-thread"),
                    e.getMessage());
        }
        assertEquals(List.of(hole(M)), b.blockStatus(0, M), "fine from the home thread");
    }

    /**
     * sendFileFd per variant: -1 unless inline; with writeback the image fd itself; with cache=none
     * a second fd on the same file without O_DIRECT (splice would copy from an O_DIRECT fd), which
     * {@link #closeReleasesTheFd} counts; -1 once closed.
     */
    @Test
    void sendFileFdMatchesTheVariant() throws Exception {
        RawFileBackend b = open(sparseFile("img", M));
        int sfd = b.sendFileFd();
        if (!inline()) {
            assertEquals(-1, sfd, "not inline: reads go through the engine");
        } else if (!cacheNone()) {
            assertEquals(b.fd(), sfd, "writeback: the image fd itself");
        } else {
            assertTrue(sfd >= 0 && sfd != b.fd(), "cache=none: a second fd, got " + sfd);
            assertEquals(Linux.O_DIRECT, Linux.fcntl(b.fd(), Linux.F_GETFL, 0) & Linux.O_DIRECT);
            assertEquals(0, Linux.fcntl(sfd, Linux.F_GETFL, 0) & Linux.O_DIRECT, "the sendfile fd is buffered");
        }
        b.close();
        assertEquals(-1, b.sendFileFd(), "closed");
    }

    @Test
    void closeWithRequestsInFlightReleasesTheFdWhenTheyEnd() throws Exception {
        Path f = sparseFile("img", M);
        int before = io.jaio.linux.Linux.openFdCount();
        RawFileBackend b = open(f);
        byte[] p = pattern(64 * K, 18);
        MemorySegment buf = nativeOf(p);
        h.runAll(List.of(() -> b.write(0, buf, true)), finished -> {
            b.close(); // misuse: a write is in flight (inline: it is already done)
            assertEquals(inline() ? before : before + 1, io.jaio.linux.Linux.openFdCount(),
                    inline() ? "inline: nothing in flight, released at once" : "kept while the write runs");
            blockError(RawFileBackend.ESHUTDOWN, () -> b.flush());
        });
        assertEquals(before, io.jaio.linux.Linux.openFdCount(), "released by the last request");
        assertSlice(p, 0, Files.readAllBytes(f), 0, p.length);
    }

    @Test
    void ioOutsideACoroutineRunsItInOneAndPolls() throws Exception {
        RawFileBackend b = open(sparseFile("img", M));
        byte[] p = pattern(8 * K, 17);
        b.write(0, nativeOf(p), true);
        b.flush();
        assertArrayEquals(p, readBytes(b, 0, p.length));
        blockError(Linux.EPERM, () -> open(b.path(), opts().withReadOnly(true)).write(0, nativeOf(p), false));
    }
}
