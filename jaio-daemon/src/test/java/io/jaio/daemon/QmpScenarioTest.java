package io.jaio.daemon;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jaio.nbd.NbdClient;

import java.io.RandomAccessFile;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * QMP scenarios run against jaio-storage-daemon and against QEMU's qemu-storage-daemon (skipped
 * when it is not installed), with the same expectations: what passes on QEMU is QEMU's wire
 * behaviour, and jaio must match it.
 */
class QmpScenarioTest {
    @TempDir
    Path dir;


    @ParameterizedTest
    @EnumSource(QmpDaemon.Kind.class)
    void greetingAndNegotiation(QmpDaemon.Kind kind) throws Exception {
        try (QmpDaemon d = QmpDaemon.start(kind, dir, 1); QmpClient c = QmpClient.connect(d.monitors.get(0))) {
            Map<String, Object> qmp = asMap(c.greeting.get("QMP"));
            assertEquals(List.of("QMP"), List.copyOf(c.greeting.keySet()));
            // QEMU offers "oob" (its monitor has an I/O thread); jaio offers no capability.
            assertEquals(kind == QmpDaemon.Kind.QEMU ? List.of("oob") : List.of(), qmp.get("capabilities"));
            Map<String, Object> version = asMap(qmp.get("version"));
            Map<String, Object> qemu = asMap(version.get("qemu"));
            assertInstanceOf(Long.class, qemu.get("major"));
            assertInstanceOf(Long.class, qemu.get("minor"));
            assertInstanceOf(Long.class, qemu.get("micro"));
            assertInstanceOf(String.class, version.get("package"));

            assertEquals("CommandNotFound: Expecting capabilities negotiation with 'qmp_capabilities'",
                    c.error("query-version", null));
            // An unknown command before negotiation gets the same answer.
            assertEquals("CommandNotFound: Expecting capabilities negotiation with 'qmp_capabilities'",
                    c.error("no-such-command", null));
            Map<String, Object> r = c.raw("{\"execute\": \"qmp_capabilities\", \"id\": \"neg-1\"}\n");
            assertEquals(Map.of("return", Map.of(), "id", "neg-1"), r);
            r = c.raw("{\"execute\": \"qmp_capabilities\", \"id\": 7}\n");
            assertEquals("CommandNotFound: Capabilities negotiation is already complete, command ignored",
                    QmpClient.describeError(r));
            assertEquals(7L, r.get("id"));
            // query-version after negotiation answers what the greeting said, with any JSON id echoed.
            r = c.raw("{\"execute\": \"query-version\", \"id\": {\"a\": [1, \"x\"]}}\n");
            assertEquals(version, r.get("return"));
            assertEquals(Map.of("a", List.of(1L, "x")), r.get("id"));
        }
    }

    @ParameterizedTest
    @EnumSource(QmpDaemon.Kind.class)
    void badInputGetsQemusErrorsAndTheMonitorGoesOn(QmpDaemon.Kind kind) throws Exception {
        try (QmpDaemon d = QmpDaemon.start(kind, dir, 2); QmpClient c = QmpClient.negotiated(d.monitors.get(0));
             QmpClient other = QmpClient.negotiated(d.monitors.get(1))) {
            assertEquals("CommandNotFound: The command no-such-command has not been found",
                    c.error("no-such-command", null));
            assertEquals("GenericError: QMP input must be a JSON object", QmpClient.describeError(c.raw("[1, 2]\n")));
            assertEquals("GenericError: QMP input lacks member 'execute'",
                    QmpClient.describeError(c.raw("{\"arguments\": {}}\n")));
            assertEquals("GenericError: QMP input member 'execute' must be a string",
                    QmpClient.describeError(c.raw("{\"execute\": 42}\n")));
            assertEquals("GenericError: QMP input member 'arguments' must be an object",
                    QmpClient.describeError(c.raw("{\"execute\": \"query-version\", \"arguments\": []}\n")));
            assertEquals("GenericError: QMP input member 'bogus' is unexpected",
                    QmpClient.describeError(c.raw("{\"execute\": \"query-version\", \"bogus\": 1}\n")));
            assertEquals("GenericError: Parameter 'x' is unexpected", c.error("query-version", "{\"x\": 1}"));
            assertEquals("GenericError: Parameter 'id' is missing", c.error("block-export-del", "{}"));
            assertEquals("GenericError: Invalid parameter type for 'id', expected: string",
                    c.error("block-export-del", "{\"id\": 5}"));
            assertEquals("GenericError: Parameter 'mode' does not accept value 'soft'",
                    c.error("block-export-del", "{\"id\": \"e\", \"mode\": \"soft\"}"));
            assertEquals("GenericError: Export 'nope' is not found", c.error("block-export-del", "{\"id\": \"nope\"}"));
            // Not JSON: a parse error, in QEMU's words.
            assertEquals("GenericError: JSON parse error, invalid keyword 'garbage'",
                    QmpClient.describeError(c.raw("garbage\n")));
            assertEquals("GenericError: JSON parse error, duplicate key", QmpClient.describeError(
                    c.raw("{\"execute\": \"query-version\", \"execute\": \"quit\"}\n")));
            assertEquals("GenericError: Parameter 'qom-type' does not accept value 'bogus'",
                    c.error("object-add", "{\"qom-type\": \"bogus\", \"id\": \"x\"}"));
            assertEquals("GenericError: Invalid parameter type for 'poll-max-ns', expected: integer",
                    c.error("object-add", "{\"qom-type\": \"iothread\", \"id\": \"x\", \"poll-max-ns\": \"1\"}"));
            assertEquals("GenericError: 'node-name' must be specified for the root node",
                    c.error("blockdev-add", "{\"driver\": \"file\", \"filename\": \"/nonexistent\"}"));
            assertEquals("GenericError: Parameter 'addr.data' is missing",
                    c.error("nbd-server-start", "{\"addr\": {\"type\": \"unix\", \"path\": \"/nonexistent/x\"}}"));
            // A 1 MiB line: one argument too many, answered like any other.
            String big = "{\"execute\": \"query-version\", \"arguments\": {\"x\": \"" + "a".repeat(1 << 20) + "\"}}\n";
            assertEquals("GenericError: Parameter 'x' is unexpected", QmpClient.describeError(c.raw(big)));
            // The same connection and another one still work.
            assertEquals(c.ok("query-version", null), other.ok("query-version", null));
            assertTrue(d.isAlive());
        }
    }

