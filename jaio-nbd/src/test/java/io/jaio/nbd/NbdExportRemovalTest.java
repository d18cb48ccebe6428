package io.jaio.nbd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jaio.aio.IoThread;

import java.io.UncheckedIOException;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Removing an export from a running server (QMP block-export-del), and max-connections. */
class NbdExportRemovalTest {
    @TempDir
    Path dir;
    private IoThread io;
    private MemoryBackend a;
    private MemoryBackend b;
    private NbdServer server;
    private SocketAddress addr;

    @BeforeEach
    void setUp() {
        io = IoThread.start("nbd-removal");
        a = new MemoryBackend(1 << 20);
        b = new MemoryBackend(1 << 20);
        server = NbdServer.builder(io.context()).maxConnections(3)
                .export(NbdExport.builder("a", a).build())
                .export(NbdExport.builder("b", b).build())
                .build();
        addr = server.listen(UnixDomainSocketAddress.of(dir.resolve("nbd.sock")));
    }

    @AfterEach
    void tearDown() {
        server.close();
        io.close();
    }

    private static byte[] bytes(int n, int v) {
        byte[] x = new byte[n];
        Arrays.fill(x, (byte) v);
        return x;
    }

    @Test
    void safeRemovalIsRefusedWhileAClientIsConnectedAndChangesNothing() throws Exception {
        try (NbdClient c = NbdClient.connect(addr, "a")) {
            assertEquals(1, server.connectionCount("a"));
            assertEquals(0, server.connectionCount("b"));
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> server.removeExport("a", false).get(30, TimeUnit.SECONDS));
            assertInstanceOf(NbdServer.ExportInUseException.class, e.getCause());
            assertEquals("export 'a' still in use by 1 client(s)", e.getCause().getMessage());
            c.write(0, bytes(4096, 1)); // still served
            assertEquals(2, server.exports().size());
        }
        // The other export goes at once: nobody uses it.
        server.removeExport("b", false).get(30, TimeUnit.SECONDS);
        assertEquals(1, server.exports().size());
        assertNull(server.find("b"));
        assertThrows(NbdClient.NbdError.class, () -> NbdClient.connect(addr, "b"), "a removed export is not offered");
        ExecutionException e = assertThrows(ExecutionException.class,
                () -> server.removeExport("b", true).get(30, TimeUnit.SECONDS));
        assertEquals("export 'b' not found", e.getCause().getMessage());
    }

    @Test
    void hardRemovalAnswersRunningRequestsThenDisconnectsAndFlushes() throws Exception {
        NbdClient user = NbdClient.connect(addr, "a");
        NbdClient other = NbdClient.connect(addr, "b");
        try {
            a.closeGate();
            long held = user.send(Nbd.CMD_WRITE, 0, 4096, 4096, bytes(4096, 7));
            while (a.held.get() == 0) {
                Thread.sleep(1); // the write reached the backend (no event to wait on from here)
            }
            long flushesBefore = a.flushes.get();
            CompletableFuture<Void> removed = server.removeExport("a", true);
            // New requests on the removed export are refused; the other export is untouched.
            NbdClient.Reply late = user.await(user.send(Nbd.CMD_READ, 0, 0, 512, null));
            assertEquals(Nbd.ESHUTDOWN, late.error());
            other.write(0, bytes(4096, 3));
            assertFalse(removed.isDone(), "a request is still running");
            io.context().scheduleOneshot("open-gate", a::openGate);
            user.await(held).check(); // the running write is answered before the disconnect
            removed.get(30, TimeUnit.SECONDS);
            assertTrue(user.awaitEof(), "the export's client is disconnected");
            assertEquals(flushesBefore + 1, a.flushes.get(), "flushed once after the last request");
            assertArrayEquals(bytes(4096, 7), Arrays.copyOfRange(a.snapshot(), 4096, 8192));
            assertArrayEquals(bytes(512, 3), other.read(0, 512), "the other export still serves");
            assertEquals(0, server.connectionCount("a"));
        } finally {
            user.close();
            other.close();
        }
    }

    @Test
    void anExportAddedAgainUnderTheSameNameIsServed() throws Exception {
        server.removeExport("b", false).get(30, TimeUnit.SECONDS);
        MemoryBackend b2 = new MemoryBackend(2 << 20);
        server.addExport(NbdExport.builder("b", b2).build());
        try (NbdClient c = NbdClient.connect(addr, "b")) {
            assertEquals(2 << 20, c.size());
        }
    }

    @Test
    void clientsBeyondMaxConnectionsAreClosedBeforeTheGreeting() throws Exception {
        NbdClient c1 = NbdClient.connect(addr, "a");
        NbdClient c2 = NbdClient.connect(addr, "a");
        NbdClient c3 = NbdClient.connect(addr, "b");
        try {
            assertThrows(UncheckedIOException.class, () -> NbdClient.connect(addr, "a"));
            assertEquals(1, server.refusedConnections());
            c3.close();
            while (server.stats().connectionsActive() != 2) {
                Thread.sleep(1); // the server sees the close asynchronously
            }
            try (NbdClient c4 = NbdClient.connect(addr, "b")) {
                assertEquals(1 << 20, c4.size());
            }
        } finally {
            c1.close();
            c2.close();
            c3.close();
        }
    }
}
