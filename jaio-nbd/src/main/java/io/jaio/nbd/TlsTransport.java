package io.jaio.nbd;

import io.jaio.aio.AioContext;
import io.jaio.channel.ChannelException;
import io.jaio.channel.CoSocket;
import io.jaio.coroutine.CoMutex;
import io.jaio.linux.FileSys;
import io.jaio.linux.Linux;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLEngineResult.HandshakeStatus;
import javax.net.ssl.SSLException;

/**
 * A TLS session over a {@link CoSocket}, driven by a JSSE {@link SSLEngine} in the socket's
 * coroutines: no thread per connection, no blocking. Plaintext is read into the caller's
 * buffer directly when it is large enough for a whole record (the receive loop's 64 KiB
 * read-ahead is), and written from the caller's segments with gathering {@code wrap} calls,
 * so the only copies are the ones the engine makes.
 *
 * <p>Threads: as {@link NbdTransport}: coroutines of the socket's home thread; one reader and
 * one writer at a time.
 */
final class TlsTransport implements NbdTransport {
    /*
     * Implementation overview.
     *
     * Buffers (native memory, freed by the GC with the transport): netIn holds ciphertext read
     * and not yet unwrapped, [0, position); netOut ciphertext wrapped and not yet written,
     * [0, position); appIn plaintext unwrapped and not yet returned, [position, limit).
     *
     *  1. accept(): the handshake, in the connection's coroutine before anything else uses the
     *     transport: wrap while the engine needs to (flushing netOut before any read), unwrap
     *     while it needs input (reading more ciphertext on BUFFER_UNDERFLOW), run delegated
     *     tasks inline. Then the allow-list.
     *  2. read(): serve appIn first; else unwrap netIn into the caller's buffer (or appIn when
     *     the caller's is smaller than a record), reading the socket on BUFFER_UNDERFLOW. A
     *     record that asks for a reply (TLS 1.3 KeyUpdate, a close_notify) is answered under
     *     writeLock.
     *  3. writeFully(): under writeLock, wrap the caller's segments into netOut a record at a
     *     time, writing netOut to the socket whenever less than a record fits.
     *
     * Invariant: every wrap, and the socket write of what it produced, happens under writeLock,
     * so records reach the socket in the order the engine made them (their sequence numbers),
     * even when the writer suspends mid-write and the reader must answer a KeyUpdate meanwhile.
     * Renegotiation (TLS 1.2) is not supported: a wrap or unwrap that cannot progress ends the
     * connection instead of spinning.
     */

    private static final System.Logger LOG = System.getLogger("io.jaio.nbd");
    private static final ByteBuffer EMPTY = ByteBuffer.allocate(0);
    /** Bytes of plaintext a sendFile() reads from the file per wrap batch. */
    private static final int FILE_CHUNK = 64 * 1024;

    private final CoSocket sock;
    private final SSLEngine engine;
    private final CoMutex writeLock = new CoMutex();
    private final int packetSize;
    private final int appSize;
    private final MemorySegment netInSeg;
    private final ByteBuffer netIn;
    private final MemorySegment netOutSeg;
    private final ByteBuffer netOut;
    private final MemorySegment appInSeg;
    private final ByteBuffer appIn;
    private MemorySegment fileBuf;
    private boolean inboundDone;
    /** The buffers above; closed by free() (not left to the GC: ~150 KiB per connection). */
    private final Arena arena = Arena.ofShared();

    private TlsTransport(CoSocket sock, SSLEngine engine) {
        this.sock = sock;
        this.engine = engine;
        this.packetSize = engine.getSession().getPacketBufferSize();
        this.appSize = engine.getSession().getApplicationBufferSize();
        this.netInSeg = arena.allocate(4L * packetSize, 8);
        this.netIn = netInSeg.asByteBuffer();
        this.netOutSeg = arena.allocate(4L * packetSize, 8);
        this.netOut = netOutSeg.asByteBuffer();
        this.appInSeg = arena.allocate(appSize, 8);
        this.appIn = appInSeg.asByteBuffer().limit(0);
    }

