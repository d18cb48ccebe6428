package io.jaio.nbd;

import io.jaio.aio.AioContext;
import io.jaio.aio.FdMonitorKind;
import io.jaio.aio.IoThread;
import io.jaio.block.RawFileBackend;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.io.TempDir;

import java.io.EOFException;
import java.io.RandomAccessFile;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A client that writes its next request before it reads the replies already sent, as the NBD
 * reference project's {@code nbd-tester-client} throughput test does: write one 1 KiB READ, read
 * whatever replies are readable without blocking, then wait up to one second for the socket to
 * take the next request. Such a client reads nothing while it waits to write, so a server that
 * stops reading requests until its replies have left deadlocks with it until the second is up
 * (the client then skips that request). qemu-nbd and nbdkit never make it wait; neither may jaio.
 */
class NbdWriteAheadClientTest {
    /**
     * 8 MiB of 1 KiB reads: 8,192 requests, far more than the socket buffers hold (the deadlock
     * came after 600-1,500 requests).
     */
    private static final int IMAGE = 8 << 20;
    private static final int BLOCK = 1024;

    @TempDir
    Path dir;
    private IoThread io;
    private RawFileBackend backend;
    private NbdServer server;
    private SocketAddress addr;

    void start(FdMonitorKind monitor, RawFileBackend.Engine engine) throws Exception {
        io = IoThread.builder("nbd-write-ahead").fdMonitor(monitor).build();
        Path img = dir.resolve("disk.img"); // @TempDir: a disk file system, as in the report (ext4)
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(IMAGE);
        }
        AioContext ctx = io.context();
        backend = ctx.callOnHomeThread("open", () -> RawFileBackend.open(ctx, img,
                RawFileBackend.Options.defaults().withEngine(engine)));
        server = NbdServer.builder(ctx).export(NbdExport.builder("disk", backend).build()).build();
        addr = server.listen(UnixDomainSocketAddress.of(dir.resolve("nbd.sock")));
    }

    @AfterEach
    void tearDown() {
        if (server != null) {
            server.close();
        }
        if (backend != null) {
            AioContext ctx = io.context();
            ctx.callOnHomeThread("close", () -> {
                backend.close();
                return null;
            });
        }
        if (io != null) {
            io.close();
        }
    }

    /** Every fd monitor, each with the io_uring engine (through the request ring on poll and epoll) and threads. */
    static Stream<Arguments> monitorsAndEngines() {
        return Stream.of(FdMonitorKind.POLL, FdMonitorKind.EPOLL, FdMonitorKind.IO_URING)
                .flatMap(m -> Stream.of(RawFileBackend.Engine.IO_URING, RawFileBackend.Engine.THREADS)
                        .map(e -> Arguments.of(m, e)));
    }

    /**
     * While the writer counted every reply of its whole queue as unsent until the last of them
     * was out, the thread-pool engine stalled here on the epoll monitor in 4 runs of 4: the
     * receive loop stopped at its bound of unsent replies (512-594 counted, most of them already
     * sent) while the client, blocked on its write, read none of the rest.
     */
    @ParameterizedTest(name = "{0} monitor, {1} engine")
    @MethodSource("monitorsAndEngines")
    void aClientThatWritesBeforeItReadsNeverWaitsForTheServerToRead(FdMonitorKind monitor, RawFileBackend.Engine engine)
            throws Exception {
        start(monitor, engine);
        writeAheadClient(addr);
    }

    /**
     * Reading ahead stays bounded: against a client that writes 64 KiB READs and never reads a
     * reply, the server takes no more requests than its cap executing, UNSENT_FACTOR times the
     * cap waiting for the socket, and what the socket itself holds (a few 64 KiB replies), however
     * many the client has to send. The export counts why its connection stopped reading.
     */
    @Test
    void aClientThatNeverReadsGetsOnlyTheBoundedReadAhead() throws Exception {
        int cap = 8;
        int bound = cap + NbdConnection.UNSENT_FACTOR * cap;
        long[] r = neverReads(cap, 64 << 10);
        assertTrue(r[0] > 4 * bound, "the client's socket took only " + r[0] + " requests");
        assertTrue(r[1] >= cap, "the server did not even start its cap: " + r[1]);
        assertTrue(r[1] <= bound + 16, "the server read " + r[1] + " of " + r[0]
                + " requests from a client that reads nothing (bound " + bound + " + the socket's few)");
        NbdExport.Stats st = export.stats();
        assertTrue(st.waitsUnsent() + st.waitsExecuting() >= 1, st::toString);
    }

    /**
     * With 1 KiB READs from an in-memory disk (each finishes at once) the stop is the unsent
     * replies' bound, never the cap of executing requests, and the counters say so.
     */
    @Test
    void aClientThatNeverReadsIsCountedAsNotReadingItsReplies() throws Exception {
        int cap = 8;
        long[] r = neverReads(cap, 1024);
        assertTrue(r[1] <= cap + NbdConnection.UNSENT_FACTOR * cap + 512, "read ahead " + r[1] + " of " + r[0]);
        NbdExport.Stats st = export.stats();
        assertTrue(st.waitsUnsent() >= 1, "no stop on unsent replies counted: " + st);
        assertEquals(0, st.waitsExecuting(), "stops counted on the executing cap: " + st);
    }

    /**
     * A client that never reads and then goes away, with more replies queued than one write
     * takes: every request the server read is finished (answered or dropped with the socket) and
     * every pooled buffer comes back. (A write on the closed socket once threw past the first
     * failed write and left the later writes' replies, and their buffers, behind.)
     */
    @Test
    void aClientThatNeverReadsAndLeavesGetsEveryRequestFinished() throws Exception {
        long[] r = neverReads(64, 1024);
        assertTrue(r[1] > 64, "the server read only " + r[1] + " requests: no queue of several writes");
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (server.stats().connectionsActive() != 0) {
            assertTrue(System.nanoTime() - deadline < 0, "the connection never ended");
            Thread.sleep(10);
        }
        assertEquals(0L, io.context().callOnHomeThread("lent", server::pooledBuffersLent),
                "pooled buffers still lent after the connection ended");
        assertEquals(server.stats().requests(Nbd.CMD_READ), export.stats().requests(),
                "requests read but never finished");
    }

    /**
     * Replies queued while the receive loop runs a burst may reach the unsent bound before they
     * are written; the uncork then writes them and the loop goes on, which is no stop and is not
     * counted (40 small WRITEs in one burst with cap 8, every reply read).
     */
    @Test
    void aBurstWhoseRepliesLeaveAtOnceIsNotCountedAsAStop() throws Exception {
        io = IoThread.start("nbd-burst");
        export = NbdExport.builder("disk", new MemoryBackend(4 << 20)).build();
        server = NbdServer.builder(io.context()).maxRequestsPerConnection(8).export(export).build();
        addr = server.listen(UnixDomainSocketAddress.of(dir.resolve("burst.sock")));
        int n = 40;
        int len = 512;
        try (NbdClient c = NbdClient.connect(addr, new NbdClient.Options().exportName("disk").structuredReplies(false))) {
            SocketChannel ch = c.channel();
            ByteBuffer all = ByteBuffer.allocate(n * (Nbd.REQUEST_SIZE + len));
            for (int i = 0; i < n; i++) {
                new NbdRequest(0, Nbd.CMD_WRITE, i, (long) i * len, len).encode(all);
                all.position(all.position() + len);
            }
            all.flip();
            while (all.hasRemaining()) {
                ch.write(all);
            }
            ByteBuffer replies = ByteBuffer.allocate(n * 16);
            while (replies.hasRemaining()) {
                if (ch.read(replies) < 0) {
                    throw new EOFException("EOF after " + replies.position() + " bytes of replies");
                }
            }
            for (int i = 0; i < n; i++) {
                assertEquals(Nbd.SIMPLE_REPLY_MAGIC, replies.getInt(i * 16));
                assertEquals(0, replies.getInt(i * 16 + 4), "error of reply " + i);
            }
        }
        // A request is counted just after its reply is written, so the client may read the
        // last reply first: wait (bounded) for the count. A stop would have been counted before
        // the last request was even read.
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (export.stats().requests() < n && System.nanoTime() - deadline < 0) {
            Thread.onSpinWait();
        }
        NbdExport.Stats st = export.stats();
        assertEquals(n, st.requests());
        assertEquals(0, st.waitsUnsent(), st::toString);
        assertEquals(0, st.waitsExecuting(), st::toString);
    }

    private NbdExport export;

    /**
     * Serves an in-memory disk with {@code cap}; a client writes READs of {@code block} bytes as
     * long as its socket takes them and reads no reply, then closes. Returns {requests sent,
     * requests the server read}.
     */
    private long[] neverReads(int cap, int block) throws Exception {
        io = IoThread.start("nbd-never-reads");
        export = NbdExport.builder("disk", new MemoryBackend(4 << 20)).build();
        server = NbdServer.builder(io.context()).maxRequestsPerConnection(cap).export(export).build();
        addr = server.listen(UnixDomainSocketAddress.of(dir.resolve("never.sock")));
        try (NbdClient c = NbdClient.connect(addr, new NbdClient.Options().exportName("disk").structuredReplies(false))) {
            SocketChannel ch = c.channel();
            ch.configureBlocking(false);
            ByteBuffer req = ByteBuffer.allocate(Nbd.REQUEST_SIZE);
            int sent = 0;
            long seen = -1;
            int still = 0;
            long deadline = System.nanoTime() + 30_000_000_000L;
            // Done once the server has stopped at its bound (counted) and taken nothing new for
            // five looks 20 ms apart with the client's socket full.
            while ((still < 5 || export.stats().waitsUnsent() + export.stats().waitsExecuting() == 0) && sent < 20_000) {
                assertTrue(System.nanoTime() - deadline < 0, "the server never stopped reading");
                if (req.position() == 0) {
                    new NbdRequest(0, Nbd.CMD_READ, sent, (long) (sent % 64) * block, block).encode(req);
                    req.flip();
                }
                if (req.hasRemaining() && ch.write(req) > 0) {
                    if (!req.hasRemaining()) {
                        req.clear();
                        sent++;
                    }
                    still = 0;
                    continue;
                }
                Thread.sleep(20);
                long now = server.stats().requests(Nbd.CMD_READ);
                still = now == seen ? still + 1 : 0;
                seen = now;
            }
            return new long[] {sent, seen};
        }
    }

    /** The same client against qemu-nbd (the reference it was calibrated on), where installed. */
    @Test
    void qemuNbdNeverMakesTheClientWaitEither() throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/qemu-nbd")), "qemu-nbd is not installed (Debian: qemu-utils)");
        Path img = dir.resolve("peer.img");
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(IMAGE);
        }
        Path sock = dir.resolve("qemu-nbd.sock");
        Process p = new ProcessBuilder("/usr/bin/qemu-nbd", "-k", sock.toString(), "-x", "disk", "-f", "raw",
                img.toString()).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        try {
            for (int i = 0; i < 1000 && !Files.exists(sock) && p.isAlive(); i++) {
                Thread.sleep(10); // qemu-nbd creates the socket when it listens
            }
            assertTrue(Files.exists(sock), "qemu-nbd did not start listening");
            writeAheadClient(UnixDomainSocketAddress.of(sock));
        } finally {
            p.destroy();
            p.waitFor();
        }
    }

    private static void writeAheadClient(SocketAddress addr) throws Exception {
        try (NbdClient c = NbdClient.connect(addr, new NbdClient.Options().exportName("disk").structuredReplies(false));
             Selector readable = Selector.open();
             Selector writable = Selector.open()) {
            SocketChannel ch = c.channel();
            ch.configureBlocking(false);
            ch.register(readable, SelectionKey.OP_READ);
            ch.register(writable, SelectionKey.OP_WRITE);
            ByteBuffer req = ByteBuffer.allocate(Nbd.REQUEST_SIZE);
            ByteBuffer reply = ByteBuffer.allocate(16 + BLOCK);
            int sent = 0;
            int answered = 0;
            int stalls = 0;
            boolean doWrite = true;
            for (long off = 0; off + BLOCK <= IMAGE && stalls < 3; off += BLOCK) {
                if (doWrite) {
                    new NbdRequest(0, Nbd.CMD_READ, off, off, BLOCK).encode(req.clear());
                    req.flip();
                    while (req.hasRemaining()) {
                        ch.write(req); // the socket said it was writable: 28 bytes fit
                    }
                    sent++;
                }
                while (readable.selectNow() > 0) { // every reply that has arrived, without waiting
                    readable.selectedKeys().clear();
                    readFully(ch, reply.clear());
                    assertEquals(Nbd.SIMPLE_REPLY_MAGIC, reply.getInt(0));
                    assertEquals(0, reply.getInt(4), "error of the reply to cookie " + reply.getLong(8));
                    answered++;
                }
                doWrite = writable.select(1000) > 0; // nbd-tester-client: select(writefds, 1 s)
                writable.selectedKeys().clear();
                if (!doWrite) {
                    stalls++;
                }
            }
            assertEquals(0, stalls, "seconds the client waited for the server to read its next request ("
                    + sent + " requests sent, " + answered + " answered by then)");
            while (answered < sent) { // the rest, still non-blocking: readFully spins
                readFully(ch, reply.clear());
                assertEquals(0, reply.getInt(4));
                answered++;
            }
            assertEquals(IMAGE / BLOCK, answered);
        }
    }

    private static void readFully(SocketChannel ch, ByteBuffer b) throws Exception {
        while (b.hasRemaining()) {
            if (ch.read(b) < 0) {
                throw new EOFException("EOF after " + b.position() + " bytes of a reply");
            }
        }
    }
}