    @ParameterizedTest
    @EnumSource(QmpDaemon.Kind.class)
    void exportLifecycleWithSafeAndHardRemoval(QmpDaemon.Kind kind) throws Exception {
        Path img = Images.sparse(dir, "a.img", 4 << 20);
        Path nbd = dir.resolve("nbd.sock");
        // Two monitors: events go to the clients of every monitor, as QEMU's do.
        try (QmpDaemon d = QmpDaemon.start(kind, dir, 2); QmpClient c = QmpClient.negotiated(d.monitors.get(0));
             QmpClient other = QmpClient.negotiated(d.monitors.get(1))) {
            c.ok("blockdev-add", "{\"driver\": \"file\", \"node-name\": \"f0\", \"filename\": \"" + img + "\"}");
            c.ok("blockdev-add", "{\"driver\": \"raw\", \"node-name\": \"r0\", \"file\": \"f0\"}");
            assertEquals("GenericError: Duplicate nodes with node-name='f0'",
                    c.error("blockdev-add", "{\"driver\": \"file\", \"node-name\": \"f0\", \"filename\": \"" + img + "\"}"));
            assertEquals("GenericError: Could not open '" + dir.resolve("missing.img") + "': No such file or directory",
                    c.error("blockdev-add", "{\"driver\": \"file\", \"node-name\": \"f1\", \"filename\": \""
                            + dir.resolve("missing.img") + "\"}"));
            assertEquals("GenericError: NBD server not running",
                    c.error("block-export-add", "{\"type\": \"nbd\", \"id\": \"e0\", \"node-name\": \"r0\"}"));
            assertEquals("GenericError: NBD server not running", c.error("nbd-server-stop", null));
            c.ok("nbd-server-start", "{\"addr\": {\"type\": \"unix\", \"data\": {\"path\": \"" + nbd + "\"}}}");
            assertEquals("GenericError: NBD server already running",
                    c.error("nbd-server-start", "{\"addr\": {\"type\": \"unix\", \"data\": {\"path\": \"" + nbd + "\"}}}"));
            c.ok("block-export-add", "{\"type\": \"nbd\", \"id\": \"e0\", \"node-name\": \"r0\", \"name\": \"disk\", \"writable\": true}");
            assertEquals("GenericError: Block export id 'e0' is already in use",
                    c.error("block-export-add", "{\"type\": \"nbd\", \"id\": \"e0\", \"node-name\": \"r0\"}"));
            assertEquals("GenericError: iothread \"nope\" not found",
                    c.error("block-export-add", "{\"type\": \"nbd\", \"id\": \"e1\", \"node-name\": \"r0\", \"iothread\": \"nope\"}"));
            assertEquals(List.of(Map.of("id", "e0", "type", "nbd", "node-name", "r0", "shutting-down", false)),
                    c.ok("query-block-exports", null));
            assertEquals("GenericError: NBD server already has export named 'disk'",
                    c.error("block-export-add", "{\"type\": \"nbd\", \"id\": \"e1\", \"node-name\": \"r0\", \"name\": \"disk\"}"));
            assertEquals("GenericError: Invalid block export id",
                    c.error("block-export-add", "{\"type\": \"nbd\", \"id\": \"1x\", \"node-name\": \"r0\", \"name\": \"zz\"}"));
            c.ok("blockdev-add", "{\"driver\": \"file\", \"node-name\": \"ro\", \"read-only\": true, \"filename\": \"" + img + "\"}");
            assertEquals("GenericError: Cannot export read-only node as writable",
                    c.error("block-export-add", "{\"type\": \"nbd\", \"id\": \"e2\", \"node-name\": \"ro\", \"writable\": true}"));
            c.ok("blockdev-del", "{\"node-name\": \"ro\"}");
            assertEquals("GenericError: Node r0 is in use", c.error("blockdev-del", "{\"node-name\": \"r0\"}"));

            byte[] data = new byte[4096];
            Arrays.fill(data, (byte) 0x5a);
            try (NbdClient client = NbdClient.connect(UnixDomainSocketAddress.of(nbd), "disk")) {
                client.write(8192, data);
                assertEquals("GenericError: export 'e0' still in use", c.error("block-export-del", "{\"id\": \"e0\"}"));
                assertEquals(List.of(Map.of("id", "e0", "type", "nbd", "node-name", "r0", "shutting-down", false)),
                        c.ok("query-block-exports", null));
                c.ok("block-export-del", "{\"id\": \"e0\", \"mode\": \"hard\"}");
                Map<String, Object> ev = c.awaitEvent("BLOCK_EXPORT_DELETED");
                assertEquals(Map.of("id", "e0"), ev.get("data"));
                assertEquals(Map.of("id", "e0"), other.awaitEvent("BLOCK_EXPORT_DELETED").get("data"));
                Map<String, Object> ts = asMap(ev.get("timestamp"));
                assertEquals(List.of("microseconds", "seconds"), ts.keySet().stream().sorted().toList());
                long us = (Long) ts.get("microseconds");
                assertTrue(us >= 0 && us < 1_000_000, "microseconds " + us);
                assertTrue(Math.abs((Long) ts.get("seconds") - System.currentTimeMillis() / 1000) < 3600, ts.toString());
            }
            assertEquals(List.of(), c.ok("query-block-exports", null));
            // The acknowledged write is in the image.
            byte[] back = new byte[4096];
            try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "r")) {
                f.seek(8192);
                f.readFully(back);
            }
            assertArrayEquals(data, back);
            // Removed and deleted: the id and the node are free again.
            c.ok("block-export-add", "{\"type\": \"nbd\", \"id\": \"e0\", \"node-name\": \"r0\"}");
            c.ok("block-export-del", "{\"id\": \"e0\"}");
            assertEquals(Map.of("id", "e0"), c.awaitEvent("BLOCK_EXPORT_DELETED").get("data"));
            c.ok("blockdev-del", "{\"node-name\": \"r0\"}");
            c.ok("blockdev-del", "{\"node-name\": \"f0\"}");
            assertEquals("GenericError: Failed to find node with node-name='f0'",
                    c.error("blockdev-del", "{\"node-name\": \"f0\"}"));
            c.ok("nbd-server-stop", null);
            assertEquals(Map.of("return", Map.of()), c.execute("quit", null));
            assertEquals(0, d.awaitExit(Duration.ofSeconds(60)));
        }
    }

    @ParameterizedTest
    @EnumSource(QmpDaemon.Kind.class)
    void iothreadObjects(QmpDaemon.Kind kind) throws Exception {
        try (QmpDaemon d = QmpDaemon.start(kind, dir, 1); QmpClient c = QmpClient.negotiated(d.monitors.get(0))) {
            c.ok("object-add", "{\"qom-type\": \"iothread\", \"id\": \"io1\", \"poll-max-ns\": 1000, \"poll-grow\": 2, \"poll-shrink\": 4}");
            assertEquals("GenericError: attempt to add duplicate property 'io1' to object (type 'container')",
                    c.error("object-add", "{\"qom-type\": \"iothread\", \"id\": \"io1\"}"));
            c.ok("object-del", "{\"id\": \"io1\"}");
            assertEquals("GenericError: object 'io1' not found", c.error("object-del", "{\"id\": \"io1\"}"));
        }
    }

    /** Monitor clients beyond QmpMonitor.MAX_CLIENTS are closed at once; the others go on: jaio only. */
    @org.junit.jupiter.api.Test
    void tooManyMonitorClientsAreClosedAndTheOthersGoOn() throws Exception {
        try (QmpDaemon d = QmpDaemon.start(QmpDaemon.Kind.JAIO, dir, 1)) {
            List<QmpClient> clients = new java.util.ArrayList<>();
            try {
                for (int i = 0; i < QmpMonitor.MAX_CLIENTS; i++) {
                    clients.add(QmpClient.connect(d.monitors.get(0))); // each has had its greeting
                }
                java.nio.channels.SocketChannel extra = java.nio.channels.SocketChannel.open(java.net.StandardProtocolFamily.UNIX);
                extra.connect(java.net.UnixDomainSocketAddress.of(d.monitors.get(0)));
                try (extra) {
                    assertEquals(-1, extra.read(java.nio.ByteBuffer.allocate(64)), "closed without a greeting");
                }
                QmpClient first = clients.get(0);
                assertEquals(Map.of("return", Map.of()), first.execute("qmp_capabilities", null));
                assertInstanceOf(Map.class, first.ok("query-version", null));
            } finally {
                clients.forEach(QmpClient::close);
            }
        }
    }

    /** query-iothreads (a system-emulator command qemu-storage-daemon lacks): jaio only. */
    @org.junit.jupiter.api.Test
    void queryIothreads() throws Exception {
        try (QmpDaemon d = QmpDaemon.start(QmpDaemon.Kind.JAIO, dir, 1); QmpClient c = QmpClient.negotiated(d.monitors.get(0))) {
            assertEquals(List.of(), c.ok("query-iothreads", null));
            c.ok("object-add", "{\"qom-type\": \"iothread\", \"id\": \"io1\", \"poll-max-ns\": 1000, \"poll-grow\": 2, \"poll-shrink\": 4}");
            List<?> l = (List<?>) c.ok("query-iothreads", null);
            assertEquals(1, l.size());
            Map<String, Object> t = asMap(l.get(0));
            assertEquals("io1", t.get("id"));
            assertEquals(1000L, t.get("poll-max-ns"));
            assertEquals(2L, t.get("poll-grow"));
            assertEquals(4L, t.get("poll-shrink"));
            assertInstanceOf(Long.class, t.get("thread-id"));
            assertEquals(false, t.get("poll-contention"), "the daemon's default");
            assertEquals("epoll", t.get("fd-monitor"), "the daemon's auto: epoll, image I/O on a request ring");
            c.ok("object-add", "{\"qom-type\": \"iothread\", \"id\": \"io2\", \"poll-contention\": true}");
            Map<String, Object> t2 = asMap(((List<?>) c.ok("query-iothreads", null)).stream()
                    .filter(o -> "io2".equals(asMap(o).get("id"))).findFirst().orElseThrow());
            assertEquals(true, t2.get("poll-contention"));
            c.ok("object-del", "{\"id\": \"io2\"}");
            // fd-monitor (jaio's): the monitor asked for is the one in use; a bad name is refused.
            c.ok("object-add", "{\"qom-type\": \"iothread\", \"id\": \"io3\", \"fd-monitor\": \"epoll\"}");
            Map<String, Object> t3 = asMap(((List<?>) c.ok("query-iothreads", null)).stream()
                    .filter(o -> "io3".equals(asMap(o).get("id"))).findFirst().orElseThrow());
            assertEquals("epoll", t3.get("fd-monitor"));
            c.ok("object-del", "{\"id\": \"io3\"}");
            c.ok("object-add", "{\"qom-type\": \"iothread\", \"id\": \"io3\", \"fd-monitor\": \"io_uring\"}");
            Map<String, Object> t4 = asMap(((List<?>) c.ok("query-iothreads", null)).stream()
                    .filter(o -> "io3".equals(asMap(o).get("id"))).findFirst().orElseThrow());
            assertEquals("io_uring", t4.get("fd-monitor"));
            c.ok("object-del", "{\"id\": \"io3\"}");
            String bad = c.error("object-add", "{\"qom-type\": \"iothread\", \"id\": \"io4\", \"fd-monitor\": \"kqueue\"}");
            assertTrue(bad.contains("fd-monitor") && bad.contains("kqueue"), bad);
            assertEquals("GenericError: attempt to add duplicate property 'io1' to object (type 'container')",
                    c.error("object-add", "{\"qom-type\": \"iothread\", \"id\": \"io1\"}"));
            c.ok("object-del", "{\"id\": \"io1\"}");
            assertEquals("GenericError: object 'io1' not found", c.error("object-del", "{\"id\": \"io1\"}"));
            assertEquals(List.of(), c.ok("query-iothreads", null));
        }
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> asMap(Object o) {
        assertInstanceOf(Map.class, o);
        return (Map<String, Object>) o;
    }
}
