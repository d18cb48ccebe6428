package io.jaio.block;

import io.jaio.aio.AioContext;
import io.jaio.aio.FdMonitorKind;
import io.jaio.block.RawFileBackend.Engine;
import io.jaio.block.RawFileBackend.Options;
import io.jaio.linux.Linux;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
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
}
