package io.jaio.channel;

import io.jaio.aio.AioContext;
import io.jaio.aio.IoThread;
import io.jaio.coroutine.Coroutine;
import io.jaio.linux.Linux;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.zip.CRC32;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Coroutine sockets end to end: an echo server (one coroutine per connection) on one IoThread,
 * clients on another, over Unix and TCP loopback, with checksums both ways and no fd or thread
 * left behind. One subclass per fd monitor.
 */
abstract class ChannelEchoTest {
    /** The fd monitor both IoThreads run on. */
    protected abstract io.jaio.aio.FdMonitorKind kind();

    private IoThread server;
    private IoThread client;
    private int fdsBefore;

    @BeforeEach
    void setUp() {
        fdsBefore = ourFdCount();
        server = IoThread.builder("echo-server").fdMonitor(kind()).build();
        client = IoThread.builder("echo-client").fdMonitor(kind()).build();
    }

    @AfterEach
    void tearDown() {
        client.close();
        server.close();
        assertEquals(fdsBefore, ourFdCount(), () -> "every socket, eventfd and ring closed: " + fdTargets());
    }

    /** Sockets and anonymous inodes (eventfd, epoll, io_uring): the fds jaio opens. */
    private static int ourFdCount() {
        int n = 0;
        java.io.File[] fds = new java.io.File("/proc/self/fd").listFiles();
        if (fds != null) {
            for (java.io.File f : fds) {
                try {
                    String t = java.nio.file.Files.readSymbolicLink(f.toPath()).toString();
                    if (t.startsWith("socket:") || t.startsWith("anon_inode:")) {
                        n++;
                    }
                } catch (java.io.IOException e) {
                    // closed while listing
                }
            }
        }
        return n;
    }

    private static String fdTargets() {
        StringBuilder b = new StringBuilder();
        java.io.File[] fds = new java.io.File("/proc/self/fd").listFiles();
        if (fds != null) {
            for (java.io.File f : fds) {
                try {
                    b.append(f.getName()).append("->").append(java.nio.file.Files.readSymbolicLink(f.toPath())).append(' ');
                } catch (java.io.IOException e) {
                    b.append(f.getName()).append("->? ");
                }
            }
        }
        return b.toString();
    }

    /** Runs {@code r} in {@code io}'s home thread and waits for it. */
    private static <T> T on(IoThread io, java.util.concurrent.Callable<T> r) throws Exception {
        CompletableFuture<T> f = new CompletableFuture<>();
        io.context().scheduleOneshot("test-call", () -> {
            try {
                f.complete(r.call());
            } catch (Throwable t) {
                f.completeExceptionally(t);
            }
        });
        return f.get(30, TimeUnit.SECONDS);
    }

