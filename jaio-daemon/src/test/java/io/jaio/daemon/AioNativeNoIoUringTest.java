package io.jaio.daemon;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jaio.aio.fdmon.IoUringFdMonitor;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The daemon where io_uring is refused (Docker's seccomp profile, {@code kernel.io_uring_disabled};
 * here forced with {@link IoUringFdMonitor#FORCE_FAILURE_PROPERTY}): its IOThreads fall back to
 * poll/epoll, and a cache=none export runs on Linux native AIO — asked for ({@code aio=native})
 * or picked by AUTO — and serves what was written, byte for byte (the setup of
 * bench/nbd-native.sh).
 */
class AioNativeNoIoUringTest {
    private static final Duration T = Duration.ofSeconds(60);
    private static final List<String> NO_URING = List.of("-D" + IoUringFdMonitor.FORCE_FAILURE_PROPERTY + "=true");

    @TempDir
    Path dir; // under /tmp: a file system that takes O_DIRECT

    @Test
    void nativeAioServesDataWithIoUringRefused() throws Exception {
        Tools.require("qemu-io", "qemu-utils");
        Path img = dir.resolve("disk.img");
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(4 << 20);
        }
        byte[] want = new byte[4 << 20];
        int round = 0;
        for (String engine : List.of("cache=none,aio=native", "cache=none")) { // asked for, then AUTO's choice
            Path sock = dir.resolve("nbd" + round + ".sock");
            String uri = "nbd+unix:///disk?socket=" + sock;
            byte pattern = (byte) (0x51 + round);
            long off = 8192L + round * 1048576L;
            try (DaemonProcess d = DaemonProcess.startWithJvmOptions(dir.resolve("logs" + round), NO_URING,
                    "--iothread", "id=io0", "--export", "name=disk,file=" + img + "," + engine + ",iothread=io0",
                    "--nbd-server", "unix=" + sock)) {
                String expected = round == 0 ? "I/O engine of 'disk': native (aio=native requested)"
                        : "I/O engine of 'disk': native (auto: context 'io0' has no io_uring (EPOLL fd monitor,"
                                + " and the kernel refuses io_uring)";
                assertTrue(d.stdoutLines().stream().anyMatch(l -> l.startsWith(expected)), d.describe());
                assertTrue(d.log().contains("io_uring unavailable"), "io_uring was really refused\n" + d.describe());
                Tools.Result w = Tools.run(T, "qemu-io", "-f", "raw", "-c",
                        "write -P 0x" + Integer.toHexString(pattern & 0xff) + " " + off + " 65536", "-c", "flush", uri).assertOk();
                assertFalse(w.all().contains("failed"), w.describe());
                Tools.Result r = Tools.run(T, "qemu-io", "-f", "raw", "-r", "-c",
                        "read -P 0x" + Integer.toHexString(pattern & 0xff) + " " + off + " 65536", "-c",
                        "read -P 0 " + (off + 65536) + " 4096", uri).assertOk();
                assertFalse(r.all().contains("failed"), r.describe());
            }
            Arrays.fill(want, (int) off, (int) off + 65536, pattern);
            round++;
        }
        assertArrayEquals(want, Files.readAllBytes(img));
    }
}
