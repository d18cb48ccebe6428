package io.jaio.block;

/** A block request failed with {@code errno} (positive, as in errno.h: EIO, ENOSPC, EINVAL...). */
public final class BlockException extends RuntimeException {
    private final int errno;

    public BlockException(int errno, String message) {
        super(message + " (errno " + errno + ")");
        this.errno = errno;
    }

    public int errno() {
        return errno;
    }
}
