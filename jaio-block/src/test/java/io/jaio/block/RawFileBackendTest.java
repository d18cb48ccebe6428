package io.jaio.block;

import io.jaio.aio.AioContext;
import io.jaio.aio.FdMonitorKind;
import io.jaio.block.RawFileBackend.Engine;
import io.jaio.block.RawFileBackend.Options;
import io.jaio.linux.FileSys;
import io.jaio.linux.Linux;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Opening: engine selection, options, open errors. */
class RawFileBackendTest {
    @TempDir
    Path dir;

    private Path file() throws Exception {
        Path p = dir.resolve("img");
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(1 << 20);
        }
        return p;
    }

    @Test
    void ioUringEngineNeedsAContextWithIoUring() throws Exception {
        Path f = file();
        try (AioContext ctx = AioContext.builder().fdMonitor(FdMonitorKind.EPOLL).build()) {
            int fds = Linux.openFdCount();
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> RawFileBackend.open(ctx, f, Options.defaults().withEngine(Engine.IO_URING)));
            assertTrue(e.getMessage().contains("io_uring"), e.getMessage());
            assertEquals(fds, Linux.openFdCount(), "nothing left open");
            try (RawFileBackend b = RawFileBackend.open(ctx, f, Options.defaults())) {
                assertEquals(Engine.THREADS, b.engine(), "AUTO without io_uring");
            }
        }
    }

    @Test
    void autoPicksIoUringWhenTheContextHasIt() throws Exception {
        Path f = file();
        try (Harness h = Harness.create(Engine.IO_URING);
                RawFileBackend b = RawFileBackend.open(h.ctx, f, Options.defaults())) {
            assertEquals(Engine.IO_URING, b.engine());
            assertFalse(b.canDiscard(), "discard=ignore by default");
            assertFalse(b.isCacheNone());
            assertEquals(1 << 20, b.size());
        }
    }

    @Test
    void openErrorsCarryErrno() throws Exception {
        try (AioContext ctx = AioContext.builder().fdMonitor(FdMonitorKind.EPOLL).build()) {
            int fds = Linux.openFdCount();
            BlockException e = assertThrows(BlockException.class,
                    () -> RawFileBackend.open(ctx, dir.resolve("missing"), Options.defaults()));
            assertEquals(Linux.ENOENT, e.errno());
            BlockException d = assertThrows(BlockException.class,
                    () -> RawFileBackend.open(ctx, dir, Options.defaults()));
            assertEquals(21, d.errno(), "EISDIR: " + d.getMessage());
            assertEquals(fds, Linux.openFdCount());
        }
    }

    @Test
    void inlineIoExactlyForMemoryBackedFilesUnlessTurnedOff() throws Exception {
        Path f = shmFile("jaio-inline-", 4096);
        try (Harness h = Harness.create(Engine.IO_URING)) {
            try (RawFileBackend b = RawFileBackend.open(h.ctx, f, Options.defaults())) {
                assertTrue(b.inlineIo(), "tmpfs: inline by default");
                assertEquals(Engine.IO_URING, b.engine(), "the configured engine is still reported");
                assertTrue(b.toString().contains("(inline)"), b.toString());
            }
            try (RawFileBackend b = RawFileBackend.open(h.ctx, f, Options.defaults().withInlineMemoryFiles(false))) {
                assertFalse(b.inlineIo(), "turned off");
            }
            Path disk = file();
            boolean diskIsMemory = "tmpfs".equals(Files.getFileStore(disk).type());
            try (RawFileBackend b = RawFileBackend.open(h.ctx, disk, Options.defaults())) {
                assertEquals(diskIsMemory, b.inlineIo(), "inline only on memory file systems");
            }
        } finally {
            Files.deleteIfExists(f);
        }
    }

    /**
     * sendFileFd: only for inline (memory-backed) files; with cache=none a second fd on the same
     * file without O_DIRECT (splice would copy from an O_DIRECT fd), which close() releases too.
     */
    @Test
    void sendFileFdOnlyForInlineFilesWithoutODirect() throws Exception {
        Path f = shmFile("jaio-sendfile-", 8192);
        try (Harness h = Harness.create(Engine.IO_URING)) {
            int fds = Linux.openFdCount();
            RawFileBackend direct = RawFileBackend.open(h.ctx, f, Options.defaults().withCacheNone(true));
            int sfd = direct.sendFileFd();
            assertTrue(sfd >= 0 && sfd != direct.fd(), "cache=none on tmpfs: a second fd, got " + sfd);
            assertEquals(Linux.O_DIRECT, Linux.fcntl(direct.fd(), Linux.F_GETFL, 0) & Linux.O_DIRECT);
            assertEquals(0, Linux.fcntl(sfd, Linux.F_GETFL, 0) & Linux.O_DIRECT, "the sendfile fd is buffered");
            assertEquals(fds + 2, Linux.openFdCount());
            direct.close();
            assertEquals(-1, direct.sendFileFd(), "closed");
            assertEquals(fds, Linux.openFdCount(), "both fds released");
            try (RawFileBackend b = RawFileBackend.open(h.ctx, f, Options.defaults())) {
                assertEquals(b.fd(), b.sendFileFd(), "writeback: the image fd itself");
            }
            try (RawFileBackend b = RawFileBackend.open(h.ctx, f, Options.defaults().withInlineMemoryFiles(false))) {
                assertEquals(-1, b.sendFileFd(), "not inline: reads go through the engine");
            }
            assertEquals(fds, Linux.openFdCount());
        } finally {
            Files.deleteIfExists(f);
        }
    }

    @Test
    void sendfileOnlyFromTmpfsAndRamfs() {
        assertTrue(RawFileBackend.splices(FileSys.TMPFS_MAGIC));
        assertTrue(RawFileBackend.splices(FileSys.RAMFS_MAGIC));
        assertFalse(RawFileBackend.splices(FileSys.HUGETLBFS_MAGIC),
                "hugetlbfs is memory-backed (inline) but sendfile from it fails with EINVAL");
    }

    /** A zero-filled file of {@code size} bytes in /dev/shm (the test is skipped without one); the caller deletes it. */
    private static Path shmFile(String prefix, int size) throws java.io.IOException {
        Path shm = Path.of("/dev/shm");
        Assumptions.assumeTrue(Files.isDirectory(shm), "no /dev/shm on this machine");
        Path f = Files.createTempFile(shm, prefix, ".img");
        Files.write(f, new byte[size]);
        return f;
    }
}
