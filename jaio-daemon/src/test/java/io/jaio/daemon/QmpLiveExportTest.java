package io.jaio.daemon;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jaio.nbd.Nbd;
import io.jaio.nbd.NbdClient;

import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Exports added and removed on a running jaio-storage-daemon while clients do I/O. */
class QmpLiveExportTest {
    private static final int BLOCK = 4096;

    @TempDir
    Path dir;


    private static byte[] block(long i) {
        byte[] b = new byte[BLOCK];
        for (int k = 0; k < BLOCK; k += 8) {
            long v = i * 0x9E3779B97F4A7C15L + k;
            for (int j = 0; j < 8; j++) {
                b[k + j] = (byte) (v >>> (8 * j));
            }
        }
        return b;
    }

    /** A daemon with export "a" (node a, writable) on nbd.sock and one QMP monitor. */
    private QmpDaemon startWithExportA(Path imgA) throws Exception {
        return QmpDaemon.start(QmpDaemon.Kind.JAIO, dir, 1,
                "--blockdev", "driver=file,node-name=a,filename=" + imgA,
                "--nbd-server", "addr.type=unix,addr.path=" + dir.resolve("nbd.sock"),
                "--export", "type=nbd,id=a,node-name=a,name=a,writable=on");
    }

    private void addExport(QmpClient c, String id, Path img, String aio) {
        c.ok("blockdev-add", "{\"driver\": \"file\", \"node-name\": \"" + id + "\", \"filename\": \"" + img
                + "\", \"aio\": \"" + aio + "\"}");
        c.ok("block-export-add", "{\"type\": \"nbd\", \"id\": \"" + id + "\", \"node-name\": \"" + id
                + "\", \"writable\": true}");
    }

    private void delExport(QmpClient c, String id, String mode) {
        String args = "{\"id\": \"" + id + "\", \"mode\": \"" + mode + "\"}";
        // A client that just disconnected may not be gone yet on the server side (as with QEMU,
        // whose export reference drops when the client's coroutine ends): ask again until then.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        Map<String, Object> r;
        while ((r = c.execute("block-export-del", args)).containsKey("error")
                && QmpClient.describeError(r).equals("GenericError: export '" + id + "' still in use")
                && System.nanoTime() < deadline) {
            pause(); // polling for a condition of another process; not a timing assertion
        }
        assertEquals(Map.of("return", Map.of()), r);
        assertEquals(Map.of("id", id), c.awaitEvent("BLOCK_EXPORT_DELETED").get("data"));
        c.ok("blockdev-del", "{\"node-name\": \"" + id + "\"}");
    }

    @Test
    void addServeRemoveWhileAnotherExportRuns() throws Exception {
        Path imgA = Images.sparse(dir, "a.img", 8 << 20);
        Path imgB = Images.sparse(dir, "b.img", 8 << 20);
        Path nbd = dir.resolve("nbd.sock");
        try (QmpDaemon d = startWithExportA(imgA); QmpClient c = QmpClient.negotiated(d.monitors.get(0))) {
            AtomicBoolean stop = new AtomicBoolean();
            AtomicLong ops = new AtomicLong();
            CountDownLatch running = new CountDownLatch(1);
            CompletableFuture<Void> io = CompletableFuture.runAsync(() -> {
                try (NbdClient a = NbdClient.connect(UnixDomainSocketAddress.of(nbd), "a")) {
                    for (long i = 0; !stop.get(); i++) {
                        long blk = i % 2048;
                        a.write(blk * BLOCK, block(i));
                        assertArrayEquals(block(i), a.read(blk * BLOCK, BLOCK));
                        if (ops.incrementAndGet() == 1) {
                            running.countDown();
                        }
                    }
                }
            });
            assertTrue(running.await(60, TimeUnit.SECONDS), "I/O on export a started");
            for (int cycle = 0; cycle < 10; cycle++) {
                addExport(c, "b", imgB, cycle % 2 == 0 ? "threads" : "io_uring");
                try (NbdClient b = NbdClient.connect(UnixDomainSocketAddress.of(nbd), "b")) {
                    b.write(cycle * BLOCK, block(1000 + cycle));
                    b.flush();
                }
                delExport(c, "b", cycle % 3 == 0 ? "hard" : "safe");
            }
            long before = ops.get();
            stop.set(true);
            io.get(60, TimeUnit.SECONDS); // any error on export a fails here
            assertTrue(before > 0);
            assertEquals(List.of(Map.of("id", "a", "type", "nbd", "node-name", "a", "shutting-down", false)),
                    c.ok("query-block-exports", null));
        }
        byte[] all = Files.readAllBytes(imgB);
        for (int cycle = 0; cycle < 10; cycle++) {
            assertArrayEquals(block(1000 + cycle), Arrays.copyOfRange(all, cycle * BLOCK, (cycle + 1) * BLOCK));
        }
    }

