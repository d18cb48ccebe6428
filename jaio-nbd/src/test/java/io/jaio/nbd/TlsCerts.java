package io.jaio.nbd;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Test certificates made with GnuTLS's certtool in a temporary directory (never committed):
 * a CA and a rogue CA, a server certificate for localhost/127.0.0.1, and client certificates.
 * Directories follow QEMU's layout: {@link #server} holds ca-cert.pem, server-cert.pem and
 * server-key.pem; the client directories hold ca-cert.pem, client-cert.pem and client-key.pem
 * (what {@code tls-creds-x509,endpoint=client} and libnbd's {@code tls-certificates=} read).
 * Key formats are mixed on purpose: the server key is RSA in PKCS#1, the client key ECDSA in
 * SEC1 (what certtool writes), {@link #rsaClient}'s key RSA, the rogue keys Ed25519 in PKCS#8.
 */
final class TlsCerts {
    /** The distinguished name of {@link #client}'s certificate. */
    static final String CLIENT_DN = "CN=client1,O=jaio tests,C=GB";
    /** The distinguished name of {@link #intruder}'s certificate (same CA, other name). */
    static final String INTRUDER_DN = "CN=intruder,O=jaio tests,C=GB";

    final Path server;
    /** CA-signed client, trusts the CA. */
    final Path client;
    /**
     * {@link #client}'s name with an RSA key (certtool's default key type): what GnuTLS 3.7
     * passed over under TLS 1.3 while the server named its CAs.
     */
    final Path rsaClient;
    /** CA-signed client with another name, trusts the CA. */
    final Path intruder;
    /** Trusts the CA, but its client certificate is signed by the rogue CA. */
    final Path rogue;
    /** {@link #client}'s certificate, but trusts only the rogue CA (so not the server). */
    final Path distrust;
    /** Trusts the CA but has no client certificate. */
    final Path anonymous;

    private TlsCerts(Path root) {
        server = root.resolve("server");
        client = root.resolve("client");
        rsaClient = root.resolve("rsa-client");
        intruder = root.resolve("intruder");
        rogue = root.resolve("rogue");
        distrust = root.resolve("distrust");
        anonymous = root.resolve("anonymous");
    }

    static boolean installed(String tool) {
        for (String d : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            if (Files.isExecutable(Path.of(d, tool))) {
                return true;
            }
        }
        return false;
    }

    /** Makes every directory under {@code root}; skips the test if certtool is not installed (gnutls-bin). */
    static TlsCerts generate(Path root) throws Exception {
        assumeTrue(installed("certtool"), "certtool is not installed (apt-get install gnutls-bin)");
        TlsCerts c = new TlsCerts(root);
        Path work = Files.createDirectories(root.resolve("work"));
        for (Path d : List.of(c.server, c.client, c.rsaClient, c.intruder, c.rogue, c.distrust, c.anonymous)) {
            Files.createDirectories(d);
        }
        // The CA.
        key(work.resolve("ca-key.pem"), "ecdsa");
        template(work.resolve("ca.info"), "cn = \"jaio test CA\"", "ca", "cert_signing_key", "expiration_days = 3");
        certtool("--generate-self-signed", "--load-privkey", work.resolve("ca-key.pem"), "--template",
                work.resolve("ca.info"), "--outfile", work.resolve("ca-cert.pem"));
        // The rogue CA.
        key(work.resolve("rogue-ca-key.pem"), "ed25519");
        template(work.resolve("rogue.info"), "cn = \"jaio rogue CA\"", "ca", "cert_signing_key", "expiration_days = 3");
        certtool("--generate-self-signed", "--load-privkey", work.resolve("rogue-ca-key.pem"), "--template",
                work.resolve("rogue.info"), "--outfile", work.resolve("rogue-ca-cert.pem"));
        // The server: RSA, PKCS#1.
        key(c.server.resolve("server-key.pem"), "rsa");
        template(work.resolve("server.info"), "organization = \"jaio tests\"", "cn = \"localhost\"",
                "dns_name = \"localhost\"", "ip_address = \"127.0.0.1\"", "tls_www_server", "encryption_key",
                "signing_key", "expiration_days = 3");
        signed(c.server.resolve("server-cert.pem"), c.server.resolve("server-key.pem"), work.resolve("server.info"),
                work, "ca");
        Files.copy(work.resolve("ca-cert.pem"), c.server.resolve("ca-cert.pem"));
        // Clients.
        client(c.client, "client1", "ecdsa", work, "ca", "ca");
        client(c.rsaClient, "client1", "rsa", work, "ca", "ca");
        client(c.intruder, "intruder", "ecdsa", work, "ca", "ca");
        client(c.rogue, "client1", "ed25519", work, "rogue-ca", "ca");
        for (String f : List.of("client-cert.pem", "client-key.pem")) {
            Files.copy(c.client.resolve(f), c.distrust.resolve(f));
        }
        Files.copy(work.resolve("rogue-ca-cert.pem"), c.distrust.resolve("ca-cert.pem"));
        Files.copy(work.resolve("ca-cert.pem"), c.anonymous.resolve("ca-cert.pem"));
        return c;
    }

    private static void client(Path dir, String cn, String keyType, Path work, String ca, String trusted)
            throws Exception {
        key(dir.resolve("client-key.pem"), keyType);
        Path info = work.resolve(dir.getFileName() + ".info");
        template(info, "country = GB", "organization = \"jaio tests\"", "cn = \"" + cn + "\"", "tls_www_client",
                "signing_key", "expiration_days = 3");
        signed(dir.resolve("client-cert.pem"), dir.resolve("client-key.pem"), info, work, ca);
        Files.copy(work.resolve(trusted + "-cert.pem"), dir.resolve("ca-cert.pem"));
    }

    private static void key(Path out, String type) throws Exception {
        if (type.equals("rsa")) {
            certtool("--generate-privkey", "--bits", "2048", "--outfile", out);
        } else {
            certtool("--generate-privkey", "--key-type=" + type, "--outfile", out);
        }
    }

    private static void signed(Path out, Path key, Path info, Path work, String ca) throws Exception {
        certtool("--generate-certificate", "--load-privkey", key, "--load-ca-certificate",
                work.resolve(ca + "-cert.pem"), "--load-ca-privkey", work.resolve(ca + "-key.pem"), "--template", info,
                "--outfile", out);
    }

    private static void template(Path file, String... lines) throws IOException {
        Files.writeString(file, String.join("\n", lines) + "\n");
    }

    static void certtool(Object... args) throws Exception {
        String[] cmd = new String[args.length + 1];
        cmd[0] = "certtool";
        for (int i = 0; i < args.length; i++) {
            cmd[i + 1] = args[i].toString();
        }
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IllegalStateException(String.join(" ", cmd) + " failed:\n" + new String(out));
        }
    }
}
