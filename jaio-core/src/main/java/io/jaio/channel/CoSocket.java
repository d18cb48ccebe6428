package io.jaio.channel;

import io.jaio.aio.AioContext;
import io.jaio.coroutine.Coroutine;
import io.jaio.linux.Linux;
import io.jaio.linux.NativeException;
import io.jaio.linux.Sockets;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.Objects;

/**
 * A connected stream socket whose operations suspend the calling coroutine instead of blocking
 * (QEMU's {@code QIOChannelSocket} with {@code qio_channel_yield}). On {@code EAGAIN} the
 * coroutine registers an fd handler on its context and yields; the handler wakes it when the
 * socket is ready. No call ever blocks the loop thread.
 *
 * <p>Threads: every operation runs in a coroutine of the socket's context (its home thread);
 * {@link #close()} may also be called from that thread outside a coroutine. One coroutine may
 * read while another writes; two concurrent readers (or writers) are refused.
 *
 * <pre>{@code
 * Coroutine.create(() -> {
 *     try (CoSocket s = CoSocket.connect(UnixDomainSocketAddress.of("/run/echo.sock"))) {
 *         s.writeFully(request);
 *         s.readFully(reply);
 *     }
 * }).enter();
 * }</pre>
 */
public final class CoSocket implements AutoCloseable {
    private static final int MAX_IOV = 64;

    private final AioContext ctx;
    private final int fd;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment iov = arena.allocate(Sockets.IOVEC_SIZE * MAX_IOV, 8);
    // Home thread only.
    private Coroutine readWaiter;
    private Coroutine writeWaiter;
    private boolean closed;
    private boolean readArmed;
    private boolean writeArmed;
    private long waits;
    private final Runnable onReadable = this::restartRead;
    private final Runnable onWritable = this::restartWrite;
    private CoSocket(AioContext ctx, int fd) {
        this.ctx = ctx;
        this.fd = fd;
    }

    /**
     * Wraps a connected non-blocking socket fd; the socket owns it from now on. Home thread of
     * {@code ctx}.
     *
     * @param ctx the context whose loop wakes the socket's coroutines
     * @param fd a connected, non-blocking socket
     * @return the socket
     */
    public static CoSocket wrap(AioContext ctx, int fd) {
        Objects.requireNonNull(ctx, "ctx");
        if (fd < 0) {
            throw new IllegalArgumentException("fd must be >= 0, got " + fd);
        }
        return new CoSocket(ctx, fd);
    }

    /**
     * Connects to {@code addr} (TCP over IPv4/IPv6, or a Unix socket), suspending the calling
     * coroutine until the connection is established. TCP sockets get {@code TCP_NODELAY}.
     * Coroutine only.
     *
     * @param addr the peer's address
     * @return the connected socket, on the calling coroutine's context
     * @throws ChannelException if the connection fails (e.g. ECONNREFUSED)
     */
    public static CoSocket connect(SocketAddress addr) {
        AioContext ctx = requireCoroutineContext("connect");
        int fd = Sockets.socket(Sockets.family(addr));
        CoSocket s = new CoSocket(ctx, fd);
        boolean ok = false;
        try {
            if (addr instanceof InetSocketAddress) {
                Sockets.setIntOption(fd, Sockets.IPPROTO_TCP, Sockets.TCP_NODELAY, 1);
            }
            int r = Sockets.connect(fd, addr);
            if (r == -Sockets.EINPROGRESS || r == -Linux.EAGAIN) {
                s.waitFor(false);
                r = -Sockets.soError(fd);
            }
            if (r < 0) {
                throw error("connect to " + addr, -r);
            }
            ok = true;
            return s;
        } finally {
            if (!ok) {
                s.close();
            }
        }
    }

    private static AioContext requireCoroutineContext(String op) {
        if (!Coroutine.inCoroutine()) {
            throw new IllegalStateException(op + " must run in a coroutine");
        }
        AioContext ctx = Coroutine.currentContext();
        if (ctx == null) {
            throw new IllegalStateException(op + ": the coroutine's thread has no AioContext");
        }
        return ctx;
    }

    /** {@return the fd (for diagnostics and socket options)} Any thread. */
    public int fd() {
        return fd;
    }

    /**
     * How many times an operation on this socket has suspended its coroutine to wait for the
     * socket (read, write or connect). A caller that sees it unchanged across work knows it never
     * waited (e.g. to yield to other work after a long run). Home thread.
     *
     * @return the number of waits so far
     */
    public long waitCount() {
        return waits;
    }

    /** {@return the context whose loop wakes this socket's coroutines} Any thread. */
    public AioContext context() {
        return ctx;
    }

    /** {@return the peer credentials of a Unix socket: {pid, uid, gid}} Home thread. */
    public int[] peerCredentials() {
        checkOpen("peerCredentials");
        return Sockets.peerCredentials(fd);
    }

    /** {@return the local address} Home thread. */
    public SocketAddress localAddress() {
        checkOpen("localAddress");
        return Sockets.localAddress(fd);
    }

