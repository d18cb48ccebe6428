package io.jaio.linux;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Linux AIO syscalls and layouts end to end, on buffered reads (which the kernel completes
 * inside io_submit, so no waiting): iocb fields as the kernel reads them, io_event data/res, the
 * eventfd count of IOCB_FLAG_RESFD, the user-space ring peek and error returns.
 */
class LinuxAioAbiTest {
    @TempDir
    Path dir;

    @Test
    void preadAndPreadvCompleteWithTheirSlotsAndSignalTheEventfd() throws Exception {
        byte[] data = new byte[3 * 4096];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) (i / 4096 + 1);
        }
        Path f = dir.resolve("f");
        Files.write(f, data);
        int fd = Linux.open(f.toString(), Linux.O_RDONLY | Linux.O_CLOEXEC, 0);
        int efd = Linux.eventfd(0, Linux.EFD_NONBLOCK | Linux.EFD_CLOEXEC);
        long ctx = LinuxAioAbi.ioSetup(8);
        try (Arena arena = Arena.ofConfined(); LinuxAioAbi.Table t = new LinuxAioAbi.Table(8)) {
            assertFalse(LinuxAioAbi.ringHasEvents(ctx), "a new ring is empty");
            t.grow();
            assertEquals(256, t.capacity());
            MemorySegment a = arena.allocate(4096, 4096);
            MemorySegment b = arena.allocate(100, 4096);
            t.prep(7, LinuxAioAbi.IOCB_CMD_PREAD, fd, a.address(), 4096, 4096, 0, efd);
            t.prep(200, LinuxAioAbi.IOCB_CMD_PREADV, fd, b.address(), 100, 2 * 4096 + 10, 0, efd);
            t.setSubmit(0, 7);
            t.setSubmit(1, 200);
            assertEquals(2, LinuxAioAbi.ioSubmit(ctx, t, 2));
            assertTrue(LinuxAioAbi.ringHasEvents(ctx), "buffered reads complete inside io_submit");
            assertEquals(2, Linux.eventfdRead(efd), "one eventfd increment per iocb (IOCB_FLAG_RESFD)");
            assertEquals(2, LinuxAioAbi.ioGeteventsNow(ctx, t, 8));
            Map<Integer, Long> results = new HashMap<>();
            for (int i = 0; i < 2; i++) {
                results.put(t.eventSlot(i), t.eventResult(i));
            }
            assertEquals(Map.of(7, 4096L, 200, 100L), results);
            assertEquals(2, a.get(ValueLayout.JAVA_BYTE, 0));
            assertEquals(2, a.get(ValueLayout.JAVA_BYTE, 4095));
            assertEquals(3, b.get(ValueLayout.JAVA_BYTE, 99));
            assertFalse(LinuxAioAbi.ringHasEvents(ctx), "reaped");
            assertEquals(0, LinuxAioAbi.ioGeteventsNow(ctx, t, 8), "nothing more, and no waiting");
            assertEquals(-Linux.EINVAL, LinuxAioAbi.ioCancel(ctx, t, 7), "a completed iocb cannot be cancelled");

            t.prep(8, LinuxAioAbi.IOCB_CMD_PREAD, 1_000_000, a.address(), 4096, 0, 0, -1);
            t.setSubmit(0, 8);
            assertEquals(-Linux.EBADF, LinuxAioAbi.ioSubmit(ctx, t, 1), "a bad first iocb: -errno, nothing accepted");

            t.prep(9, LinuxAioAbi.IOCB_CMD_FDSYNC, fd, 0, 0, 0, 0, -1);
            for (int i = 0; i < 300; i++) {
                t.setSubmit(i, 9); // the submit array grows past its initial 8 pointers
            }
            assertEquals(1, LinuxAioAbi.ioSubmit(ctx, t, 1));
        } finally {
            assertEquals(0, LinuxAioAbi.ioDestroy(ctx), "io_destroy waits for the FDSYNC");
            Linux.close(efd);
            Linux.close(fd);
        }
        assertEquals(-Linux.EINVAL, LinuxAioAbi.ioDestroy(ctx), "already destroyed");
    }

    @Test
    void ioSetupRefusalThrowsWithTheErrno() {
        NativeException e = assertThrows(NativeException.class, () -> LinuxAioAbi.ioSetup(0));
        assertEquals(Linux.EINVAL, e.errno());
        assertEquals("io_setup", e.call());
    }
}
