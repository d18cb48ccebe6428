package io.jaio.nbd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jaio.aio.IoThread;
import io.jaio.block.BlockException;

import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Exports on different IOThreads behind one socket: connections move after the handshake. */
class NbdServerGroupTest {
    @TempDir
    Path dir;
    private IoThread io0;
    private IoThread io1;
    private NbdServerGroup group;
    private NbdServer s0;
    private NbdServer s1;
    private SocketAddress addr;

    @BeforeEach
    void setUp() {
        io0 = IoThread.start("group-io0");
        io1 = IoThread.start("group-io1");
        group = new NbdServerGroup();
        s0 = NbdServer.builder(io0.context()).group(group).maxConnections(4).build();
        s1 = NbdServer.builder(io1.context()).group(group).build();
        addr = s0.listen(UnixDomainSocketAddress.of(dir.resolve("nbd.sock")));
    }

    @AfterEach
    void tearDown() {
        s0.close();
        if (!io1.context().isClosed()) { // some tests close io1 under s1
            s1.close();
        }
        io0.close();
        io1.close();
    }

    private static byte[] bytes(int n, int v) {
        byte[] b = new byte[n];
        Arrays.fill(b, (byte) v);
        return b;
    }

    @Test
    void eachExportIsServedByItsOwnIoThread() throws Exception {
        MemoryBackend a = new MemoryBackend(1 << 20);
        MemoryBackend b = new MemoryBackend(2 << 20);
        group.addExport(List.of(NbdExport.builder("a", a).build()), List.of(s0));
        group.addExport(List.of(NbdExport.builder("b", b).build()), List.of(s1));
        assertEquals(Map.of("a", "", "b", ""), NbdClient.list(addr));
        try (NbdClient ca = NbdClient.connect(addr, "a"); NbdClient cb = NbdClient.connect(addr, "b")) {
            assertEquals(1 << 20, ca.size());
            assertEquals(2 << 20, cb.size());
            ca.write(0, bytes(4096, 1));
            cb.write(0, bytes(4096, 2));
            assertArrayEquals(bytes(4096, 2), cb.read(0, 4096));
            // b's client was handed to io1's server: it is counted and served there only.
            assertEquals(1, s0.connectionCount("a"));
            assertEquals(0, s0.connectionCount("b"));
            assertEquals(1, s1.connectionCount("b"));
            assertEquals(1, s1.stats().connectionsActive());
            assertEquals(2, s1.stats().totalRequests());
            assertEquals(1, s0.stats().totalRequests());
            assertEquals(1, group.connectionCount("b"));
        }
        assertArrayEquals(bytes(4096, 1), Arrays.copyOf(a.snapshot(), 4096));
        assertArrayEquals(bytes(4096, 2), Arrays.copyOf(b.snapshot(), 4096));
    }

    @Test
    void anExportOnTwoIoThreadsSpreadsItsClientsRoundRobin() throws Exception {
        MemoryBackend c0 = new MemoryBackend(1 << 20);
        MemoryBackend c1 = new MemoryBackend(1 << 20);
        group.addExport(List.of(NbdExport.builder("c", c0).build(), NbdExport.builder("c", c1).build()), List.of(s0, s1));
        try (NbdClient x = NbdClient.connect(addr, "c"); NbdClient y = NbdClient.connect(addr, "c")) {
            x.flush();
            y.flush();
            assertEquals(1, s0.connectionCount("c"));
            assertEquals(1, s1.connectionCount("c"));
            assertEquals(2, group.connectionCount("c"));
        }
    }

    @Test
    void removingAnExportOfTheGroupFreesItsName() throws Exception {
        MemoryBackend b = new MemoryBackend(1 << 20);
        group.addExport(List.of(NbdExport.builder("b", b).build()), List.of(s1));
        assertThrows(IllegalArgumentException.class,
                () -> group.addExport(List.of(NbdExport.builder("b", b).build()), List.of(s0)));
        try (NbdClient cb = NbdClient.connect(addr, "b")) {
            cb.write(0, bytes(512, 9));
            group.removeExport("b", true).get(30, TimeUnit.SECONDS);
            assertEquals(true, cb.awaitEof());
        }
        assertEquals(Map.of(), NbdClient.list(addr));
        assertThrows(NbdClient.NbdError.class, () -> NbdClient.connect(addr, "b"));
        group.addExport(List.of(NbdExport.builder("b", b).build()), List.of(s0));
        try (NbdClient cb = NbdClient.connect(addr, "b")) {
            assertArrayEquals(bytes(512, 9), cb.read(0, 512));
        }
    }