    /**
     * Reads at most {@code buf.byteSize()} bytes into native memory, suspending until at least one
     * byte or EOF arrives. Returns the count, or -1 at EOF. Coroutine only.
     *
     * @param buf the destination
     * @return bytes read, or -1 at EOF
     * @throws ChannelException on reset or failure, or if closed
     */
    public int read(MemorySegment buf) {
        for (;;) {
            checkOpen("read");
            long n = Linux.read(fd, buf, buf.byteSize());
            if (n > 0) {
                return (int) n;
            }
            if (n == 0) {
                return buf.byteSize() == 0 ? 0 : -1;
            }
            if (n != -Linux.EAGAIN) {
                throw error("read", (int) -n);
            }
            waitFor(true);
        }
    }

    /**
     * Reads exactly {@code buf.byteSize()} bytes. Coroutine only.
     *
     * @param buf the destination, filled completely
     * @throws ChannelException of kind EOF if the peer closes first (the message gives the count)
     */
    public void readFully(MemorySegment buf) {
        long done = 0;
        long want = buf.byteSize();
        while (done < want) {
            int n = read(buf.asSlice(done));
            if (n < 0) {
                throw new ChannelException(ChannelException.Kind.EOF, 0,
                        "unexpected end of stream after " + done + " of " + want + " bytes");
            }
            done += n;
        }
    }

    /**
     * Writes from {@code bufs} in order (one gathering {@code writev}), suspending while the socket
     * buffer is full; returns how many bytes were written (at least one unless all are empty).
     * Coroutine only.
     *
     * @param bufs the data, written in order
     * @return bytes written
     */
    public long write(MemorySegment... bufs) {
        checkOpen("write"); // before the iovec: a closed socket's arena is gone
        int cnt = Math.min(bufs.length, MAX_IOV);
        long total = 0;
        for (int i = 0; i < cnt; i++) {
            Sockets.iovec(iov, i, bufs[i]);
            total += bufs[i].byteSize();
        }
        if (total == 0) {
            return 0;
        }
        for (;;) {
            checkOpen("write");
            long n = Sockets.writev(fd, iov, cnt);
            if (n >= 0) {
                return n;
            }
            if (n != -Linux.EAGAIN) {
                throw error("write", (int) -n);
            }
            waitFor(false);
        }
    }

    /**
     * Writes every byte of {@code bufs}, in order. Coroutine only.
     *
     * @param bufs the data
     */
    public void writeFully(MemorySegment... bufs) {
        MemorySegment[] rest = bufs;
        for (;;) {
            long n = write(rest);
            // Drop what was written; keep the unwritten tail of the first partly written buffer.
            int i = 0;
            while (i < rest.length && n >= rest[i].byteSize()) {
                n -= rest[i].byteSize();
                i++;
            }
            if (i == rest.length) {
                return;
            }
            MemorySegment[] next = new MemorySegment[rest.length - i];
            System.arraycopy(rest, i, next, 0, next.length);
            next[0] = next[0].asSlice(n);
            rest = next;
        }
    }

    /**
     * Sends {@code count} bytes of file {@code fileFd} from {@code offset} with {@code sendfile(2)}
     * (the kernel moves page references, not copies, where the file system allows it), suspending
     * while the socket buffer is full. The file must not block a read (page cache or memory-backed
     * files): the call runs on the loop thread. Coroutine only.
     *
     * @param fileFd the source file (its file position is neither used nor moved)
     * @param offset where in the file to start
     * @param count bytes to send
     * @throws ChannelException on failure, or of kind EOF if the file ends before {@code count} bytes
     */
    public void sendFile(int fileFd, long offset, long count) {
        long done = 0;
        while (done < count) {
            checkOpen("sendFile");
            long n = Sockets.sendfile(fd, fileFd, offset + done, count - done);
            if (n > 0) {
                done += n;
            } else if (n == 0) {
                throw new ChannelException(ChannelException.Kind.EOF, 0, "sendfile: file fd " + fileFd
                        + " ended at " + (offset + done) + ", " + (count - done) + " bytes short");
            } else if (n == -Linux.EAGAIN) {
                waitFor(false);
            } else {
                throw error("sendfile", (int) -n);
            }
        }
    }

    /** Half-closes the connection for writing (the peer reads EOF). Home thread. */
    public void shutdownOutput() {
        checkOpen("shutdownOutput");
        Sockets.shutdown(fd, Sockets.SHUT_WR);
    }

    // ---- waiting (QEMU's qio_channel_yield / qio_channel_restart_read/write) ----
    //
    // QEMU registers the fd handler when a coroutine yields and removes it when it is woken. Here
    // the registration stays while the socket keeps waiting in the same direction: a receive
    // loop that reads, processes and waits again does not re-register (on io_uring that saved a
    // POLL_REMOVE and a POLL_ADD per request). Interest is dropped lazily, the first time the
    // handler fires with nobody waiting (level-triggered readiness would otherwise call it on
    // every loop iteration). readArmed/writeArmed mirror the registered callbacks. Home thread.

