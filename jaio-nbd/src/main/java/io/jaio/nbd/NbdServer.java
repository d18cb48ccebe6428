package io.jaio.nbd;

import io.jaio.aio.AioContext;
import io.jaio.channel.CoListener;
import io.jaio.channel.CoSocket;
import io.jaio.coroutine.CoQueue;
import io.jaio.coroutine.Coroutine;

import java.io.IOException;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * An NBD server (QEMU's {@code nbd/server.c} role): a set of {@link NbdExport}s served over
 * any number of listening sockets (Unix or TCP) in one {@link AioContext}, one coroutine per
 * connection and one per request. Requests on a connection run concurrently and their replies
 * may go out of order; many connections may use one export (multi-conn). To serve an export
 * from several IOThreads, build one server per IOThread (each with its own backends) and let
 * one of them listen with {@link #listen(SocketAddress, List)}: it spreads the connections.
 *
 * <pre>{@code
 * IoThread io = IoThread.start("nbd");
 * NbdServer server = NbdServer.builder(io.context())
 *         .export(NbdExport.builder("disk0", backend).build())
 *         .build();
 * server.listen(UnixDomainSocketAddress.of("/run/jaio/nbd.sock"));   // any thread
 * server.listen(new InetSocketAddress(10809));
 * ...
 * server.shutdown().join();   // stop accepting, finish requests, flush, disconnect
 * }</pre>
 *
 * <p>Shutdown ({@link #shutdown()}): the listeners close at once; requests received from then on
 * are answered with ESHUTDOWN (options with NBD_REP_ERR_SHUTDOWN); requests already running
 * finish and are answered; writable exports are flushed; then every connection is closed and
 * the returned future completes. Backends are not closed: they belong to the caller.
 *
 * <p>Threads: {@link #builder}, {@link #listen}, {@link #serveFd}, {@link #shutdown}, {@link #stats},
 * {@link #exports} and {@link #close} from any thread ({@code listen} and {@code close} block
 * until the context's home thread has done the work, so not from that thread);
 * {@link #serve(CoSocket)} in the home thread. Every backend must be usable from the server's
 * context (its home thread runs every request).
 */
public final class NbdServer implements AutoCloseable {
    /*
     * Implementation overview.
     *
     * State (home thread only, except where noted): `exports` (volatile, copy-on-write),
     * `shuttingDown` (volatile: read by stats and other threads), `listeners`, `connections`,
     * `executing` (requests that passed their check and have not finished, over all
     * connections). Each connection is an NbdConnection run by serve().
     *
     * Shutdown (doShutdown, home thread):
     *  1. shuttingDown = true: checks answer ESHUTDOWN, handshakes answer ERR_SHUTDOWN.
     *  2. Close every listener (and remove its Unix socket file).
     *  3. In a coroutine: wait until executing == 0; flush each writable export; abort every
     *     connection (its receive loop wakes with CLOSED, drains and returns); wait until no
     *     connection is left; free the buffer pool; complete the future.
     */

    private static final System.Logger LOG = System.getLogger("io.jaio.nbd");
    /** Default byte budget of the I/O buffer pool. */
    public static final long DEFAULT_BUFFER_BUDGET = 128L << 20;
    /** Default most requests in flight per connection before the server stops reading it. */
    public static final int DEFAULT_MAX_INFLIGHT = 128;

    private final AioContext ctx;
    private volatile Map<String, NbdExport> exports;
    private final NbdStats.Counters counters = new NbdStats.Counters();
    private final BufferPool pool;
    private final int maxInflight;
    private final List<CoListener> listeners = new ArrayList<>();
    private final List<UnixDomainSocketAddress> unixPaths = new ArrayList<>();
    private final Set<NbdConnection> connections = new java.util.LinkedHashSet<>();
    private final CoQueue quiesced = new CoQueue();
    private volatile boolean shuttingDown;
    private CompletableFuture<Void> shutdownFuture;
    private int executing;
    private long nextConnectionId;
    private final NbdHandshake.Catalog catalog = new NbdHandshake.Catalog() {
        @Override
        public NbdExport find(String name) {
            return NbdServer.this.find(name);
        }

        @Override
        public Collection<NbdExport> all() {
            return exports.values();
        }

        @Override
        public boolean shuttingDown() {
            return shuttingDown;
        }
    };

    private NbdServer(Builder b) {
        this.ctx = b.ctx;
        this.exports = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(b.exports));
        this.pool = new BufferPool(b.bufferBudget);
        this.maxInflight = b.maxInflight;
    }

    /** A builder for a server running in {@code ctx}. Any thread. */
    public static Builder builder(AioContext ctx) {
        return new Builder(ctx);
    }

    /** The context every connection and request runs in. Any thread. */
    public AioContext context() {
        return ctx;
    }

    /** The exports, in the order NBD_OPT_LIST shows them. Any thread. */
    public List<NbdExport> exports() {
        return List.copyOf(exports.values());
    }

    /**
     * Adds an export (visible to handshakes that start afterwards). Any thread.
     *
     * @throws IllegalArgumentException if an export of that name exists
     */
    public synchronized void addExport(NbdExport export) {
        Objects.requireNonNull(export, "export");
        if (exports.containsKey(export.name())) {
            throw new IllegalArgumentException("export '" + export.name() + "' exists");
        }
        LinkedHashMap<String, NbdExport> m = new LinkedHashMap<>(exports);
        m.put(export.name(), export);
        exports = java.util.Collections.unmodifiableMap(m);
    }

    /**
     * The export called {@code name}; the empty name is the export named "" if there is one,
     * else the only export when there is exactly one (so {@code nbd://host/} works with a
     * single named export, as with qemu-nbd). Any thread.
     */
    public NbdExport find(String name) {
        Map<String, NbdExport> m = exports;
        NbdExport e = m.get(name);
        if (e == null && name.isEmpty() && m.size() == 1) {
            e = m.values().iterator().next();
        }
        return e;
    }

    /** Counters of connections, requests (per command), errors and bytes. Any thread. */
    public NbdStats stats() {
        return counters.snapshot();
    }

    /** Whether {@link #shutdown()} was called. Any thread. */
    public boolean isShuttingDown() {
        return shuttingDown;
    }

    /**
     * Binds {@code addr} (a Unix socket path that must not exist, or a TCP address; TCP
     * connections get TCP_NODELAY) and starts accepting; returns the bound address (with the
     * real port for port 0). Any thread but the home thread blocks until it is done.
     *
     * @throws IllegalStateException if the server is shutting down
     * @throws io.jaio.linux.NativeException if the address cannot be bound
     */
    public SocketAddress listen(SocketAddress addr) {
        return listen(addr, List.of(this));
    }

    /**
     * {@link #listen(SocketAddress)}, with the accepted connections spread round-robin over
     * {@code servers} (which may include this one): a connection for another server leaves this
     * context at once ({@link CoSocket#release()}) and that server adopts it ({@link #serveFd})
     * and runs it, and all its requests, in its own context. That is how one export is served by
     * several IOThreads: one server per IOThread, each with the same exports over its own
     * backends. Any thread; blocks until bound unless called in the home thread.
     *
     * @throws IllegalArgumentException if {@code servers} is empty
     */
    public SocketAddress listen(SocketAddress addr, List<NbdServer> servers) {
        Objects.requireNonNull(addr, "addr");
        List<NbdServer> targets = List.copyOf(servers);
        if (targets.isEmpty()) {
            throw new IllegalArgumentException("servers must not be empty");
        }
        return ctx.callOnHomeThread("nbd-server-listen", () -> {
            if (shuttingDown) {
                throw new IllegalStateException("NBD server is shutting down");
            }
            long[] next = {0}; // home thread only: the listener's accept handler runs here
            CoListener l = CoListener.listen(ctx, addr, 128, sock -> {
                NbdServer t = targets.get((int) Long.remainderUnsigned(next[0]++, targets.size()));
                if (t == this) {
                    handle(sock);
                } else {
                    t.serveFd(sock.release());
                }
            });
            listeners.add(l);
            if (addr instanceof UnixDomainSocketAddress u) {
                unixPaths.add(u);
            }
            LOG.log(System.Logger.Level.INFO, "NBD server listening on {0} ({1} export(s))", l.address(),
                    exports.size());
            return l.address();
        });
    }

    /**
     * Serves an already connected socket (socket activation, or a socket pair) in a new
     * coroutine; the server closes it when the connection ends. Home thread.
     */
    public void serve(CoSocket socket) {
        Objects.requireNonNull(socket, "socket");
        if (!ctx.isHomeThread()) {
            throw new IllegalStateException("NbdServer.serve must run in the home thread of " + ctx.name());
        }
        Coroutine.enterIn(ctx, Coroutine.create(() -> handle(socket)));
    }

    /**
     * Adopts a connected non-blocking socket fd (from a listener of another server, or socket
     * activation) and serves it in a new coroutine of this server's context; the server closes it
     * when the connection ends. Any thread.
     *
     * @throws IllegalStateException if this server's context is closed (the fd is closed too)
     */
    public void serveFd(int fd) {
        if (fd < 0) {
            throw new IllegalArgumentException("fd must be >= 0, got " + fd);
        }
        try {
            ctx.scheduleOneshot("nbd-adopt", () -> {
                CoSocket s = CoSocket.wrap(ctx, fd);
                Coroutine.enterIn(ctx, Coroutine.create(() -> {
                    try {
                        handle(s);
                    } finally {
                        s.close();
                    }
                }));
            });
        } catch (RuntimeException e) {
            io.jaio.linux.Linux.close(fd);
            throw e;
        }
    }

    /** A connection's coroutine (from a listener or serve()). */
    private void handle(CoSocket socket) {
        assert ctx.isHomeThread() : "NBD connection outside the server's home thread";
        if (shuttingDown) {
            socket.close();
            return;
        }
        NbdConnection c = new NbdConnection(this, socket, pool, maxInflight, ++nextConnectionId);
        connections.add(c);
        counters.connectionOpened();
        try {
            c.serve();
        } finally {
            connections.remove(c);
            counters.connectionClosed();
            quiesced.restartAll();
        }
    }

    NbdHandshake.Catalog catalog() {
        return catalog;
    }

    NbdStats.Counters counters() {
        return counters;
    }

    /** A request passed its check and runs now. Home thread. */
    void requestStarted() {
        assert ctx.isHomeThread();
        executing++;
    }

    /** A request counted by {@link #requestStarted} has been answered. Home thread. */
    void requestFinished() {
        assert ctx.isHomeThread();
        if (--executing == 0) {
            quiesced.restartAll();
        }
    }

    /**
     * Starts an orderly shutdown (see the class comment) and returns a future that completes
     * once every connection is closed. Idempotent. Any thread.
     */
    public CompletableFuture<Void> shutdown() {
        CompletableFuture<CompletableFuture<Void>> f = new CompletableFuture<>();
        Runnable r = () -> {
            try {
                f.complete(doShutdown());
            } catch (Throwable t) {
                f.completeExceptionally(t);
            }
        };
        if (ctx.isHomeThread()) {
            r.run();
        } else {
            ctx.scheduleOneshot("nbd-server-shutdown", r);
        }
        return f.thenCompose(x -> x);
    }

    private CompletableFuture<Void> doShutdown() {
        assert ctx.isHomeThread();
        if (shutdownFuture != null) {
            return shutdownFuture;
        }
        CompletableFuture<Void> done = new CompletableFuture<>();
        shutdownFuture = done;
        shuttingDown = true;
        LOG.log(System.Logger.Level.INFO, "NBD server shutting down: {0} connection(s), {1} request(s) running",
                connections.size(), executing);
        for (CoListener l : listeners) {
            l.close();
        }
        listeners.clear();
        for (UnixDomainSocketAddress u : unixPaths) {
            try {
                Files.deleteIfExists(u.getPath());
            } catch (IOException e) {
                LOG.log(System.Logger.Level.WARNING, "removing socket {0}: {1}", u.getPath(), e.getMessage());
            }
        }
        unixPaths.clear();
        Coroutine.enterIn(ctx, Coroutine.create(() -> {
            try {
                while (executing > 0) {
                    quiesced.await(null);
                }
                for (NbdExport e : exports.values()) {
                    if (!e.isReadOnly()) {
                        try {
                            e.backend().flush();
                        } catch (RuntimeException ex) {
                            LOG.log(System.Logger.Level.WARNING, "flushing export ''{0}'' at shutdown: {1}",
                                    e.name(), ex.getMessage());
                        }
                    }
                }
                for (NbdConnection c : List.copyOf(connections)) {
                    c.abort();
                }
                while (!connections.isEmpty()) {
                    quiesced.await(null);
                }
                pool.close();
                LOG.log(System.Logger.Level.INFO, "NBD server stopped: {0}", counters.snapshot());
                done.complete(null);
            } catch (Throwable t) {
                done.completeExceptionally(t);
            }
        }));
        return done;
    }

    /** {@link #shutdown()} and wait for it (at most 60 s). Any thread but the home thread. */
    @Override
    public void close() {
        if (ctx.isHomeThread()) {
            throw new IllegalStateException("NbdServer.close() would block the home thread; use shutdown()");
        }
        try {
            shutdown().get(60, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while closing the NBD server", e);
        } catch (ExecutionException e) {
            throw new IllegalStateException("NBD server shutdown failed", e.getCause());
        } catch (TimeoutException e) {
            throw new IllegalStateException("NBD server shutdown did not finish in 60 s", e);
        }
    }

    @Override
    public String toString() {
        return "NbdServer[" + exports.keySet() + (shuttingDown ? ", shutting down" : "") + "]";
    }

    /** Parameters of a new server. */
    public static final class Builder {
        private final AioContext ctx;
        private final LinkedHashMap<String, NbdExport> exports = new LinkedHashMap<>();
        private long bufferBudget = DEFAULT_BUFFER_BUDGET;
        private int maxInflight = DEFAULT_MAX_INFLIGHT;

        private Builder(AioContext ctx) {
            this.ctx = Objects.requireNonNull(ctx, "ctx");
        }

        /** Adds an export; names must be unique. */
        public Builder export(NbdExport export) {
            Objects.requireNonNull(export, "export");
            if (exports.putIfAbsent(export.name(), export) != null) {
                throw new IllegalArgumentException("export '" + export.name() + "' added twice");
            }
            return this;
        }

        /**
         * Bytes of native I/O buffers the server may hold (request payloads and read data of
         * every connection); requests wait when it is used up. At least 32 MiB + 64 KiB;
         * default {@link #DEFAULT_BUFFER_BUDGET}.
         */
        public Builder bufferBudget(long bytes) {
            if (bytes < (32L << 20) + 65536) {
                throw new IllegalArgumentException("buffer budget must be at least 32 MiB + 64 KiB, got " + bytes);
            }
            this.bufferBudget = bytes;
            return this;
        }

        /** Requests in flight per connection before the server stops reading it; default 128. */
        public Builder maxRequestsPerConnection(int n) {
            if (n < 1) {
                throw new IllegalArgumentException("maxRequestsPerConnection must be >= 1, got " + n);
            }
            this.maxInflight = n;
            return this;
        }

        public NbdServer build() {
            return new NbdServer(this);
        }
    }
}
