package io.jaio.nbd;

/**
 * The peer broke the NBD protocol in a way that cannot be answered (bad magic, unknown client
 * flags, an oversized option, an unknown export after {@code NBD_OPT_EXPORT_NAME}, a write
 * payload too large to accept): the connection must end. This is the only exception the codec
 * throws for bad input.
 */
public final class NbdProtocolException extends RuntimeException {
    /**
     * An exception for a protocol violation.
     *
     * @param message what the peer did wrong, for the log
     */
    public NbdProtocolException(String message) {
        super(message);
    }
}