    private void waitFor(boolean read) {
        if (!Coroutine.inCoroutine()) {
            throw new IllegalStateException("blocking socket operation outside a coroutine (socket fd " + fd + ")");
        }
        Coroutine self = Coroutine.self();
        waits++;
        if (read) {
            if (readWaiter != null) {
                throw new IllegalStateException("two coroutines reading socket fd " + fd + " at once");
            }
            readWaiter = self;
            setInterest(true, writeArmed);
        } else {
            if (writeWaiter != null) {
                throw new IllegalStateException("two coroutines writing socket fd " + fd + " at once");
            }
            writeWaiter = self;
            setInterest(readArmed, true);
        }
        Coroutine.yield();
        // Woken by the handler (which cleared the waiter) or by close().
    }

    private void setInterest(boolean read, boolean write) {
        if (closed || (read == readArmed && write == writeArmed)) {
            return;
        }
        readArmed = read;
        writeArmed = write;
        // Edge-triggered: every wait follows an EAGAIN, so one report per arrival is enough (on
        // io_uring one multishot POLL_ADD serves all the waits of a registration). A socket
        // cannot be polled without the kernel, so busy polling watches it through the monitor
        // (POLL_READINESS): free on io_uring, a zero-timeout ppoll/epoll_wait per round on the
        // others. Its polling time then grows when data follows quickly, where QEMU's sockets
        // have no io_poll and turn polling off.
        ctx.setEdgeFdHandler(fd, read ? onReadable : null, write ? onWritable : null,
                read || write ? AioContext.POLL_READINESS : null, null);
    }

    private void restartRead() {
        Coroutine co = readWaiter;
        if (co == null) {
            setInterest(false, writeArmed); // nobody waits: stop watching until someone does
            return;
        }
        readWaiter = null;
        co.wake();
    }

    private void restartWrite() {
        Coroutine co = writeWaiter;
        if (co == null) {
            setInterest(readArmed, false);
            return;
        }
        writeWaiter = null;
        co.wake();
    }

    private void checkOpen(String op) {
        if (closed) {
            throw new ChannelException(ChannelException.Kind.CLOSED, 0, op + " on a closed socket (fd " + fd + ")");
        }
    }

    private static ChannelException error(String op, int errno) {
        ChannelException.Kind kind = errno == Sockets.ECONNRESET || errno == Sockets.EPIPE
                ? ChannelException.Kind.RESET : ChannelException.Kind.ERROR;
        return new ChannelException(kind, errno, op + ": " + Linux.strerror(errno) + " (errno " + errno + ")");
    }

    /**
     * Closes the socket. A coroutine waiting on it is woken (through the context's co-schedule
     * bottom half) and its operation throws {@link ChannelException} of kind CLOSED; the fd is
     * released at once. Idempotent. Home thread.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        ctx.setFdHandler(fd, null, null, null, null);
        Coroutine r = readWaiter;
        Coroutine w = writeWaiter;
        readWaiter = writeWaiter = null;
        try {
            // End the connection now: with io_uring a withdrawn poll request holds the file until
            // the loop's next wait, and close() alone would delay the peer's EOF until then.
            Sockets.shutdown(fd, Sockets.SHUT_RDWR);
            Linux.close(fd);
        } catch (NativeException e) {
            System.getLogger("io.jaio.channel").log(System.Logger.Level.WARNING, "closing socket fd {0}: {1}",
                    fd, e.getMessage());
        }
        arena.close();
        // Through the co-schedule BH, not entered from here: the woken operation throws CLOSED,
        // and that must surface in the waiting coroutine, not in the caller of close().
        if (r != null) {
            Coroutine.schedule(ctx, r);
        }
        if (w != null && w != r) {
            Coroutine.schedule(ctx, w);
        }
    }

    /**
     * Gives up the fd without closing it and returns it, so another context can wrap it (e.g. a
     * listener handing a new connection to another IOThread, or an NBD connection moving to its
     * export's IOThread after the handshake). Allowed while no coroutine waits on it; interest
     * left registered by earlier waits (it is dropped lazily) is withdrawn here. The socket is
     * closed to further use. Home thread.
     *
     * @return the fd, now the caller's
     * @throws IllegalStateException if closed, or if a coroutine waits
     */
    public int release() {
        checkOpen("release");
        if (readWaiter != null || writeWaiter != null) {
            throw new IllegalStateException("socket fd " + fd + " has a waiting coroutine; cannot release it");
        }
        setInterest(false, false);
        closed = true;
        arena.close();
        return fd;
    }

    /** {@return whether {@link #close()} or {@link #release()} ran} Home thread. */
    public boolean isClosed() {
        return closed;
    }

    @Override
    public String toString() {
        return "CoSocket[fd=" + fd + (closed ? ", closed" : "") + "]";
    }
}
