package io.jaio.nbd;

import io.jaio.aio.AioContext;
import io.jaio.channel.CoSocket;

import java.lang.foreign.MemorySegment;

/**
 * The byte stream an {@link NbdConnection} talks over: the plain {@link CoSocket}, or, after
 * {@code NBD_OPT_STARTTLS}, a TLS session on top of it ({@link TlsTransport}). The methods mirror
 * {@link CoSocket}'s so the connection's code reads the same over either.
 *
 * <p>Threads: every operation in a coroutine of the socket's context (its home thread);
 * {@link #close()} also from that thread outside a coroutine. One coroutine may read while
 * another writes.
 */
interface NbdTransport {
    /**
     * Reads at most {@code buf.byteSize()} bytes, suspending until at least one byte or the end
     * of the stream arrives; returns the count, or -1 at the end of the stream.
     *
     * @throws io.jaio.channel.ChannelException on reset, failure or close
     */
    int read(MemorySegment buf);

    /**
     * Reads exactly {@code buf.byteSize()} bytes (by {@link #read}, as CoSocket.readFully does).
     *
     * @throws io.jaio.channel.ChannelException of kind EOF if the stream ends first
     */
    default void readFully(MemorySegment buf) {
        long done = 0;
        long want = buf.byteSize();
        while (done < want) {
            int n = read(buf.asSlice(done));
            if (n < 0) {
                throw new io.jaio.channel.ChannelException(io.jaio.channel.ChannelException.Kind.EOF, 0,
                        "unexpected end of stream after " + done + " of " + want + " bytes");
            }
            done += n;
        }
    }

    /** Writes every byte of {@code bufs}, in order. */
    void writeFully(MemorySegment... bufs);

    /** Writes {@code count} bytes of file {@code fileFd} from {@code offset}. */
    void sendFile(int fileFd, long offset, long count);

    /** How many times an operation suspended to wait for the socket ({@link CoSocket#waitCount()}). */
    long waitCount();

    /** The context whose loop wakes this transport's coroutines. */
    AioContext context();

    /**
     * Ends the stream politely where the protocol has a way to (TLS close_notify); may suspend
     * and never throws. Coroutine only.
     */
    void finish();

    /** Closes the socket; a waiting operation throws CLOSED. Idempotent. */
    void close();

    /** Whether {@link #close()} ran. */
    boolean isClosed();

    /**
     * Frees the transport's own native memory; last, once nothing reads or writes it any more
     * (serve() after the drain and close). Idempotent. Coroutine of the home thread.
     */
    default void free() {
    }

    /** The plain socket as a transport. */
    static NbdTransport plain(CoSocket sock) {
        return new Plain(sock);
    }

    /** {@link CoSocket} itself, call for call. */
    record Plain(CoSocket socket) implements NbdTransport {
        @Override
        public int read(MemorySegment buf) {
            return socket.read(buf);
        }

        @Override
        public void readFully(MemorySegment buf) {
            socket.readFully(buf);
        }

        @Override
        public void writeFully(MemorySegment... bufs) {
            socket.writeFully(bufs);
        }

        @Override
        public void sendFile(int fileFd, long offset, long count) {
            socket.sendFile(fileFd, offset, count);
        }

        @Override
        public long waitCount() {
            return socket.waitCount();
        }

        @Override
        public AioContext context() {
            return socket.context();
        }

        @Override
        public void finish() {
        }

        @Override
        public void close() {
            socket.close();
        }

        @Override
        public boolean isClosed() {
            return socket.isClosed();
        }
    }
}
