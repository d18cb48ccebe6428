package io.jaio.channel;

import io.jaio.aio.AioContext;
import io.jaio.coroutine.Coroutine;
import io.jaio.linux.Linux;
import io.jaio.linux.NativeException;
import io.jaio.linux.Sockets;

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * A listening socket that accepts through an fd handler and serves each connection in a
 * coroutine of its own (QEMU's {@code QIONetListener} role). The per-connection coroutine runs
 * {@code handler}, then closes the socket; an exception thrown by the handler is logged and
 * counted, and ends only that connection.
 *
 * <p>Threads: create and close in the context's home thread.
 */
public final class CoListener implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger("io.jaio.channel");

    private final AioContext ctx;
    private final int fd;
    private final SocketAddress address;
    private final Consumer<CoSocket> handler;
    private final boolean tcp;
    private long accepted;
    private long failed;
    private boolean closed;

    private CoListener(AioContext ctx, int fd, SocketAddress address, Consumer<CoSocket> handler, boolean tcp) {
        this.ctx = ctx;
        this.fd = fd;
        this.address = address;
        this.handler = handler;
        this.tcp = tcp;
    }

    /**
     * Binds {@code addr} (TCP with SO_REUSEADDR, or a Unix socket path that must not exist),
     * listens and starts accepting in {@code ctx}. Home thread of {@code ctx}.
     *
     * @param ctx the context whose loop accepts and runs the handlers
     * @param addr the address to listen on (TCP port 0: an ephemeral port, see {@link #address()})
     * @param backlog the pending-connection queue length
     * @param handler called in a new coroutine of {@code ctx} for every accepted connection
     * @return the listener; close it to stop accepting
     * @throws NativeException if the address cannot be bound
     */
    public static CoListener listen(AioContext ctx, SocketAddress addr, int backlog, Consumer<CoSocket> handler) {
        Objects.requireNonNull(ctx, "ctx");
        Objects.requireNonNull(handler, "handler");
        if (!ctx.isHomeThread()) {
            throw new IllegalStateException("CoListener.listen must run in the home thread of context " + ctx.name());
        }
        boolean tcp = addr instanceof InetSocketAddress;
        int fd = Sockets.socket(Sockets.family(addr));
        try {
            if (tcp) {
                Sockets.setIntOption(fd, Sockets.SOL_SOCKET, Sockets.SO_REUSEADDR, 1);
            }
            Sockets.bind(fd, addr);
            Sockets.listen(fd, backlog);
            CoListener l = new CoListener(ctx, fd, tcp ? Sockets.localAddress(fd) : addr, handler, tcp);
            ctx.setFdHandler(fd, l::acceptAll, null, AioContext.POLL_READINESS, null);
            return l;
        } catch (RuntimeException e) {
            Linux.close(fd);
            throw e;
        }
    }

    /**
     * Accepts on {@code fd}, a socket that is already bound and listening (systemd socket
     * activation hands such fds over); it is made non-blocking and is closed by {@link #close()}.
     * Home thread of {@code ctx}.
     *
     * @param ctx the context whose loop accepts and runs the handlers
     * @param fd a bound, listening socket; the listener owns it from now on
     * @param handler called in a new coroutine of {@code ctx} for every accepted connection
     * @return the listener
     * @throws NativeException if {@code fd} is not a socket
     */
    public static CoListener adopt(AioContext ctx, int fd, Consumer<CoSocket> handler) {
        Objects.requireNonNull(ctx, "ctx");
        Objects.requireNonNull(handler, "handler");
        if (!ctx.isHomeThread()) {
            throw new IllegalStateException("CoListener.adopt must run in the home thread of context " + ctx.name());
        }
        SocketAddress addr = Sockets.localAddress(fd);
        Linux.fcntl(fd, Linux.F_SETFL, Linux.fcntl(fd, Linux.F_GETFL, 0) | Linux.O_NONBLOCK);
        CoListener l = new CoListener(ctx, fd, addr, handler, addr instanceof InetSocketAddress);
        ctx.setFdHandler(fd, l::acceptAll, null, AioContext.POLL_READINESS, null);
        return l;
    }

    /** {@return the bound address (with the real port if 0 was asked for)} */
    public SocketAddress address() {
        return address;
    }

    /** {@return the number of connections accepted so far} Home thread. */
    public long acceptedCount() {
        return accepted;
    }

    /** {@return the number of connections whose handler threw} Home thread. */
    public long failedCount() {
        return failed;
    }

    private void acceptAll() {
        while (!closed) {
            int c = Sockets.accept(fd);
            if (c < 0) {
                if (c != -Linux.EAGAIN) {
                    LOG.log(System.Logger.Level.WARNING, "accept on {0}: {1}", address, Linux.strerror(-c));
                }
                return;
            }
            accepted++;
            if (tcp) {
                Sockets.setIntOption(c, Sockets.IPPROTO_TCP, Sockets.TCP_NODELAY, 1);
            }
            CoSocket s = CoSocket.wrap(ctx, c);
            Coroutine.enterIn(ctx, Coroutine.create(() -> serve(s)));
        }
    }

    private void serve(CoSocket s) {
        try {
            handler.accept(s);
        } catch (ChannelException e) {
            LOG.log(System.Logger.Level.DEBUG, "connection on {0} ended: {1}", address, e.getMessage());
        } catch (RuntimeException | Error e) {
            failed++;
            LOG.log(System.Logger.Level.WARNING, "connection handler on " + address + " failed", e);
        } finally {
            s.close();
        }
    }

    /** Stops accepting and closes the listening fd (open connections are not touched). Home thread. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        ctx.setFdHandler(fd, null, null, null, null);
        // Stop listening now: with io_uring the withdrawn poll request still holds the file until
        // the loop's next wait, and close() alone would leave the socket accepting until then.
        Sockets.shutdown(fd, Sockets.SHUT_RDWR);
        Linux.close(fd);
    }
}