    /**
     * Runs the server side of the TLS handshake on {@code sock} (right after the STARTTLS ACK)
     * and checks the client against {@code tls}'s allow-list. Coroutine of the socket's home
     * thread.
     *
     * @throws NbdProtocolException if the handshake fails or the client is not allowed; the
     *     caller ends the connection
     * @throws ChannelException if the socket fails or the peer goes away
     */
    static TlsTransport accept(CoSocket sock, NbdTls tls) {
        TlsTransport t = new TlsTransport(sock, tls.newEngine(null, -1));
        try {
            t.handshake();
            String refusal = tls.refusal(t.engine.getSession());
            if (refusal != null) {
                throw new NbdProtocolException("TLS authorization failed: " + refusal);
            }
            return t;
        } catch (RuntimeException | Error e) {
            t.free(); // the caller never sees t
            throw e;
        }
    }

    /** The negotiated protocol and cipher suite, for logs. */
    String describe() {
        return engine.getSession().getProtocol() + " " + engine.getSession().getCipherSuite();
    }

    private void handshake() {
        try {
            engine.beginHandshake();
            for (;;) {
                switch (engine.getHandshakeStatus()) {
                    case NOT_HANDSHAKING, FINISHED -> {
                        flushNet();
                        return;
                    }
                    case NEED_TASK -> runTasks();
                    case NEED_WRAP -> {
                        if (netOut.remaining() < packetSize) {
                            flushNet();
                        }
                        SSLEngineResult r = engine.wrap(EMPTY, netOut);
                        if (r.getStatus() == SSLEngineResult.Status.CLOSED) {
                            flushNet();
                            throw new NbdProtocolException("TLS handshake ended by the engine");
                        }
                        if (engine.getHandshakeStatus() != HandshakeStatus.NEED_WRAP) {
                            flushNet(); // the peer needs it before it answers
                        }
                    }
                    case NEED_UNWRAP, NEED_UNWRAP_AGAIN -> {
                        SSLEngineResult r = unwrapInto(appIn.position(appIn.limit()).limit(appIn.capacity()));
                        appIn.flip();
                        switch (r.getStatus()) {
                            case BUFFER_UNDERFLOW -> {
                                if (!fillNetIn()) {
                                    throw new ChannelException(ChannelException.Kind.EOF, 0,
                                            "the client closed the connection during the TLS handshake");
                                }
                            }
                            case CLOSED -> throw new NbdProtocolException("the client ended TLS during the handshake");
                            case BUFFER_OVERFLOW -> throw new NbdProtocolException(
                                    "TLS: application data before the handshake finished overflows the buffer");
                            case OK -> { }
                        }
                    }
                }
            }
        } catch (SSLException e) {
            sendAlert();
            throw new NbdProtocolException("TLS handshake failed: " + e.getMessage() + hint(e));
        }
    }

    /**
     * What to check when the client sent no certificate although verify-peer demands one: its
     * credentials directory (QEMU's {@code tls-creds-x509,endpoint=client}, libnbd's
     * {@code tls-certificates=}) needs {@code client-cert.pem} and {@code client-key.pem} signed
     * by this server's {@code ca-cert.pem}; older GnuTLS clients also pass over an RSA key under
     * TLS 1.3 when a server names its CAs (this server does not; docs/nbd-tls-and-bitmaps.md).
     */
    private static String hint(SSLException e) {
        String m = String.valueOf(e.getMessage());
        return m.contains("certificate_required") || m.contains("Empty client certificate chain")
                ? " (the client sent no certificate: its credentials directory needs client-cert.pem and"
                        + " client-key.pem issued by this server's ca-cert.pem; see docs/nbd-tls-and-bitmaps.md)"
                : "";
    }

    /** After a failed handshake: send the alert the engine prepared, if the socket takes it. */
    private void sendAlert() {
        try {
            while (engine.getHandshakeStatus() == HandshakeStatus.NEED_WRAP) {
                SSLEngineResult r = engine.wrap(EMPTY, netOut);
                if (r.bytesProduced() == 0) {
                    break;
                }
            }
            flushNet();
        } catch (SSLException | RuntimeException e) {
            LOG.log(System.Logger.Level.DEBUG, "TLS alert not sent: {0}", e.getMessage());
        }
    }

