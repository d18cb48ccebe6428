package io.jaio.daemon;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * {@code aio=native} (Linux AIO) on {@code --export} and {@code --blockdev}: served with
 * cache=none, refused without it in QEMU's words, and the ready output says which engine and why.
 */
class AioNativeTest {
    private static final Duration T = Duration.ofSeconds(60);
    private static final String QEMU_TEXT = "aio=native was specified, but it requires cache.direct=on, which was not specified.";

    @TempDir
    Path dir; // under /tmp: ext4 here, which takes O_DIRECT


    @Test
    void nativeWithCacheNoneServesReadsAndWrites() throws Exception {
        Tools.require("qemu-io", "qemu-utils");
        Path img = Images.sparse(dir, "disk.img", 4 << 20);
        Path sock = dir.resolve("nbd.sock");
        String uri = "nbd+unix:///disk?socket=" + sock;
        try (DaemonProcess d = DaemonProcess.start(dir.resolve("logs"),
                "--export", "name=disk,file=" + img + ",aio=native,cache=none", "--nbd-server", "unix=" + sock)) {
            assertTrue(d.stdoutLines().contains("I/O engine of 'disk': native (aio=native requested)"), d.describe());
            Tools.Result w = Tools.run(T, "qemu-io", "-f", "raw", "-c", "write -P 0xa5 4096 65536",
                    "-c", "write -P 0x3c 1048576 4096", "-c", "flush", uri).assertOk();
            assertFalse(w.all().contains("failed"), w.describe());
            Tools.Result r = Tools.run(T, "qemu-io", "-f", "raw", "-c", "read -P 0xa5 4096 65536",
                    "-c", "read -P 0x3c 1048576 4096", "-c", "read -P 0 0 4096", uri).assertOk();
            assertFalse(r.all().contains("failed"), r.describe());
        }
        byte[] want = new byte[4 << 20];
        Arrays.fill(want, 4096, 4096 + 65536, (byte) 0xa5);
        Arrays.fill(want, 1048576, 1048576 + 4096, (byte) 0x3c);
        assertArrayEquals(want, Files.readAllBytes(img));
        // qemu-storage-daemon's form: --blockdev driver=file,...,aio=native,cache.direct=on
        try (DaemonProcess d = DaemonProcess.start(dir.resolve("logs2"),
                "--blockdev", "driver=file,node-name=f0,filename=" + img + ",aio=native,cache.direct=on",
                "--nbd-server", "addr.type=unix,addr.path=" + sock,
                "--export", "type=nbd,id=e0,node-name=f0,name=disk")) {
            assertTrue(d.stdoutLines().contains("I/O engine of 'disk': native (aio=native requested)"), d.describe());
            Tools.Result r = Tools.run(T, "qemu-io", "-f", "raw", "-r", "-c", "read -P 0x3c 1048576 4096", uri).assertOk();
            assertFalse(r.all().contains("failed"), r.describe());
        }
    }

    @Test
    void nativeWithoutCacheNoneExits2WithQemusMessage() throws Exception {
        Path img = Images.sparse(dir, "disk.img", 1 << 20);
        Path sock = dir.resolve("nbd.sock");
        for (List<String> args : List.of(
                List.of("--export", "name=disk,file=" + img + ",aio=native", "--nbd-server", "unix=" + sock),
                List.of("--blockdev", "driver=file,node-name=f0,filename=" + img + ",aio=native",
                        "--nbd-server", "addr.type=unix,addr.path=" + sock, "--export", "type=nbd,id=e0,node-name=f0"))) {
            DaemonProcess d = DaemonProcess.launch(dir.resolve("logs"), args);
            try (d) {
                assertTrue(d.process().waitFor(60, TimeUnit.SECONDS), d.describe());
                assertEquals(2, d.process().exitValue(), d.describe());
                assertTrue(d.describe().contains(QEMU_TEXT), d.describe());
            }
        }
        // qemu-storage-daemon says the same (and exits 1)
        Path qsd = Tools.which("qemu-storage-daemon");
        if (qsd != null) {
            Tools.Result r = Tools.run(T, qsd.toString(), "--blockdev", "driver=file,node-name=f0,filename=" + img + ",aio=native");
            assertEquals(1, r.exit(), r.describe());
            assertTrue(r.stderr().contains(QEMU_TEXT), r.describe());
        }
    }

    @ParameterizedTest
    @EnumSource(QmpDaemon.Kind.class)
    void blockdevAddNativeWithoutDirectOverQmp(QmpDaemon.Kind kind) throws Exception {
        Path img = Images.sparse(dir, "disk.img", 1 << 20);
        try (QmpDaemon d = QmpDaemon.start(kind, dir, 1); QmpClient c = QmpClient.negotiated(d.monitors.get(0))) {
            assertEquals("GenericError: " + QEMU_TEXT, c.error("blockdev-add",
                    "{\"driver\": \"file\", \"node-name\": \"f0\", \"filename\": \"" + img + "\", \"aio\": \"native\"}"));
            c.ok("blockdev-add", "{\"driver\": \"file\", \"node-name\": \"f0\", \"filename\": \"" + img
                    + "\", \"aio\": \"native\", \"cache\": {\"direct\": true}}");
        }
    }
}
