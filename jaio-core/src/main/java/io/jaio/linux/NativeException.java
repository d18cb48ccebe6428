package io.jaio.linux;

/**
 * A failed system call: the call's name, the {@code errno} it set and the kernel's text for it.
 *
 * <p>The only exception type {@link Linux} throws. Immutable; safe to share between threads.
 */
public final class NativeException extends RuntimeException {
    private final int errno;
    private final String call;

    public NativeException(String call, int errno) {
        this(call, errno, null);
    }

    public NativeException(String call, int errno, String detail) {
        super(call + ": " + Linux.strerror(errno) + " (errno " + errno + ")"
                + (detail == null ? "" : ", " + detail));
        this.errno = errno;
        this.call = call;
    }

    /** The positive {@code errno} value the call failed with. */
    public int errno() {
        return errno;
    }

    /** The name of the failed call, e.g. {@code "epoll_ctl"}. */
    public String call() {
        return call;
    }
}
