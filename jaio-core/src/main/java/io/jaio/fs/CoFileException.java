package io.jaio.fs;

import io.jaio.linux.Linux;

import java.io.IOException;

/**
 * A failed {@link CoFile} request: the kernel's {@code errno}, its text, the operation, the range
 * and the file, e.g. {@code "pread of 4096 bytes at 100 on /var/tmp/f: Invalid argument (errno 22);
 * O_DIRECT needs ..."}. Immutable; safe to share between threads.
 */
public final class CoFileException extends IOException {
    private static final long serialVersionUID = 1L;
    /** The positive errno; serialized. */
    private final int errno;

    /**
     * An error {@code errno} of {@code what}; the message is {@code what}, the errno's text, the
     * number and the hint. Any thread.
     *
     * @param what the operation, range and file, e.g. {@code "pread of 4096 bytes at 100 on /var/tmp/f"}
     * @param errno the positive errno value
     * @param hint what may have caused it, appended after {@code "; "}, or null for none
     */
    public CoFileException(String what, int errno, String hint) {
        super(what + ": " + Linux.strerror(errno) + " (errno " + errno + ")" + (hint == null ? "" : "; " + hint));
        this.errno = errno;
    }

    /**
     * The {@code errno} the kernel returned. Any thread.
     *
     * @return the positive errno, e.g. 22 for {@code EINVAL}
     */
    public int errno() {
        return errno;
    }
}
