package io.jaio.nbd;

import java.nio.file.Path;

/**
 * The daemon tests' view of jaio-nbd's test certificates ({@link TlsCerts}, package-private in
 * the jaio-nbd test-jar): certtool-made PKI directories in QEMU's layout, generated in the test's
 * temporary directory. Skips the calling test if certtool is not installed (gnutls-bin).
 */
public record DaemonTestCerts(Path server, Path client, Path intruder, Path rogue, Path anonymous) {
    /** The subject of {@link #client}'s certificate, as authz-simple's identity takes it. */
    public static final String CLIENT_DN = TlsCerts.CLIENT_DN;
    /** The subject of {@link #intruder}'s certificate (same CA, another name). */
    public static final String INTRUDER_DN = TlsCerts.INTRUDER_DN;

    /** Makes the directories under {@code root}. Test thread. */
    public static DaemonTestCerts generate(Path root) throws Exception {
        TlsCerts c = TlsCerts.generate(root);
        return new DaemonTestCerts(c.server, c.client, c.intruder, c.rogue, c.anonymous);
    }
}
