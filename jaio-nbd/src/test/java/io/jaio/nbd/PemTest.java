package io.jaio.nbd;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.PrivateKey;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** PEM keys in the formats certtool writes, read with the JDK; bad files fail naming the problem. */
class PemTest {
    @TempDir
    Path dir;

    private PrivateKey generated(String name, String... args) throws Exception {
        Path f = dir.resolve(name);
        Object[] a = new Object[args.length + 3];
        a[0] = "--generate-privkey";
        System.arraycopy(args, 0, a, 1, args.length);
        a[args.length + 1] = "--outfile";
        a[args.length + 2] = f;
        TlsCerts.certtool(a);
        return Pem.privateKey(f);
    }

    @Test
    void readsEveryKeyFormatCerttoolWrites() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(TlsCerts.installed("certtool"), "certtool is not installed");
        Path rsa = dir.resolve("rsa.pem");
        TlsCerts.certtool("--generate-privkey", "--bits", "2048", "--outfile", rsa);
        assertTrue(Files.readString(rsa).contains("-----BEGIN RSA PRIVATE KEY-----"), "PKCS#1 as certtool writes it");
        assertEquals("RSA", Pem.privateKey(rsa).getAlgorithm());
        PrivateKey ec = generated("ec.pem", "--key-type=ecdsa");
        assertTrue(Files.readString(dir.resolve("ec.pem")).contains("-----BEGIN EC PRIVATE KEY-----"));
        assertEquals("EC", ec.getAlgorithm());
        PrivateKey ed = generated("ed.pem", "--key-type=ed25519");
        assertEquals("Ed25519", ((java.security.interfaces.EdECPrivateKey) ed).getParams().getName());
        // PKCS#8 of an RSA key (certtool --to-p8 / openssl genpkey), unencrypted.
        Path p8 = dir.resolve("rsa8.pem");
        TlsCerts.certtool("--to-p8", "--password", "", "--load-privkey", rsa, "--outfile", p8);
        assertTrue(Files.readString(p8).contains("-----BEGIN PRIVATE KEY-----"), Files.readString(p8));
        assertEquals(Pem.privateKey(rsa), Pem.privateKey(p8));
        // An encrypted one (even with a null password) is refused with the way out in the message.
        Path enc = dir.resolve("enc8.pem");
        TlsCerts.certtool("--to-p8", "--null-password", "--load-privkey", rsa, "--outfile", enc);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Pem.privateKey(enc));
        assertTrue(e.getMessage().contains("the private key is encrypted"), e.getMessage());
    }

    @Test
    void refusesWhatItCannotUse() throws Exception {
        Path enc = dir.resolve("enc.pem");
        Files.writeString(enc, "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Pem.privateKey(enc));
        assertTrue(e.getMessage().contains("encrypted"), e.getMessage());
        Path none = dir.resolve("none.pem");
        Files.writeString(none, "just text\n");
        e = assertThrows(IllegalArgumentException.class, () -> Pem.privateKey(none));
        assertTrue(e.getMessage().contains("holds no PEM private key"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Pem.certificates(none));
        assertTrue(e.getMessage().contains("holds no PEM certificate"), e.getMessage());
        Path bad64 = dir.resolve("bad.pem");
        Files.writeString(bad64, "-----BEGIN RSA PRIVATE KEY-----\n@@@@\n-----END RSA PRIVATE KEY-----\n");
        e = assertThrows(IllegalArgumentException.class, () -> Pem.privateKey(bad64));
        assertTrue(e.getMessage().contains("bad base64"), e.getMessage());
        Path cut = dir.resolve("cut.pem");
        Files.writeString(cut, "-----BEGIN CERTIFICATE-----\nAAAA\n");
        e = assertThrows(IllegalArgumentException.class, () -> Pem.certificates(cut));
        assertTrue(e.getMessage().contains("no '-----END CERTIFICATE-----'"), e.getMessage());
        Path garbage = dir.resolve("garbage.pem");
        Files.writeString(garbage, "-----BEGIN EC PRIVATE KEY-----\nMAMCAQE=\n-----END EC PRIVATE KEY-----\n");
        e = assertThrows(IllegalArgumentException.class, () -> Pem.privateKey(garbage));
        assertTrue(e.getMessage().contains("EC PRIVATE KEY"), e.getMessage());
        assertEquals(List.of(), Pem.blocks("", "empty"));
    }
}
