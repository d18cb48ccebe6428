package io.jaio.block;

import io.jaio.aio.AioContext;
import io.jaio.aio.FdMonitorKind;
import io.jaio.aio.IoThread;
import io.jaio.aio.fdmon.IoUringFdMonitor;
import io.jaio.block.RawFileBackend.Engine;
import io.jaio.block.RawFileBackend.Options;
import io.jaio.fs.MemoryFs;
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
        System.setProperty(IoUringFdMonitor.FORCE_FAILURE_PROPERTY, "true"); // the kernel refuses io_uring
        try (AioContext ctx = AioContext.builder().fdMonitor(FdMonitorKind.EPOLL).build()) {
            int fds = Linux.openFdCount();
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> RawFileBackend.open(ctx, f, Options.defaults().withEngine(Engine.IO_URING)));
            assertTrue(e.getMessage().contains("kernel refuses io_uring"), e.getMessage());
            assertEquals(fds, Linux.openFdCount(), "nothing left open");
            try (RawFileBackend b = RawFileBackend.open(ctx, f, Options.defaults())) {
                assertEquals(Engine.THREADS, b.engine(), "AUTO without io_uring");
            }
        } finally {
            System.clearProperty(IoUringFdMonitor.FORCE_FAILURE_PROPERTY);
        }
    }

    @Test
    void epollContextsRunTheIoUringEngineOnTheirRequestRing() throws Exception {
        Path f = file();
        try (Harness h = Harness.create(Engine.THREADS); // an EPOLL context
                RawFileBackend b = RawFileBackend.open(h.ctx, f, Options.defaults())) {
            assertEquals(FdMonitorKind.EPOLL, h.ctx.fdMonitorKind());
            assertEquals(Engine.IO_URING, b.engine(), "AUTO: the epoll context has io_uring requests");
            assertEquals("auto: context '" + h.ctx.name() + "' has io_uring", b.engineReason());
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
        Path shm = Path.of("/dev/shm");
        Assumptions.assumeTrue(Files.isDirectory(shm), "no /dev/shm on this machine");
        Path f = Files.createTempFile(shm, "jaio-inline-", ".img");
        try (Harness h = Harness.create(Engine.IO_URING)) {
            Files.write(f, new byte[4096]);
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

    @Test
    void sendfileOnlyFromTmpfsAndRamfs() {
        assertTrue(MemoryFs.splicesFromMemory(MemoryFs.TMPFS_MAGIC));
        assertTrue(MemoryFs.splicesFromMemory(MemoryFs.RAMFS_MAGIC));
        assertTrue(MemoryFs.isMemoryBacked(MemoryFs.HUGETLBFS_MAGIC));
        assertFalse(MemoryFs.splicesFromMemory(MemoryFs.HUGETLBFS_MAGIC),
                "hugetlbfs is memory-backed (inline) but sendfile from it fails with EINVAL");
        assertFalse(MemoryFs.isMemoryBacked(0xEF53L), "ext4");
        assertFalse(MemoryFs.isMemoryBacked(-Linux.EBADF), "an fstatfs error");
    }

    @Test
    void tmpfsMagicIsWhatTheKernelReports() throws Exception {
        Path shm = Path.of("/dev/shm");
        Assumptions.assumeTrue(Files.isDirectory(shm) && "tmpfs".equals(Files.getFileStore(shm).type()),
                "no tmpfs at /dev/shm on this machine");
        Path f = Files.createTempFile(shm, "jaio-magic-", ".img");
        int fd = Linux.open(f.toString(), Linux.O_RDONLY | Linux.O_CLOEXEC, 0);
        try {
            long type = FileSys.fsType(fd);
            assertEquals(MemoryFs.TMPFS_MAGIC, type);
            assertTrue(MemoryFs.isMemoryBacked(type));
            assertTrue(MemoryFs.splicesFromMemory(type));
        } finally {
            Linux.close(fd);
            Files.deleteIfExists(f);
        }
    }

    /**
     * close() belongs to the home thread while the context runs, and to anyone once it is closed
     * (an owner whose IoThread stopped first must still release the fd).
     */
    @Test
    void closeOffTheHomeThreadIsRefusedWhileTheContextRunsAndReleasesAfterwards() throws Exception {
        Path f = file();
        IoThread iot = IoThread.start("rfb-close");
        int fds;
        RawFileBackend b;
        try {
            fds = Linux.openFdCount();
            b = iot.context().callOnHomeThread("open", () -> RawFileBackend.open(iot.context(), f, Options.defaults()));
            IllegalStateException e = assertThrows(IllegalStateException.class, b::close);
            assertTrue(e.getMessage().contains("home thread of context 'rfb-close'"), e.getMessage());
            assertTrue(Linux.openFdCount() > fds, "still open after the refused close");
        } finally {
            iot.close();
        }
        int afterStop = Linux.openFdCount();
        b.close(); // context closed: from this thread
        assertTrue(Linux.openFdCount() < afterStop, "the image's fd was released");
        b.close(); // idempotent
    }
}