    private void runTasks() {
        // Certificate checks and key agreement: CPU work of a millisecond or so, run here
        // rather than on a thread of its own (one handshake per connection).
        Runnable task;
        while ((task = engine.getDelegatedTask()) != null) {
            task.run();
        }
    }

    /** unwrap(netIn -> out), keeping netIn in fill mode. */
    private SSLEngineResult unwrapInto(ByteBuffer out) throws SSLException {
        netIn.flip();
        try {
            return engine.unwrap(netIn, out);
        } finally {
            netIn.compact();
        }
    }

    /** Reads more ciphertext into netIn; false at the end of the stream. */
    private boolean fillNetIn() {
        int pos = netIn.position();
        if (pos == netIn.capacity()) {
            throw new NbdProtocolException("TLS record larger than " + netIn.capacity() + " bytes");
        }
        int n = sock.read(netInSeg.asSlice(pos, netIn.capacity() - pos));
        if (n < 0) {
            return false;
        }
        netIn.position(pos + n);
        return true;
    }

    /** Writes netOut to the socket. Under writeLock, or while nothing else writes (handshake). */
    private void flushNet() {
        int n = netOut.position();
        if (n > 0) {
            sock.writeFully(netOutSeg.asSlice(0, n));
            netOut.clear();
        }
    }

    @Override
    public int read(MemorySegment dst) {
        if (dst.byteSize() == 0) {
            return 0;
        }
        for (;;) {
            if (appIn.hasRemaining()) {
                int n = (int) Math.min(dst.byteSize(), appIn.remaining());
                MemorySegment.copy(appInSeg, appIn.position(), dst, 0, n);
                appIn.position(appIn.position() + n);
                return n;
            }
            if (inboundDone) {
                return -1;
            }
            boolean direct = dst.byteSize() >= appSize;
            SSLEngineResult r;
            try {
                r = unwrapInto(direct ? dst.asByteBuffer() : appIn.clear());
            } catch (SSLException e) {
                appIn.limit(0);
                throw new ChannelException(ChannelException.Kind.ERROR, 0, "TLS: " + e.getMessage());
            }
            if (!direct) {
                appIn.flip();
            }
            switch (r.getStatus()) {
                case OK -> {
                    answerEngine(r.getHandshakeStatus());
                    if (direct && r.bytesProduced() > 0) {
                        return r.bytesProduced();
                    }
                    if (r.bytesConsumed() == 0 && r.bytesProduced() == 0
                            && engine.getHandshakeStatus() != HandshakeStatus.NEED_UNWRAP) {
                        throw new ChannelException(ChannelException.Kind.ERROR, 0,
                                "TLS: no progress (renegotiation is not supported)");
                    }
                }
                case BUFFER_UNDERFLOW -> {
                    if (!fillNetIn()) {
                        inboundDone = true;
                        if (netIn.position() > 0) {
                            throw new ChannelException(ChannelException.Kind.EOF, 0,
                                    "the peer closed the connection in the middle of a TLS record");
                        }
                    }
                }
                case BUFFER_OVERFLOW -> throw new ChannelException(ChannelException.Kind.ERROR, 0,
                        "TLS record larger than the application buffer (" + appSize + " bytes)");
                case CLOSED -> {
                    inboundDone = true; // close_notify: the engine may want to answer it
                    answerEngine(engine.getHandshakeStatus());
                }
            }
        }
    }

    /** Runs tasks and sends what the engine wants sent after an unwrap (KeyUpdate, alerts). */
    private void answerEngine(HandshakeStatus hs) {
        for (HandshakeStatus h = hs;; h = engine.getHandshakeStatus()) {
            if (h == HandshakeStatus.NEED_TASK) {
                runTasks();
            } else if (h == HandshakeStatus.NEED_WRAP) {
                writeLock.lock();
                try {
                    while (engine.getHandshakeStatus() == HandshakeStatus.NEED_WRAP) {
                        if (netOut.remaining() < packetSize) {
                            flushNet();
                        }
                        SSLEngineResult r = engine.wrap(EMPTY, netOut);
                        if (r.bytesProduced() == 0) {
                            break;
                        }
                    }
                    flushNet();
                } catch (SSLException e) {
                    throw new ChannelException(ChannelException.Kind.ERROR, 0, "TLS: " + e.getMessage());
                } finally {
                    writeLock.unlock();
                }
                return;
            } else {
                return;
            }
        }
    }


