package io.jaio.nbd;

import io.jaio.aio.AioContext;
import io.jaio.aio.IoThread;
import io.jaio.block.RawFileBackend;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The server end to end over Unix sockets: an IoThread runs the server with in-memory
 * backends, the test thread drives it with {@link NbdClient} and raw bytes.
 */
class NbdServerTest {
    private static final int DISK_SIZE = 4 << 20;

    @TempDir
    Path dir;
    private IoThread io;
    private MemoryBackend disk;
    private MemoryBackend ro;
    private NbdServer server;
    private SocketAddress addr;

    @BeforeEach
    void setUp() {
        io = IoThread.start("nbd-test");
        disk = new MemoryBackend(DISK_SIZE);
        ro = new MemoryBackend(1 << 20);
        ro.fill(0, pattern(1 << 20, 9));
        server = NbdServer.builder(io.context())
                .export(NbdExport.builder("disk", disk).description("scratch").build())
                .export(NbdExport.builder("ro", ro).readOnly(true).build())
                .build();
        addr = server.listen(UnixDomainSocketAddress.of(dir.resolve("nbd.sock")));
    }

    @AfterEach
    void tearDown() {
        server.close();
        io.close();
    }

    private static byte[] pattern(int n, int seed) {
        byte[] b = new byte[n];
        long x = 0x9E3779B97F4A7C15L * (seed + 1);
        for (int i = 0; i < n; i++) {
            x ^= x << 13;
            x ^= x >>> 7;
            x ^= x << 17;
            b[i] = (byte) x;
        }
        return b;
    }

    private NbdClient connect(String export) {
        return NbdClient.connect(addr, export);
    }

    private static void write(SocketChannel ch, ByteBuffer b) throws Exception {
        b.flip();
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }

    private static ByteBuffer read(SocketChannel ch, int n) throws Exception {
        ByteBuffer b = ByteBuffer.allocate(n);
        while (b.hasRemaining()) {
            if (ch.read(b) < 0) {
                throw new java.io.EOFException("EOF after " + b.position() + " of " + n);
            }
        }
        return b.flip();
    }

    private static boolean eof(SocketChannel ch) throws Exception {
        ByteBuffer one = ByteBuffer.allocate(1);
        try {
            return ch.read(one) < 0;
        } catch (java.io.IOException e) {
            return true;
        }
    }

    /** Opens a raw connection and completes the greeting with fixed newstyle + NO_ZEROES. */
    private SocketChannel rawGreeted() throws Exception {
        SocketChannel ch = NbdClient.open(addr);
        ByteBuffer g = read(ch, 18);
        assertEquals(Nbd.NBDMAGIC, g.getLong());
        assertEquals(Nbd.IHAVEOPT, g.getLong());
        assertEquals(3, g.getShort());
        write(ch, ByteBuffer.allocate(4).putInt(3));
        return ch;
    }

    private static void sendOption(SocketChannel ch, int opt, byte[] payload) throws Exception {
        ByteBuffer b = ByteBuffer.allocate(16 + payload.length);
        NbdCodec.option(b, opt, payload);
        write(ch, b);
    }

    /** Reads one option reply: {option, type, length} and skips its data. */
    private static int[] optionReply(SocketChannel ch) throws Exception {
        ByteBuffer h = read(ch, 20);
        assertEquals(Nbd.REPLY_MAGIC, h.getLong());
        int[] r = {h.getInt(), h.getInt(), h.getInt()};
        read(ch, r[2]);
        return r;
    }

    /** Waits (without a deadline assertion) until no connection is open, so checks see a settled server. */
    private void awaitNoConnections() throws InterruptedException {
        for (int i = 0; i < 30_000 && server.stats().connectionsActive() != 0; i++) {
            Thread.sleep(1);
        }
        assertEquals(0, server.stats().connectionsActive());
    }

    // ---- handshake ----

    @Test
    void goWithStructuredRepliesAndBlockSizes() {
        try (NbdClient c = connect("disk")) {
            assertEquals(DISK_SIZE, c.size());
            assertTrue(c.structuredReplies());
            assertTrue(c.baseAllocation());
            assertEquals(1, c.minBlockSize());
            assertEquals(4096, c.preferredBlockSize());
            assertEquals(32 << 20, c.maxBlockSize());
            assertEquals("scratch", c.description());
            int f = c.transmissionFlags();
            for (int flag : new int[] {Nbd.FLAG_HAS_FLAGS, Nbd.FLAG_SEND_FLUSH, Nbd.FLAG_SEND_FUA, Nbd.FLAG_SEND_TRIM,
                    Nbd.FLAG_SEND_WRITE_ZEROES, Nbd.FLAG_SEND_DF, Nbd.FLAG_CAN_MULTI_CONN, Nbd.FLAG_SEND_CACHE,
                    Nbd.FLAG_SEND_FAST_ZERO}) {
                assertTrue((f & flag) != 0, "flag " + flag);
            }
            assertEquals(0, f & Nbd.FLAG_READ_ONLY);
            c.disconnect();
        }
    }