    @Test
    void fioOnOneExportSeesNoErrorWhileAnotherIsAddedAndRemoved() throws Exception {
        Tools.requireFioNbd();
        Path imgA = Images.sparse(dir, "a.img", 128 << 20);
        Path imgB = Images.sparse(dir, "b.img", 8 << 20);
        Path nbd = dir.resolve("nbd.sock");
        try (QmpDaemon d = startWithExportA(imgA); QmpClient c = QmpClient.negotiated(d.monitors.get(0))) {
            String uri = "nbd+unix:///a?socket=" + nbd;
            CompletableFuture<Tools.Result> fio = CompletableFuture.supplyAsync(() -> Tools.run(
                    java.time.Duration.ofSeconds(300), "fio", "--name=verify", "--ioengine=nbd", "--uri=" + uri,
                    "--rw=randwrite", "--bs=4k", "--iodepth=16", "--size=128m", "--verify=crc32c", "--do_verify=1",
                    "--verify_fatal=1", "--verify_state_save=0"));
            int cycles = 0;
            while (!fio.isDone() || cycles == 0) {
                addExport(c, "b", imgB, "threads");
                try (NbdClient b = NbdClient.connect(UnixDomainSocketAddress.of(nbd), "b")) {
                    b.write(0, block(cycles));
                }
                delExport(c, "b", cycles % 2 == 0 ? "hard" : "safe");
                cycles++;
            }
            Tools.Result r = fio.get(300, TimeUnit.SECONDS);
            assertTrue(r.exit() == 0 && r.stdout().contains("err= 0") && !r.all().contains("verify: bad"),
                    "fio on export a failed while b came and went " + cycles + " times\n" + r.describe() + "\n" + d.describe());
        }
    }

