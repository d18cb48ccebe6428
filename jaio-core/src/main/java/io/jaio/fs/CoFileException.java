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
    private final int errno;

    /** An error {@code errno} (positive) of {@code what} (operation, range and file). Any thread. */
    public CoFileException(String what, int errno, String hint) {
        super(what + ": " + Linux.strerror(errno) + " (errno " + errno + ")" + (hint == null ? "" : "; " + hint));
        this.errno = errno;
    }

    /** The positive {@code errno} the kernel returned, e.g. 22 for {@code EINVAL}. Any thread. */
    public int errno() {
        return errno;
    }
}
