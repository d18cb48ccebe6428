package io.jaio.nbd;

import io.jaio.aio.IoThread;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Stock NBD clients against the server (in-memory backends): nbdinfo, qemu-img, qemu-io,
 * nbdcopy and fio's nbd engine, each skipped when it is not installed (Debian: libnbd-bin,
 * qemu-utils, fio).
 */
class NbdInteropTest {
    private static final int SIZE = 8 << 20;

    @TempDir
    Path dir;
    private IoThread io;
    private MemoryBackend disk;
    private NbdServer server;
    private Path sock;

    @BeforeEach
    void setUp() {
        io = IoThread.start("nbd-interop");
        disk = new MemoryBackend(SIZE);
        MemoryBackend ro = new MemoryBackend(1 << 20, true, 1, true);
        server = NbdServer.builder(io.context())
                .export(NbdExport.builder("disk", disk).description("interop disk").build())
                .export(NbdExport.builder("ro", ro).build())
                .build();
        sock = dir.resolve("nbd.sock");
        server.listen(UnixDomainSocketAddress.of(sock));
    }

    @AfterEach
    void tearDown() {
        server.close();
        io.close();
    }

    private String uri(String export) {
        return "nbd+unix:///" + export + "?socket=" + sock;
    }

    private static boolean installed(String tool) {
        for (String d : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            if (Files.isExecutable(Path.of(d, tool))) {
                return true;
            }
        }
        return false;
    }

    /** Runs a command, returns its output; fails on a non-zero exit. */
    private static String run(String... cmd) throws Exception {
        assumeTrue(installed(cmd[0]), cmd[0] + " is not installed");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "timed out: " + List.of(cmd));
        String s = new String(out);
        assertEquals(0, p.exitValue(), () -> String.join(" ", cmd) + " failed:\n" + s);
        return s;
    }

    @Test
    void nbdinfo() throws Exception {
        String info = run("nbdinfo", "--json", uri("disk"));
        assertTrue(info.contains("\"export-size\": " + SIZE), info);
        assertTrue(info.contains("\"can_multi_conn\": true"), info);
        assertTrue(info.contains("\"can_fast_zero\": true"), info);
        assertTrue(info.contains("\"can_df\": true"), info);
        assertTrue(info.contains("\"block_size_maximum\": 33554432"), info);
        assertTrue(info.contains("interop disk"), info);
        String list = run("nbdinfo", "--list", "nbd+unix://?socket=" + sock);
        assertTrue(list.contains("disk") && list.contains("ro"), list);
        disk.fill(1 << 20, new byte[65536]);
        String map = run("nbdinfo", "--map", uri("disk"));
        assertTrue(map.contains("1048576       65536    0  data"), map);
        assertTrue(map.contains("3  hole,zero"), map);
    }

    @Test
    void nbdinfoMapsAllocationDepth() throws Exception {
        disk.fill(1 << 20, new byte[65536]);
        String map = run("nbdinfo", "--map=qemu:allocation-depth", uri("disk"));
        // Every byte of a single image is allocated in it (depth 1, "local"), holes included, as
        // qemu-nbd --allocation-depth reports for a raw file.
        assertEquals(List.of("0", Integer.toString(SIZE), "1", "local"), List.of(map.strip().split("\\s+")), map);
    }

    @Test
    void qemuIoAndQemuImg() throws Exception {
        String out = run("qemu-io", "-f", "raw", "-c", "write -P 0xab 0 64k", "-c", "read -P 0xab 0 64k",
                "-c", "write -z 1M 64k", "-c", "discard 4k 4k", "-c", "flush", "-c", "read -P 0 4k 4k",
                "-c", "write -P 0xcd -f 2M 4k", uri("disk"));
        assertTrue(!out.contains("Pattern verification failed") && !out.contains("error"), out);
        byte[] snap = disk.snapshot();
        assertEquals((byte) 0xab, snap[0]);
        assertEquals(0, snap[4096]);
        assertEquals((byte) 0xcd, snap[2 << 20]);

        String info = run("qemu-img", "info", "--output=json", uri("disk"));
        assertTrue(info.contains("\"virtual-size\": " + SIZE), info);
        String map = run("qemu-img", "map", "--output=json", uri("disk"));
        assertTrue(map.contains("\"data\": true") && map.contains("\"data\": false"), map);

        Path copy = dir.resolve("copy.raw");
        run("qemu-img", "convert", "-f", "raw", "-O", "raw", uri("disk"), copy.toString());
        assertArrayEquals(disk.snapshot(), Files.readAllBytes(copy));

        Path src = dir.resolve("src.raw");
        byte[] data = new byte[SIZE];
        new java.util.Random(7).nextBytes(data);
        Arrays.fill(data, 1 << 20, 3 << 20, (byte) 0);
        Files.write(src, data);
        run("qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", src.toString(), uri("disk"));
        assertArrayEquals(data, disk.snapshot());
        run("qemu-img", "compare", "-f", "raw", "-F", "raw", src.toString(), uri("disk"));
    }

    @Test
    void nbdcopyBothWays() throws Exception {
        Path src = dir.resolve("src.raw");
        byte[] data = new byte[SIZE];
        new java.util.Random(8).nextBytes(data);
        Arrays.fill(data, 0, 1 << 20, (byte) 0);
        Files.write(src, data);
        run("nbdcopy", "--connections=4", "--requests=16", src.toString(), uri("disk"));
        assertArrayEquals(data, disk.snapshot());
        Path back = dir.resolve("back.raw");
        run("nbdcopy", uri("disk"), back.toString());
        assertArrayEquals(data, Files.readAllBytes(back));
    }

    @Test
    void fioNbdEngineWithVerify() throws Exception {
        List<String> cmd = new ArrayList<>(List.of("fio", "--name=verify", "--ioengine=nbd", "--uri=" + uri("disk"),
                "--rw=randwrite", "--bs=4k", "--size=4M", "--iodepth=32", "--verify=crc32c",
                "--verify_fatal=1", "--do_verify=1"));
        String out = run(cmd.toArray(String[]::new));
        assertTrue(out.contains("err= 0"), out);
    }
}