    @Override
    public void writeFully(MemorySegment... bufs) {
        ByteBuffer[] src = new ByteBuffer[bufs.length];
        for (int i = 0; i < bufs.length; i++) {
            src[i] = bufs[i].asByteBuffer();
        }
        writeLock.lock();
        try {
            int i = 0;
            for (;;) {
                while (i < src.length && !src[i].hasRemaining()) {
                    i++;
                }
                if (i == src.length) {
                    break;
                }
                if (netOut.remaining() < packetSize) {
                    flushNet();
                }
                SSLEngineResult r = engine.wrap(src, i, src.length - i, netOut);
                switch (r.getStatus()) {
                    case OK -> {
                        if (r.getHandshakeStatus() == HandshakeStatus.NEED_TASK) {
                            runTasks();
                        } else if (r.bytesConsumed() == 0 && r.bytesProduced() == 0) {
                            throw new ChannelException(ChannelException.Kind.ERROR, 0,
                                    "TLS: no progress writing (renegotiation is not supported)");
                        }
                    }
                    case BUFFER_OVERFLOW -> {
                        if (netOut.position() == 0) {
                            throw new ChannelException(ChannelException.Kind.ERROR, 0,
                                    "TLS record larger than the network buffer");
                        }
                        flushNet();
                    }
                    case CLOSED -> throw new ChannelException(ChannelException.Kind.CLOSED, 0,
                            "write on a closed TLS session");
                    case BUFFER_UNDERFLOW -> throw new AssertionError("wrap reported BUFFER_UNDERFLOW");
                }
            }
            flushNet();
        } catch (SSLException e) {
            throw new ChannelException(ChannelException.Kind.ERROR, 0, "TLS: " + e.getMessage());
        } finally {
            writeLock.unlock();
        }
    }

    /**
     * Reads the file range (pread on this thread: the file must not block, as for
     * {@link CoSocket#sendFile}) and writes it through the session in 64 KiB pieces. Called by
     * one writer at a time (the connection's {@code flushing} flag).
     */
    @Override
    public void sendFile(int fileFd, long offset, long count) {
        if (fileBuf == null) {
            fileBuf = arena.allocate(FILE_CHUNK, 4096);
        }
        long done = 0;
        while (done < count) {
            long want = Math.min(FILE_CHUNK, count - done);
            long n = FileSys.pread(fileFd, fileBuf.address(), want, offset + done);
            if (n < 0) {
                throw new ChannelException(ChannelException.Kind.ERROR, (int) -n, "pread of file fd " + fileFd + ": "
                        + Linux.strerror((int) -n));
            }
            if (n == 0) {
                throw new ChannelException(ChannelException.Kind.EOF, 0, "file fd " + fileFd + " ended at "
                        + (offset + done) + ", " + (count - done) + " bytes short");
            }
            writeFully(fileBuf.asSlice(0, n));
            done += n;
        }
    }

    @Override
    public long waitCount() {
        return sock.waitCount();
    }

    @Override
    public AioContext context() {
        return sock.context();
    }

    @Override
    public void finish() {
        if (sock.isClosed()) {
            return;
        }
        engine.closeOutbound();
        try {
            writeLock.lock();
            try {
                while (!engine.isOutboundDone()) {
                    if (netOut.remaining() < packetSize) {
                        flushNet();
                    }
                    if (engine.wrap(EMPTY, netOut).bytesProduced() == 0) {
                        break;
                    }
                }
                flushNet();
            } finally {
                writeLock.unlock();
            }
        } catch (SSLException | RuntimeException e) {
            LOG.log(System.Logger.Level.DEBUG, "TLS close_notify not sent: {0}", e.getMessage());
        }
    }

    @Override
    public void close() {
        sock.close();
    }

    @Override
    public boolean isClosed() {
        return sock.isClosed();
    }

    @Override
    public void free() {
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }

    @Override
    public String toString() {
        return "TlsTransport[" + sock + "]";
    }
}
