package io.jaio.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Dirty bitmaps over QMP ({@code block-dirty-bitmap-*}, {@code block-export-add bitmaps}) run
 * against jaio and qemu-storage-daemon with the same expectations, and jaio's extensions
 * (persistence in the sidecar, the checkpoint command) against jaio.
 */
class QmpBitmapScenarioTest {
    private static final Duration T = Duration.ofSeconds(60);

    @TempDir
    Path dir;


    /** {@code nbdinfo --map=CONTEXT URI} as (offset, length, type) triples. */
    static List<List<Long>> map(String context, String uri) {
        Tools.Result r = Tools.run(T, "nbdinfo", "--map=" + context, uri).assertOk();
        List<List<Long>> out = new ArrayList<>();
        for (String l : Tools.lines(r.stdout())) {
            String[] f = l.trim().split("\\s+");
            out.add(List.of(Long.parseLong(f[0]), Long.parseLong(f[1]), Long.parseLong(f[2])));
        }
        return out;
    }

    static void qemuIo(String uri, String... cmds) {
        List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", "raw"));
        for (String c : cmds) {
            cmd.add("-c");
            cmd.add(c);
        }
        cmd.add(uri);
        Tools.Result r = Tools.run(T, cmd).assertOk();
        assertFalse(r.all().contains("failed"), r.describe());
    }

    /** The dirty-bitmaps member of query-named-block-nodes for {@code node}, by bitmap name. */
    @SuppressWarnings("unchecked")
    static Map<String, Map<String, Object>> bitmapInfo(QmpClient c, String node) {
        Map<String, Map<String, Object>> out = new java.util.TreeMap<>();
        for (Object o : (List<Object>) c.ok("query-named-block-nodes", null)) {
            Map<String, Object> n = (Map<String, Object>) o;
            if (node.equals(n.get("node-name")) && n.get("dirty-bitmaps") instanceof List<?> l) {
                for (Object b : l) {
                    Map<String, Object> m = (Map<String, Object>) b;
                    out.put((String) m.get("name"), m);
                }
            }
        }
        return out;
    }