    @Test
    void exportNameWithSimpleReplies() {
        NbdClient.Options o = new NbdClient.Options().exportName("ro").useGo(false).structuredReplies(false);
        try (NbdClient c = NbdClient.connect(addr, o)) {
            assertEquals(1 << 20, c.size());
            assertFalse(c.structuredReplies());
            assertTrue((c.transmissionFlags() & Nbd.FLAG_READ_ONLY) != 0);
            assertEquals(0, c.transmissionFlags() & Nbd.FLAG_SEND_DF);
            assertArrayEquals(Arrays.copyOfRange(ro.snapshot(), 1000, 5000), c.read(1000, 4000));
        }
        NbdClient.Options zeroes = new NbdClient.Options().exportName("disk").useGo(false).noZeroes(false);
        try (NbdClient c = NbdClient.connect(addr, zeroes)) {
            assertEquals(DISK_SIZE, c.size());
            c.write(0, new byte[] {1, 2, 3});
        }
        NbdClient.Options oldStyle = new NbdClient.Options().exportName("disk").fixedNewstyle(false).noZeroes(false);
        try (NbdClient c = NbdClient.connect(addr, oldStyle)) {
            assertArrayEquals(new byte[] {1, 2, 3}, c.read(0, 3));
        }
    }

    @Test
    void listAndInfo() throws Exception {
        Map<String, String> list = NbdClient.list(addr);
        assertEquals(Map.of("disk", "scratch", "ro", ""), list);
        assertEquals(List.of("disk", "ro"), List.copyOf(list.keySet()));
        try (SocketChannel ch = rawGreeted()) {
            sendOption(ch, Nbd.OPT_INFO, NbdCodec.infoPayload("ro", Nbd.INFO_BLOCK_SIZE));
            int[] r;
            int infos = 0;
            while ((r = optionReply(ch))[1] == Nbd.REP_INFO) {
                infos++;
            }
            assertEquals(Nbd.REP_ACK, r[1]);
            assertEquals(2, infos);
            sendOption(ch, Nbd.OPT_INFO, NbdCodec.infoPayload("missing"));
            assertEquals(Nbd.REP_ERR_UNKNOWN, optionReply(ch)[1]);
            sendOption(ch, Nbd.OPT_ABORT, new byte[0]);
            assertEquals(Nbd.REP_ACK, optionReply(ch)[1]);
            assertTrue(eof(ch));
        }
    }

    @Test
    void unknownOptionIsUnsupportedAndTheHandshakeGoesOn() throws Exception {
        try (SocketChannel ch = rawGreeted()) {
            sendOption(ch, Nbd.OPT_STARTTLS, new byte[0]);
            assertEquals(Nbd.REP_ERR_UNSUP, optionReply(ch)[1]);
            sendOption(ch, 1234, new byte[100]);
            int[] r = optionReply(ch);
            assertEquals(1234, r[0]);
            assertEquals(Nbd.REP_ERR_UNSUP, r[1]);
            sendOption(ch, Nbd.OPT_EXPORT_NAME, "disk".getBytes());
            ByteBuffer e = read(ch, 10);
            assertEquals(DISK_SIZE, e.getLong());
            ByteBuffer req = ByteBuffer.allocate(28);
            new NbdRequest(0, Nbd.CMD_READ, 5, 0, 16).encode(req);
            write(ch, req);
            ByteBuffer rep = read(ch, 16 + 16);
            assertEquals(Nbd.SIMPLE_REPLY_MAGIC, rep.getInt());
            assertEquals(0, rep.getInt());
            assertEquals(5, rep.getLong());
        }
    }

    @Test
    void malformedHandshakesEndOnlyThatConnection() throws Exception {
        byte[] before = pattern(65536, 1);
        try (NbdClient bystander = connect("disk")) {
            bystander.write(0, before);
            // Oversized option.
            try (SocketChannel ch = rawGreeted()) {
                write(ch, ByteBuffer.allocate(16).putLong(Nbd.IHAVEOPT).putInt(Nbd.OPT_GO)
                        .putInt(Nbd.MAX_OPTION_LENGTH + 1));
                assertTrue(eof(ch), "oversized option: disconnected");
            }
            // Bad option magic.
            try (SocketChannel ch = rawGreeted()) {
                write(ch, ByteBuffer.allocate(16).putLong(0x1234).putInt(Nbd.OPT_LIST).putInt(0));
                assertTrue(eof(ch), "bad option magic: disconnected");
            }
            // Unknown client flags.
            try (SocketChannel ch = NbdClient.open(addr)) {
                read(ch, 18);
                write(ch, ByteBuffer.allocate(4).putInt(0xFF));
                assertTrue(eof(ch), "unknown client flags: disconnected");
            }
            // EXPORT_NAME of an unknown export.
            try (SocketChannel ch = rawGreeted()) {
                sendOption(ch, Nbd.OPT_EXPORT_NAME, "nope".getBytes());
                assertTrue(eof(ch), "unknown export: disconnected");
            }
            // Garbage, then the client goes away mid-option.
            try (SocketChannel ch = rawGreeted()) {
                write(ch, ByteBuffer.allocate(10).putLong(Nbd.IHAVEOPT).putShort((short) 0));
            }
            assertThrows(NbdClient.NbdError.class, () -> connect("nope"), "GO of an unknown export is an error reply");
            assertArrayEquals(before, bystander.read(0, before.length), "the other connection still works");
            bystander.disconnect();
        }
        awaitNoConnections();
        assertArrayEquals(before, Arrays.copyOf(disk.snapshot(), before.length));
        assertEquals(0, Arrays.compare(new byte[DISK_SIZE - before.length],
                Arrays.copyOfRange(disk.snapshot(), before.length, DISK_SIZE)), "nothing else written");
        assertTrue(server.stats().protocolErrors() >= 4);
    }

