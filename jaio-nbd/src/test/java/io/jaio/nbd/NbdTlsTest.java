package io.jaio.nbd;

import io.jaio.aio.AioContext;
import io.jaio.aio.IoThread;
import io.jaio.block.RawFileBackend;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLSocket;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * NBD over TLS against a server on 127.0.0.1 with certificates made by certtool for the run:
 * a JSSE client upgrades with NBD_OPT_STARTTLS (TLS 1.3 and 1.2) and moves data; plaintext
 * options, the wrong CA, a missing client certificate and a name off the allow-list are
 * refused, each ending only its own connection; a client stalled in the handshake holds up
 * nobody.
 */
class NbdTlsTest {
    private static final int SIZE = 4 << 20;

    @TempDir
    static Path certRoot;
    private static TlsCerts certs;

    private IoThread io;
    private MemoryBackend disk;
    private NbdServer server;
    private int port;

    @BeforeAll
    static void makeCertificates() throws Exception {
        certs = TlsCerts.generate(certRoot);
    }

    private void start(NbdTls tls) {
        io = IoThread.start("nbd-tls");
        disk = new MemoryBackend(SIZE);
        server = NbdServer.builder(io.context()).tls(tls)
                .export(NbdExport.builder("disk", disk).build())
                .build();
        port = ((InetSocketAddress) server.listen(new InetSocketAddress("127.0.0.1", 0))).getPort();
    }

    private void start(boolean verifyPeer, String... allowed) {
        start(NbdTls.fromDirectory(certs.server, NbdTls.Endpoint.SERVER, verifyPeer).authorizing(List.of(allowed)));
    }

    @AfterEach
    void tearDown() {
        if (server != null) {
            server.close();
        }
        if (io != null) {
            io.close();
        }
    }

    private static byte[] pattern(int n, int seed) {
        byte[] b = new byte[n];
        new java.util.Random(seed).nextBytes(b);
        return b;
    }

    @Test
    void tls13CarriesHandshakeAndData() throws Exception {
        start(true);
        try (Client c = new Client(port)) {
            assertEquals("TLSv1.3", c.startTls(certs.client, "TLSv1.3"));
            c.go("disk");
            byte[] data = pattern(256 << 10, 1); // more than one TLS record each way
            c.write(4096, data);
            assertArrayEquals(data, c.read(4096, data.length));
            assertArrayEquals(data, java.util.Arrays.copyOfRange(disk.snapshot(), 4096, 4096 + data.length));
            c.disconnect();
        }
    }

    @Test
    void tls12CarriesHandshakeAndData() throws Exception {
        start(true);
        try (Client c = new Client(port)) {
            assertEquals("TLSv1.2", c.startTls(certs.client, "TLSv1.2"));
            c.go("disk");
            byte[] data = pattern(100_000, 2);
            c.write(0, data);
            assertArrayEquals(data, c.read(0, data.length));
        }
    }