    @Test
    void hardRemovalUnderLoadLosesNoAcknowledgedWrite() throws Exception {
        int blocks = 4096;
        Path imgA = Images.sparse(dir, "a.img", (long) blocks * BLOCK);
        Path nbd = dir.resolve("nbd.sock");
        Map<Long, Long> acked = new TreeMap<>(); // block -> generation whose write was acknowledged
        try (QmpDaemon d = startWithExportA(imgA); QmpClient c = QmpClient.negotiated(d.monitors.get(0))) {
            CountDownLatch enough = new CountDownLatch(1);
            CompletableFuture<String> writer = CompletableFuture.supplyAsync(() -> {
                try (NbdClient a = NbdClient.connect(UnixDomainSocketAddress.of(nbd), "a")) {
                    Deque<long[]> pending = new ArrayDeque<>(); // {handle, block, generation}
                    for (long gen = 0; ; gen++) {
                        long blk = gen % blocks;
                        pending.add(new long[] {a.send(Nbd.CMD_WRITE, 0, blk * BLOCK, BLOCK, block(gen)), blk, gen});
                        if (pending.size() == 16) { // queue depth 16
                            long[] p = pending.poll();
                            NbdClient.Reply r = a.await(p[0]);
                            if (r.error() != 0) {
                                return "error " + r.error();
                            }
                            acked.put(p[1], p[2]);
                            if (acked.size() == 512) {
                                enough.countDown();
                            }
                        }
                    }
                } catch (RuntimeException e) {
                    return "ended: " + e; // the disconnect
                }
            });
            assertTrue(enough.await(60, TimeUnit.SECONDS), "writes acknowledged");
            c.ok("block-export-del", "{\"id\": \"a\", \"mode\": \"hard\"}");
            assertEquals(Map.of("id", "a"), c.awaitEvent("BLOCK_EXPORT_DELETED").get("data"));
            String end = writer.get(60, TimeUnit.SECONDS);
            assertTrue(end.startsWith("error " + Nbd.ESHUTDOWN) || end.startsWith("ended"), end);
            assertEquals(List.of(), c.ok("query-block-exports", null));
        }
        byte[] all = Files.readAllBytes(imgA);
        assertTrue(acked.size() >= 512, "acknowledged " + acked.size());
        for (Map.Entry<Long, Long> e : acked.entrySet()) {
            int off = (int) (e.getKey() * BLOCK);
            byte[] got = Arrays.copyOfRange(all, off, off + BLOCK);
            // A later write of the same block may have landed unacknowledged; an acknowledged one is never lost.
            boolean ok = Arrays.equals(block(e.getValue()), got);
            for (long later = e.getValue() + blocks; !ok && later < e.getValue() + 4L * blocks; later += blocks) {
                ok = Arrays.equals(block(later), got);
            }
            assertTrue(ok, "block " + e.getKey() + " lost its acknowledged generation " + e.getValue());
        }
    }

    @Test
    void exportsOnDifferentIothreadsAreServedThere() throws Exception {
        Path imgA = Images.sparse(dir, "a.img", 1 << 20);
        Path imgB = Images.sparse(dir, "b.img", 1 << 20);
        Path nbd = dir.resolve("nbd.sock");
        try (QmpDaemon d = QmpDaemon.start(QmpDaemon.Kind.JAIO, dir, 1); QmpClient c = QmpClient.negotiated(d.monitors.get(0))) {
            c.ok("object-add", "{\"qom-type\": \"iothread\", \"id\": \"io1\", \"poll-max-ns\": 0}");
            c.ok("object-add", "{\"qom-type\": \"iothread\", \"id\": \"io2\", \"poll-max-ns\": 0}");
            c.ok("object-add", "{\"qom-type\": \"iothread\", \"id\": \"io3\"}");
            c.ok("nbd-server-start", "{\"addr\": {\"type\": \"unix\", \"data\": {\"path\": \"" + nbd + "\"}}}");
            c.ok("blockdev-add", "{\"driver\": \"file\", \"node-name\": \"a\", \"filename\": \"" + imgA + "\"}");
            c.ok("blockdev-add", "{\"driver\": \"file\", \"node-name\": \"b\", \"filename\": \"" + imgB + "\"}");
            c.ok("block-export-add", "{\"type\": \"nbd\", \"id\": \"a\", \"node-name\": \"a\", \"writable\": true, \"iothread\": \"io1\"}");
            c.ok("block-export-add", "{\"type\": \"nbd\", \"id\": \"b\", \"node-name\": \"b\", \"writable\": true, \"iothread\": \"io2\", \"fixed-iothread\": true}");
            // io3 serves nothing: it can go; io2 serves b: it cannot.
            c.ok("object-del", "{\"id\": \"io3\"}");
            assertEquals("GenericError: object 'io2' is in use, can not be deleted", c.error("object-del", "{\"id\": \"io2\"}"));
            long io1Before = pollPasses(c, "io1");
            long io2Before = pollPasses(c, "io2");
            try (NbdClient b = NbdClient.connect(UnixDomainSocketAddress.of(nbd), "b");
                 NbdClient a = NbdClient.connect(UnixDomainSocketAddress.of(nbd), "a")) {
                for (int i = 0; i < 200; i++) { // one request at a time: each needs a pass of b's loop
                    b.write((i % 64) * BLOCK, block(i));
                }
                long io1Delta = pollPasses(c, "io1") - io1Before;
                long io2Delta = pollPasses(c, "io2") - io2Before;
                assertTrue(io2Delta >= 200, "io2 (export b) ran " + io2Delta + " passes for 200 requests");
                assertTrue(io1Delta < 100, "io1 (export a, and the handshakes) ran " + io1Delta + " passes");
                a.write(0, block(7));
                assertArrayEquals(block(7), a.read(0, BLOCK));
            }
            delExport(c, "b", "safe");
            c.ok("object-del", "{\"id\": \"io2\"}");
        }
    }

