package io.jaio.nbd;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/**
 * PEM files as GnuTLS's {@code certtool} and OpenSSL write them, read with the JDK alone:
 * certificates ({@code CERTIFICATE}) and unencrypted private keys in PKCS#8
 * ({@code PRIVATE KEY}: RSA, RSASSA-PSS, EC, Ed25519, Ed448), PKCS#1 ({@code RSA PRIVATE KEY},
 * what {@code certtool --generate-privkey} writes for RSA) and SEC1 ({@code EC PRIVATE KEY},
 * what it writes for ECDSA). Text outside the {@code -----BEGIN/END-----} lines (certtool's
 * human-readable dump) is ignored. No state; any thread.
 */
final class Pem {
    private Pem() {}

    /** One PEM block: its label (e.g. {@code CERTIFICATE}), headers present, and DER bytes. */
    record Block(String label, boolean encrypted, byte[] der) {}

    /** rsaEncryption, 1.2.840.113549.1.1.1 (DER of the OID, tag and length included). */
    private static final byte[] OID_RSA = {0x06, 0x09, 0x2a, (byte) 0x86, 0x48, (byte) 0x86, (byte) 0xf7, 0x0d, 0x01,
            0x01, 0x01};
    /** id-ecPublicKey, 1.2.840.10045.2.1. */
    private static final byte[] OID_EC = {0x06, 0x07, 0x2a, (byte) 0x86, 0x48, (byte) 0xce, 0x3d, 0x02, 0x01};

    /** Every PEM block of {@code text}, in order. */
    static List<Block> blocks(String text, String what) {
        List<Block> out = new ArrayList<>();
        int pos = 0;
        for (;;) {
            int begin = text.indexOf("-----BEGIN ", pos);
            if (begin < 0) {
                return out;
            }
            int labelEnd = text.indexOf("-----", begin + 11);
            if (labelEnd < 0) {
                throw new IllegalArgumentException(what + ": unterminated PEM BEGIN line");
            }
            String label = text.substring(begin + 11, labelEnd);
            String endLine = "-----END " + label + "-----";
            int end = text.indexOf(endLine, labelEnd);
            if (end < 0) {
                throw new IllegalArgumentException(what + ": no '" + endLine + "'");
            }
            String body = text.substring(labelEnd + 5, end);
            boolean encrypted = body.contains("Proc-Type:") && body.contains("ENCRYPTED");
            StringBuilder b64 = new StringBuilder(body.length());
            for (String line : body.split("\r?\n")) {
                String l = line.strip();
                if (!l.isEmpty() && l.indexOf(':') < 0) { // RFC 1421 headers (Proc-Type, DEK-Info) have colons
                    b64.append(l);
                }
            }
            byte[] der;
            try {
                der = Base64.getDecoder().decode(b64.toString());
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(what + ": bad base64 in the " + label + " block: " + e.getMessage());
            }
            out.add(new Block(label, encrypted, der));
            pos = end + endLine.length();
        }
    }

