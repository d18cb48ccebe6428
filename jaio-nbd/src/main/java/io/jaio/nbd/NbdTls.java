package io.jaio.nbd;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.CertificateException;
import java.security.cert.CertificateExpiredException;
import java.security.cert.CertificateNotYetValidException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;
import javax.security.auth.x500.X500Principal;

/**
 * X.509 TLS credentials for NBD ({@code NBD_OPT_STARTTLS}), read from a directory the way
 * QEMU's {@code tls-creds-x509} object reads it, plus QEMU's {@code authz-simple} client
 * allow-list. The server refuses every option but STARTTLS and ABORT until TLS is up
 * (the specification's FORCEDTLS mode, as qemu-nbd with {@code --tls-creds}).
 *
 * <pre>{@code
 * // --object tls-creds-x509,id=tls0,dir=/etc/pki/qemu,endpoint=server,verify-peer=on
 * // --object authz-simple,id=auth0,identity=CN=backup.example.com,O=Example
 * NbdTls tls = NbdTls.fromDirectory(Path.of("/etc/pki/qemu"), NbdTls.Endpoint.SERVER, true)
 *         .authorizing(List.of("CN=backup.example.com,O=Example"));
 * NbdServer server = NbdServer.builder(ctx).tls(tls).export(...).build();
 * }</pre>
 *
 * <p>Files (PEM; see {@link Pem} for the key formats, which include what
 * {@code certtool --generate-privkey} writes): for {@link Endpoint#SERVER}
 * {@code server-cert.pem} (leaf first, then any intermediates) and {@code server-key.pem},
 * and {@code ca-cert.pem} (the CAs client certificates must chain to; required when
 * {@code verifyPeer}); for {@link Endpoint#CLIENT} {@code ca-cert.pem} (required) and,
 * optionally as a pair, {@code client-cert.pem} and {@code client-key.pem}. The certificate
 * must be valid now and match its key, or loading fails with a message naming the file.
 * Protocols: TLS 1.3 and TLS 1.2.
 *
 * <p>{@code verifyPeer} (QEMU's default is on): a server demands a client certificate that
 * chains to {@code ca-cert.pem}; a client checks the server's certificate and host name.
 * The allow-list ({@link #authorizing}) admits only clients whose certificate subject equals
 * one of the listed distinguished names (compared as X.500 names, so spacing and case of
 * attribute keywords do not matter); an empty list admits every verified client.
 *
 * <p>Immutable; any thread.
 */
public final class NbdTls {
    /** Which end of the connection the credentials are for (QEMU's {@code endpoint=}). */
    public enum Endpoint {
        /** An NBD server: {@code server-cert.pem} and {@code server-key.pem}, for {@link NbdServer.Builder#tls}. */
        SERVER,
        /** An NBD client: {@code ca-cert.pem}, and optionally {@code client-cert.pem} and {@code client-key.pem}. */
        CLIENT
    }

    /** The protocols offered, newest first. */
    static final String[] PROTOCOLS = {"TLSv1.3", "TLSv1.2"};

    private final SSLContext context;
    private final Endpoint endpoint;
    private final boolean verifyPeer;
    private final List<X500Principal> authorized;
    private final String description;

    private NbdTls(SSLContext context, Endpoint endpoint, boolean verifyPeer, List<X500Principal> authorized,
            String description) {
        this.context = context;
        this.endpoint = endpoint;
        this.verifyPeer = verifyPeer;
        this.authorized = authorized;
        this.description = description;
    }