    private static long pollPasses(QmpClient c, String iothread) {
        for (Object o : (List<?>) c.ok("query-stats", "{\"target\": \"iothread\"}")) {
            Map<?, ?> m = (Map<?, ?>) o;
            if (("/objects/" + iothread).equals(m.get("qom-path"))) {
                for (Object st : (List<?>) m.get("stats")) {
                    Map<?, ?> x = (Map<?, ?>) st;
                    if ("poll-passes".equals(x.get("name"))) {
                        return (Long) x.get("value");
                    }
                }
            }
        }
        throw new AssertionError("no poll-passes for " + iothread);
    }

    @Test
    void hundredAddDelCyclesLeakNoFdOrThread() throws Exception {
        Path imgA = Images.sparse(dir, "a.img", 1 << 20);
        Path imgB = Images.sparse(dir, "b.img", 1 << 20);
        Path nbd = dir.resolve("nbd.sock");
        try (QmpDaemon d = startWithExportA(imgA); QmpClient c = QmpClient.negotiated(d.monitors.get(0))) {
            Runnable cycle = () -> {
                addExport(c, "b", imgB, "threads");
                try (NbdClient b = NbdClient.connect(UnixDomainSocketAddress.of(nbd), "b")) {
                    b.write(0, block(1));
                }
                delExport(c, "b", "safe");
            };
            cycle.run(); // warm-up: lazily created pools and classes
            cycle.run();
            List<String> fds0 = fds(d.pid());
            List<String> threads0 = threads(d.pid());
            for (int i = 0; i < 100; i++) {
                cycle.run();
            }
            assertEquals(fds0, fds(d.pid()), "open fds of the daemon");
            assertEquals(threads0, threads(d.pid()), "threads of the daemon (JVM housekeeping threads excluded)");
        }
    }