    private static String read(Path file) {
        try {
            return Files.readString(file, StandardCharsets.US_ASCII);
        } catch (java.nio.charset.CharacterCodingException e) {
            throw new IllegalArgumentException(file + " is not a PEM file (non-ASCII bytes)");
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    /**
     * The certificates in {@code file}, in file order (a chain: leaf first).
     *
     * @throws IllegalArgumentException if the file cannot be read or holds no certificate
     */
    static List<X509Certificate> certificates(Path file) {
        List<X509Certificate> certs = new ArrayList<>();
        CertificateFactory cf;
        try {
            cf = CertificateFactory.getInstance("X.509");
        } catch (CertificateException e) {
            throw new IllegalStateException("the JDK has no X.509 certificate factory", e);
        }
        for (Block b : blocks(read(file), file.toString())) {
            if (b.label().equals("CERTIFICATE") || b.label().equals("X509 CERTIFICATE")) {
                try {
                    certs.add((X509Certificate) cf.generateCertificate(new ByteArrayInputStream(b.der())));
                } catch (CertificateException e) {
                    throw new IllegalArgumentException(file + ": bad certificate: " + e.getMessage(), e);
                }
            }
        }
        if (certs.isEmpty()) {
            throw new IllegalArgumentException(file + " holds no PEM certificate");
        }
        return certs;
    }

    /**
     * The one private key in {@code file}.
     *
     * @throws IllegalArgumentException if the file cannot be read, holds no key or an
     *     encrypted one, or the key's algorithm is not one the JDK knows
     */
    static PrivateKey privateKey(Path file) {
        for (Block b : blocks(read(file), file.toString())) {
            switch (b.label()) {
                case "PRIVATE KEY" -> {
                    return pkcs8(b.der(), file);
                }
                case "RSA PRIVATE KEY" -> {
                    requirePlain(b, file);
                    return pkcs8(wrapPkcs8(seq(OID_RSA, new byte[] {0x05, 0x00}), b.der()), file);
                }
                case "EC PRIVATE KEY" -> {
                    requirePlain(b, file);
                    byte[] curve = sec1Curve(b.der(), file);
                    return pkcs8(wrapPkcs8(seq(OID_EC, curve), b.der()), file);
                }
                case "ENCRYPTED PRIVATE KEY" -> throw new IllegalArgumentException(file
                        + ": the private key is encrypted; give an unencrypted key (certtool --generate-privkey"
                        + " without --password, or openssl pkey -in KEY -out KEY.plain)");
                default -> { } // e.g. EC PARAMETERS before an EC key
            }
        }
        throw new IllegalArgumentException(file + " holds no PEM private key (PRIVATE KEY, RSA PRIVATE KEY or"
                + " EC PRIVATE KEY)");
    }

    private static void requirePlain(Block b, Path file) {
        if (b.encrypted()) {
            throw new IllegalArgumentException(file + ": the " + b.label() + " is encrypted; give an unencrypted key");
        }
    }

    private static PrivateKey pkcs8(byte[] der, Path file) {
        PKCS8EncodedKeySpec spec = new PKCS8EncodedKeySpec(der);
        GeneralSecurityException last = null;
        for (String alg : new String[] {"RSA", "EC", "Ed25519", "Ed448", "RSASSA-PSS"}) {
            try {
                return KeyFactory.getInstance(alg).generatePrivate(spec);
            } catch (GeneralSecurityException e) {
                last = e;
            }
        }
        throw new IllegalArgumentException(file + ": unsupported or malformed private key: "
                + (last == null ? "" : last.getMessage()), last);
    }

    /** PrivateKeyInfo ::= SEQUENCE { version 0, AlgorithmIdentifier, OCTET STRING key }. */
    private static byte[] wrapPkcs8(byte[] algorithmId, byte[] key) {
        return seq(new byte[] {0x02, 0x01, 0x00}, algorithmId, tlv(0x04, key));
    }

    /**
     * The namedCurve OID (as a whole TLV) of a SEC1 ECPrivateKey ::= SEQUENCE { version 1,
     * OCTET STRING key, [0] ECParameters OPTIONAL, [1] BIT STRING OPTIONAL }.
     */
    private static byte[] sec1Curve(byte[] der, Path file) {
        try {
            int[] seq = header(der, 0);
            if ((der[0] & 0xff) != 0x30) {
                throw new IllegalArgumentException("not a SEQUENCE");
            }
            int p = seq[0];
            int end = seq[0] + seq[1];
            while (p < end) {
                int tag = der[p] & 0xff;
                int[] h = header(der, p);
                if (tag == 0xa0) {
                    int q = h[0];
                    if ((der[q] & 0xff) != 0x06) {
                        throw new IllegalArgumentException("explicit curve parameters are not supported");
                    }
                    int[] oid = header(der, q);
                    byte[] out = new byte[oid[0] + oid[1] - q];
                    System.arraycopy(der, q, out, 0, out.length);
                    return out;
                }
                p = h[0] + h[1];
            }
            throw new IllegalArgumentException("no curve named in the key");
        } catch (ArrayIndexOutOfBoundsException e) {
            throw new IllegalArgumentException(file + ": truncated EC PRIVATE KEY");
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": EC PRIVATE KEY: " + e.getMessage());
        }
    }

    /** {contentStart, contentLength} of the DER element at {@code p}. */
    private static int[] header(byte[] der, int p) {
        int len = der[p + 1] & 0xff;
        int start = p + 2;
        if (len >= 0x80) {
            int n = len & 0x7f;
            if (n == 0 || n > 3) {
                throw new IllegalArgumentException("unsupported DER length");
            }
            len = 0;
            for (int i = 0; i < n; i++) {
                len = (len << 8) | (der[start + i] & 0xff);
            }
            start += n;
        }
        if (start + len > der.length) {
            throw new IllegalArgumentException("DER element runs past the end");
        }
        return new int[] {start, len};
    }

    private static byte[] seq(byte[]... parts) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            b.writeBytes(p);
        }
        return tlv(0x30, b.toByteArray());
    }

    private static byte[] tlv(int tag, byte[] content) {
        ByteArrayOutputStream b = new ByteArrayOutputStream(content.length + 6);
        b.write(tag);
        int n = content.length;
        if (n < 0x80) {
            b.write(n);
        } else if (n < 0x100) {
            b.write(0x81);
            b.write(n);
        } else if (n < 0x10000) {
            b.write(0x82);
            b.write(n >> 8);
            b.write(n);
        } else {
            b.write(0x83);
            b.write(n >> 16);
            b.write(n >> 8);
            b.write(n);
        }
        b.writeBytes(content);
        return b.toByteArray();
    }
}
