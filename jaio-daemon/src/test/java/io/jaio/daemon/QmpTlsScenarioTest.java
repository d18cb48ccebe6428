package io.jaio.daemon;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jaio.nbd.DaemonTestCerts;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * NBD over TLS: {@code tls-creds-x509} and {@code authz-simple} objects, {@code tls-creds} /
 * {@code tls-authz} on the NBD server, over QMP against jaio and qemu-storage-daemon with the
 * same expectations, and on jaio's command line. Certificates are made by certtool in the test.
 */
class QmpTlsScenarioTest {
    private static final Duration T = Duration.ofSeconds(60);

    @TempDir
    Path dir;

    private static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }


    /** nbdinfo on {@code uri}; TLS certificates from {@code pki} if not null. */
    static Tools.Result nbdinfo(String uri, Path pki) {
        return Tools.run(T, "nbdinfo", pki == null ? uri : uri + (uri.contains("?") ? "&" : "?") + "tls-certificates=" + pki);
    }

    /** qemu-io with {@code --object tls-creds-x509,endpoint=client} on an NBD export over TCP. */
    static Tools.Result qemuIoTls(Path pki, int port, String export, String... cmds) {
        List<String> cmd = new ArrayList<>(List.of("qemu-io", "--object",
                "tls-creds-x509,id=tls0,dir=" + pki + ",endpoint=client", "--image-opts"));
        for (String c : cmds) {
            cmd.add("-c");
            cmd.add(c);
        }
        cmd.add("driver=nbd,host=127.0.0.1,port=" + port + ",export=" + export + ",tls-creds=tls0");
        return Tools.run(T, cmd);
    }

    @ParameterizedTest
    @EnumSource(QmpDaemon.Kind.class)
    void tlsOverQmp(QmpDaemon.Kind kind) throws Exception {
        Tools.require("nbdinfo", "libnbd-bin");
        Tools.require("qemu-io", "qemu-utils");
        Tools.require("qemu-img", "qemu-utils");
        DaemonTestCerts pki = DaemonTestCerts.generate(dir.resolve("pki"));
        Path img = Images.sparse(dir, "a.img", 4 << 20);
        int port = freePort();
        try (QmpDaemon d = QmpDaemon.start(kind, dir, 1); QmpClient c = QmpClient.negotiated(d.monitors.get(0))) {
            assertEquals("GenericError: Unable to access credentials /nonexistent/ca-cert.pem: No such file or directory",
                    c.error("object-add", "{\"qom-type\": \"tls-creds-x509\", \"id\": \"t\", \"dir\": \"/nonexistent\","
                            + " \"endpoint\": \"server\"}"));
            assertEquals("GenericError: Parameter 'endpoint' does not accept value 'both'",
                    c.error("object-add", "{\"qom-type\": \"tls-creds-x509\", \"id\": \"t\", \"dir\": \"" + pki.server()
                            + "\", \"endpoint\": \"both\"}"));
            c.ok("object-add", "{\"qom-type\": \"tls-creds-x509\", \"id\": \"tls0\", \"dir\": \"" + pki.server()
                    + "\", \"endpoint\": \"server\", \"verify-peer\": true}");
            c.ok("object-add", "{\"qom-type\": \"tls-creds-x509\", \"id\": \"tlsc\", \"dir\": \"" + pki.client()
                    + "\", \"endpoint\": \"client\"}");
            // QEMU matches the subject as GnuTLS prints it: RDNs in certificate order (jaio takes both orders)
            c.ok("object-add", "{\"qom-type\": \"authz-simple\", \"id\": \"auth0\", \"identity\":"
                    + " \"C=GB,O=jaio tests,CN=client1\"}");
            String addr = "\"addr\": {\"type\": \"inet\", \"data\": {\"host\": \"127.0.0.1\", \"port\": \"" + port + "\"}}";
            assertEquals("GenericError: No TLS credentials with id 'nope'",
                    c.error("nbd-server-start", "{" + addr + ", \"tls-creds\": \"nope\"}"));
            assertEquals("GenericError: Expected TLS credentials for a server endpoint",
                    c.error("nbd-server-start", "{" + addr + ", \"tls-creds\": \"tlsc\"}"));
            c.ok("nbd-server-start", "{" + addr + ", \"tls-creds\": \"tls0\", \"tls-authz\": \"auth0\"}");
            c.ok("blockdev-add", "{\"driver\": \"file\", \"node-name\": \"f0\", \"filename\": \"" + img + "\"}");
            c.ok("blockdev-add", "{\"driver\": \"raw\", \"node-name\": \"r0\", \"file\": \"f0\"}");
            c.ok("block-export-add", "{\"type\": \"nbd\", \"id\": \"e0\", \"node-name\": \"r0\", \"name\": \"disk\","
                    + " \"writable\": true}");

            String uri = "nbds://127.0.0.1:" + port + "/disk";
            Tools.Result ok = nbdinfo(uri, pki.client()).assertOk();
            assertTrue(ok.stdout().contains("export-size: 4194304"), ok.describe());
            // plaintext is refused: the server wants STARTTLS first
            Tools.Result plain = nbdinfo("nbd://127.0.0.1:" + port + "/disk", null);
            assertNotEquals(0, plain.exit(), plain.describe());
            // a certificate from the same CA with another name is not on the allow-list
            Tools.Result intruder = nbdinfo(uri, pki.intruder());
            assertNotEquals(0, intruder.exit(), intruder.describe());
            // a client without a certificate (verify-peer=on)
            Tools.Result anonymous = nbdinfo(uri, pki.anonymous());
            assertNotEquals(0, anonymous.exit(), anonymous.describe());

            // qemu-io and qemu-img as QEMU's own clients: write a pattern, read it back, copy the image
            Tools.Result w = qemuIoTls(pki.client(), port, "disk", "write -P 0x5a 65536 131072").assertOk();
            assertFalse(w.all().contains("failed"), w.describe());
            Tools.Result r = qemuIoTls(pki.client(), port, "disk", "read -P 0x5a 65536 131072", "read -P 0 0 65536")
                    .assertOk();
            assertFalse(r.all().contains("failed"), r.describe());
            Path copy = dir.resolve("copy.raw");
            Tools.run(T, "qemu-img", "convert", "--object", "tls-creds-x509,id=tls0,dir=" + pki.client() + ",endpoint=client",
                    "--image-opts", "driver=nbd,host=127.0.0.1,port=" + port + ",export=disk,tls-creds=tls0",
                    "-O", "raw", copy.toString()).assertOk();
            byte[] want = new byte[4 << 20];
            Arrays.fill(want, 65536, 65536 + 131072, (byte) 0x5a);
            assertArrayEquals(want, Files.readAllBytes(copy));
            // the wrong identity could not write either: the image holds only the pattern
            assertArrayEquals(want, Files.readAllBytes(img));

            // Deleting the objects does not stop the running server (QEMU's behaviour too).
            c.ok("object-del", "{\"id\": \"auth0\"}");
            c.ok("object-del", "{\"id\": \"tlsc\"}");
            assertEquals(Map.of("return", Map.of()), c.execute("quit", null));
            assertEquals(0, d.awaitExit(T));
        }
    }

    /**
     * jaio's command line: both --nbd-server forms take tls-creds/tls-authz; an export whose
     * IOThread is not the listener's is still served to TLS clients (it is placed on the
     * listener's IOThread, since a TLS connection cannot move); the ready lines say nbds://.
     */
    @Test
    void tlsOnTheCommandLineServesExportsOfEveryIothread() throws Exception {
        Tools.require("nbdinfo", "libnbd-bin");
        DaemonTestCerts pki = DaemonTestCerts.generate(dir.resolve("pki"));
        Path a = Images.sparse(dir, "a.img", 1 << 20);
        Path b = Images.sparse(dir, "b.img", 2 << 20);
        try (DaemonProcess d = DaemonProcess.start(dir.resolve("logs"),
                "--object", "iothread,id=io1", "--object", "iothread,id=io2",
                "--object", "tls-creds-x509,id=tls0,dir=" + pki.server() + ",endpoint=server,verify-peer=on",
                "--object", "authz-simple,id=auth0,identity=" + DaemonTestCerts.CLIENT_DN.replace(",", ",,"),
                "--blockdev", "driver=file,node-name=fa,filename=" + a, "--blockdev", "driver=raw,node-name=ra,file=fa",
                "--blockdev", "driver=file,node-name=fb,filename=" + b, "--blockdev", "driver=raw,node-name=rb,file=fb",
                "--nbd-server", "addr.type=inet,addr.host=127.0.0.1,addr.port=0,tls-creds=tls0,tls-authz=auth0",
                "--export", "type=nbd,id=ea,node-name=ra,name=a,iothread=io1",
                "--export", "type=nbd,id=eb,node-name=rb,name=b,iothread=io2")) {
            String line = d.stdoutLines().stream().filter(l -> l.startsWith("  nbds://127.0.0.1:") && l.endsWith("/b"))
                    .findFirst().orElseThrow(() -> new AssertionError(d.describe()));
            String uri = line.strip();
            assertTrue(d.stdoutLines().contains("TLS: required (client certificates verified; allowed: "
                    + DaemonTestCerts.CLIENT_DN + " | C=GB,O=jaio tests,CN=client1)"), d.describe());
            Tools.Result ok = nbdinfo(uri, pki.client()).assertOk();
            assertTrue(ok.stdout().contains("export-size: 2097152"), ok.describe());
            Tools.Result okA = nbdinfo(uri.substring(0, uri.length() - 1) + "a", pki.client()).assertOk();
            assertTrue(okA.stdout().contains("export-size: 1048576"), okA.describe());
            assertNotEquals(0, nbdinfo(uri.replace("nbds://", "nbd://"), null).exit());
            assertNotEquals(0, nbdinfo(uri, pki.intruder()).exit());
        }
        // jaio's short form, verify-peer=off: any client that speaks TLS, none in plaintext
        Path sock = dir.resolve("nbd.sock");
        try (DaemonProcess d = DaemonProcess.start(dir.resolve("logs2"),
                "--object", "tls-creds-x509,id=tls0,dir=" + pki.server() + ",endpoint=server,verify-peer=off",
                "--export", "name=disk,file=" + a,
                "--nbd-server", "tcp=127.0.0.1:0,tls-creds=tls0", "--nbd-server", "unix=" + sock + ",tls-creds=tls0")) {
            String uri = d.stdoutLines().stream().filter(l -> l.startsWith("  nbds://127.0.0.1:")).findFirst()
                    .orElseThrow(() -> new AssertionError(d.describe())).strip();
            assertTrue(d.stdoutLines().contains("  nbds+unix:///disk?socket=" + sock), d.describe());
            assertTrue(nbdinfo(uri, pki.anonymous()).assertOk().stdout().contains("export-size: 1048576"));
            assertNotEquals(0, nbdinfo("nbd+unix:///disk?socket=" + sock, null).exit());
        }
        // authz needs verify-peer: refused at start with exit 2
        DaemonProcess bad = DaemonProcess.launch(dir.resolve("logs3"), List.of(
                "--object", "tls-creds-x509,id=tls0,dir=" + pki.server() + ",endpoint=server,verify-peer=off",
                "--object", "authz-simple,id=auth0,identity=" + DaemonTestCerts.CLIENT_DN.replace(",", ",,"),
                "--export", "name=disk,file=" + a, "--nbd-server", "unix=" + sock + ",tls-creds=tls0,tls-authz=auth0"));
        try (bad) {
            assertTrue(bad.process().waitFor(60, java.util.concurrent.TimeUnit.SECONDS));
            assertEquals(2, bad.process().exitValue(), bad.describe());
            assertTrue(bad.describe().contains("verify-peer=off"), bad.describe());
        }
    }
}