    /** The echo handler: read, write back, until EOF. */
    private static void echo(CoSocket s) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(64 * 1024);
            for (;;) {
                int n = s.read(buf);
                if (n < 0) {
                    return;
                }
                s.writeFully(buf.asSlice(0, n));
            }
        }
    }

    private static byte[] pattern(int conn, int size) {
        byte[] b = new byte[size];
        long x = 0x9E3779B97F4A7C15L * (conn + 1);
        for (int i = 0; i < size; i++) {
            x ^= x << 13;
            x ^= x >>> 7;
            x ^= x << 17;
            b[i] = (byte) x;
        }
        return b;
    }

    private static long crc(byte[] b) {
        CRC32 c = new CRC32();
        c.update(b);
        return c.getValue();
    }

    /**
     * Starts {@code conns} client connections in the client IoThread; each writes {@code size}
     * bytes from one coroutine while another reads the echo; returns the CRC of what each read.
     */
    private long[] runClients(SocketAddress addr, int conns, int size) throws Exception {
        long[] got = new long[conns];
        CountDownLatch done = new CountDownLatch(conns);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        client.context().scheduleOneshot("start-clients", () -> {
            for (int i = 0; i < conns; i++) {
                int id = i;
                Coroutine.create(() -> {
                    try {
                        CoSocket s = CoSocket.connect(addr);
                        byte[] data = pattern(id, size);
                        AtomicInteger finished = new AtomicInteger();
                        Coroutine writer = Coroutine.create(() -> {
                            try (Arena a = Arena.ofConfined()) {
                                MemorySegment out = a.allocate(size);
                                MemorySegment.copy(data, 0, out, ValueLayout.JAVA_BYTE, 0, size);
                                s.writeFully(out);
                                s.shutdownOutput();
                            } catch (Throwable t) {
                                failure.compareAndSet(null, t);
                            }
                            if (finished.incrementAndGet() == 2) {
                                s.close();
                                done.countDown();
                            }
                        });
                        writer.enter();
                        try (Arena a = Arena.ofConfined()) {
                            MemorySegment in = a.allocate(size);
                            s.readFully(in);
                            MemorySegment extra = a.allocate(1);
                            if (s.read(extra) != -1) {
                                throw new AssertionError("more bytes than were sent");
                            }
                            got[id] = crc(in.toArray(ValueLayout.JAVA_BYTE));
                        }
                        if (finished.incrementAndGet() == 2) {
                            s.close();
                            done.countDown();
                        }
                    } catch (Throwable t) {
                        failure.compareAndSet(null, t);
                        done.countDown();
                    }
                }).enter();
            }
        });
        if (!done.await(120, TimeUnit.SECONDS)) {
            fail("echo clients did not finish: " + done.getCount() + " of " + conns + " still running"
                    + (failure.get() != null ? "; first failure: " + failure.get() : ""));
        }
        if (failure.get() != null) {
            throw new AssertionError("a client failed", failure.get());
        }
        return got;
    }

    private void echoRound(SocketAddress bindAddr, int conns, int size) throws Exception {
        CoListener l = on(server, () -> CoListener.listen(server.context(), bindAddr, 4096, ChannelEchoTest::echo));
        try {
            long[] got = runClients(l.address(), conns, size);
            for (int i = 0; i < conns; i++) {
                assertEquals(crc(pattern(i, size)), got[i], "connection " + i + " echoed different bytes");
            }
            long accepted = on(server, l::acceptedCount);
            assertEquals(conns, accepted);
            assertEquals(0, (long) on(server, l::failedCount));
        } finally {
            on(server, () -> {
                l.close();
                return null;
            });
        }
    }

    @Test
    void thousandConcurrentUnixConnections(@TempDir Path dir) throws Exception {
        echoRound(UnixDomainSocketAddress.of(dir.resolve("echo.sock")), 1000, 10 * 1024);
    }

    @Test
    void thousandConcurrentTcpConnections() throws Exception {
        echoRound(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 1000, 10 * 1024);
    }

    @Test
    void tenMebibytesEachWayOverUnixAndTcp(@TempDir Path dir) throws Exception {
        echoRound(UnixDomainSocketAddress.of(dir.resolve("big.sock")), 2, 10 * 1024 * 1024);
        echoRound(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 2, 10 * 1024 * 1024);
    }

    @Test
    void ipv6Loopback() throws Exception {
        InetAddress v6;
        try {
            v6 = InetAddress.getByName("::1");
        } catch (Exception e) {
            return;
        }
        echoRound(new InetSocketAddress(v6, 0), 4, 4096);
    }

    @Test
    void connectionRefusedIsAClearError() throws Exception {
        // Bind then close a listener to get a port nobody listens on.
        CoListener l = on(server, () -> CoListener.listen(server.context(),
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 1, s -> { }));
        SocketAddress dead = l.address();
        on(server, () -> {
            l.close();
            return null;
        });
        CompletableFuture<Throwable> thrown = new CompletableFuture<>();
        client.context().scheduleOneshot("connect", () -> Coroutine.create(() -> {
            try {
                CoSocket.connect(dead).close();
                thrown.complete(null);
            } catch (Throwable t) {
                thrown.complete(t);
            }
        }).enter());
        Throwable t = thrown.get(30, TimeUnit.SECONDS);
        assertTrue(t instanceof ChannelException ce && ce.errno() == 111, "ECONNREFUSED expected connecting to " + dead + ", got " + t);
    }

    @Test
    void closeWhileAReaderWaitsWakesItWithClosed(@TempDir Path dir) throws Exception {
        Set<String> events = ConcurrentHashMap.newKeySet();
        CountDownLatch connected = new CountDownLatch(1);
        CoListener l = on(server, () -> CoListener.listen(server.context(),
                UnixDomainSocketAddress.of(dir.resolve("idle.sock")), 4, s -> {
                    connected.countDown();
                    try (Arena a = Arena.ofConfined()) {
                        s.read(a.allocate(16)); // the client never writes
                    } catch (ChannelException e) {
                        events.add("server:" + e.kind());
                    }
                }));
        CompletableFuture<Throwable> readerEnd = new CompletableFuture<>();
        AtomicReference<CoSocket> sock = new AtomicReference<>();
        client.context().scheduleOneshot("idle-client", () -> Coroutine.create(() -> {
            try (Arena a = Arena.ofConfined()) {
                CoSocket s = CoSocket.connect(l.address());
                sock.set(s);
                s.read(a.allocate(16)); // nobody writes: waits until closed
                readerEnd.complete(null);
            } catch (Throwable t) {
                readerEnd.complete(t);
            }
        }).enter());
        assertTrue(connected.await(30, TimeUnit.SECONDS));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (sock.get() == null) { // connect() returned on the server side; the client stores it next
            if (readerEnd.isDone() || System.nanoTime() - deadline > 0) {
                fail("the client never published its socket: " + readerEnd.getNow(null));
            }
            Thread.onSpinWait();
        }
        on(client, () -> {
            sock.get().close();
            return null;
        });
        Throwable t = readerEnd.get(30, TimeUnit.SECONDS);
        assertTrue(t instanceof ChannelException ce && ce.kind() == ChannelException.Kind.CLOSED,
                "the waiting read ends with CLOSED, got " + t);
        // The server side sees EOF (read returns -1) or a reset; either way its handler ends.
        on(server, () -> {
            l.close();
            return null;
        });
    }

    /**
     * release() hands a fresh socket's fd over (the server re-wraps it and echoes through the new
     * CoSocket), and is refused while a coroutine waits on the socket.
     */
    @Test
    void releaseHandsOverAFreshSocketOnly(@TempDir Path dir) throws Exception {
        CoListener l = on(server, () -> CoListener.listen(server.context(),
                UnixDomainSocketAddress.of(dir.resolve("release.sock")), 4, s -> {
                    CoSocket t = CoSocket.wrap(server.context(), s.release());
                    assertTrue(s.isClosed(), "released: closed to further use");
                    try {
                        echo(t);
                    } finally {
                        t.close();
                    }
                }));
        CompletableFuture<Throwable> refused = new CompletableFuture<>();
        CompletableFuture<byte[]> echoed = new CompletableFuture<>();
        client.context().scheduleOneshot("release-client", () -> Coroutine.create(() -> {
            try {
                CoSocket c = CoSocket.connect(l.address());
                byte[] msg = pattern(3, 100);
                // The reader waits before anything is sent (the server only echoes), so a
                // coroutine is waiting on the socket when release() is tried: deterministic.
                Coroutine.create(() -> {
                    try (Arena a = Arena.ofConfined(); c) {
                        MemorySegment in = a.allocate(msg.length);
                        c.readFully(in);
                        echoed.complete(in.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
                    } catch (Throwable t) {
                        echoed.completeExceptionally(t);
                    }
                }).enter();
                try {
                    c.release();
                    refused.complete(null);
                } catch (Throwable t) {
                    refused.complete(t);
                }
                try (Arena a = Arena.ofConfined()) {
                    MemorySegment out = a.allocate(msg.length);
                    MemorySegment.copy(msg, 0, out, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, msg.length);
                    c.writeFully(out);
                }
            } catch (Throwable t) {
                echoed.completeExceptionally(t);
                refused.complete(t);
            }
        }).enter());
        assertArrayEquals(pattern(3, 100), echoed.get(30, TimeUnit.SECONDS), "echoed through the re-wrapped fd");
        Throwable t = refused.get(30, TimeUnit.SECONDS);
        assertTrue(t instanceof IllegalStateException, "release with interest registered: " + t);
        on(server, () -> {
            l.close();
            return null;
        });
    }

    @Test
    void operationsOutsideACoroutineAreRefused() throws Exception {
        Throwable t = on(client, () -> {
            try {
                CoSocket.connect(UnixDomainSocketAddress.of("/nonexistent/x.sock"));
                return null;
            } catch (Throwable e) {
                return e;
            }
        });
        assertTrue(t instanceof IllegalStateException, String.valueOf(t));
        assertNull(AioContext.current(), "the test thread has no context");
    }
}