    /**
     * Loads the credentials in {@code dir} for {@code endpoint} (see the class comment for the
     * file names). Any thread.
     *
     * @param dir the credentials directory (QEMU's {@code dir=})
     * @param endpoint which end the credentials are for
     * @param verifyPeer whether to demand and check the peer's certificate (QEMU's
     *     {@code verify-peer=}; a server then needs {@code ca-cert.pem})
     * @return the credentials, with no allow-list
     * @throws NullPointerException if {@code dir} or {@code endpoint} is null
     * @throws IllegalArgumentException naming the file, if a file is missing, unreadable,
     *     malformed, expired, or a key does not match its certificate
     */
    public static NbdTls fromDirectory(Path dir, Endpoint endpoint, boolean verifyPeer) {
        Objects.requireNonNull(dir, "dir");
        Objects.requireNonNull(endpoint, "endpoint");
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException("TLS credentials directory " + dir + " does not exist");
        }
        String who = endpoint == Endpoint.SERVER ? "server" : "client";
        Path ca = dir.resolve("ca-cert.pem");
        Path cert = dir.resolve(who + "-cert.pem");
        Path key = dir.resolve(who + "-key.pem");
        boolean needCa = verifyPeer || endpoint == Endpoint.CLIENT;
        if (needCa && !Files.exists(ca)) {
            throw new IllegalArgumentException("TLS credentials: " + ca + " is missing");
        }
        boolean ownCert = endpoint == Endpoint.SERVER || Files.exists(cert) || Files.exists(key);
        if (ownCert) {
            for (Path p : List.of(cert, key)) {
                if (!Files.exists(p)) {
                    throw new IllegalArgumentException("TLS credentials: " + p + " is missing");
                }
            }
        }
        try {
            KeyManager[] km = null;
            if (ownCert) {
                List<X509Certificate> chain = Pem.certificates(cert);
                checkValid(chain.get(0), cert);
                PrivateKey pk = Pem.privateKey(key);
                checkMatch(pk, chain.get(0), key, cert);
                KeyStore ks = KeyStore.getInstance("PKCS12");
                ks.load(null, null);
                ks.setKeyEntry(who, pk, new char[0], chain.toArray(X509Certificate[]::new));
                KeyManagerFactory kmf = KeyManagerFactory.getInstance("PKIX");
                kmf.init(ks, new char[0]);
                km = kmf.getKeyManagers();
            }
            TrustManager[] tm = null;
            if (Files.exists(ca)) {
                KeyStore ts = KeyStore.getInstance("PKCS12");
                ts.load(null, null);
                int i = 0;
                for (X509Certificate c : Pem.certificates(ca)) {
                    ts.setCertificateEntry("ca" + i++, c);
                }
                TrustManagerFactory tmf = TrustManagerFactory.getInstance("PKIX");
                tmf.init(ts);
                tm = tmf.getTrustManagers();
                if (endpoint == Endpoint.SERVER) {
                    tm = new TrustManager[] {new UnnamedIssuers(pkix(tm))};
                }
            }
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(km, tm, null);
            return new NbdTls(ctx, endpoint, verifyPeer, List.of(), "dir=" + dir);
        } catch (GeneralSecurityException | java.io.IOException e) {
            throw new IllegalArgumentException("TLS credentials in " + dir + ": " + e.getMessage(), e);
        }
    }

    /**
     * Credentials from an {@link SSLContext} built by the caller (e.g. from a key store). Any
     * thread.
     *
     * @param context an initialised context with the key and trust managers {@code endpoint} needs
     * @param endpoint which end the credentials are for
     * @param verifyPeer whether to demand the client's certificate (server) or check the server's
     *     host name (client)
     * @return the credentials, with no allow-list
     * @throws NullPointerException if {@code context} or {@code endpoint} is null
     */
    public static NbdTls of(SSLContext context, Endpoint endpoint, boolean verifyPeer) {
        return new NbdTls(Objects.requireNonNull(context, "context"), Objects.requireNonNull(endpoint, "endpoint"),
                verifyPeer, List.of(), "custom SSLContext");
    }

    /**
     * These credentials with a client allow-list: only clients whose certificate subject is
     * one of {@code distinguishedNames} (RFC 4514 strings, e.g. {@code CN=backup,O=Example},
     * as QEMU's {@code authz-simple identity=} takes them) may use the server; empty admits
     * every client. Requires {@code verifyPeer} on a server endpoint. Any thread.
     *
     * @param distinguishedNames the subjects admitted; duplicates count once
     * @return new credentials with the allow-list; these are unchanged
     * @throws IllegalArgumentException if a name does not parse, or for a client endpoint or
     *     without verifyPeer
     */
    public NbdTls authorizing(Collection<String> distinguishedNames) {
        List<X500Principal> list = new ArrayList<>();
        for (String dn : distinguishedNames) {
            try {
                list.add(new X500Principal(dn));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("bad distinguished name '" + dn + "': " + e.getMessage(), e);
            }
        }
        if (!list.isEmpty() && (endpoint != Endpoint.SERVER || !verifyPeer)) {
            throw new IllegalArgumentException("a client allow-list needs server credentials with verify-peer on");
        }
        return new NbdTls(context, endpoint, verifyPeer, List.copyOf(new LinkedHashSet<>(list)), description);
    }

    /** {@return the endpoint these credentials are for} Any thread. */
    public Endpoint endpoint() {
        return endpoint;
    }

    /** {@return whether the peer's certificate is demanded and checked} Any thread. */
    public boolean verifyPeer() {
        return verifyPeer;
    }

    /**
     * {@return the client allow-list as RFC 2253 strings, in the order given} A new, modifiable
     * set; empty when any verified client is admitted. Any thread.
     */
    public Set<String> authorizedIdentities() {
        Set<String> s = new LinkedHashSet<>();
        for (X500Principal p : authorized) {
            s.add(p.getName(X500Principal.RFC2253));
        }
        return s;
    }

    /** {@return the JSSE context (for a client: {@code sslContext().getSocketFactory()})} Any thread. */
    public SSLContext sslContext() {
        return context;
    }

    /** A new engine for one connection, set up for this endpoint. Any thread. */
    SSLEngine newEngine(String peerHost, int peerPort) {
        SSLEngine e = endpoint == Endpoint.CLIENT ? context.createSSLEngine(peerHost, peerPort)
                : context.createSSLEngine();
        e.setUseClientMode(endpoint == Endpoint.CLIENT);
        SSLParameters p = e.getSSLParameters();
        p.setProtocols(PROTOCOLS);
        if (endpoint == Endpoint.SERVER) {
            p.setNeedClientAuth(verifyPeer);
        } else if (verifyPeer) {
            p.setEndpointIdentificationAlgorithm("HTTPS");
        }
        e.setSSLParameters(p);
        return e;
    }

    /**
     * Checks an established session against the allow-list; null if the peer may go on, else
     * why not. Any thread.
     */
    String refusal(SSLSession session) {
        if (authorized.isEmpty()) {
            return null;
        }
        X500Principal peer;
        try {
            peer = (X500Principal) session.getPeerPrincipal();
        } catch (SSLPeerUnverifiedException e) {
            return "the client sent no certificate";
        }
        for (X500Principal a : authorized) {
            if (a.equals(peer)) {
                return null;
            }
        }
        return "client '" + peer.getName(X500Principal.RFC2253) + "' is not on the allow-list";
    }

    private static X509ExtendedTrustManager pkix(TrustManager[] managers) {
        for (TrustManager m : managers) {
            if (m instanceof X509ExtendedTrustManager x) {
                return x;
            }
        }
        throw new IllegalStateException("the PKIX TrustManagerFactory made no X509ExtendedTrustManager");
    }

    /**
     * The server's trust manager: PKIX against {@code ca-cert.pem}, but naming no acceptable
     * issuers, so that the server's CertificateRequest carries no {@code certificate_authorities}
     * (TLS 1.3) and an empty CA list (TLS 1.2).
     *
     * <p>Why: JSSE's TLS 1.3 CertificateRequest lists RSA in {@code signature_algorithms} only as
     * RSA-PSS schemes ({@code rsa_pkcs1_*} are TLS 1.2 handshake schemes in JDK 25's
     * {@code SignatureScheme}, and neither {@code SSLParameters.setSignatureSchemes} nor
     * {@code jdk.tls.server.SignatureSchemes} can add what the table excludes); the certificate
     * schemes go in {@code signature_algorithms_cert}. GnuTLS 3.7 (QEMU's and libnbd's TLS) ignores
     * {@code signature_algorithms_cert} and, when the server names CAs, picks a client
     * certificate only if its key's algorithm is one the {@code signature_algorithms} schemes
     * are for: RSA-PSS schemes count as {@code GNUTLS_PK_RSA_PSS}, so a plain RSA key is passed
     * over and the handshake ends in {@code certificate_required}. When the server names no CA,
     * GnuTLS sends its one configured certificate (QEMU's and libnbd's credential directories
     * hold one) and signs CertificateVerify with {@code rsa_pss_rsae_*}, which JSSE accepts.
     * The client certificate is still verified against {@code ca-cert.pem} here; the CA names
     * were only a hint for clients holding several certificates.
     */
    private static final class UnnamedIssuers extends X509ExtendedTrustManager {
        private final X509ExtendedTrustManager pkix;

        UnnamedIssuers(X509ExtendedTrustManager pkix) {
            this.pkix = pkix;
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, java.net.Socket socket)
                throws CertificateException {
            pkix.checkClientTrusted(chain, authType, socket);
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, java.net.Socket socket)
                throws CertificateException {
            pkix.checkServerTrusted(chain, authType, socket);
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
                throws CertificateException {
            pkix.checkClientTrusted(chain, authType, engine);
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
                throws CertificateException {
            pkix.checkServerTrusted(chain, authType, engine);
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            pkix.checkClientTrusted(chain, authType);
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            pkix.checkServerTrusted(chain, authType);
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return new X509Certificate[0];
        }
    }

    private static void checkValid(X509Certificate c, Path file) {
        try {
            c.checkValidity();
        } catch (CertificateExpiredException e) {
            throw new IllegalArgumentException(file + ": the certificate expired on " + c.getNotAfter());
        } catch (CertificateNotYetValidException e) {
            throw new IllegalArgumentException(file + ": the certificate is not valid before " + c.getNotBefore());
        }
    }

    /** Signs a few bytes with the key and verifies them with the certificate's public key. */
    private static void checkMatch(PrivateKey key, X509Certificate cert, Path keyFile, Path certFile) {
        String alg = switch (key.getAlgorithm()) {
            case "RSA" -> "SHA256withRSA";
            case "EC" -> "SHA256withECDSA";
            case "Ed25519", "Ed448", "EdDSA" -> key.getAlgorithm();
            default -> null; // RSASSA-PSS needs parameters: JSSE reports a mismatch at handshake
        };
        if (alg == null) {
            return;
        }
        byte[] probe = "jaio NBD TLS key check".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        boolean ok;
        try {
            Signature s = Signature.getInstance(alg);
            s.initSign(key);
            s.update(probe);
            byte[] sig = s.sign();
            Signature v = Signature.getInstance(alg);
            v.initVerify(cert.getPublicKey());
            v.update(probe);
            ok = v.verify(sig);
        } catch (GeneralSecurityException e) {
            ok = false;
        }
        if (!ok) {
            throw new IllegalArgumentException(keyFile + " does not match the certificate in " + certFile);
        }
    }

    @Override
    public String toString() {
        return "NbdTls[" + endpoint.name().toLowerCase(java.util.Locale.ROOT) + ", " + description
                + ", verify-peer=" + (verifyPeer ? "on" : "off")
                + (authorized.isEmpty() ? "" : ", " + authorized.size() + " authorized identities") + "]";
    }
}