    @ParameterizedTest
    @EnumSource(QmpDaemon.Kind.class)
    void bitmapCommandsAndExportedDirtyExtents(QmpDaemon.Kind kind) throws Exception {
        Tools.require("nbdinfo", "libnbd-bin");
        Tools.require("qemu-io", "qemu-utils");
        Path img = Images.sparse(dir, "a.img", 4 << 20);
        Path sock = dir.resolve("nbd.sock");
        String uri = "nbd+unix:///disk?socket=" + sock;
        try (QmpDaemon d = QmpDaemon.start(kind, dir, 1); QmpClient c = QmpClient.negotiated(d.monitors.get(0))) {
            c.ok("blockdev-add", "{\"driver\": \"file\", \"node-name\": \"f0\", \"filename\": \"" + img + "\"}");
            c.ok("blockdev-add", "{\"driver\": \"raw\", \"node-name\": \"r0\", \"file\": \"f0\"}");
            // QEMU's errors for a missing node (add looks the node up as a device too) or bitmap
            assertEquals("GenericError: Cannot find device='nope' nor node-name='nope'",
                    c.error("block-dirty-bitmap-add", "{\"node\": \"nope\", \"name\": \"b\"}"));
            for (String op : List.of("remove", "clear", "enable", "disable")) {
                assertEquals("GenericError: Node 'nope' not found",
                        c.error("block-dirty-bitmap-" + op, "{\"node\": \"nope\", \"name\": \"b\"}"));
                assertEquals("GenericError: Dirty bitmap 'zz' not found",
                        c.error("block-dirty-bitmap-" + op, "{\"node\": \"r0\", \"name\": \"zz\"}"));
            }
            assertEquals("GenericError: Parameter 'name' is missing", c.error("block-dirty-bitmap-add", "{\"node\": \"r0\"}"));
            assertEquals("GenericError: Bitmap name cannot be empty",
                    c.error("block-dirty-bitmap-add", "{\"node\": \"r0\", \"name\": \"\"}"));
            for (int g : new int[] {256, 1000}) {
                assertEquals("GenericError: Granularity must be power of 2 and at least 512",
                        c.error("block-dirty-bitmap-add", "{\"node\": \"r0\", \"name\": \"b\", \"granularity\": " + g + "}"));
            }
            c.ok("block-dirty-bitmap-add", "{\"node\": \"r0\", \"name\": \"b\", \"granularity\": 65536}");
            assertEquals("GenericError: Bitmap already exists: b",
                    c.error("block-dirty-bitmap-add", "{\"node\": \"r0\", \"name\": \"b\"}"));
            c.ok("block-dirty-bitmap-add", "{\"node\": \"r0\", \"name\": \"m\", \"disabled\": true}");
            assertEquals("GenericError: Dirty bitmap 'zz' not found",
                    c.error("block-dirty-bitmap-merge", "{\"node\": \"r0\", \"target\": \"zz\", \"bitmaps\": [\"b\"]}"));
            assertEquals("GenericError: Dirty bitmap 'zz' not found",
                    c.error("block-dirty-bitmap-merge", "{\"node\": \"r0\", \"target\": \"m\", \"bitmaps\": [\"zz\"]}"));
            assertEquals("GenericError: Node 'nope' not found",
                    c.error("block-dirty-bitmap-merge", "{\"node\": \"nope\", \"target\": \"m\", \"bitmaps\": [\"b\"]}"));
            Map<String, Object> info = bitmapInfo(c, "r0").get("m");
            assertEquals(false, info.get("recording"));
            assertEquals(false, info.get("persistent"));
            assertEquals(65536L, info.get("granularity"));
            assertEquals(0L, info.get("count"));

            c.ok("nbd-server-start", "{\"addr\": {\"type\": \"unix\", \"data\": {\"path\": \"" + sock + "\"}}}");
            assertEquals("GenericError: Bitmap 'zz' is not found", c.error("block-export-add",
                    "{\"type\": \"nbd\", \"id\": \"e0\", \"node-name\": \"r0\", \"name\": \"disk\", \"bitmaps\": [\"zz\"]}"));
            assertEquals("GenericError: Enabled bitmap 'b' incompatible with readonly export", c.error("block-export-add",
                    "{\"type\": \"nbd\", \"id\": \"e0\", \"node-name\": \"r0\", \"name\": \"disk\", \"bitmaps\": [\"b\"]}"));
            c.ok("block-export-add", "{\"type\": \"nbd\", \"id\": \"e0\", \"node-name\": \"r0\", \"name\": \"disk\","
                    + " \"writable\": true, \"bitmaps\": [\"b\"], \"allocation-depth\": true}");
            assertEquals(true, bitmapInfo(c, "r0").get("b").get("busy"));
            assertEquals("GenericError: Bitmap 'b' is currently in use by another operation and cannot be used",
                    c.error("block-dirty-bitmap-clear", "{\"node\": \"r0\", \"name\": \"b\"}"));

            // A known pattern: 4 KiB at 0, 64 KiB at 1 MiB, 1000 bytes inside the 50th 64 KiB granule.
            qemuIo(uri, "write -P 0x11 0 4096", "write -P 0x22 1048576 65536", "write -P 0x33 3215728 1000");
            assertEquals(List.of(
                    List.of(0L, 65536L, 1L), List.of(65536L, 983040L, 0L),
                    List.of(1048576L, 65536L, 1L), List.of(1114112L, 2097152L, 0L),
                    List.of(3211264L, 65536L, 1L), List.of(3276800L, 917504L, 0L)),
                    map("qemu:dirty-bitmap:b", uri));
            assertEquals(List.of(List.of(0L, 4194304L, 1L)), map("qemu:allocation-depth", uri));
            assertEquals(196608L, bitmapInfo(c, "r0").get("b").get("count"));
            assertEquals(0L, bitmapInfo(c, "r0").get("m").get("count"), "a disabled bitmap records nothing");

            // Not exported (so not busy): enable, disable, clear, merge, remove.
            c.ok("block-dirty-bitmap-enable", "{\"node\": \"r0\", \"name\": \"m\"}");
            qemuIo(uri, "write -P 0x44 2097152 512");
            assertEquals(65536L, bitmapInfo(c, "r0").get("m").get("count"));
            c.ok("block-dirty-bitmap-disable", "{\"node\": \"r0\", \"name\": \"m\"}");
            qemuIo(uri, "write -P 0x55 2228224 512");
            assertEquals(65536L, bitmapInfo(c, "r0").get("m").get("count"));
            assertEquals(327680L, bitmapInfo(c, "r0").get("b").get("count"), "b: granules 0, 16, 49, 32 and 34");
            c.ok("block-dirty-bitmap-clear", "{\"node\": \"r0\", \"name\": \"m\"}");
            assertEquals(0L, bitmapInfo(c, "r0").get("m").get("count"));
            c.ok("block-dirty-bitmap-add", "{\"node\": \"r0\", \"name\": \"n\", \"granularity\": 65536}");
            qemuIo(uri, "write -P 0x66 0 512");
            c.ok("block-dirty-bitmap-merge", "{\"node\": \"r0\", \"target\": \"m\", \"bitmaps\": [\"n\"]}");
            assertEquals(65536L, bitmapInfo(c, "r0").get("m").get("count"));
            c.ok("block-dirty-bitmap-remove", "{\"node\": \"r0\", \"name\": \"n\"}");
            assertEquals("GenericError: Dirty bitmap 'n' not found",
                    c.error("block-dirty-bitmap-remove", "{\"node\": \"r0\", \"name\": \"n\"}"));

            c.ok("block-export-del", "{\"id\": \"e0\"}");
            c.awaitEvent("BLOCK_EXPORT_DELETED");
            assertEquals(false, bitmapInfo(c, "r0").get("b").get("busy"));
            c.ok("block-dirty-bitmap-clear", "{\"node\": \"r0\", \"name\": \"b\"}");
            assertEquals(0L, bitmapInfo(c, "r0").get("b").get("count"));
            // persistent: QEMU cannot store bitmaps in a raw image; jaio keeps them in the sidecar.
            String persistent = "{\"node\": \"r0\", \"name\": \"p\", \"persistent\": true}";
            if (kind == QmpDaemon.Kind.QEMU) {
                assertEquals("GenericError: Can't store persistent bitmaps to r0: Operation not supported",
                        c.error("block-dirty-bitmap-add", persistent));
            } else {
                c.ok("block-dirty-bitmap-add", persistent);
                assertEquals(true, bitmapInfo(c, "r0").get("p").get("persistent"));
            }
            assertEquals(Map.of("return", Map.of()), c.execute("quit", null));
            assertEquals(0, d.awaitExit(T));
        }
    }

