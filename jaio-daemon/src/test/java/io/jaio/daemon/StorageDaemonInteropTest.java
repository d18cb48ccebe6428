package io.jaio.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.OutputStream;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The daemon against independent NBD clients: qemu-io, qemu-img, nbdinfo, nbdcopy, fio's nbd engine,
 * and libnbd's Python binding for requests the other clients refuse to send (writes to a read-only
 * export, ranges past the end). Each test starts its own child daemon on a Unix socket in a temp dir.
 */
@Timeout(180)
class StorageDaemonInteropTest {
    private static final Duration CMD_TIMEOUT = Duration.ofSeconds(90);
    private static final long MIB = 1L << 20;

    @TempDir
    Path tmp;

    private final List<DaemonProcess> daemons = new ArrayList<>();

    @AfterEach
    void killChildren() {
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

    /** Stops {@code d} with SIGTERM and checks the clean exit the daemon promises. */
    private static void stopCleanly(DaemonProcess d) {
        assertEquals(0, d.terminate(Duration.ofSeconds(60)), "exit code after SIGTERM\n" + d.describe());
    }

    private Path sock() {
        return tmp.resolve("nbd.sock");
    }

    private static Tools.Result run(String... cmd) {
        return Tools.run(CMD_TIMEOUT, cmd);
    }

    private static Tools.Result ok(DaemonProcess d, String... cmd) {
        Tools.Result r = run(cmd);
        if (r.exit() != 0) {
            fail("command failed:\n" + r.describe() + "\n=== daemon\n" + d.describe());
        }
        return r;
    }

    /** A fully written file of {@code size} bytes, every byte {@code fill}. */
    private Path filled(String name, long size, int fill) throws IOException {
        Path p = tmp.resolve(name);
        byte[] chunk = new byte[(int) MIB];
        Arrays.fill(chunk, (byte) fill);
        try (OutputStream out = Files.newOutputStream(p)) {
            for (long done = 0; done < size; done += chunk.length) {
                out.write(chunk, 0, (int) Math.min(chunk.length, size - done));
            }
        }
        return p;
    }

    /**
     * Pseudo-random data of {@code size} bytes (a multiple of 1 MiB), where every 8th MiB is zeroes
     * written out and every 8th (offset 3) is a hole, so copies exercise zero detection too.
     */
    private Path randomImage(String name, long size, long seed) throws IOException {
        Path p = Images.sparse(tmp, name, size);
        SplittableRandom rnd = new SplittableRandom(seed);
        byte[] chunk = new byte[(int) MIB];
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            for (long i = 0; i < size / MIB; i++) {
                if (i % 8 == 3) {
                    continue; // hole
                }
                if (i % 8 == 5) {
                    Arrays.fill(chunk, (byte) 0);
                } else {
                    rnd.nextBytes(chunk);
                }
                f.seek(i * MIB);
                f.write(chunk);
            }
        }
        return p;
    }

    // --- qemu-io ---------------------------------------------------------------------------------

