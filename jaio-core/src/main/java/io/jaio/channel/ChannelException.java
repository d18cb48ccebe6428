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

    private final Kind kind;
    private final int errno;

    /** A failure of {@code kind} with {@code errno} (0 if none) and a message naming the operation. */
    public ChannelException(Kind kind, int errno, String message) {
        super(new IOException(message));
        this.kind = kind;
        this.errno = errno;
    }

    /** What kind of failure this is. */
    public Kind kind() {
        return kind;
    }

    /** The errno of the failed call, or 0. */
    public int errno() {
        return errno;
    }

    @Override
    public String getMessage() {
        return getCause().getMessage();
    }
}