    /**
     * jaio only: a persistent bitmap survives a clean stop in IMAGE.bitmaps and is exported from
     * the command line ({@code bitmaps.0=}); a transient one does not; the checkpoint freezes
     * generation N at a request boundary and starts N+1 empty.
     */
    @Test
    void persistentBitmapsAndCheckpointAcrossARestart() throws Exception {
        Tools.require("nbdinfo", "libnbd-bin");
        Tools.require("qemu-io", "qemu-utils");
        Path img = Images.sparse(dir, "b.img", 4 << 20);
        Path sock = dir.resolve("nbd.sock");
        String uri = "nbd+unix:///disk?socket=" + sock;
        String frozen;
        try (QmpDaemon d = QmpDaemon.start(QmpDaemon.Kind.JAIO, dir, 1); QmpClient c = QmpClient.negotiated(d.monitors.get(0))) {
            c.ok("blockdev-add", "{\"driver\": \"file\", \"node-name\": \"f0\", \"filename\": \"" + img + "\"}");
            c.ok("blockdev-add", "{\"driver\": \"raw\", \"node-name\": \"r0\", \"file\": \"f0\"}");
            c.ok("block-dirty-bitmap-add", "{\"node\": \"r0\", \"name\": \"p\", \"persistent\": true}");
            c.ok("block-dirty-bitmap-add", "{\"node\": \"r0\", \"name\": \"t\"}");
            assertTrue(Files.exists(dir.resolve("b.img.bitmaps")));
            c.ok("nbd-server-start", "{\"addr\": {\"type\": \"unix\", \"data\": {\"path\": \"" + sock + "\"}}}");
            c.ok("block-export-add", "{\"type\": \"nbd\", \"id\": \"e0\", \"node-name\": \"r0\", \"name\": \"disk\","
                    + " \"writable\": true, \"bitmaps\": [\"p\"]}");
            qemuIo(uri, "write -P 0x11 65536 4096");
            assertEquals("GenericError: Dirty bitmap 'zz' not found",
                    c.error("x-jaio-block-dirty-bitmap-checkpoint", "{\"node\": \"r0\", \"name\": \"zz\"}"));
            Object r = c.ok("x-jaio-block-dirty-bitmap-checkpoint", "{\"node\": \"r0\", \"name\": \"p\"}");
            assertInstanceOf(Map.class, r);
            frozen = (String) ((Map<?, ?>) r).get("frozen");
            assertEquals("p@0", frozen, "the first checkpoint freezes generation 0");
            qemuIo(uri, "write -P 0x22 196608 4096");
            // the frozen generation has the first write, the running one only the second
            assertEquals(List.of(List.of(0L, 65536L, 0L), List.of(65536L, 65536L, 1L), List.of(131072L, 4063232L, 0L)),
                    map("qemu:dirty-bitmap:" + frozen, uri));
            assertEquals(List.of(List.of(0L, 196608L, 0L), List.of(196608L, 65536L, 1L), List.of(262144L, 3932160L, 0L)),
                    map("qemu:dirty-bitmap:p", uri));
            Map<String, Map<String, Object>> info = bitmapInfo(c, "r0");
            assertEquals(false, info.get(frozen).get("recording"));
            assertEquals(true, info.get(frozen).get("persistent"));
            assertEquals(131072L, info.get("t").get("count"), "the transient bitmap saw both writes (granules 1 and 3)");
            assertEquals(Map.of("return", Map.of()), c.execute("quit", null));
            assertEquals(0, d.awaitExit(T));
        }
        // The command line, qemu-storage-daemon's syntax: the persistent bitmaps are back, t is not.
        try (DaemonProcess running = DaemonProcess.start(dir.resolve("logs2"),
                "--blockdev", "driver=file,node-name=f0,filename=" + img,
                "--blockdev", "driver=raw,node-name=r0,file=f0",
                "--nbd-server", "addr.type=unix,addr.path=" + sock,
                "--export", "type=nbd,id=e0,node-name=r0,name=disk,writable=on,bitmaps.0=p,bitmaps.1=" + frozen
                        + ",allocation-depth=on")) {
            assertEquals(List.of(List.of(0L, 196608L, 0L), List.of(196608L, 65536L, 1L), List.of(262144L, 3932160L, 0L)),
                    map("qemu:dirty-bitmap:p", uri));
            assertEquals(List.of(List.of(0L, 65536L, 0L), List.of(65536L, 65536L, 1L), List.of(131072L, 4063232L, 0L)),
                    map("qemu:dirty-bitmap:" + frozen, uri));
            // SIGKILL while the sidecar is open: the bitmaps must not be trusted afterwards
            running.process().destroyForcibly();
            assertTrue(running.process().waitFor(60, java.util.concurrent.TimeUnit.SECONDS));
        }
        try (QmpDaemon d = QmpDaemon.start(QmpDaemon.Kind.JAIO, dir, 1); QmpClient c = QmpClient.negotiated(d.monitors.get(0))) {
            c.ok("blockdev-add", "{\"driver\": \"file\", \"node-name\": \"f0\", \"filename\": \"" + img + "\"}");
            Map<String, Map<String, Object>> info = bitmapInfo(c, "f0");
            assertEquals(List.of("p", frozen), List.copyOf(info.keySet()));
            for (Map<String, Object> b : info.values()) {
                assertEquals(true, b.get("inconsistent"), b.toString());
            }
            // an inconsistent bitmap reads as all dirty: a backup copies everything, never too little
            c.ok("nbd-server-start", "{\"addr\": {\"type\": \"unix\", \"data\": {\"path\": \"" + sock + "\"}}}");
            c.ok("block-export-add", "{\"type\": \"nbd\", \"id\": \"e0\", \"node-name\": \"f0\", \"name\": \"disk\","
                    + " \"writable\": true}");
            assertEquals(List.of(List.of(0L, 4194304L, 1L)), map("qemu:dirty-bitmap:p", uri));
            c.ok("block-dirty-bitmap-clear", "{\"node\": \"f0\", \"name\": \"p\"}");
            assertEquals(false, bitmapInfo(c, "f0").get("p").get("inconsistent"));
            assertEquals(0L, bitmapInfo(c, "f0").get("p").get("count"));
            assertEquals(List.of(List.of(0L, 4194304L, 0L)), map("qemu:dirty-bitmap:p", uri));
            c.ok("block-dirty-bitmap-remove", "{\"node\": \"f0\", \"name\": \"" + frozen + "\"}");
        }
        DaemonProcess bad = DaemonProcess.launch(dir.resolve("logs3"), List.of(
                "--blockdev", "driver=file,node-name=f0,filename=" + img,
                "--blockdev", "driver=raw,node-name=r0,file=f0",
                "--nbd-server", "addr.type=unix,addr.path=" + sock,
                "--export", "type=nbd,id=e0,node-name=r0,name=disk,writable=on,bitmaps.0=t"));
        try (bad) {
            assertTrue(bad.process().waitFor(60, java.util.concurrent.TimeUnit.SECONDS));
            assertEquals(2, bad.process().exitValue(), bad.describe());
            assertTrue(bad.describe().contains("Bitmap 't' is not found"), bad.describe());
        }
    }
}
