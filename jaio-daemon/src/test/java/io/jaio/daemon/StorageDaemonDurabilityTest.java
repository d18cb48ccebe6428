package io.jaio.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Durability: a child daemon is killed with SIGKILL right after it acknowledged FUA writes, plain
 * writes followed by a flush, and FUA write-zeroes, while the client connection is still open (so no
 * disconnect or shutdown path can flush for it). Everything acknowledged must be in the image file.
 */
@Timeout(180)
class StorageDaemonDurabilityTest {
    private static final long MIB = 1L << 20;
    private static final long SIZE = 64 * MIB;
    private static final Duration STEP_TIMEOUT = Duration.ofSeconds(60);

    @TempDir
    Path tmp;

    private final List<DaemonProcess> daemons = new ArrayList<>();
    private final List<Process> clients = new ArrayList<>();

    @AfterEach
    void killChildren() {
        for (Process p : clients) {
            p.destroy();
            try {
                if (!p.waitFor(10, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                }
            } catch (InterruptedException e) {
                p.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
        for (DaemonProcess d : daemons) {
            d.close();
        }
    }

    private DaemonProcess start(String... args) throws IOException {
        DaemonProcess d = DaemonProcess.launch(tmp.resolve("logs"), List.of(args));
        daemons.add(d);
        d.awaitReady();
        return d;
    }

    /**
     * An interactive qemu-io on one NBD connection. Commands are sent one at a time: qemu-io prints
     * its prompt when it is ready for the next one, so a prompt after a command means the command
     * (and the server's acknowledgement) is complete.
     */
    final class QemuIo {
        private static final String PROMPT = "qemu-io> ";
        private final Process p;
        private final OutputStream in;
        private final StringBuilder out = new StringBuilder();

        QemuIo(String uri) throws IOException {
            ProcessBuilder pb = new ProcessBuilder("qemu-io", "-f", "raw", uri).redirectErrorStream(true);
            pb.environment().put("LC_ALL", "C");
            p = pb.start();
            clients.add(p);
            in = p.getOutputStream();
            Thread t = new Thread(this::pump, "qemu-io-" + p.pid());
            t.setDaemon(true);
            t.start();
            awaitPrompts(1, "start");
        }

        private void pump() {
            byte[] buf = new byte[8192];
            try (InputStream is = p.getInputStream()) {
                for (int n; (n = is.read(buf)) > 0; ) {
                    synchronized (out) {
                        out.append(new String(buf, 0, n, StandardCharsets.UTF_8));
                        out.notifyAll();
                    }
                }
            } catch (IOException e) {
                // closed
            }
        }

        private int prompts() {
            int n = 0;
            for (int i = out.indexOf(PROMPT); i >= 0; i = out.indexOf(PROMPT, i + 1)) {
                n++;
            }
            return n;
        }

        private void awaitPrompts(int want, String what) {
            long deadline = System.nanoTime() + STEP_TIMEOUT.toNanos();
            synchronized (out) {
                while (prompts() < want) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0 || (!p.isAlive() && prompts() < want)) {
                        fail("qemu-io: no prompt after '" + what + "' (alive " + p.isAlive() + ")\n" + out);
                    }
                    try {
                        out.wait(Math.max(1, Math.min(TimeUnit.NANOSECONDS.toMillis(left), 100)));
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new AssertionError(e);
                    }
                }
            }
        }

        /** Runs one command and waits until it is complete; returns the output so far. */
        String cmd(String command) throws IOException {
            int before;
            synchronized (out) {
                before = prompts();
            }
            in.write((command + "\n").getBytes(StandardCharsets.UTF_8));
            in.flush();
            awaitPrompts(before + 1, command);
            synchronized (out) {
                String s = out.toString();
                if (s.contains("failed") || s.contains("Pattern verification")) {
                    fail("qemu-io: '" + command + "' failed\n" + s);
                }
                return s;
            }
        }

        void close() {
            try {
                in.close();
            } catch (IOException e) {
                // it may be gone already
            }
            p.destroy();
        }
    }

    /** Whether files in {@code dir} can be opened with O_DIRECT (tmpfs before Linux 6.6 cannot). */
    private static boolean directIoWorks(Path dir) {
        Path probe = dir.resolve("odirect.probe");
        Tools.Result r = Tools.run(Duration.ofSeconds(30), "dd", "if=/dev/zero", "of=" + probe, "bs=4096", "count=1",
                "oflag=direct", "status=none");
        try {
            Files.deleteIfExists(probe);
        } catch (IOException e) {
            // best effort
        }
        return r.exit() == 0;
    }

    private static void assertRange(RandomAccessFile f, long off, int len, int want, String what) throws IOException {
        byte[] b = new byte[len];
        f.seek(off);
        f.readFully(b);
        for (int i = 0; i < len; i++) {
            if (b[i] != (byte) want) {
                fail(what + ": byte at " + (off + i) + " is 0x" + Integer.toHexString(b[i] & 0xff) + ", want 0x"
                        + Integer.toHexString(want) + " (acknowledged before SIGKILL, missing from the image)");
            }
        }
    }

    @ParameterizedTest(name = "cache={0}, aio={1}")
    @CsvSource({"writeback, io_uring", "none, io_uring", "writeback, threads", "none, threads"})
    void acknowledgedFuaWritesAndFlushSurviveSigkill(String cache, String aio) throws Exception {
        Tools.require("qemu-io", "qemu-utils");
        if (cache.equals("none")) {
            Assumptions.assumeTrue(directIoWorks(tmp), "the temp dir's file system has no O_DIRECT (cache=none)");
        }
        Path img = tmp.resolve("durable.img");
        byte[] junk = new byte[(int) MIB];
        Arrays.fill(junk, (byte) 0xee);
        try (OutputStream o = Files.newOutputStream(img)) {
            for (long i = 0; i < SIZE / MIB; i++) {
                o.write(junk);
            }
        }
        Path sock = tmp.resolve("d.sock");
        DaemonProcess d = start("--export", "name=disk,file=" + img + ",cache=" + cache + ",aio=" + aio,
                "--nbd-server", "unix=" + sock);
        QemuIo q = new QemuIo(d.unixUri("disk"));
        q.cmd("write -f -P 0x5a 0 1M");                 // FUA write
        q.cmd("write -P 0x6b 1M 1M");                   // plain writes, then a flush
        q.cmd("aio_write -P 0x7c 2M 512k");
        q.cmd("aio_write -P 0x7d 3M 512k");
        q.cmd("aio_flush");                             // waits for both AIO writes
        q.cmd("write -P 0x6c 5M 4k");
        q.cmd("flush");
        q.cmd("write -f -z 4M 1M");                     // FUA write-zeroes over junk
        q.cmd("write -f -P 0x8e " + (SIZE - 4096) + " 4096"); // FUA write of the last block
        q.cmd("write -f -P 0x9f 6M 12345");             // unaligned FUA write
        // Everything above is acknowledged; kill the daemon with the connection still open.
        int exit = d.kill();
        assertEquals(137, exit, "the daemon should have died of SIGKILL\n" + d.describe());
        q.close();

        assertEquals(SIZE, Files.size(img), "image size");
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "r")) {
            assertRange(f, 0, (int) MIB, 0x5a, "FUA write at 0");
            assertRange(f, MIB, (int) MIB, 0x6b, "flushed write at 1M");
            assertRange(f, 2 * MIB, 512 * 1024, 0x7c, "flushed aio_write at 2M");
            assertRange(f, 2 * MIB + 512 * 1024, 512 * 1024, 0xee, "untouched at 2.5M");
            assertRange(f, 3 * MIB, 512 * 1024, 0x7d, "flushed aio_write at 3M");
            assertRange(f, 4 * MIB, (int) MIB, 0x00, "FUA write-zeroes at 4M");
            assertRange(f, 5 * MIB, 4096, 0x6c, "flushed write at 5M");
            assertRange(f, 6 * MIB - 1, 1, 0xee, "untouched before 6M");
            assertRange(f, 6 * MIB, 12345, 0x9f, "unaligned FUA write at 6M");
            assertRange(f, 6 * MIB + 12345, 1, 0xee, "untouched after the unaligned write");
            assertRange(f, SIZE - 4096, 4096, 0x8e, "FUA write of the last block");
            assertRange(f, SIZE - 8192, 4096, 0xee, "untouched before the last block");
        }

        // A new daemon serves the same data (on a fresh socket: the killed one left its socket file).
        Path sock2 = tmp.resolve("d2.sock");
        DaemonProcess d2 = start("--export", "name=disk,file=" + img + ",readonly=on", "--nbd-server", "unix=" + sock2);
        Tools.Result r = Tools.run(STEP_TIMEOUT, "qemu-io", "-r", "-f", "raw", "-c", "read -P 0x5a 0 1M",
                "-c", "read -P 0x6b 1M 1M", "-c", "read -P 0 4M 1M", "-c", "read -P 0x9f 6M 12345",
                "-c", "read -P 0x8e " + (SIZE - 4096) + " 4096", d2.unixUri("disk"));
        assertTrue(r.exit() == 0 && !r.all().contains("failed") && !r.all().contains("Pattern verification"),
                r.describe() + "\n=== daemon\n" + d2.describe());
        assertEquals(0, d2.terminate(Duration.ofSeconds(60)), d2.describe());
        assertFalse(Files.exists(sock2), "socket left behind after SIGTERM");
    }
}
