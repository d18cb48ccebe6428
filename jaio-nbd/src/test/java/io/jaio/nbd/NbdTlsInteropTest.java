package io.jaio.nbd;

import io.jaio.aio.IoThread;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Stock clients over TLS against a server that requires it (certificates from certtool, made
 * for the run): qemu-io and qemu-img with {@code --object tls-creds-x509,...,endpoint=client},
 * nbdinfo and nbdcopy with {@code nbds://...?tls-certificates=DIR}. Plaintext, the wrong CA and
 * a client off the allow-list are refused. Each tool is skipped when missing (Debian:
 * qemu-utils, libnbd-bin, gnutls-bin).
 */
class NbdTlsInteropTest {
    private static final int SIZE = 8 << 20;

    @TempDir
    static Path certRoot;
    private static TlsCerts certs;

    @TempDir
    Path dir;
    private IoThread io;
    private MemoryBackend disk;
    private NbdServer server;
    private int port;

    @BeforeAll
    static void makeCertificates() throws Exception {
        certs = TlsCerts.generate(certRoot);
    }

    @BeforeEach
    void setUp() {
        io = IoThread.start("nbd-tls-interop");
        disk = new MemoryBackend(SIZE);
        NbdTls tls = NbdTls.fromDirectory(certs.server, NbdTls.Endpoint.SERVER, true)
                .authorizing(List.of(TlsCerts.CLIENT_DN));
        server = NbdServer.builder(io.context()).tls(tls)
                .export(NbdExport.builder("disk", disk).description("tls disk").build())
                .build();
        port = ((InetSocketAddress) server.listen(new InetSocketAddress("127.0.0.1", 0))).getPort();
    }

    @AfterEach
    void tearDown() {
        server.close();
        io.close();
    }

    private String nbds(Path clientDir) {
        return "nbds://127.0.0.1:" + port + "/disk?tls-certificates=" + clientDir;
    }

    private String qemuObject(Path clientDir) {
        return "tls-creds-x509,id=tls0,dir=" + clientDir + ",endpoint=client";
    }

    private String qemuImage() {
        return "driver=nbd,host=127.0.0.1,port=" + port + ",export=disk,tls-creds=tls0";
    }

    /** Runs a command; returns its exit code and output. */
    private static Result exec(String... cmd) throws Exception {
        return exec(Map.of(), cmd);
    }

    /** Runs a command with extra environment variables; returns its exit code and output. */
    private static Result exec(Map<String, String> env, String... cmd) throws Exception {
        assumeTrue(TlsCerts.installed(cmd[0]), cmd[0] + " is not installed");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().putAll(env);
        Process p = pb.start();
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "timed out: " + List.of(cmd));
        return new Result(p.exitValue(), new String(out));
    }

    record Result(int exit, String output) {}

    private static String run(String... cmd) throws Exception {
        Result r = exec(cmd);
        assertEquals(0, r.exit(), () -> String.join(" ", cmd) + " failed:\n" + r.output());
        return r.output();
    }

    private static String sha256(byte[] b) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
    }

    @Test
    void qemuIoAndQemuImgOverTls() throws Exception {
        String out = run("qemu-io", "--object", qemuObject(certs.client), "--image-opts",
                "-c", "write -P 0xab 0 64k", "-c", "read -P 0xab 0 64k", "-c", "write -z 1M 64k",
                "-c", "write -P 0xcd 2M 1M", "-c", "flush", "-c", "read -P 0xcd 2M 1M", qemuImage());
        assertFalse(out.contains("Pattern verification failed") || out.contains("error"), out);
        byte[] snap = disk.snapshot();
        assertEquals((byte) 0xab, snap[65535]);
        assertEquals((byte) 0xcd, snap[(2 << 20) + 12345]);

        Path src = dir.resolve("src.raw");
        byte[] data = new byte[SIZE];
        new java.util.Random(11).nextBytes(data);
        Arrays.fill(data, 1 << 20, 3 << 20, (byte) 0);
        Files.write(src, data);
        run("qemu-img", "convert", "-n", "--object", qemuObject(certs.client), "-f", "raw", src.toString(),
                "--target-image-opts", qemuImage());
        assertEquals(sha256(data), sha256(disk.snapshot()));
        Path copy = dir.resolve("copy.raw");
        run("qemu-img", "convert", "--object", qemuObject(certs.client), "--image-opts", qemuImage(), "-O", "raw",
                copy.toString());
        assertEquals(sha256(data), sha256(Files.readAllBytes(copy)));
    }

    @Test
    void nbdinfoAndNbdcopyOverTls() throws Exception {
        String info = run("nbdinfo", "--json", nbds(certs.client));
        assertTrue(info.contains("\"export-size\": " + SIZE), info);
        assertTrue(info.contains("tls disk"), info);
        Path src = dir.resolve("src.raw");
        byte[] data = new byte[SIZE];
        new java.util.Random(12).nextBytes(data);
        Arrays.fill(data, 0, 1 << 20, (byte) 0);
        Files.write(src, data);
        run("nbdcopy", "--connections=4", "--requests=16", src.toString(), nbds(certs.client));
        assertEquals(sha256(data), sha256(disk.snapshot()));
        Path back = dir.resolve("back.raw");
        run("nbdcopy", nbds(certs.client), back.toString());
        assertEquals(sha256(data), sha256(Files.readAllBytes(back)));
    }

    /**
     * An RSA client key (certtool's default) over TLS 1.3 with verify-peer: GnuTLS 3.7 sends the
     * certificate because the server names no CA (see NbdTls.UnnamedIssuers; while it named
     * them, GnuTLS passed over an RSA key and the server ended the handshake with
     * certificate_required). qemu-io is held to TLS 1.3 by its priority string; nbdinfo's
     * GnuTLS log shows the TLS 1.3 CertificateVerify it signed with its RSA key.
     */
    @Test
    void rsaClientCertificateOverTls13() throws Exception {
        String tls13Only = qemuObject(certs.rsaClient) + ",priority=NORMAL:-VERS-ALL:+VERS-TLS1.3";
        String out = run("qemu-io", "--object", tls13Only, "--image-opts",
                "-c", "write -P 0x3c 0 64k", "-c", "read -P 0x3c 0 64k", qemuImage());
        assertFalse(out.contains("Pattern verification failed") || out.contains("error"), out);
        assertEquals((byte) 0x3c, disk.snapshot()[4097]);

        Result info = exec(Map.of("GNUTLS_DEBUG_LEVEL", "4"), "nbdinfo", "--size", nbds(certs.rsaClient));
        assertEquals(0, info.exit(), info::output);
        assertTrue(info.output().contains("signing TLS 1.3 handshake data: using RSA-PSS-RSAE"), info::output);
        assertTrue(info.output().lines().anyMatch(l -> l.strip().equals(Integer.toString(SIZE))), info::output);
        NbdStats st = server.stats();
        assertEquals(0, st.protocolErrors(), st::toString);
        assertEquals(2, st.connectionsAccepted(), st::toString);
    }

    @Test
    void plaintextWrongCaAndUnlistedClientsAreRefused() throws Exception {
        List<Result> refused = new ArrayList<>();
        refused.add(exec("nbdinfo", "nbd://127.0.0.1:" + port + "/disk"));
        refused.add(exec("nbdinfo", nbds(certs.rogue)));     // client certificate from another CA
        refused.add(exec("nbdinfo", nbds(certs.distrust)));  // server certificate not trusted by the client
        refused.add(exec("nbdinfo", nbds(certs.intruder)));  // right CA, name not on the allow-list
        refused.add(exec("nbdinfo", nbds(certs.anonymous))); // no client certificate
        for (Result r : refused) {
            assertNotEquals(0, r.exit(), r.output());
        }
        assertTrue(refused.get(0).output().toLowerCase().contains("tls"), refused.get(0).output());
        Result q = exec("qemu-io", "--image-opts", "-c", "read 0 4k",
                "driver=nbd,host=127.0.0.1,port=" + port + ",export=disk");
        assertTrue(q.exit() != 0 || q.output().contains("TLS"), q.output());
        assertTrue(q.output().contains("TLS"), q.output());
        // Nothing was served to them. The server itself refused three TLS handshakes: the rogue
        // (a certificate that does not chain to ca-cert.pem), the anonymous client (none) and
        // the intruder (allow-list); the distrusting client hung up on its own, and plaintext
        // clients gave up: those ends are not protocol errors.
        NbdStats st = server.stats();
        assertEquals(0, st.totalRequests(), st::toString);
        assertEquals(3, st.protocolErrors(), st::toString);
        assertEquals(6, st.connectionsAccepted(), st::toString);
        // Every refusal ended only its own connection: the server still serves.
        assertEquals(Integer.toString(SIZE), run("nbdinfo", "--size", nbds(certs.client)).strip());
    }
}
