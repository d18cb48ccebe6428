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
     *
     * Export removal (doRemove, home thread; removeExport from any thread):
     *  1. Connections past their handshake are in `attached` (attach(), called by the connection
     *     in the same coroutine step that ends its handshake, so none is missed); a non-forced
     *     removal with a user fails here and changes nothing.
     *  2. The export leaves `exports` (new handshakes cannot choose it) and enters `removing`:
     *     its requests are answered ESHUTDOWN, and a handshake that chose it before step 2 and
     *     attaches after it is closed by attach().
     *  3. In a coroutine: wait (removalWait, woken by every finished request and closed
     *     connection) until none of its clients has a request in flight, so every reply already
     *     promised is written; abort those clients and wait until they are gone; flush; complete.
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
    /** TLS credentials (every connection must STARTTLS), or null for plaintext. */
    private final NbdTls tls;
    private final List<CoListener> listeners = new ArrayList<>();
    private final List<UnixDomainSocketAddress> unixPaths = new ArrayList<>();
    private final Set<NbdConnection> connections = new java.util.LinkedHashSet<>();
    /** Connections past their handshake, by the export they use (home thread only). */
    private final Map<NbdConnection, NbdExport> attached = new java.util.HashMap<>();
    /** Exports being removed: their requests are answered ESHUTDOWN (home thread only). */
    private final Set<NbdExport> removing = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
    private final int maxConnections;
    /** The group whose exports this server's handshakes offer (null: only its own). */
    private final NbdServerGroup group;
    /** Clients closed by max-connections: written by the home thread only, read from any (volatile). */
    private volatile long refused;
    private final CoQueue quiesced = new CoQueue();
    /** removeExport waits here for its clients' running requests (woken by each finished request). */
    private final CoQueue removalWait = new CoQueue();
    private volatile boolean shuttingDown;
    private CompletableFuture<Void> shutdownFuture;
    private int executing;
    private long nextConnectionId;
    private final NbdHandshake.Catalog catalog = new NbdHandshake.Catalog() {
        @Override
        public NbdExport find(String name) {
            return group != null ? group.find(name) : NbdServer.this.find(name);
        }

        @Override
        public Collection<NbdExport> all() {
            return group != null ? group.all() : exports.values();
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
        this.tls = b.tls;
        this.maxConnections = b.maxConnections;
        this.group = b.group;
    }

    /**
     * A builder for a server running in {@code ctx}. Any thread.
     *
     * @param ctx the context whose home thread runs every connection and request; the
     *     exports' backends must be usable from it
     * @return a builder with no exports, plaintext, no connection limit and the default buffer
     *     budget and in-flight limit
     * @throws NullPointerException if {@code ctx} is null
     */
    public static Builder builder(AioContext ctx) {
        return new Builder(ctx);
    }

    /** {@return the context every connection and request runs in} Any thread. */
    public AioContext context() {
        return ctx;
    }

    /**
     * {@return this server's exports, in the order NBD_OPT_LIST shows them} An immutable copy;
     * in a group, the instances the group placed here (handshakes offer the group's exports).
     * Any thread.
     */
    public List<NbdExport> exports() {
        return List.copyOf(exports.values());
    }

    /**
     * Adds an export (visible to handshakes that start afterwards). Any thread. Not for a server
     * in a group: its handshakes offer only the group's exports, so add them with
     * {@link NbdServerGroup#addExport}.
     *
     * @param export the export; its backend must be usable from this server's context
     * @throws IllegalArgumentException if an export of that name exists, or {@code export} is
     *     served by another server (until its removal there has ended)
     * @throws IllegalStateException if the server is in a group
     * @throws NullPointerException if {@code export} is null
     */
    public void addExport(NbdExport export) {
        Objects.requireNonNull(export, "export");
        if (group != null) {
            throw new IllegalStateException("export '" + export.name() + "' would never be offered: this server is in"
                    + " an NbdServerGroup, whose handshakes see only the group's exports; add it with"
                    + " NbdServerGroup.addExport");
        }
        place(export);
    }

    /**
     * Adds {@code export} to this server's map: addExport's work, and the group's for each
     * server it places an instance on. Any thread.
     *
     * @throws IllegalArgumentException if an export of that name exists
     */
    synchronized void place(NbdExport export) {
        if (exports.containsKey(export.name())) {
            throw new IllegalArgumentException("export '" + export.name() + "' exists");
        }
        if (!export.claim(this)) {
            throw new IllegalArgumentException("export '" + export.name() + "' is already served by another"
                    + " NbdServer: build one NbdExport per server (its counters and backend belong to one"
                    + " context), or let an NbdServerGroup place one instance per server");
        }
        setExport(export.name(), export);
    }

    /**
     * Copy-on-write: {@link #exports} with {@code name} mapped to {@code export}, or removed if
     * null. Under this object's lock; the volatile write publishes the map to lock-free readers.
     */
    private void setExport(String name, NbdExport export) {
        assert Thread.holdsLock(this);
        LinkedHashMap<String, NbdExport> m = new LinkedHashMap<>(exports);
        if (export == null) {
            m.remove(name);
        } else {
            m.put(name, export);
        }
        exports = java.util.Collections.unmodifiableMap(m);
    }

    /**
     * This server's export called exactly {@code name} (its removal may be under way), or null;
     * unlike {@link #find}, the empty name means only the export named "". Any thread.
     */
    NbdExport exportNamed(String name) {
        return exports.get(name);
    }

    /**
     * Takes {@code export} out of this server's map at once, without draining or flushing it,
     * if it is there: only for an instance no client can be using, one the group placed but
     * never listed (handshakes of a grouped server see only the group's map), or one on a
     * server whose context is closed (nothing runs there any more). Any thread.
     *
     * @return whether it was there
     */
    synchronized boolean drop(NbdExport export) {
        if (exports.get(export.name()) != export) {
            return false;
        }
        setExport(export.name(), null);
        export.release(this);
        return true;
    }

    /**
     * The export called {@code name}; the empty name is the export named "" if there is one,
     * else the only export when there is exactly one (so {@code nbd://host/} works with a
     * single named export, as with qemu-nbd). Any thread.
     *
     * @param name the export name a client asked for
     * @return the export, or null if there is none of that name
     */
    public NbdExport find(String name) {
        Map<String, NbdExport> m = exports;
        NbdExport e = m.get(name);
        if (e == null && name.isEmpty() && m.size() == 1) {
            e = m.values().iterator().next();
        }
        return e;
    }

    /** {@return the pooled buffers lent out now} For tests. Home thread. */
    long pooledBuffersLent() {
        return pool.lentCount();
    }

    /**
     * {@return a snapshot of the counters of connections, requests (per command), errors and
     * bytes} Any thread.
     */
    public NbdStats stats() {
        return counters.snapshot();
    }

    /**
     * {@return the number of clients closed unserved because max-connections was reached}
     * Any thread.
     */
    public long refusedConnections() {
        return refused;
    }

    /** {@return whether {@link #shutdown()} was called} Any thread. */
    public boolean isShuttingDown() {
        return shuttingDown;
    }

    /**
     * Binds {@code addr} (a Unix socket path that must not exist, or a TCP address; TCP
     * connections get TCP_NODELAY) and starts accepting; returns the bound address (with the
     * real port for port 0). Any thread but the home thread blocks until it is done.
     *
     * @param addr a {@link UnixDomainSocketAddress} or an {@link java.net.InetSocketAddress}
     * @return the address bound
     * @throws IllegalStateException if the server is shutting down, its context is closed, or the
     *     caller is interrupted while waiting
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
     * @param addr a {@link UnixDomainSocketAddress} or an {@link java.net.InetSocketAddress}
     * @param servers the servers that take the connections in turn; each must be running (a
     *     connection for a server whose context is closed is dropped)
     * @return the address bound (with the real port for port 0)
     * @throws IllegalArgumentException if {@code servers} is empty
     * @throws IllegalStateException if this server is shutting down, its context is closed, or the
     *     caller is interrupted while waiting
     * @throws io.jaio.linux.NativeException if the address cannot be bound
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
     * Accepts NBD clients on {@code fd}, an already listening socket (systemd socket activation:
     * LISTEN_FDS); the server closes it at shutdown. Returns its bound address. Any thread but
     * the home thread blocks until it is done.
     *
     * @param fd a bound, listening socket; the server closes it at shutdown
     * @return the address {@code fd} is bound to
     * @throws IllegalStateException if the server is shutting down, its context is closed, or the
     *     caller is interrupted while waiting
     * @throws io.jaio.linux.NativeException if {@code fd} is not a socket
     */
    public SocketAddress listenFd(int fd) {
        return ctx.callOnHomeThread("nbd-server-listen-fd", () -> {
            if (shuttingDown) {
                throw new IllegalStateException("NBD server is shutting down");
            }
            CoListener l = CoListener.adopt(ctx, fd, this::handle);
            listeners.add(l);
            LOG.log(System.Logger.Level.INFO, "NBD server accepting on inherited fd {0} ({1})", fd, l.address());
            return l.address();
        });
    }

    /**
     * Serves an already connected socket (socket activation, or a socket pair) in a new
     * coroutine; the server closes it when the connection ends. Home thread of the server's
     * context only.
     *
     * @param socket a connected socket of this server's context
     * @throws IllegalStateException if called outside the home thread
     * @throws NullPointerException if {@code socket} is null
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
     * @param fd a connected stream socket (Unix or TCP); the server owns it from now on
     * @throws IllegalArgumentException if {@code fd} is negative
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
        handle(socket, null);
    }

    /**
     * Adopts a connection whose handshake ran on another server of the group: it is served
     * here from its first request on, with {@code session}'s export being this server's
     * instance. Any thread.
     */
    void adopt(int fd, NbdSession session) {
        try {
            ctx.scheduleOneshot("nbd-adopt-session", () -> {
                CoSocket s = CoSocket.wrap(ctx, fd);
                Coroutine.enterIn(ctx, Coroutine.create(() -> {
                    try {
                        handle(s, session);
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

    private void handle(CoSocket socket, NbdSession moved) {
        assert ctx.isHomeThread() : "NBD connection outside the server's home thread";
        if (shuttingDown) {
            socket.close();
            return;
        }
        if (moved == null && maxConnections > 0
                && (group != null ? group.activeConnections() : connections.size()) >= maxConnections) {
            // QEMU closes such a client before the greeting; so do we (it sees EOF at once).
            refused++; // single writer (home thread); plain ++ on a volatile, read by refusedConnections()
            LOG.log(System.Logger.Level.INFO, "NBD client refused: max-connections {0} reached", maxConnections);
            socket.close();
            return;
        }
        NbdConnection c = new NbdConnection(this, socket, pool, maxInflight, ++nextConnectionId, moved);
        connections.add(c);
        counters.connectionOpened();
        try {
            c.serve();
        } finally {
            connections.remove(c);
            attached.remove(c);
            counters.connectionClosed();
            quiesced.restartAll();
            removalWait.restartAll();
        }
    }

    /**
     * The TLS credentials every connection must use. Any thread.
     *
     * @return the credentials, or null if the server speaks plaintext
     */
    public NbdTls tls() {
        return tls;
    }

    /**
     * A connection finished its handshake ({@code moved}: on another server of the group, which
     * sent it here). In a group, a fresh connection moves to the server the group routes its
     * export to: its fd is released and adopted there, and null is returned (the connection
     * here ends without closing the fd). Otherwise records the connection and returns the
     * session to serve (its export this server's instance), or null (the connection then
     * closes) if the export is being removed, e.g. removed while the handshake's last reply was
     * being written. Home thread.
     */
    NbdSession attach(NbdConnection c, CoSocket sock, boolean tls, NbdSession session, boolean moved) {
        assert ctx.isHomeThread();
        String name = session.export().name();
        if (group != null && !moved) {
            // A TLS connection stays where it was accepted (its SSLEngine and buffers live here).
            Map.Entry<NbdServer, NbdExport> to = tls ? group.routeTo(name, this) : group.route(name);
            if (to == null) {
                LOG.log(System.Logger.Level.INFO, tls
                        ? "NBD TLS client for export ''{0}'' closed: TLS connections are served on the IOThread that"
                                + " accepted them, and the export is not there"
                        : "NBD client for export ''{0}'' closed: the export was removed", name);
                return null;
            }
            NbdSession there = session.withExport(to.getValue());
            if (to.getKey() != this) {
                // The handshake read exactly its own bytes, so nothing of the transmission phase
                // is buffered here: the fd alone carries the connection to the export's IOThread.
                to.getKey().adopt(sock.release(), there);
                return null;
            }
            session = there;
        }
        NbdExport export = session.export();
        if (removing.contains(export) || exports.get(name) != export) {
            LOG.log(System.Logger.Level.INFO, "NBD client for export ''{0}'' closed: the export was removed", name);
            return null;
        }
        attached.put(c, export);
        return session;
    }

    /** Whether requests on {@code export} are refused with ESHUTDOWN: the server or the export goes away. Home thread. */
    boolean isShuttingDown(NbdExport export) {
        return shuttingDown || (!removing.isEmpty() && removing.contains(export));
    }

    /**
     * The clients past their handshake on export {@code name}. Any thread but the home thread
     * blocks until the home thread has counted.
     *
     * @param name the export's name
     * @return the number of clients, 0 if there is no such export
     * @throws IllegalStateException if the context is closed, or the caller is interrupted while
     *     waiting (its interrupt status is kept)
     */
    public int connectionCount(String name) {
        return ctx.callOnHomeThread("nbd-export-clients", () -> {
            int n = 0;
            for (NbdExport e : attached.values()) {
                if (e.name().equals(name)) {
                    n++;
                }
            }
            return n;
        });
    }

    /**
     * Removes export {@code name}: new handshakes no longer see it at once; requests its clients
     * send from now on are answered ESHUTDOWN; once the requests already running have been
     * answered (their replies written), its clients are disconnected and, if writable, the
     * backend is flushed; then the future completes. Nothing acknowledged is lost: every reply
     * sent was for a request that finished on the backend, and the flush follows them all. With
     * {@code force} false and a client connected, nothing changes and the future fails with
     * {@link ExportInUseException}. The backend is not closed: it belongs to the caller. Any
     * thread. Not for a server in a group: remove its exports with
     * {@link NbdServerGroup#removeExport}, which removes every instance and the group's entry.
     *
     * @param name the export's name
     * @param force whether to disconnect the export's clients rather than refuse
     * @return a future that completes when the export is gone and flushed; it fails with
     *     {@link ExportInUseException}, with {@link IllegalArgumentException} if there is no
     *     such export, or with what the flush threw
     * @throws IllegalStateException if the context is closed, or the server is in a group
     */
    public CompletableFuture<Void> removeExport(String name, boolean force) {
        if (group != null) {
            throw new IllegalStateException("this server is in an NbdServerGroup: remove export '" + name
                    + "' with NbdServerGroup.removeExport, or the group keeps offering it");
        }
        return remove(name, force);
    }

    /**
     * The group's removal of its instance here: {@link #removeExport} without the group check,
     * and it never throws. On a closed context nothing runs any more, so there is nothing to
     * drain (and the backend, which belongs to that context, cannot be flushed): the instance is
     * dropped at once and the future fails with an {@link IllegalStateException} saying so.
     * Any thread.
     */
    CompletableFuture<Void> removeInGroup(String name, boolean force) {
        try {
            return remove(name, force);
        } catch (IllegalStateException e) { // scheduleOneshot: the context is closed
            NbdExport export = exports.get(name);
            if (!ctx.isClosed() || export == null) {
                return CompletableFuture.failedFuture(e);
            }
            drop(export);
            LOG.log(System.Logger.Level.WARNING, "NBD export ''{0}'' dropped from a server whose context ''{1}'' is"
                    + " closed (not drained or flushed)", name, ctx.name());
            return CompletableFuture.failedFuture(new IllegalStateException("context '" + ctx.name()
                    + "' is closed: its instance of export '" + name + "' was dropped without a drain or a flush", e));
        }
    }

    /** removeExport's work: the export leaves at once, the rest happens in the home thread. */
    private CompletableFuture<Void> remove(String name, boolean force) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        Runnable r = () -> {
            try {
                doRemove(name, force, done);
            } catch (Throwable t) {
                done.completeExceptionally(t);
            }
        };
        if (ctx.isHomeThread()) {
            r.run();
        } else {
            ctx.scheduleOneshot("nbd-remove-export", r);
        }
        return done;
    }

    /** Thrown (through {@link #removeExport}'s future) when a non-forced removal finds clients. */
    public static final class ExportInUseException extends IllegalStateException {
        private static final long serialVersionUID = 1L;

        ExportInUseException(String message) {
            super(message);
        }
    }

    private void doRemove(String name, boolean force, CompletableFuture<Void> done) {
        assert ctx.isHomeThread();
        NbdExport export = exports.get(name);
        if (export == null) {
            throw new IllegalArgumentException("export '" + name + "' not found");
        }
        List<NbdConnection> users = new ArrayList<>();
        for (Map.Entry<NbdConnection, NbdExport> e : attached.entrySet()) {
            if (e.getValue() == export) {
                users.add(e.getKey());
            }
        }
        if (!force && !users.isEmpty()) {
            throw new ExportInUseException("export '" + name + "' still in use by " + users.size() + " client(s)");
        }
        synchronized (this) { // setExport's copy-on-write, under the same lock as place's
            setExport(name, null);
        }
        removing.add(export);
        LOG.log(System.Logger.Level.INFO, "NBD export ''{0}'' removed ({1} client(s) to disconnect)", name, users.size());
        Coroutine.enterIn(ctx, Coroutine.create(() -> {
            try {
                // Each client's running requests are answered first (new ones get ESHUTDOWN),
                // then its connection ends (abort wakes the receive loop, which drains and returns).
                while (users.stream().anyMatch(c -> connections.contains(c) && c.inflight() > 0)) {
                    removalWait.await(null);
                }
                for (NbdConnection c : users) {
                    c.abort();
                }
                while (users.stream().anyMatch(connections::contains)) {
                    quiesced.await(null);
                }
                if (!export.isReadOnly()) {
                    export.backend().flush();
                }
                removing.remove(export);
                export.release(this); // before the future: its waiters may place it elsewhere
                done.complete(null);
            } catch (Throwable t) {
                removing.remove(export);
                export.release(this);
                done.completeExceptionally(t);
            }
        }));
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
     * Any request (executed or refused) has been answered: a removal waiting for its clients'
     * in-flight requests looks again. Refused ones count too: a request answered ESHUTDOWN after
     * the last executing one would otherwise leave the removal waiting for ever. Home thread.
     */
    void requestAnswered() {
        if (!removing.isEmpty()) {
            removalWait.restartAll();
        }
    }

    /**
     * Starts an orderly shutdown (see the class comment) and returns a future that completes
     * once every connection is closed. Idempotent. Any thread.
     *
     * @return a future that completes when every connection is closed and the writable exports
     *     are flushed; every call returns a future of the same shutdown
     * @throws IllegalStateException if the context is closed
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

    /**
     * {@link #shutdown()} and wait for it (at most 60 s). Any thread but the home thread.
     *
     * @throws IllegalStateException if called in the home thread, if the shutdown failed or
     *     took longer than 60 s, or if the caller was interrupted (its interrupt status is kept)
     */
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

    /** Parameters of a new server. Not thread-safe: use it from one thread at a time (any thread). */
    public static final class Builder {
        private final AioContext ctx;
        private final LinkedHashMap<String, NbdExport> exports = new LinkedHashMap<>();
        private long bufferBudget = DEFAULT_BUFFER_BUDGET;
        private int maxInflight = DEFAULT_MAX_INFLIGHT;
        private NbdTls tls;
        private int maxConnections;
        private NbdServerGroup group;

        private Builder(AioContext ctx) {
            this.ctx = Objects.requireNonNull(ctx, "ctx");
        }

        /**
         * Adds an export; names must be unique. Not with {@link #group}: a server in a group
         * offers only the group's exports ({@link NbdServerGroup#addExport}).
         *
         * @param export the export; its backend must be usable from the server's context
         * @return this builder
         * @throws IllegalArgumentException if an export of that name was added already
         * @throws NullPointerException if {@code export} is null
         */
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
         *
         * @param bytes the budget in bytes
         * @return this builder
         * @throws IllegalArgumentException if {@code bytes} is below 32 MiB + 64 KiB
         */
        public Builder bufferBudget(long bytes) {
            if (bytes < (32L << 20) + 65536) {
                throw new IllegalArgumentException("buffer budget must be at least 32 MiB + 64 KiB, got " + bytes);
            }
            this.bufferBudget = bytes;
            return this;
        }

        /**
         * Requests executing per connection before the server stops reading it; default
         * {@link #DEFAULT_MAX_INFLIGHT}. Replies built and waiting for the socket have a bound of
         * their own, 4 times this, so a client that never reads replies gets at most 5 times
         * this many requests read ahead (and what its socket holds).
         *
         * @param n the limit, at least 1
         * @return this builder
         * @throws IllegalArgumentException if {@code n} is below 1
         */
        public Builder maxRequestsPerConnection(int n) {
            if (n < 1) {
                throw new IllegalArgumentException("maxRequestsPerConnection must be >= 1, got " + n);
            }
            this.maxInflight = n;
            return this;
        }

        /**
         * Requires TLS with these server credentials on every connection (QEMU's
         * {@code --nbd-server ...,tls-creds=ID}): options other than STARTTLS and ABORT are
         * refused with NBD_REP_ERR_TLS_REQD until the client upgrades. Default: plaintext.
         *
         * @param tls server credentials, or null for plaintext
         * @return this builder
         * @throws IllegalArgumentException if the credentials are not for {@link NbdTls.Endpoint#SERVER}
         */
        public Builder tls(NbdTls tls) {
            if (tls != null && tls.endpoint() != NbdTls.Endpoint.SERVER) {
                throw new IllegalArgumentException("NBD server needs TLS credentials with endpoint=server");
            }
            this.tls = tls;
            return this;
        }

        /**
         * Most clients at once (0, the default: no limit, as QEMU's {@code max-connections});
         * one more is closed before the greeting and counted in {@link NbdServer#refusedConnections()}.
         * In a group the limit applies to the clients of every server of the group.
         *
         * @param n the limit, 0 for none
         * @return this builder
         * @throws IllegalArgumentException if {@code n} is negative
         */
        public Builder maxConnections(int n) {
            if (n < 0) {
                throw new IllegalArgumentException("maxConnections must be >= 0, got " + n);
            }
            this.maxConnections = n;
            return this;
        }

        /**
         * Makes the server part of {@code group}: its handshakes offer the group's exports (and
         * only those: add them with {@link NbdServerGroup#addExport}, not {@link #export}) and
         * move each connection to a server of the export it chose ({@link NbdServerGroup}).
         *
         * @param group the group; {@link #build} adds the server to it
         * @return this builder
         * @throws NullPointerException if {@code group} is null
         */
        public Builder group(NbdServerGroup group) {
            this.group = Objects.requireNonNull(group, "group");
            return this;
        }

        /**
         * Builds the server, and adds it to its group if it has one. It serves the clients
         * given to it by {@link NbdServer#listen}, {@link NbdServer#listenFd},
         * {@link NbdServer#serve} and {@link NbdServer#serveFd}, and those other servers hand
         * over (its group, or {@link NbdServer#listen(SocketAddress, List)}).
         *
         * @return the server
         * @throws IllegalStateException if exports were added to a builder with a group (its
         *     handshakes would never offer them)
         */
        public NbdServer build() {
            if (group != null && !exports.isEmpty()) {
                throw new IllegalStateException("export(s) " + exports.keySet() + " would never be offered: a server in"
                        + " an NbdServerGroup offers only the group's exports; build it without them and add each"
                        + " with NbdServerGroup.addExport");
            }
            NbdServer s = new NbdServer(this);
            if (group != null) {
                group.register(s);
            }
            return s;
        }
    }
}
