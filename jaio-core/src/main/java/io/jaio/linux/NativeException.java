package io.jaio.linux;

/**
 * A failed system call: the call's name, the {@code errno} it set and the kernel's text for it.
 *
 * <p>The only exception type {@link Linux} throws. Immutable; safe to share between threads.
 */
public final class NativeException extends RuntimeException {
    /** The positive errno; serialized. */
    private final int errno;
    /** The failed call's name; serialized. */
    private final String call;

    /**
     * An exception for {@code call} failing with {@code errno}; the message adds the kernel's text.
     *
     * @param call the system call or libc function, e.g. {@code "epoll_ctl"}
     * @param errno the positive errno value
     */
    public NativeException(String call, int errno) {
        this(call, errno, null);
    }

    /**
     * As {@link #NativeException(String, int)}, with {@code detail} (what the call was about: a
     * path, an address, a size) appended to the message.
     *
     * @param call the system call or libc function
     * @param errno the positive errno value
     * @param detail context for the message, or {@code null} for none
     */
    public NativeException(String call, int errno, String detail) {
        super(call + ": " + Linux.strerror(errno) + " (errno " + errno + ")"
                + (detail == null ? "" : ", " + detail));
        this.errno = errno;
        this.call = call;
    }

    /** {@return the positive {@code errno} value the call failed with} */
    public int errno() {
        return errno;
    }

    /** {@return the name of the failed call, e.g. {@code "epoll_ctl"}} */
    public String call() {
        return call;
    }
}