    // ---- transmission ----

    @Test
    void readWriteTrimZeroFlushWithStructuredAndSimpleReplies() {
        for (boolean structured : new boolean[] {true, false}) {
            NbdClient.Options o = new NbdClient.Options().exportName("disk").structuredReplies(structured);
            try (NbdClient c = NbdClient.connect(addr, o)) {
                byte[] data = pattern(1 << 20, structured ? 2 : 3);
                c.write(4096, data, Nbd.CMD_FLAG_FUA);
                assertArrayEquals(data, c.read(4096, data.length));
                c.flush();
                c.trim(4096, 8192, 0);
                c.writeZeroes(4096 + 8192, 4096, Nbd.CMD_FLAG_NO_HOLE);
                c.cache(0, 65536);
                byte[] expect = data.clone();
                Arrays.fill(expect, 0, 12288, (byte) 0);
                assertArrayEquals(expect, c.read(4096, data.length));
                assertArrayEquals(expect, Arrays.copyOfRange(disk.snapshot(), 4096, 4096 + data.length));
                if (structured) {
                    assertArrayEquals(expect, c.read(4096, data.length, Nbd.CMD_FLAG_DF));
                    NbdClient.Reply r = c.await(c.send(Nbd.CMD_READ, 0, 0, 65536, null)).check();
                    assertTrue(r.holeChunks() >= 1, "the trimmed and never written blocks come back as holes");
                }
                c.disconnect();
            }
        }
        assertTrue(disk.flushes.get() >= 2);
        assertTrue(disk.fuaWrites.get() >= 2);
    }

    @Test
    void blockStatusWithAndWithoutReqOne() {
        try (NbdClient c = connect("disk")) {
            c.write(65536, new byte[8192]);
            List<NbdClient.Extent> ex = c.blockStatus(0, 1 << 20, 0);
            assertEquals(new NbdClient.Extent(65536, 3), ex.get(0));
            assertEquals(new NbdClient.Extent(8192, 0), ex.get(1));
            assertEquals(new NbdClient.Extent((1 << 20) - 65536 - 8192, 3), ex.get(2));
            assertEquals(List.of(new NbdClient.Extent(8192, 0)), c.blockStatus(65536, 1 << 20, Nbd.CMD_FLAG_REQ_ONE));
            NbdClient.Reply bad = c.await(c.send(Nbd.CMD_BLOCK_STATUS, 0, DISK_SIZE, 512, null));
            assertEquals(Nbd.EINVAL, bad.error());
        }
        NbdClient.Options noMeta = new NbdClient.Options().exportName("disk").baseAllocation(false);
        try (NbdClient c = NbdClient.connect(addr, noMeta)) {
            assertEquals(Nbd.EINVAL, c.await(c.send(Nbd.CMD_BLOCK_STATUS, 0, 0, 512, null)).error());
        }
    }

    @Test
    void manyRequestsInFlightAreAnsweredOutOfOrder() {
        // Earlier offsets take longer: a server that runs requests concurrently answers in reverse.
        disk.yields(off -> (int) (64 - off / 65536));
        byte[] data = pattern(64 * 65536, 4);
        try (NbdClient c = connect("disk")) {
            List<Long> writes = new ArrayList<>();
            for (int i = 0; i < 64; i++) {
                writes.add(c.send(Nbd.CMD_WRITE, 0, i * 65536L, 65536, Arrays.copyOfRange(data, i * 65536, (i + 1) * 65536)));
            }
            List<Long> order = new ArrayList<>();
            for (int i = 0; i < 64; i++) {
                NbdClient.Reply r = c.receive().check();
                order.add(r.handle());
            }
            assertNotEquals(writes, order, "replies came back out of order");
            assertEquals(new java.util.HashSet<>(writes), new java.util.HashSet<>(order));

            Map<Long, Integer> reads = new HashMap<>();
            for (int i = 0; i < 64; i++) {
                reads.put(c.send(Nbd.CMD_READ, 0, i * 65536L, 65536, null), i);
            }
            List<Integer> readOrder = new ArrayList<>();
            for (int i = 0; i < 64; i++) {
                NbdClient.Reply r = c.receive().check();
                int idx = reads.get(r.handle());
                readOrder.add(idx);
                assertArrayEquals(Arrays.copyOfRange(data, idx * 65536, (idx + 1) * 65536), r.data());
            }
            assertNotEquals(readOrder.stream().sorted().toList(), readOrder);
            c.disconnect();
        }
    }

