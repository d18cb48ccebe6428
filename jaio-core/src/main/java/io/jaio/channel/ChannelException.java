package io.jaio.channel;

import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * A socket operation failed: the peer reset or closed the connection, the socket was closed
 * while a coroutine waited on it, or a system call failed ({@link #errno()}).
 */
public final class ChannelException extends UncheckedIOException {
    /** What went wrong, for callers that react differently to each. */
    public enum Kind {
        /** The peer closed the connection before all the bytes asked for arrived. */
        EOF,
        /** The connection was reset or broken by the peer (ECONNRESET, EPIPE). */
        RESET,
        /** The socket was closed (locally) while or before the operation ran. */
        CLOSED,
        /** Another system call failure; see {@link #errno()}. */
        ERROR
    }

    /** What kind of failure this is; serialized. */
    private final Kind kind;
    /** The failed call's errno, or 0; serialized. */
    private final int errno;

    /**
     * A failure of {@code kind} with {@code errno} (0 if none) and a message naming the operation.
     *
     * @param kind what kind of failure this is
     * @param errno the failed call's positive errno, or 0
     * @param message the detail message, naming the operation
     */
    public ChannelException(Kind kind, int errno, String message) {
        super(new IOException(message));
        this.kind = kind;
        this.errno = errno;
    }

    /** {@return what kind of failure this is} */
    public Kind kind() {
        return kind;
    }

    /** {@return the errno of the failed call, or 0} */
    public int errno() {
        return errno;
    }

    @Override
    public String getMessage() {
        return getCause().getMessage();
    }
}