    /**
     * A non-forced removal refused on one server (a client there) while the other has none: the
     * export stays whole, served and listed by both, instead of half removed.
     */
    @Test
    void aRefusedRemovalLeavesTheExportOnEveryServer() throws Exception {
        MemoryBackend c0 = new MemoryBackend(1 << 20);
        MemoryBackend c1 = new MemoryBackend(1 << 20);
        group.addExport(List.of(NbdExport.builder("c", c0).build(), NbdExport.builder("c", c1).build()), List.of(s0, s1));
        try (NbdClient x = NbdClient.connect(addr, "c")) { // round robin: the first client goes to s0
            x.flush();
            assertEquals(1, s0.connectionCount("c"));
            java.util.concurrent.ExecutionException e = assertThrows(java.util.concurrent.ExecutionException.class,
                    () -> group.removeExport("c", false).get(30, TimeUnit.SECONDS));
            assertEquals(NbdServer.ExportInUseException.class, e.getCause().getClass());
            assertEquals(Map.of("c", ""), NbdClient.list(addr));
            try (NbdClient y = NbdClient.connect(addr, "c")) { // s1's turn: its instance is back
                y.write(0, bytes(512, 3));
                assertEquals(1, s1.connectionCount("c"));
            }
            assertArrayEquals(bytes(512, 3), Arrays.copyOf(c1.snapshot(), 512));
        }
    }

    /**
     * A server whose IOThread is gone (its context closed) has nothing left to drain: removing
     * an export it shares drops its instance there, still removes the export from the live
     * servers (their clients disconnected, their backends flushed), names the closed context in
     * the future's failure, and leaves the name free to be added again.
     */
    @Test
    void aForcedRemovalWithAClosedServerStillRemovesTheExportEverywhere() throws Exception {
        MemoryBackend c0 = new MemoryBackend(1 << 20);
        MemoryBackend c1 = new MemoryBackend(1 << 20);
        group.addExport(List.of(NbdExport.builder("c", c0).build(), NbdExport.builder("c", c1).build()), List.of(s0, s1));
        try (NbdClient x = NbdClient.connect(addr, "c")) { // round robin: the first client goes to s0
            x.write(0, bytes(512, 7));
            s1.close();
            io1.close();
            CompletableFuture<Void> removed = group.removeExport("c", true);
            assertEquals(true, x.awaitEof());
            ExecutionException e = assertThrows(ExecutionException.class, () -> removed.get(30, TimeUnit.SECONDS));
            assertEquals(IllegalStateException.class, e.getCause().getClass());
            assertTrue(e.getCause().getMessage().contains("context 'group-io1' is closed"), e.getCause().getMessage());
        }
        assertEquals(1, c0.flushes.get(), "the live instance was flushed by the removal");
        assertEquals(List.of(), s0.exports());
        assertEquals(List.of(), s1.exports());
        assertEquals(Map.of(), group.placement("c"));
        assertEquals(Map.of(), NbdClient.list(addr));
        group.addExport(List.of(NbdExport.builder("c", c0).build()), List.of(s0));
        try (NbdClient y = NbdClient.connect(addr, "c")) {
            assertArrayEquals(bytes(512, 7), y.read(0, 512));
        }
    }