    @ParameterizedTest(name = "aio={0}")
    @ValueSource(strings = {"io_uring", "threads"})
    void qemuIoWriteReadPatterns(String aio) throws Exception {
        Tools.require("qemu-io", "qemu-utils");
        Tools.require("qemu-img", "qemu-utils");
        long size = 64 * MIB;
        Path img = Images.sparse(tmp, "disk.img", size);
        DaemonProcess d = start("--export", "name=disk,file=" + img + ",aio=" + aio, "--nbd-server", "unix=" + sock());
        String uri = d.unixUri("disk");
        // Each line is a fresh connection, as in the shared check.sh.
        List<List<String>> steps = List.of(
                List.of("write -P 0xab 0 2M", "read -P 0xab 0 2M"),
                List.of("write -P 0xcd 4097 12345", "read -P 0xab 0 4097", "read -P 0xcd 4097 12345",
                        "read -P 0xab 16442 2080710"),
                List.of("read -P 0xab 0 4097", "read -P 0xcd 4097 12345"), // reconnect
                List.of("write -z 2M 1M", "read -P 0 2M 1M"),
                List.of("write -P 0x99 3M 1M", "write -z -u 3M 1M", "read -P 0 3M 1M"),
                List.of("write -f -P 0x5a 4M 64k", "read -P 0x5a 4M 64k"),
                List.of("write -P 0x42 5M 1M", "discard 5M 1M", "flush"),
                List.of("aio_write -P 0x11 6M 64k", "aio_write -P 0x22 7M 64k", "aio_write -P 0x33 8M 1M", "aio_flush",
                        "read -P 0x11 6M 64k", "read -P 0x22 7M 64k", "read -P 0x33 8M 1M"),
                List.of("write -P 0x77 " + (size - 4096) + " 4096", "read -P 0x77 " + (size - 4096) + " 4096", "flush"),
                List.of("readv -P 0x11 6M 32k 32k", "writev -P 0x44 9M 4k 60k", "read -P 0x44 9M 64k"));
        for (List<String> cmds : steps) {
            List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", "raw"));
            for (String c : cmds) {
                cmd.add("-c");
                cmd.add(c);
            }
            cmd.add(uri);
            Tools.Result r = Tools.run(CMD_TIMEOUT, cmd);
            // qemu-io exits 0 even when a pattern check fails, so the output is checked too.
            if (r.exit() != 0 || r.all().contains("failed") || r.all().contains("Pattern verification")) {
                fail("qemu-io step failed:\n" + r.describe() + "\n=== daemon\n" + d.describe());
            }
        }
        // What the server acknowledged is in the file it serves.
        ok(d, "qemu-img", "compare", "-f", "raw", "-F", "raw", img.toString(), uri);
        byte[] head = new byte[16442];
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "r")) {
            f.readFully(head);
            assertEquals((byte) 0xab, head[4096]);
            assertEquals((byte) 0xcd, head[4097]);
            assertEquals((byte) 0xcd, head[4097 + 12344]);
            f.seek(size - 4096);
            assertEquals(0x77, f.read());
        }
        assertEquals(size, Files.size(img), "the image must keep its size");
        stopCleanly(d);
    }

    // --- qemu-img --------------------------------------------------------------------------------

    @Test
    void qemuImgInfoCompareAndConvertToAndFromNbd() throws Exception {
        Tools.require("qemu-img", "qemu-utils");
        Tools.require("qemu-io", "qemu-utils");
        long size = 64 * MIB;
        Path src = randomImage("src.raw", size, 7);
        Path img = filled("disk.img", size, 0xee); // junk, so zeroes and holes must be written
        DaemonProcess d = start("--export", "name=disk,file=" + img, "--nbd-server", "unix=" + sock(),
                "--nbd-server", "tcp=127.0.0.1:0");
        String tcp = d.tcpUri("disk");
        String unix = d.unixUri("disk");

        Tools.Result info = ok(d, "qemu-img", "info", "-f", "raw", "--output=json", tcp);
        Matcher m = Pattern.compile("\"virtual-size\":\\s*(\\d+)").matcher(info.stdout());
        assertTrue(m.find(), info.describe());
        assertEquals(size, Long.parseLong(m.group(1)), info.describe());
        Tools.Result human = ok(d, "qemu-img", "info", "-f", "raw", unix);
        assertTrue(human.stdout().contains("(" + size + " bytes)"), human.describe());

        // The junk-filled export differs from the source: compare must say so (exit 1).
        Tools.Result differ = run("qemu-img", "compare", "-f", "raw", "-F", "raw", src.toString(), tcp);
        assertEquals(1, differ.exit(), "compare of different images\n" + differ.describe());

        // file -> nbd://
        ok(d, "qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", src.toString(), tcp);
        ok(d, "qemu-img", "compare", "-f", "raw", "-F", "raw", src.toString(), tcp);
        ok(d, "qemu-img", "compare", "-f", "raw", "-F", "raw", src.toString(), unix);
        // nbd+unix:// -> file, and nbd:// -> file
        Path back1 = tmp.resolve("back1.raw");
        Path back2 = tmp.resolve("back2.raw");
        ok(d, "qemu-img", "convert", "-f", "raw", "-O", "raw", unix, back1.toString());
        ok(d, "qemu-img", "convert", "-f", "raw", "-O", "raw", tcp, back2.toString());
        String want = Tools.sha256(src);
        assertEquals(want, Tools.sha256(back1), "converted back over the Unix socket");
        assertEquals(want, Tools.sha256(back2), "converted back over TCP");
        assertEquals(want, Tools.sha256(img), "the served image file");

        // One changed byte is found at its offset.
        ok(d, "qemu-io", "-f", "raw", "-c", "write -P 0x01 12345678 1", unix);
        Tools.Result one = run("qemu-img", "compare", "-f", "raw", "-F", "raw", src.toString(), tcp);
        assertEquals(1, one.exit(), one.describe());
        Matcher at = Pattern.compile("Content mismatch at offset (\\d+)").matcher(one.stdout());
        assertTrue(at.find(), one.describe());
        long off = Long.parseLong(at.group(1)); // qemu-img reports the start of the 512-byte sector
        assertTrue(off <= 12345678 && 12345678 - off < 512, one.describe());
        stopCleanly(d);
    }

    // --- nbdinfo ---------------------------------------------------------------------------------

    /** One nbdinfo --map line: offset, length, type (bit 0 hole, bit 1 zero). */
    record Extent(long offset, long length, int type) {
        boolean hole() {
            return (type & 1) != 0;
        }
    }

    private static List<Extent> parseMap(Tools.Result r) {
        List<Extent> out = new ArrayList<>();
        Pattern p = Pattern.compile("^\\s*(\\d+)\\s+(\\d+)\\s+(\\d+)\\s*(.*)$");
        for (String line : Tools.lines(r.stdout())) {
            Matcher m = p.matcher(line);
            if (!m.matches()) {
                fail("unexpected nbdinfo --map line '" + line + "'\n" + r.describe());
            }
            out.add(new Extent(Long.parseLong(m.group(1)), Long.parseLong(m.group(2)), Integer.parseInt(m.group(3))));
        }
        return out;
    }

    /** Adjacent extents of the same allocation (hole or data) merged, as [offset, end, "data"|"hole"]. */
    private static List<String> allocation(List<Extent> extents, long size) {
        List<String> out = new ArrayList<>();
        long expect = 0;
        long start = 0;
        Boolean hole = null;
        for (Extent e : extents) {
            assertEquals(expect, e.offset(), "extents must be contiguous: " + extents);
            assertTrue(e.length() > 0, "empty extent in " + extents);
            if (hole != null && hole != e.hole()) {
                out.add(start + ".." + e.offset() + (hole ? " hole" : " data"));
                start = e.offset();
            }
            hole = e.hole();
            expect = e.offset() + e.length();
        }
        assertEquals(size, expect, "extents must cover the export: " + extents);
        out.add(start + ".." + expect + (hole ? " hole" : " data"));
        return out;
    }

    @Test
    void nbdinfoSizeListAndMapOfKnownSparseLayout() throws Exception {
        Tools.require("nbdinfo", "libnbd-bin");
        Tools.require("qemu-img", "qemu-utils");
        long size = 8 * MIB;
        Path img = Images.sparse(tmp, "map.img", size);
        SplittableRandom rnd = new SplittableRandom(3);
        byte[] data = new byte[64 * 1024];
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            rnd.nextBytes(data);
            f.seek(0);
            f.write(data);
            rnd.nextBytes(data);
            f.seek(MIB);
            f.write(data);
        }
        List<String> want = List.of("0..65536 data", "65536..1048576 hole", "1048576..1114112 data",
                "1114112.." + size + " hole");
        // The file system must report the holes itself (SEEK_HOLE), else no server could.
        Tools.Result local = ok(null, "qemu-img", "map", "-f", "raw", "--output=json", img.toString());
        Assumptions.assumeTrue(local.stdout().contains("\"start\": 65536, \"length\": 983040")
                        && local.stdout().contains("\"start\": 1114112"),
                "the temp dir's file system does not report this sparse layout:\n" + local.stdout());
        Path ro = filled("ro.img", 4 * MIB, 0x5c);
        DaemonProcess d = start("--export", "name=disk,file=" + img + ",description=sparse test image",
                "--export", "name=ro,file=" + ro + ",readonly=on,description=read only",
                "--nbd-server", "unix=" + sock());
        String uri = d.unixUri("disk");

        assertEquals(Long.toString(size), ok(d, "nbdinfo", "--size", uri).stdout().strip());
        assertEquals(Long.toString(4 * MIB), ok(d, "nbdinfo", "--size", d.unixUri("ro")).stdout().strip());

        Tools.Result list = ok(d, "nbdinfo", "--list", "nbd+unix:///?socket=" + sock());
        String l = list.stdout();
        int disk = l.indexOf("export=\"disk\":");
        int roAt = l.indexOf("export=\"ro\":");
        assertTrue(disk >= 0 && roAt >= 0, "both exports listed\n" + list.describe());
        String diskPart = disk < roAt ? l.substring(disk, roAt) : l.substring(disk);
        String roPart = roAt < disk ? l.substring(roAt, disk) : l.substring(roAt);
        assertTrue(diskPart.contains("description: sparse test image"), list.describe());
        assertTrue(diskPart.contains("export-size: " + size), list.describe());
        assertTrue(diskPart.contains("is_read_only: false"), list.describe());
        assertTrue(diskPart.contains("base:allocation"), list.describe());
        assertTrue(diskPart.contains("can_multi_conn: true"), list.describe());
        assertTrue(roPart.contains("description: read only"), list.describe());
        assertTrue(roPart.contains("is_read_only: true"), list.describe());
        assertTrue(roPart.contains("export-size: " + 4 * MIB), list.describe());

        Tools.Result map = ok(d, "nbdinfo", "--map", uri);
        List<Extent> extents = parseMap(map);
        assertEquals(want, allocation(extents, size), "nbdinfo --map\n" + map.stdout());
        for (Extent e : extents) {
            if (!e.hole()) {
                assertEquals(0, e.type() & 2, "random data reported as zero: " + e);
            }
        }
        // A fully allocated export has no hole.
        List<Extent> roMap = parseMap(ok(d, "nbdinfo", "--map", d.unixUri("ro")));
        assertEquals(List.of("0.." + 4 * MIB + " data"), allocation(roMap, 4 * MIB));

        // Punching a hole with write-zeroes+unmap (and trimming) changes the map as it should.
        Tools.require("qemu-io", "qemu-utils");
        ok(d, "qemu-io", "-f", "raw", "-c", "write -z -u 1M 64k", "-c", "write -P 0x31 4M 64k", "-c", "flush", uri);
        Tools.Result map2 = ok(d, "nbdinfo", "--map", uri);
        List<String> want2 = List.of("0..65536 data", "65536..4194304 hole", "4194304..4259840 data",
                "4259840.." + size + " hole");
        Tools.Result local2 = ok(d, "qemu-img", "map", "-f", "raw", "--output=json", img.toString());
        if (local2.stdout().contains("\"start\": 1048576, \"length\": 65536, \"depth\": 0, \"present\": true, \"zero\": false")) {
            // write -z -u may legitimately leave the range allocated (zeroed, not punched); then only
            // require the zero flag there.
            List<Extent> e2 = parseMap(map2);
            assertTrue(e2.stream().anyMatch(e -> e.offset() <= MIB && e.offset() + e.length() >= MIB + 65536 && (e.type() & 2) != 0),
                    "zeroed range should read as zero in the map\n" + map2.stdout());
        } else {
            assertEquals(want2, allocation(parseMap(map2), size), "nbdinfo --map after zero+unmap\n" + map2.stdout()
                    + "\nqemu-img map of the file:\n" + local2.stdout());
        }
        stopCleanly(d);
    }

    // --- nbdcopy ---------------------------------------------------------------------------------

    @Test
    void nbdcopyRoundTripOverFourConnections() throws Exception {
        Tools.require("nbdcopy", "libnbd-bin");
        long size = 128 * MIB;
        Path src = randomImage("src.raw", size, 11);
        Path img = filled("disk.img", size, 0xee);
        DaemonProcess d = start("--export", "name=disk,file=" + img, "--nbd-server", "unix=" + sock());
        String uri = d.unixUri("disk");
        // nbdcopy uses at most --threads connections (default: the number of CPUs), so ask for 4 of each.
        ok(d, "nbdcopy", "--connections=4", "--threads=4", "--flush", src.toString(), uri);
        Path back = tmp.resolve("back.raw");
        ok(d, "nbdcopy", "--connections=4", "--threads=4", uri, back.toString());
        String want = Tools.sha256(src);
        assertEquals(want, Tools.sha256(back), "sha256 of the copy read back over 4 connections");
        assertEquals(want, Tools.sha256(img), "sha256 of the served image file");
        // Once more with one connection and no extents, so every byte goes through NBD_CMD_READ.
        Path back1 = tmp.resolve("back1.raw");
        ok(d, "nbdcopy", "--connections=1", "--no-extents", uri, back1.toString());
        assertEquals(want, Tools.sha256(back1), "sha256 read back without extents");
        stopCleanly(d);
    }

    // --- fio -------------------------------------------------------------------------------------

    @Test
    void fioNbdEngineVerifyCrc32cFourJobs() throws Exception {
        Tools.requireFioNbd();
        int jobs = 4;
        long perJob = 64 * MIB;
        Path img = Images.sparse(tmp, "fio.img", jobs * perJob);
        DaemonProcess d = start("--export", "name=disk,file=" + img, "--nbd-server", "unix=" + sock());
        String uri = d.unixUri("disk");
        Tools.Result r = Tools.run(Duration.ofSeconds(150), "fio", "--name=verify", "--ioengine=nbd", "--uri=" + uri,
                "--rw=randwrite", "--bsrange=4k-128k", "--iodepth=16", "--numjobs=" + jobs, "--size=64m",
                "--offset_increment=64m", "--verify=crc32c", "--do_verify=1", "--verify_fatal=1",
                "--verify_state_save=0", "--group_reporting");
        if (r.exit() != 0 || !r.stdout().contains("err= 0") || r.all().contains("verify: bad")) {
            fail("fio verify failed\n" + r.describe() + "\n=== daemon\n" + d.describe());
        }
        stopCleanly(d);
    }

    // --- error rules -----------------------------------------------------------------------------

    @Test
    void qemuIoCannotWriteToReadOnlyExport() throws Exception {
        Tools.require("qemu-io", "qemu-utils");
        Path ro = filled("ro.img", 4 * MIB, 0x5c);
        String before = Tools.sha256(ro);
        DaemonProcess d = start("--export", "name=ro,file=" + ro + ",readonly=on", "--nbd-server", "unix=" + sock());
        String uri = d.unixUri("ro");
        // qemu's client honours NBD_FLAG_READ_ONLY: it refuses a writable open (EACCES) or a write (EPERM).
        Tools.Result w = run("qemu-io", "-f", "raw", "-c", "write -P 0xab 0 64k", uri);
        assertNotEquals(0, w.exit(), w.describe());
        assertTrue(w.all().contains("Operation not permitted") || w.all().contains("Permission denied"), w.describe());
        Tools.Result wr = run("qemu-io", "-r", "-f", "raw", "-c", "write -P 0xab 0 64k", uri);
        assertNotEquals(0, wr.exit(), wr.describe());
        assertTrue(wr.all().contains("read-only") || wr.all().contains("Operation not permitted"), wr.describe());
        // Reads work.
        Tools.Result r = ok(d, "qemu-io", "-r", "-f", "raw", "-c", "read -P 0x5c 0 4M", uri);
        assertTrue(!r.all().contains("failed") && !r.all().contains("Pattern verification"), r.describe());
        assertEquals(before, Tools.sha256(ro), "the read-only image changed");
        stopCleanly(d);
    }

    @Test
    void qemuIoRangesPastTheEndFail() throws Exception {
        Tools.require("qemu-io", "qemu-utils");
        long size = 4 * MIB;
        Path img = Images.sparse(tmp, "disk.img", size);
        DaemonProcess d = start("--export", "name=disk,file=" + img, "--nbd-server", "unix=" + sock());
        String uri = d.unixUri("disk");
        for (String c : List.of("read " + size + " 4096", "read " + (size - 2048) + " 4096",
                "write -P 0x11 " + size + " 4096", "write -P 0x11 " + (size - 2048) + " 4096",
                "write -z " + (size - 2048) + " 4096", "discard " + size + " 4096")) {
            Tools.Result r = run("qemu-io", "-f", "raw", "-c", c, uri);
            assertTrue(r.all().contains("failed"), "'" + c + "' should fail\n" + r.describe());
        }
        // The last block itself is fine, and nothing grew the image.
        Tools.Result last = ok(d, "qemu-io", "-f", "raw", "-c", "write -P 0x22 " + (size - 4096) + " 4096",
                "-c", "read -P 0x22 " + (size - 4096) + " 4096", uri);
        assertTrue(!last.all().contains("failed") && !last.all().contains("Pattern verification"), last.describe());
        assertEquals(size, Files.size(img), "the image must not grow");
        stopCleanly(d);
    }

    private static final String ERROR_RULES_PY = """
            import errno, nbd, sys
            rw_uri, ro_uri = sys.argv[1], sys.argv[2]
            def attempt(what, fn):
                try:
                    fn()
                    print(what + "=OK")
                except nbd.Error as e:
                    code = e.errno if isinstance(e.errno, int) else getattr(errno, str(e.errno), -1)
                    print(what + "=" + errno.errorcode.get(code, str(e.errno)) + "|" + str(e.string))
            ro = nbd.NBD(); ro.set_strict_mode(0); ro.connect_uri(ro_uri)
            attempt("ro.write", lambda: ro.pwrite(b"x" * 4096, 0))
            attempt("ro.write_fua", lambda: ro.pwrite(b"x" * 4096, 0, nbd.CMD_FLAG_FUA))
            attempt("ro.zero", lambda: ro.zero(4096, 0))
            attempt("ro.trim", lambda: ro.trim(4096, 0))
            attempt("ro.read", lambda: ro.pread(4096, 0))
            ro.shutdown()
            h = nbd.NBD(); h.set_strict_mode(0); h.connect_uri(rw_uri)
            sz = h.get_size()
            attempt("read_past_end", lambda: h.pread(4096, sz))
            attempt("read_straddling_end", lambda: h.pread(4096, sz - 2048))
            attempt("write_past_end", lambda: h.pwrite(b"x" * 4096, sz))
            attempt("write_straddling_end", lambda: h.pwrite(b"x" * 4096, sz - 2048))
            attempt("zero_past_end", lambda: h.zero(4096, sz))
            attempt("trim_past_end", lambda: h.trim(4096, sz))
            attempt("read_over_32MiB", lambda: h.pread(32 * 1024 * 1024 + 4096, 0))
            attempt("write_last_block", lambda: h.pwrite(b"y" * 4096, sz - 4096))
            attempt("read_last_block", lambda: h.pread(4096, sz - 4096))
            attempt("flush", lambda: h.flush())
            h.shutdown()
            """;

    @Test
    void serverErrorRulesSeenByLibnbd() throws Exception {
        String py = Tools.requirePythonNbd();
        long size = 40 * MIB;
        Path img = Images.sparse(tmp, "disk.img", size);
        Path ro = filled("ro.img", 4 * MIB, 0x5c);
        String roBefore = Tools.sha256(ro);
        DaemonProcess d = start("--export", "name=disk,file=" + img, "--export", "name=ro,file=" + ro + ",readonly=on",
                "--nbd-server", "unix=" + sock());
        Tools.Result r = Tools.runWithInput(CMD_TIMEOUT, ERROR_RULES_PY, py, "-", d.unixUri("disk"), d.unixUri("ro"));
        if (r.exit() != 0) {
            fail("libnbd script failed\n" + r.describe() + "\n=== daemon\n" + d.describe());
        }
        Map<String, String> got = new LinkedHashMap<>();
        for (String line : Tools.lines(r.stdout())) {
            int eq = line.indexOf('=');
            got.put(line.substring(0, eq), line.substring(eq + 1));
        }
        Map<String, String> want = new LinkedHashMap<>();
        want.put("ro.write", "EPERM");
        want.put("ro.write_fua", "EPERM");
        want.put("ro.zero", "EPERM");
        want.put("ro.trim", "EPERM");
        want.put("ro.read", "OK");
        want.put("read_past_end", "EINVAL");
        want.put("read_straddling_end", "EINVAL");
        want.put("write_past_end", "ENOSPC");
        want.put("write_straddling_end", "ENOSPC");
        want.put("zero_past_end", "ENOSPC");
        want.put("trim_past_end", "EINVAL");
        want.put("read_over_32MiB", "EINVAL");
        want.put("write_last_block", "OK");
        want.put("read_last_block", "OK");
        want.put("flush", "OK");
        List<String> bad = new ArrayList<>();
        for (var e : want.entrySet()) {
            String g = got.getOrDefault(e.getKey(), "(missing)");
            String code = g.contains("|") ? g.substring(0, g.indexOf('|')) : g;
            if (!code.equals(e.getValue())) {
                bad.add(e.getKey() + ": want " + e.getValue() + ", got " + g);
            }
        }
        assertTrue(bad.isEmpty(), String.join("\n", bad) + "\n" + r.describe() + "\n=== daemon\n" + d.describe());
        for (String k : List.of("ro.write", "ro.zero", "ro.trim")) {
            assertTrue(got.get(k).contains("Operation not permitted"), k + ": " + got.get(k));
        }
        assertEquals(roBefore, Tools.sha256(ro), "the read-only image changed");
        assertEquals(size, Files.size(img), "the image must not grow");
        stopCleanly(d);
    }
}