    /**
     * Large READs of a memory-backed file, which go out with sendfile(2) in plaintext, are read
     * from the file and encrypted over TLS (sendfile cannot encrypt), byte for byte.
     */
    @Test
    void fileRangesAreEncryptedNotSentRaw() throws Exception {
        Path shm = Path.of("/dev/shm");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isDirectory(shm), "no /dev/shm on this machine");
        Path f = Files.createTempFile(shm, "jaio-nbd-tls-", ".img");
        byte[] content = pattern(4 << 20, 31);
        Files.write(f, content);
        io = IoThread.start("nbd-tls");
        AioContext ctx = io.context();
        RawFileBackend be = ctx.callOnHomeThread("open", () -> RawFileBackend.open(ctx, f,
                RawFileBackend.Options.defaults().withCacheNone(true)));
        try {
            assertTrue(ctx.callOnHomeThread("fd", be::sendFileFd) >= 0, "tmpfs: a sendfile fd");
            server = NbdServer.builder(ctx).tls(NbdTls.fromDirectory(certs.server, NbdTls.Endpoint.SERVER, true))
                    .export(NbdExport.builder("shm", be).build()).build();
            port = ((InetSocketAddress) server.listen(new InetSocketAddress("127.0.0.1", 0))).getPort();
            try (Client c = new Client(port)) {
                c.startTls(certs.client, "TLSv1.3");
                c.go("shm");
                assertArrayEquals(java.util.Arrays.copyOfRange(content, 1 << 20, 3 << 20), c.read(1 << 20, 2 << 20));
                assertArrayEquals(java.util.Arrays.copyOfRange(content, 12288, 12288 + NbdCommands.SENDFILE_MIN),
                        c.read(12288, NbdCommands.SENDFILE_MIN));
                c.disconnect();
            }
        } finally {
            server.close();
            server = null;
            ctx.callOnHomeThread("close", () -> {
                be.close();
                return null;
            });
            Files.deleteIfExists(f);
        }
    }

    @Test
    void withoutVerifyPeerAClientNeedsNoCertificate() throws Exception {
        start(false);
        try (Client c = new Client(port)) {
            c.startTls(certs.anonymous, "TLSv1.3");
            c.go("disk");
            assertArrayEquals(new byte[512], c.read(0, 512));
        }
    }

    @Test
    void plaintextOptionsAreRefusedUntilStartTls() throws Exception {
        start(true);
        try (Client c = new Client(port)) {
            for (int opt : new int[] {Nbd.OPT_LIST, Nbd.OPT_STRUCTURED_REPLY, Nbd.OPT_PEEK_EXPORT, Nbd.OPT_GO,
                    Nbd.OPT_INFO, Nbd.OPT_EXTENDED_HEADERS}) {
                byte[] payload = opt == Nbd.OPT_GO || opt == Nbd.OPT_INFO ? NbdCodec.infoPayload("disk") : new byte[0];
                assertEquals(Nbd.REP_ERR_TLS_REQD, c.option(opt, payload), Nbd.optionName(opt));
            }
            assertEquals(Nbd.REP_ERR_INVALID, c.option(Nbd.OPT_STARTTLS, new byte[] {1}));
            // Still usable: the upgrade works after the refusals.
            c.startTls(certs.client, "TLSv1.3");
            c.go("disk");
            assertArrayEquals(new byte[16], c.read(0, 16));
        }
        try (Client c = new Client(port)) {
            // EXPORT_NAME cannot be refused: the server ends the connection instead.
            c.sendOption(Nbd.OPT_EXPORT_NAME, "disk".getBytes());
            assertThrows(EOFException.class, () -> c.in.readLong());
        }
        assertEquals(1, server.stats().totalRequests()); // the READ after the upgrade, nothing else
        assertEquals(1, server.stats().requests(Nbd.CMD_READ));
    }

    @Test
    void startTlsTwiceIsInvalidAndOptionsWorkOverTls() throws Exception {
        start(true);
        try (Client c = new Client(port)) {
            c.startTls(certs.client, "TLSv1.3");
            assertEquals(Nbd.REP_ERR_INVALID, c.option(Nbd.OPT_STARTTLS, new byte[0]));
            assertEquals(Nbd.REP_ACK, c.option(Nbd.OPT_STRUCTURED_REPLY, new byte[0]));
            assertEquals(Nbd.REP_ACK, c.option(Nbd.OPT_LIST, new byte[0]));
        }
    }

    @Test
    void clientCertificateFromAnotherCaIsRefused() throws Exception {
        start(true);
        try (Client c = new Client(port)) {
            assertThrows(IOException.class, () -> {
                c.startTls(certs.rogue, "TLSv1.3");
                c.go("disk"); // TLS 1.3: the client may finish first and learn of the refusal here
            });
        }
        assertGoodClientStillServed();
    }

    @Test
    void serverCertificateNotFromTheClientsCaIsRefusedByTheClient() throws Exception {
        start(true);
        try (Client c = new Client(port)) {
            assertThrows(SSLHandshakeException.class, () -> c.startTls(certs.distrust, "TLSv1.3"));
        }
        assertGoodClientStillServed();
    }

    @Test
    void verifyPeerRefusesAClientWithoutCertificate() throws Exception {
        start(true);
        // The server's log line says what the client's credentials lack (TlsTransport.hint).
        java.util.logging.Logger log = java.util.logging.Logger.getLogger("io.jaio.nbd");
        java.util.concurrent.CountDownLatch hinted = new java.util.concurrent.CountDownLatch(2);
        java.util.logging.Handler h = new java.util.logging.Handler() {
            @Override
            public void publish(java.util.logging.LogRecord r) {
                String m = new java.util.logging.SimpleFormatter().formatMessage(r);
                if (m.contains("the client sent no certificate") && m.contains("client-cert.pem")) {
                    hinted.countDown();
                }
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        log.addHandler(h);
        try {
            for (String proto : new String[] {"TLSv1.3", "TLSv1.2"}) {
                try (Client c = new Client(port)) {
                    assertThrows(IOException.class, () -> {
                        c.startTls(certs.anonymous, proto);
                        c.go("disk");
                    }, proto);
                }
            }
            // Logged by the server's thread after it refused each handshake: wait for both.
            assertTrue(hinted.await(20, java.util.concurrent.TimeUnit.SECONDS),
                    "the refusal is logged with the hint, for TLS 1.3 and 1.2");
        } finally {
            log.removeHandler(h);
        }
        assertGoodClientStillServed();
    }

    @Test
    void allowListAdmitsOnlyListedNames() throws Exception {
        start(true, TlsCerts.CLIENT_DN);
        assertEquals(java.util.Set.of("CN=client1,O=jaio tests,C=GB"), server.tls().authorizedIdentities());
        long errors = server.stats().protocolErrors();
        try (Client c = new Client(port)) {
            assertThrows(IOException.class, () -> {
                c.startTls(certs.intruder, "TLSv1.3");
                c.go("disk");
            });
        }
        assertEquals(errors + 1, server.stats().protocolErrors());
        assertGoodClientStillServed();
        // Spelling differences in the listed name do not matter (compared as X.500 names).
        NbdTls t = NbdTls.fromDirectory(certs.server, NbdTls.Endpoint.SERVER, true)
                .authorizing(List.of("cn=client1, o=jaio tests, c=GB"));
        assertEquals(java.util.Set.of("CN=client1,O=jaio tests,C=GB"), t.authorizedIdentities());
    }

    @Test
    void aClientStalledInTheHandshakeHoldsUpNobody() throws Exception {
        start(true);
        try (Client stalled = new Client(port); Client halfHello = new Client(port)) {
            assertEquals(Nbd.REP_ACK, stalled.option(Nbd.OPT_STARTTLS, new byte[0]));
            // ... and sends nothing more. Another sends the first bytes of a ClientHello only.
            assertEquals(Nbd.REP_ACK, halfHello.option(Nbd.OPT_STARTTLS, new byte[0]));
            halfHello.out.write(new byte[] {0x16, 0x03, 0x01, 0x02, 0x00, 0x01});
            halfHello.out.flush();
            for (int i = 0; i < 3; i++) {
                assertGoodClientStillServed();
            }
            assertEquals(5, server.stats().connectionsAccepted());
        }
        // tearDown's shutdown ends the stalled connections (it would hang if it could not).
    }

    @Test
    void garbageInsteadOfAClientHelloEndsThatConnectionOnly() throws Exception {
        start(true);
        long errors = server.stats().protocolErrors();
        for (byte[] junk : new byte[][] {pattern(300, 7), ("IHAVEOPT" + "\0".repeat(8)).getBytes()}) {
            try (Client c = new Client(port)) {
                assertEquals(Nbd.REP_ACK, c.option(Nbd.OPT_STARTTLS, new byte[0]));
                c.out.write(junk);
                c.out.flush();
                // The server answers with at most an alert, then closes: no NBD reply, no hang.
                byte[] rest = c.in.readAllBytes();
                assertTrue(rest.length < 64 && (rest.length == 0 || rest[0] == 0x15), "alert or nothing: "
                        + java.util.HexFormat.of().formatHex(rest));
            }
        }
        assertEquals(errors + 2, server.stats().protocolErrors());
        assertGoodClientStillServed();
    }

    @Test
    void badCredentialsFailWithTheFileNamed() throws Exception {
        Path empty = Files.createDirectories(certRoot.resolve("empty"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> NbdTls.fromDirectory(empty, NbdTls.Endpoint.SERVER, true));
        assertTrue(e.getMessage().contains("ca-cert.pem is missing"), e.getMessage());
        Path mixed = Files.createDirectories(certRoot.resolve("mixed"));
        Files.copy(certs.server.resolve("server-cert.pem"), mixed.resolve("server-cert.pem"));
        Files.copy(certs.client.resolve("client-key.pem"), mixed.resolve("server-key.pem"));
        e = assertThrows(IllegalArgumentException.class,
                () -> NbdTls.fromDirectory(mixed, NbdTls.Endpoint.SERVER, false));
        assertTrue(e.getMessage().contains("server-key.pem does not match the certificate"), e.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> NbdServer.builder(io().context()).tls(NbdTls.fromDirectory(certs.client, NbdTls.Endpoint.CLIENT,
                        true)));
        assertThrows(IllegalArgumentException.class,
                () -> NbdTls.fromDirectory(certs.server, NbdTls.Endpoint.SERVER, false).authorizing(List.of("CN=x")));
    }

    private IoThread io() {
        if (io == null) {
            io = IoThread.start("nbd-tls");
        }
        return io;
    }

    private void assertGoodClientStillServed() throws Exception {
        try (Client c = new Client(port)) {
            c.startTls(certs.client, "TLSv1.3");
            c.go("disk");
            byte[] data = pattern(8192, 3);
            c.write(65536, data);
            assertArrayEquals(data, c.read(65536, data.length));
            c.disconnect();
        }
    }

    /** A blocking NBD client over java.net sockets that can upgrade to TLS (JSSE) mid-handshake. */
    static final class Client implements AutoCloseable {
        private final Socket plain;
        private final int port;
        private Socket sock;
        DataInputStream in;
        DataOutputStream out;
        private long handle;

        Client(int port) throws IOException {
            this.port = port;
            plain = new Socket("127.0.0.1", port);
            plain.setSoTimeout(120_000); // a safety net against hangs, not an assertion
            sock = plain;
            streams();
            assertEquals(Nbd.NBDMAGIC, in.readLong());
            assertEquals(Nbd.IHAVEOPT, in.readLong());
            in.readShort();
            out.writeInt(Nbd.FLAG_C_FIXED_NEWSTYLE | Nbd.FLAG_C_NO_ZEROES);
        }

        private void streams() throws IOException {
            in = new DataInputStream(new java.io.BufferedInputStream(sock.getInputStream()));
            out = new DataOutputStream(new java.io.BufferedOutputStream(sock.getOutputStream()));
        }

        void sendOption(int opt, byte[] payload) throws IOException {
            out.writeLong(Nbd.IHAVEOPT);
            out.writeInt(opt);
            out.writeInt(payload.length);
            out.write(payload);
            out.flush();
        }

        /** Sends an option and returns the type of its final reply (ACK or an error). */
        int option(int opt, byte[] payload) throws IOException {
            sendOption(opt, payload);
            for (;;) {
                assertEquals(Nbd.REPLY_MAGIC, in.readLong());
                assertEquals(opt, in.readInt());
                int type = in.readInt();
                int len = in.readInt();
                in.readNBytes(len);
                if (type == Nbd.REP_ACK || (type & Nbd.REP_FLAG_ERROR) != 0) {
                    return type;
                }
            }
        }

        /** STARTTLS, then the TLS handshake with the credentials in {@code dir}; returns the protocol. */
        String startTls(Path dir, String protocol) throws IOException {
            assertEquals(Nbd.REP_ACK, option(Nbd.OPT_STARTTLS, new byte[0]));
            NbdTls creds = NbdTls.fromDirectory(dir, NbdTls.Endpoint.CLIENT, true);
            SSLSocket s = (SSLSocket) creds.sslContext().getSocketFactory().createSocket(plain, "localhost", port,
                    true);
            javax.net.ssl.SSLParameters p = s.getSSLParameters();
            p.setProtocols(new String[] {protocol});
            p.setEndpointIdentificationAlgorithm("HTTPS");
            s.setSSLParameters(p);
            s.startHandshake();
            sock = s;
            streams();
            return s.getSession().getProtocol();
        }

        void go(String export) throws IOException {
            assertEquals(Nbd.REP_ACK, option(Nbd.OPT_GO, NbdCodec.infoPayload(export)));
        }

        private void request(int type, long offset, int length) throws IOException {
            ByteBuffer b = ByteBuffer.allocate(Nbd.REQUEST_SIZE);
            new NbdRequest(0, type, ++handle, offset, length).encode(b);
            out.write(b.array());
        }

        private void simpleReply() throws IOException {
            assertEquals(Nbd.SIMPLE_REPLY_MAGIC, in.readInt());
            assertEquals(0, in.readInt(), "error");
            assertEquals(handle, in.readLong());
        }

        void write(long offset, byte[] data) throws IOException {
            request(Nbd.CMD_WRITE, offset, data.length);
            out.write(data);
            out.flush();
            simpleReply();
        }

        byte[] read(long offset, int length) throws IOException {
            request(Nbd.CMD_READ, offset, length);
            out.flush();
            simpleReply();
            return in.readNBytes(length);
        }

        void disconnect() throws IOException {
            request(Nbd.CMD_DISC, 0, 0);
            out.flush();
        }

        @Override
        public void close() throws IOException {
            sock.close();
            plain.close();
        }
    }
}
