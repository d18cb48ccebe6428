package io.jaio.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A {@code block-export-add} that fails leaves the daemon as it was: the answer is a
 * {@code GenericError} that names the conflict, no export is listed, and every file descriptor
 * opened for the export (its images, its IOThread's state) is closed again.
 */
class QmpExportAddFailureTest {
    @TempDir
    Path dir;

    private String nbdServerStart() {
        return "{\"addr\": {\"type\": \"unix\", \"data\": {\"path\": \"" + dir.resolve("nbd.sock") + "\"}}}";
    }

    private static String blockdev(String node, Path img) {
        return "{\"driver\": \"file\", \"node-name\": \"" + node + "\", \"filename\": \"" + img + "\"}";
    }

    private static String export(String id, String node, String name, String extra) {
        return "{\"type\": \"nbd\", \"id\": \"" + id + "\", \"node-name\": \"" + node + "\", \"name\": \"" + name
                + "\", \"writable\": true" + extra + "}";
    }

    private static void del(QmpClient c, String id) {
        c.ok("block-export-del", "{\"id\": \"" + id + "\"}");
        assertEquals(Map.of("id", id), c.awaitEvent("BLOCK_EXPORT_DELETED").get("data"));
    }

    private static void setLength(Path img, long size) throws Exception {
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(size);
        }
    }

    /** Two exports of one name under different ids: QEMU's error for the second, and nothing of it stays open. */
    @ParameterizedTest
    @EnumSource(QmpDaemon.Kind.class)
    void aSecondExportOfTheSameNameIsRefused(QmpDaemon.Kind kind) throws Exception {
        Path a = Images.sparse(dir, "a.img", 1 << 20);
        Path b = Images.sparse(dir, "b.img", 1 << 20);
        try (QmpDaemon d = QmpDaemon.start(kind, dir, 1); QmpClient c = QmpClient.negotiated(d.monitors.get(0))) {
            c.ok("nbd-server-start", nbdServerStart());
            c.ok("blockdev-add", blockdev("a", a));
            c.ok("blockdev-add", blockdev("b", b));
            c.ok("block-export-add", export("e1", "a", "disk", ""));
            // warm-up: an export of b comes and goes (lazily made pools and classes)
            c.ok("block-export-add", export("w", "b", "warm", ""));
            del(c, "w");
            List<String> fds0 = QmpLiveExportTest.fds(d.pid());

            assertEquals("GenericError: NBD server already has export named 'disk'",
                    c.error("block-export-add", export("e2", "b", "disk", "")));
            // without a name, the export is named after its node: "a", here taken by e3
            c.ok("block-export-add", export("e3", "b", "a", ""));
            assertEquals("GenericError: NBD server already has export named 'a'",
                    c.error("block-export-add", "{\"type\": \"nbd\", \"id\": \"e4\", \"node-name\": \"a\"}"));
            del(c, "e3");
            assertEquals(List.of(Map.of("id", "e1", "type", "nbd", "node-name", "a", "shutting-down", false)),
                    c.ok("query-block-exports", null));
            assertEquals(fds0, QmpLiveExportTest.fds(d.pid()), "open fds of the daemon");

            // the name is free once its export is gone
            del(c, "e1");
            c.ok("block-export-add", export("e2", "b", "disk", ""));
        }
    }

    /**
     * jaio only: an export that fails after its image was opened (here because the node's dirty
     * bitmaps cover a size the image no longer has: it grew behind the daemon's back) closes the
     * image again, and the IOThread it was to be served on can go without anything of it left.
     */
    @Test
    void anExportThatFailsAfterOpeningItsImageClosesIt() throws Exception {
        Path img = Images.sparse(dir, "a.img", 1 << 20);
        try (QmpDaemon d = QmpDaemon.start(QmpDaemon.Kind.JAIO, dir, 1);
             QmpClient c = QmpClient.negotiated(d.monitors.get(0))) {
            c.ok("nbd-server-start", nbdServerStart());
            c.ok("blockdev-add", blockdev("f0", img));
            c.ok("block-dirty-bitmap-add", "{\"node\": \"f0\", \"name\": \"b\"}"); // covers 1 MiB
            // warm-up: an IOThread serving an export comes and goes
            c.ok("object-add", "{\"qom-type\": \"iothread\", \"id\": \"w\"}");
            c.ok("block-export-add", export("w", "f0", "warm", ", \"iothread\": \"w\""));
            del(c, "w");
            c.ok("object-del", "{\"id\": \"w\"}");
            List<String> fds0 = QmpLiveExportTest.fds(d.pid());

            setLength(img, 2 << 20);
            c.ok("object-add", "{\"qom-type\": \"iothread\", \"id\": \"io1\"}");
            assertEquals("GenericError: Cannot export node 'f0': its dirty bitmaps cover 1048576 bytes, but the image"
                    + " has 2097152 (was it resized outside the daemon?)",
                    c.error("block-export-add", export("e0", "f0", "disk", ", \"iothread\": \"io1\"")));
            assertEquals(List.of(), c.ok("query-block-exports", null));
            c.ok("object-del", "{\"id\": \"io1\"}");
            assertEquals(fds0, QmpLiveExportTest.fds(d.pid()), "open fds of the daemon");

            // at the size the bitmaps cover again, the same export is accepted
            setLength(img, 1 << 20);
            c.ok("block-export-add", export("e0", "f0", "disk", ""));
            assertEquals(List.of(Map.of("id", "e0", "type", "nbd", "node-name", "f0", "shutting-down", false)),
                    c.ok("query-block-exports", null));
        }
    }
}
