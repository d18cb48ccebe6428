package io.jaio.block;

/** A block request failed with {@code errno} (positive, as in errno.h: EIO, ENOSPC, EINVAL...). */
public final class BlockException extends RuntimeException {
    /** The positive errno; serialized. */
    private final int errno;

    /**
     * A failure with {@code errno}; the message gets {@code " (errno N)"} appended.
     *
     * @param errno the positive errno value
     * @param message what failed
     */
    public BlockException(int errno, String message) {
        super(message + " (errno " + errno + ")");
        this.errno = errno;
    }

    /** {@return the positive errno value} */
    public int errno() {
        return errno;
    }
}