    /**
     * A refused removal with a closed server among the export's: the export stays whole on the
     * live servers (the closed one, which cannot serve it, is left out), and the refusal is what
     * the future fails with, the closed server reported beside it.
     */
    @Test
    void aRefusedRemovalWithAClosedServerKeepsTheExportOnTheLiveOnes() throws Exception {
        NbdExport e0 = NbdExport.builder("c", new MemoryBackend(1 << 20)).build();
        NbdExport e1 = NbdExport.builder("c", new MemoryBackend(1 << 20)).build();
        group.addExport(List.of(e0, e1), List.of(s0, s1));
        try (NbdClient x = NbdClient.connect(addr, "c")) { // round robin: the first client goes to s0
            x.flush();
            s1.close();
            io1.close();
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> group.removeExport("c", false).get(30, TimeUnit.SECONDS));
            assertEquals(NbdServer.ExportInUseException.class, e.getCause().getClass());
            assertEquals(1, e.getCause().getSuppressed().length);
            assertTrue(e.getCause().getSuppressed()[0].getMessage().contains("context 'group-io1' is closed"),
                    e.getCause().getSuppressed()[0].getMessage());
            assertEquals(Map.of(s0, e0), group.placement("c"));
            assertEquals(List.of(e0), s0.exports());
            assertEquals(List.of(), s1.exports());
            assertEquals(Map.of("c", ""), NbdClient.list(addr));
            try (NbdClient y = NbdClient.connect(addr, "c")) { // only s0 serves it now
                y.write(0, bytes(512, 4));
                assertEquals(2, s0.connectionCount("c"));
            }
        }
    }

    /**
     * A refused removal puts the export back on a server whose own part took it away and then
     * failed (its flush): the group must not route clients to a server without the export.
     */
    @Test
    void aRefusedRemovalPutsBackAnInstanceWhoseFlushFailed() throws Exception {
        MemoryBackend c1 = new MemoryBackend(1 << 20) {
            @Override
            public void flush() {
                throw new BlockException(5, "flush failed");
            }
        };
        group.addExport(List.of(NbdExport.builder("c", new MemoryBackend(1 << 20)).build(),
                NbdExport.builder("c", c1).build()), List.of(s0, s1));
        try (NbdClient x = NbdClient.connect(addr, "c")) { // round robin: the first client goes to s0
            x.flush();
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> group.removeExport("c", false).get(30, TimeUnit.SECONDS));
            assertEquals(NbdServer.ExportInUseException.class, e.getCause().getClass());
            assertEquals(1, e.getCause().getSuppressed().length);
            assertEquals(BlockException.class, e.getCause().getSuppressed()[0].getClass());
            assertEquals(1, s1.exports().size());
            try (NbdClient y = NbdClient.connect(addr, "c")) { // s1's turn: its instance is back
                y.write(0, bytes(512, 5));
                assertEquals(1, s1.connectionCount("c"));
            }
            assertArrayEquals(bytes(512, 5), Arrays.copyOf(c1.snapshot(), 512));
        }
    }

    /** While a non-forced removal is being decided, its name can be neither added nor removed again. */
    @Test
    void aNameIsReservedWhileARefusableRemovalIsDecided() throws Exception {
        NbdExport e1 = NbdExport.builder("b", new MemoryBackend(1 << 20)).build();
        group.addExport(List.of(e1), List.of(s1));
        CountDownLatch hold = new CountDownLatch(1);
        holdHomeThread(io1, hold); // s1's part of the removal waits until hold opens
        CompletableFuture<Void> removed;
        try {
            removed = group.removeExport("b", false);
            assertEquals(Map.of(), NbdClient.list(addr), "handshakes no longer see it");
            IllegalArgumentException add = assertThrows(IllegalArgumentException.class,
                    () -> group.addExport(List.of(NbdExport.builder("b", new MemoryBackend(4096)).build()), List.of(s0)));
            assertTrue(add.getMessage().contains("being removed"), add.getMessage());
            ExecutionException again = assertThrows(ExecutionException.class,
                    () -> group.removeExport("b", false).get(30, TimeUnit.SECONDS));
            assertTrue(again.getCause().getMessage().contains("being removed"), again.getCause().getMessage());
            assertEquals(List.of(), s0.exports());
        } finally {
            hold.countDown();
        }
        removed.get(30, TimeUnit.SECONDS);
        assertEquals(List.of(), s1.exports());
        group.addExport(List.of(NbdExport.builder("b", new MemoryBackend(4096)).build()), List.of(s0));
        assertEquals(Map.of("b", ""), NbdClient.list(addr));
    }

    /** The same server twice in {@code on} is refused before any server changes. */
    @Test
    void anAddNamingAServerTwiceChangesNoServer() {
        NbdExport e0 = NbdExport.builder("c", new MemoryBackend(1 << 20)).build();
        NbdExport e1 = NbdExport.builder("c", new MemoryBackend(1 << 20)).build();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> group.addExport(List.of(e0, e1), List.of(s0, s0)));
        assertTrue(e.getMessage().contains("twice"), e.getMessage());
        assertEquals(List.of(), s0.exports());
        assertEquals(Map.of(), group.placement("c"));
        group.addExport(List.of(e0), List.of(s0)); // the name is still free
        assertEquals(Map.of(s0, e0), group.placement("c"));
    }

    /**
     * An add naming a server that still holds the name (its part of a forced removal has not run
     * yet) is refused before any server changes: the first server does not keep an instance the
     * group never lists.
     */
    @Test
    void anAddWhileAServerStillHoldsTheNameChangesNoServer() throws Exception {
        NbdExport old = NbdExport.builder("b", new MemoryBackend(1 << 20)).build();
        group.addExport(List.of(old), List.of(s1));
        NbdExport b0 = NbdExport.builder("b", new MemoryBackend(1 << 20)).build();
        NbdExport b1 = NbdExport.builder("b", new MemoryBackend(1 << 20)).build();
        CountDownLatch hold = new CountDownLatch(1);
        holdHomeThread(io1, hold); // s1's part of the removal waits until hold opens
        CompletableFuture<Void> removed;
        try {
            removed = group.removeExport("b", true); // the group forgets the name at once, s1 not yet
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> group.addExport(List.of(b0, b1), List.of(s0, s1)));
            assertTrue(e.getMessage().contains("group-io1"), e.getMessage());
            assertEquals(List.of(), s0.exports());
            assertEquals(List.of(old), s1.exports());
        } finally {
            hold.countDown();
        }
        removed.get(30, TimeUnit.SECONDS);
        group.addExport(List.of(b0, b1), List.of(s0, s1));
        assertEquals(Map.of(s0, b0, s1, b1), group.placement("b"));
    }

    /** A server outside the group (its handshakes never look at the group) cannot be given its exports. */
    @Test
    void anAddOnAServerOutsideTheGroupIsRefused() {
        NbdServer outside = NbdServer.builder(io0.context()).build();
        try {
            NbdExport e0 = NbdExport.builder("c", new MemoryBackend(1 << 20)).build();
            NbdExport e1 = NbdExport.builder("c", new MemoryBackend(1 << 20)).build();
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> group.addExport(List.of(e0, e1), List.of(s0, outside)));
            assertTrue(e.getMessage().contains("not in this group"), e.getMessage());
            assertEquals(List.of(), s0.exports());
            assertEquals(List.of(), outside.exports());
        } finally {
            outside.close();
        }
    }

    /**
     * A server of a group offers only the group's exports, so exports of its own would never be
     * seen by a client: the builder and the server refuse them, pointing at the group.
     */
    @Test
    void aServerOfAGroupRefusesExportsOfItsOwn() throws Exception {
        NbdExport own = NbdExport.builder("own", new MemoryBackend(1 << 20)).build();
        IllegalStateException built = assertThrows(IllegalStateException.class,
                () -> NbdServer.builder(io0.context()).export(own).group(group).build());
        assertTrue(built.getMessage().contains("NbdServerGroup.addExport"), built.getMessage());
        assertEquals(List.of(s0, s1), group.servers(), "the refused server did not join the group");
        IllegalStateException added = assertThrows(IllegalStateException.class, () -> s0.addExport(own));
        assertTrue(added.getMessage().contains("NbdServerGroup.addExport"), added.getMessage());
        assertEquals(List.of(), s0.exports());
        assertEquals(Map.of(), NbdClient.list(addr));
        group.addExport(List.of(own), List.of(s0));
        IllegalStateException removed = assertThrows(IllegalStateException.class, () -> s0.removeExport("own", true));
        assertTrue(removed.getMessage().contains("NbdServerGroup.removeExport"), removed.getMessage());
        assertEquals(List.of(own), s0.exports());
        assertEquals(Map.of("own", ""), NbdClient.list(addr));
    }

    /** Blocks {@code io}'s home thread until {@code hold} opens; returns once it is blocked. */
    private static void holdHomeThread(IoThread io, CountDownLatch hold) throws InterruptedException {
        CountDownLatch held = new CountDownLatch(1);
        io.context().scheduleOneshot("test-hold", () -> {
            held.countDown();
            awaitUninterruptibly(hold);
        });
        assertTrue(held.await(30, TimeUnit.SECONDS), "the home thread ran the hold");
    }

    private static void awaitUninterruptibly(CountDownLatch latch) {
        boolean interrupted = false;
        while (true) {
            try {
                latch.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