    @Test
    void queryStatsAndTheMetricsEndpointCountAnExportsRequests() throws Exception {
        Path imgA = Images.sparse(dir, "a.img", 1 << 20);
        Path nbd = dir.resolve("nbd.sock");
        try (QmpDaemon d = QmpDaemon.start(QmpDaemon.Kind.JAIO, dir, 1,
                "--object", "iothread,id=io0,poll-max-ns=0",
                "--blockdev", "driver=file,node-name=a,filename=" + imgA,
                "--nbd-server", "addr.type=unix,addr.path=" + nbd,
                "--export", "type=nbd,id=a,node-name=a,writable=on,iothread=io0",
                "--metrics", "tcp=127.0.0.1:0");
             QmpClient c = QmpClient.negotiated(d.monitors.get(0))) {
            try (NbdClient a = NbdClient.connect(UnixDomainSocketAddress.of(nbd), "a")) {
                a.write(0, block(1));
                a.write(BLOCK, block(2));
                a.read(0, 512);
                a.write(2L << 20, block(3), 0);
            } catch (RuntimeException expectedEnospc) {
                // the write past the end is answered with an error
            }
            // A request is counted just after its reply is written: the client may see the last
            // reply first, so ask until the fourth is counted (bounded).
            Map<String, Object> byName = new TreeMap<>();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            do {
                List<?> stats = (List<?>) c.ok("query-stats", "{\"target\": \"block-export\"}");
                assertEquals(1, stats.size());
                Map<?, ?> one = (Map<?, ?>) stats.get(0);
                assertEquals("jaio", one.get("provider"));
                assertEquals("/block-exports/a", one.get("qom-path"));
                for (Object o : (List<?>) one.get("stats")) {
                    Map<?, ?> m = (Map<?, ?>) o;
                    byName.put((String) m.get("name"), m.get("value"));
                }
            } while (!Long.valueOf(4).equals(byName.get("requests")) && System.nanoTime() < deadline
                    && pause());
            assertEquals(4L, byName.get("requests"));
            assertEquals(1L, byName.get("errors"));
            assertEquals(512L, byName.get("bytes-read"));
            assertEquals(2L * BLOCK, byName.get("bytes-written"));
            long histogramTotal = ((List<?>) byName.get("latency-histogram-log2-us")).stream().mapToLong(o -> (Long) o).sum();
            assertEquals(4L, histogramTotal);
            // Four requests one at a time: the connection never stopped reading ahead.
            assertEquals(0L, byName.get("receive-waits-executing"));
            assertEquals(0L, byName.get("receive-waits-unsent"));
            List<?> threads = (List<?>) c.ok("query-stats", "{\"target\": \"iothread\"}");
            assertEquals("/objects/io0", ((Map<?, ?>) threads.get(0)).get("qom-path"));
            assertEquals("GenericError: Parameter 'target' does not accept value 'vm'",
                    c.error("query-stats", "{\"target\": \"vm\"}"));

            String url = d.stdoutLine("Metrics: ").substring("Metrics: ".length());
            java.net.http.HttpResponse<String> r = java.net.http.HttpClient.newHttpClient().send(
                    java.net.http.HttpRequest.newBuilder(java.net.URI.create(url)).build(),
                    java.net.http.HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode());
            String body = r.body();
            assertTrue(body.contains("jaio_export_requests_total{id=\"a\",name=\"a\"} 4\n"), body);
            assertTrue(body.contains("jaio_export_errors_total{id=\"a\",name=\"a\"} 1\n"), body);
            assertTrue(body.contains("jaio_export_written_bytes_total{id=\"a\",name=\"a\"} 8192\n"), body);
            assertTrue(body.contains("jaio_export_request_latency_seconds_bucket{id=\"a\",le=\"+Inf\"} 4\n"), body);
            assertTrue(body.contains("jaio_export_receive_waits_total{id=\"a\",name=\"a\",reason=\"unsent\"} 0\n"), body);
            assertTrue(body.contains("jaio_export_receive_waits_total{id=\"a\",name=\"a\",reason=\"executing\"} 0\n"), body);
            assertTrue(body.contains("jaio_iothread_poll_max_ns{iothread=\"io0\"} 0\n"), body);
            assertTrue(body.endsWith("# EOF\n"), body);
        }
    }

    /** The targets of /proc/PID/fd, sorted (pipe and socket inode numbers replaced by their kind). Leak tests. */
    static List<String> fds(long pid) throws IOException {
        List<String> l = new ArrayList<>();
        try (Stream<Path> s = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
            for (Path p : s.toList()) {
                try {
                    l.add(Files.readSymbolicLink(p).toString().replaceAll("\\[\\d+\\]", "[]"));
                } catch (IOException e) {
                    // closed while listing
                }
            }
        }
        l.sort(null);
        return l;
    }

    /** Names of the daemon's threads, sorted, without the JVM's own (compiler and GC threads come and go). */
    private static List<String> threads(long pid) throws IOException {
        List<String> l = new ArrayList<>();
        try (Stream<Path> s = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
            for (Path t : s.toList()) {
                try {
                    String name = Files.readString(t.resolve("comm")).strip();
                    if (!name.matches("(C1|C2) CompilerThre.*|GC Thread.*|G1 .*|VM .*|Common-Cleaner|ForkJoinPool.*|"
                            + "Attach Listener|process reaper|Java2D.*|CodeCacheSweep.*|Monitor Deflati.*")) {
                        l.add(name);
                    }
                } catch (IOException e) {
                    // ended while listing
                }
            }
        }
        l.sort(null);
        return l;
    }

    /** A 10 ms pause between polls of another process's state; always true. */
    private static boolean pause() {
        try {
            Thread.sleep(10);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted", e);
        }
        return true;
    }
}