    /**
     * Read-ahead and reply batching: requests arrive as one stream that the receive buffer cuts
     * at fixed places: 16 WRITEs of 4095 bytes each fill the first read of exactly
     * {@link NbdConnection#RECEIVE_BUFFER} bytes up to the middle of the 17th header; a 70000-byte
     * WRITE's payload is larger than the buffer (partly copied, the rest read directly); a refused
     * WRITE's payload is skipped; then READs of everything. Every reply is right and the data
     * is where it was written, nothing else changed.
     */
    @Test
    void pipelinedRequestsCutAnywhereByTheReceiveBufferAreAllAnswered() throws Exception {
        int small = 4095 - Nbd.REQUEST_SIZE;
        assertEquals(16, NbdConnection.RECEIVE_BUFFER / (small + Nbd.REQUEST_SIZE), "the 17th header straddles the buffer");
        try (NbdClient c = connect("disk")) {
            ByteBuffer stream = ByteBuffer.allocate(1 << 20);
            Map<Long, Integer> writes = new HashMap<>();
            List<long[]> regions = new ArrayList<>(); // {offset, length, seed}
            for (int i = 0; i < 17; i++) {
                regions.add(new long[] {i * 8192L, small, i});
            }
            regions.add(new long[] {1 << 20, 70_000, 17});
            for (long[] g : regions) {
                long h = c.encode(stream, Nbd.CMD_WRITE, 0, g[0], (int) g[1], pattern((int) g[1], (int) g[2]));
                writes.put(h, 0);
            }
            long refused = c.encode(stream, Nbd.CMD_WRITE, 0, DISK_SIZE - 512, 4096, pattern(4096, 99));
            Map<Long, long[]> reads = new HashMap<>();
            for (long[] g : regions) {
                reads.put(c.encode(stream, Nbd.CMD_READ, 0, g[0], (int) g[1], null), g);
            }
            stream.flip();
            assertEquals(16 * 4095 + 16, NbdConnection.RECEIVE_BUFFER, "layout");

            // Hold the loop until the first read can take a full buffer: the first 64 KiB + 16
            // bytes go into the socket while it is frozen (they fit in its buffer), the rest after.
            java.util.concurrent.CountDownLatch frozen = new java.util.concurrent.CountDownLatch(1);
            java.util.concurrent.CountDownLatch thaw = new java.util.concurrent.CountDownLatch(1);
            io.context().scheduleOneshot("freeze", () -> {
                frozen.countDown();
                try {
                    thaw.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            assertTrue(frozen.await(30, TimeUnit.SECONDS));
            ByteBuffer first = stream.duplicate().limit(NbdConnection.RECEIVE_BUFFER + 16);
            while (first.hasRemaining()) {
                c.channel().write(first);
            }
            thaw.countDown();
            stream.position(first.position());
            while (stream.hasRemaining()) {
                c.channel().write(stream);
            }

            int answered = 0;
            while (c.pending() > 0) {
                NbdClient.Reply r = c.receive();
                answered++;
                if (r.handle() == refused) {
                    assertEquals(Nbd.ENOSPC, r.error());
                } else if (writes.containsKey(r.handle())) {
                    r.check();
                } else {
                    long[] g = reads.get(r.handle());
                    assertArrayEquals(pattern((int) g[1], (int) g[2]), r.check().data(), "read at " + g[0]);
                }
            }
            assertEquals(2 * regions.size() + 1, answered);
            c.disconnect();
        }
        awaitNoConnections();
        byte[] expect = new byte[DISK_SIZE];
        for (int i = 0; i < 17; i++) {
            System.arraycopy(pattern(small, i), 0, expect, i * 8192, small);
        }
        System.arraycopy(pattern(70_000, 17), 0, expect, 1 << 20, 70_000);
        assertArrayEquals(expect, disk.snapshot(), "the disk holds exactly the accepted writes");
    }

    /**
     * READs of at least SENDFILE_MIN bytes from a memory-backed image go out with sendfile(2)
     * (the backend offers a buffered fd even with cache=none), mixed in one batch with replies
     * from buffers, in both reply modes; every byte is the file's, including data written
     * through the server just before.
     */
    @Test
    void largeReadsOfAMemoryBackedFileAreSentFromTheFile() throws Exception {
        Path shm = Path.of("/dev/shm");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isDirectory(shm), "no /dev/shm on this machine");
        Path f = Files.createTempFile(shm, "jaio-nbd-sendfile-", ".img");
        byte[] content = pattern(4 << 20, 21);
        Files.write(f, content);
        AioContext ctx = io.context();
        RawFileBackend be = ctx.callOnHomeThread("open", () -> RawFileBackend.open(ctx, f,
                RawFileBackend.Options.defaults().withCacheNone(true)));
        NbdServer s = NbdServer.builder(ctx).export(NbdExport.builder("shm", be).build()).build();
        try {
            assertTrue(ctx.callOnHomeThread("fd", be::sendFileFd) >= 0, "tmpfs: a sendfile fd");
            SocketAddress a = s.listen(UnixDomainSocketAddress.of(dir.resolve("shm.sock")));
            byte[] fresh = pattern(1 << 16, 22);
            System.arraycopy(fresh, 0, content, 2 << 20, fresh.length);
            int min = NbdCommands.SENDFILE_MIN;
            long[][] ranges = {{0, 65536}, {65536, 4096}, {1 << 20, 1 << 20}, {2 << 20, 1 << 16},
                    {3 << 20, min}, {(3 << 20) + 65536, min - 4096}, {8192, 4096}};
            for (boolean structured : new boolean[] {true, false}) {
                try (NbdClient c = NbdClient.connect(a, new NbdClient.Options().exportName("shm").structuredReplies(structured))) {
                    c.write(2 << 20, fresh);
                    ByteBuffer stream = ByteBuffer.allocate(ranges.length * Nbd.REQUEST_SIZE);
                    Map<Long, long[]> reads = new HashMap<>();
                    for (long[] g : ranges) {
                        reads.put(c.encode(stream, Nbd.CMD_READ, 0, g[0], (int) g[1], null), g);
                    }
                    write(c.channel(), stream);
                    for (int i = 0; i < ranges.length; i++) {
                        NbdClient.Reply r = c.receive().check();
                        long[] g = reads.get(r.handle());
                        assertArrayEquals(Arrays.copyOfRange(content, (int) g[0], (int) (g[0] + g[1])), r.data(),
                                "read of " + g[1] + " at " + g[0] + (structured ? " (structured)" : " (simple)"));
                    }
                    c.disconnect();
                }
            }
        } finally {
            s.close();
            ctx.callOnHomeThread("close", () -> {
                be.close();
                return null;
            });
            Files.deleteIfExists(f);
        }
    }

    /**
     * Fairness: two clients that each queue 150 reads while the server is busy get them executed
     * interleaved, at most a couple of request budgets from one before the other's turn, not all
     * of one connection first (each read finishes without suspending, so without the budget the
     * first receive loop would run until its socket ran dry).
     */
    @Test
    void aClientWithAFullQueueDoesNotStarveAnother() throws Exception {
        List<Character> order = java.util.Collections.synchronizedList(new ArrayList<>());
        disk.yields(off -> {
            order.add(off < (2 << 20) ? 'A' : 'B');
            return 0;
        });
        try (NbdClient a = connect("disk"); NbdClient b = connect("disk")) {
            java.util.concurrent.CountDownLatch frozen = new java.util.concurrent.CountDownLatch(1);
            java.util.concurrent.CountDownLatch thaw = new java.util.concurrent.CountDownLatch(1);
            io.context().scheduleOneshot("freeze", () -> {
                frozen.countDown();
                try {
                    thaw.await(30, TimeUnit.SECONDS); // bounded: a stuck sender fails the test, not CI
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            assertTrue(frozen.await(30, TimeUnit.SECONDS));
            int n = 150;
            for (int i = 0; i < n; i++) {
                a.send(Nbd.CMD_READ, 0, i * 512L, 512, null);
                b.send(Nbd.CMD_READ, 0, (2 << 20) + i * 512L, 512, null);
            }
            thaw.countDown();
            for (int i = 0; i < n; i++) {
                a.receive().check();
                b.receive().check();
            }
            a.disconnect();
            b.disconnect();
        }
        assertEquals(2 * 150, order.size());
        int longest = 0;
        for (int i = 0, run = 0; i < order.size(); i++) {
            run = i > 0 && order.get(i) == order.get(i - 1) ? run + 1 : 1;
            longest = Math.max(longest, run);
        }
        // Without the bound one connection runs all 150 first; with it the first run ends after
        // one or two budgets (64 + 1, or 128 + 1 if the other's readiness was not known yet).
        assertTrue(longest <= 2 * NbdConnection.REQUEST_BUDGET + 1 && longest < 150,
                "longest run of one connection's requests: " + longest + " (order " + order + ")");
    }

    /**
     * One export on two IOThreads: the listener's server keeps every other connection and hands
     * the rest to the second server, which runs them in its own context; data written through a
     * connection of one is read back through a connection of the other; both shut down cleanly.
     */
    @Test
    void connectionsSpreadOverTwoIoThreads() throws Exception {
        MemoryBackend shared = new MemoryBackend(DISK_SIZE);
        try (IoThread io2 = IoThread.start("nbd-test-2")) {
            NbdServer a = NbdServer.builder(io.context())
                    .export(NbdExport.builder("multi", shared).multiConn(true).build()).build();
            NbdServer b = NbdServer.builder(io2.context())
                    .export(NbdExport.builder("multi", shared).multiConn(true).build()).build();
            SocketAddress at = a.listen(UnixDomainSocketAddress.of(dir.resolve("multi.sock")), List.of(a, b));
            List<NbdClient> clients = new ArrayList<>();
            try {
                for (int i = 0; i < 4; i++) {
                    clients.add(NbdClient.connect(at, "multi"));
                }
                assertEquals(2, a.stats().connectionsActive(), "every other connection stays");
                assertEquals(2, b.stats().connectionsActive(), "the others run on the second IOThread");
                byte[] data = pattern(65536, 21);
                for (int i = 0; i < 4; i++) {
                    clients.get(i).write(i * 65536L, data);
                }
                for (int i = 0; i < 4; i++) {
                    clients.get(i).flush();
                    assertArrayEquals(data, clients.get((i + 1) % 4).read(i * 65536L, 65536),
                            "written through connection " + i + ", read through the next (other IOThread)");
                }
                assertEquals(4, a.stats().requests(Nbd.CMD_WRITE) + b.stats().requests(Nbd.CMD_WRITE));
                assertTrue(b.stats().requests(Nbd.CMD_READ) > 0 && a.stats().requests(Nbd.CMD_READ) > 0);
                for (NbdClient c : clients) {
                    c.disconnect();
                }
            } finally {
                for (NbdClient c : clients) {
                    c.close();
                }
                CompletableFuture<Void> sa = a.shutdown();
                CompletableFuture<Void> sb = b.shutdown();
                sa.get(30, TimeUnit.SECONDS);
                sb.get(30, TimeUnit.SECONDS);
            }
            assertEquals(0, a.stats().connectionsActive());
            assertEquals(0, b.stats().connectionsActive());
        }
    }

    /**
     * One NbdExport instance is served by one server at a time (its counters have one writer):
     * a second server refuses it until the first server's removal of it has ended.
     */
    @Test
    void anExportInstanceIsServedByOneServerAtATime() throws Exception {
        NbdExport one = NbdExport.builder("one", new MemoryBackend(1 << 20)).build();
        try (IoThread io2 = IoThread.start("nbd-test-owner")) {
            NbdServer a = NbdServer.builder(io.context()).build();
            NbdServer b = NbdServer.builder(io2.context()).build();
            try {
                a.addExport(one);
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> b.addExport(one));
                assertTrue(e.getMessage().contains("already served by another NbdServer"), e.getMessage());
                assertEquals(List.of(), b.exports());
                a.addExport(NbdExport.builder("two", new MemoryBackend(1 << 20)).build()); // a itself is fine
                a.removeExport("one", false).get(30, TimeUnit.SECONDS);
                b.addExport(one); // released by the finished removal
                assertEquals(List.of(one), b.exports());
            } finally {
                a.shutdown().get(30, TimeUnit.SECONDS);
                b.shutdown().get(30, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void discFinishesRequestsInFlightFirst() throws Exception {
        disk.yields(off -> 20);
        try (NbdClient c = connect("disk")) {
            List<Long> handles = new ArrayList<>();
            for (int i = 0; i < 16; i++) {
                handles.add(c.send(Nbd.CMD_WRITE, 0, i * 4096L, 4096, pattern(4096, i)));
            }
            c.send(Nbd.CMD_DISC, 0, 0, 0, null);
            for (int i = 0; i < 16; i++) {
                c.receive().check();
            }
            assertTrue(c.awaitEof(), "closed after the last reply");
        }
        awaitNoConnections();
        for (int i = 0; i < 16; i++) {
            assertArrayEquals(pattern(4096, i), Arrays.copyOfRange(disk.snapshot(), i * 4096, (i + 1) * 4096));
        }
    }

    @Test
    void fourConnectionsShareOneExport() throws Exception {
        disk.yields(off -> (int) (off / 4096) % 3);
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                int id = t;
                done.add(pool.submit(() -> {
                    try (NbdClient c = connect("disk")) {
                        assertTrue((c.transmissionFlags() & Nbd.FLAG_CAN_MULTI_CONN) != 0);
                        byte[] mine = pattern(1 << 20, 10 + id);
                        List<Long> pending = new ArrayList<>();
                        for (int i = 0; i < 16; i++) {
                            pending.add(c.send(Nbd.CMD_WRITE, 0, id * (1L << 20) + i * 65536L, 65536,
                                    Arrays.copyOfRange(mine, i * 65536, (i + 1) * 65536)));
                        }
                        for (long h : pending) {
                            c.await(h).check();
                        }
                        c.flush();
                        assertArrayEquals(mine, c.read(id * (1L << 20), 1 << 20));
                        c.disconnect();
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) {
                f.get(60, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        // A fifth connection sees what the four wrote (shared backend, flushed).
        try (NbdClient c = connect("disk")) {
            for (int id = 0; id < 4; id++) {
                assertArrayEquals(pattern(1 << 20, 10 + id), c.read(id * (1L << 20), 1 << 20));
            }
        }
        assertTrue(server.stats().connectionsAccepted() >= 5);
    }

    @Test
    void readOnlyExportRefusesWritesWithEperm() {
        byte[] before = ro.snapshot();
        try (NbdClient c = connect("ro")) {
            assertTrue((c.transmissionFlags() & Nbd.FLAG_READ_ONLY) != 0);
            assertEquals(Nbd.EPERM, assertThrows(NbdClient.NbdError.class, () -> c.write(0, new byte[512])).error());
            assertEquals(Nbd.EPERM, assertThrows(NbdClient.NbdError.class, () -> c.trim(0, 512, 0)).error());
            assertEquals(Nbd.EPERM, assertThrows(NbdClient.NbdError.class, () -> c.writeZeroes(0, 512, 0)).error());
            assertArrayEquals(Arrays.copyOf(before, 512), c.read(0, 512));
            c.flush();
        }
        assertArrayEquals(before, ro.snapshot());
    }

    @Test
    void outOfRangeIsEinvalForReadsAndEnospcForWrites() {
        for (boolean structured : new boolean[] {true, false}) {
            NbdClient.Options o = new NbdClient.Options().exportName("disk").structuredReplies(structured);
            try (NbdClient c = NbdClient.connect(addr, o)) {
                assertEquals(Nbd.EINVAL, assertThrows(NbdClient.NbdError.class, () -> c.read(DISK_SIZE - 1, 2)).error());
                assertEquals(Nbd.EINVAL, assertThrows(NbdClient.NbdError.class, () -> c.read(-4096, 4096)).error());
                assertEquals(Nbd.ENOSPC,
                        assertThrows(NbdClient.NbdError.class, () -> c.write(DISK_SIZE, new byte[1])).error());
                assertEquals(Nbd.ENOSPC,
                        assertThrows(NbdClient.NbdError.class, () -> c.writeZeroes(DISK_SIZE - 512, 1024, 0)).error());
                assertEquals(Nbd.EINVAL, assertThrows(NbdClient.NbdError.class, () -> c.trim(DISK_SIZE, 1, 0)).error());
                c.write(DISK_SIZE - 1, new byte[] {7});
                assertArrayEquals(new byte[] {7}, c.read(DISK_SIZE - 1, 1), "the connection is still usable");
            }
        }
    }

    @Test
    void payloadsOver32MiBAreRefused() throws Exception {
        try (NbdClient c = connect("disk")) {
            NbdClient.Reply r = c.await(c.send(Nbd.CMD_READ, 0, 0, (32 << 20) + 1, null));
            assertEquals(Nbd.EINVAL, r.error());
            assertArrayEquals(new byte[16], c.read(0, 16), "a refused read leaves the connection usable");
            // A write of 32 MiB + 1: refused with EINVAL, its payload skipped, the connection usable.
            byte[] over = pattern((32 << 20) + 1, 5);
            assertEquals(Nbd.EINVAL, c.await(c.send(Nbd.CMD_WRITE, 0, 0, over.length, over)).error());
            assertArrayEquals(new byte[16], c.read(0, 16));
            // A write header announcing more than 64 MiB: answered EINVAL, then the connection ends
            // (a payload that large is not read), and nothing is written.
            long h = c.send(Nbd.CMD_WRITE, 0, 0, (64 << 20) + 1, pattern(4096, 5));
            NbdClient.Reply w = c.await(h);
            assertEquals(Nbd.EINVAL, w.error());
            assertTrue(c.awaitEof());
        }
        assertArrayEquals(new byte[4096], Arrays.copyOf(disk.snapshot(), 4096));
        try (NbdClient c = connect("disk")) {
            byte[] max = pattern(32 << 20, 6);
            NbdClient.Reply r = c.await(c.send(Nbd.CMD_WRITE, 0, 0, max.length, max));
            assertEquals(Nbd.ENOSPC, r.error(), "a 32 MiB write is read (then refused: the disk is 4 MiB)");
            assertArrayEquals(new byte[16], c.read(0, 16));
        }
    }

    @Test
    void unknownCommandsAndFlagsAreEinval() {
        try (NbdClient c = connect("disk")) {
            assertEquals(Nbd.EINVAL, c.await(c.send(9, 0, 0, 0, null)).error());
            assertEquals(Nbd.EINVAL, c.await(c.send(0x1234, 0, 0, 512, null)).error());
            assertEquals(Nbd.EINVAL, c.await(c.send(Nbd.CMD_READ, 0x40, 0, 512, null)).error());
            assertEquals(Nbd.EINVAL, c.await(c.send(Nbd.CMD_FLUSH, 0, 1, 0, null)).error());
            c.write(0, new byte[] {1});
            NbdStats st = server.stats();
            assertTrue(st.requests(Nbd.CMD_COUNT) >= 2, st.toString());
            assertTrue(st.errors(Nbd.CMD_COUNT) >= 2);
            assertTrue(st.errors(Nbd.CMD_READ) >= 1);
        }
    }

    @Test
    void badRequestMagicEndsOnlyThatConnection() throws Exception {
        try (NbdClient good = connect("disk"); NbdClient bad = connect("disk")) {
            good.write(0, pattern(4096, 7));
            ByteBuffer junk = ByteBuffer.allocate(28);
            new NbdRequest(0, Nbd.CMD_WRITE, 1, 0, 4096).encode(junk);
            junk.putInt(0, 0x25609514);
            write(bad.channel(), junk);
            assertTrue(bad.awaitEof());
            assertArrayEquals(pattern(4096, 7), good.read(0, 4096));
        }
        assertArrayEquals(pattern(4096, 7), Arrays.copyOf(disk.snapshot(), 4096));
    }

    @Test
    void shutdownFinishesRequestsInFlightAndAnswersNewOnesWithEshutdown() throws Exception {
        NbdClient c = connect("disk");
        try {
            disk.closeGate();
            long held = c.send(Nbd.CMD_WRITE, 0, 0, 4096, pattern(4096, 8));
            while (disk.held.get() == 0) {
                Thread.sleep(1);
            }
            CompletableFuture<Void> stopped = server.shutdown();
            while (!server.isShuttingDown()) {
                Thread.sleep(1);
            }
            NbdClient.Reply late = c.await(c.send(Nbd.CMD_READ, 0, 0, 512, null));
            assertEquals(Nbd.ESHUTDOWN, late.error());
            assertFalse(stopped.isDone(), "a request is still running");
            io.context().scheduleOneshot("open-gate", disk::openGate);
            c.await(held).check();
            stopped.get(30, TimeUnit.SECONDS);
            assertTrue(c.awaitEof(), "disconnected once the running request was answered");
            assertTrue(disk.flushes.get() >= 1, "exports flushed at shutdown");
            assertFalse(Files.exists(dir.resolve("nbd.sock")), "the socket file is removed");
            assertThrows(UncheckedIOException.class, () -> connect("disk"));
        } finally {
            c.close();
        }
        assertArrayEquals(pattern(4096, 8), Arrays.copyOf(disk.snapshot(), 4096));
    }

    @Test
    void tcpListener() {
        SocketAddress tcp = server.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
        try (NbdClient c = NbdClient.connect(tcp, "")) {
            // "" is not an export here and there are two: the default export does not exist.
            throw new AssertionError("connected to a missing default export: " + c.size());
        } catch (NbdClient.NbdError expected) {
            // NBD_REP_ERR_UNKNOWN
        }
        try (NbdClient c = NbdClient.connect(tcp, "disk")) {
            c.write(100, new byte[] {5, 6});
            assertArrayEquals(new byte[] {5, 6}, c.read(100, 2));
        }
    }

    @Test
    void statsCountRequestsAndBytes() throws Exception {
        try (NbdClient c = connect("disk")) {
            c.write(0, new byte[1000]);
            c.read(0, 300);
            c.flush();
            c.disconnect();
        }
        awaitNoConnections();
        NbdStats s = server.stats();
        assertEquals(1, s.requests(Nbd.CMD_WRITE));
        assertEquals(1, s.requests(Nbd.CMD_READ));
        assertEquals(1, s.requests(Nbd.CMD_FLUSH));
        assertEquals(1, s.requests(Nbd.CMD_DISC));
        assertEquals(1000, s.bytesWritten());
        assertEquals(300, s.bytesRead());
        assertEquals(0, s.totalErrors());
        assertEquals(1, s.connectionsAccepted());
    }

    @Test
    void requestsAreRecordedAsJfrEvents() throws Exception {
        Path file = dir.resolve("nbd.jfr");
        try (jdk.jfr.Recording rec = new jdk.jfr.Recording()) {
            rec.enable("io.jaio.nbd.Request").withThreshold(java.time.Duration.ZERO);
            rec.start();
            try (NbdClient c = connect("disk")) {
                c.write(8192, new byte[512]);
                c.read(8192, 512);
                assertEquals(Nbd.EINVAL, c.await(c.send(Nbd.CMD_READ, 0, DISK_SIZE, 1, null)).error());
                c.disconnect();
            }
            // Events are committed after their reply is written: wait until the server is idle.
            awaitNoConnections();
            rec.stop();
            rec.dump(file);
        }
        List<jdk.jfr.consumer.RecordedEvent> events = jdk.jfr.consumer.RecordingFile.readAllEvents(file).stream()
                .filter(e -> e.getEventType().getName().equals("io.jaio.nbd.Request")).toList();
        assertTrue(events.stream().anyMatch(e -> e.getString("command").equals("NBD_CMD_READ")
                && e.getLong("offset") == 8192 && e.getLong("length") == 512 && e.getInt("error") == 0
                && e.getString("export").equals("disk")), events::toString);
        assertTrue(events.stream().anyMatch(e -> e.getString("command").equals("NBD_CMD_WRITE")));
        assertTrue(events.stream().anyMatch(e -> e.getInt("error") == Nbd.EINVAL));
    }
}
