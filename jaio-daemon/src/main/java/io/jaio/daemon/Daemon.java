package io.jaio.daemon;

import io.jaio.aio.AioContext;
import io.jaio.aio.FdMonitorKind;
import io.jaio.aio.IoThread;
import io.jaio.block.DirtyBitmap;
import io.jaio.block.DirtyBitmaps;
import io.jaio.block.RawFileBackend;
import io.jaio.coroutine.Coroutine;
import io.jaio.nbd.NbdExport;
import io.jaio.nbd.NbdServer;
import io.jaio.nbd.NbdServerGroup;
import io.jaio.nbd.NbdTls;

import java.io.IOException;
import java.io.PrintWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * A running daemon: IOThreads, block nodes, the NBD server and its exports, QMP monitors. The
 * command line and QMP change it through the same operations ({@link #blockdevAdd},
 * {@link #exportAdd}, {@link #exportDel}, {@link #objectAdd}, ...), so both report the same
 * errors. {@link #close()} stops it in order: stop accepting, finish in-flight requests, flush,
 * close images, stop threads.
 *
 * <p>Threads: the operations from control threads only (main, a QMP client's thread, the
 * daemon's control executor), never an IOThread: they block on IOThreads. They serialize on
 * {@link #lock}, QEMU's "big lock".
 */
final class Daemon implements AutoCloseable {
    /*
     * Implementation overview.
     *
     * State (nodes, exports, iothreads, objects, nbd) is guarded by `lock`. Images are opened
     * when an export is added, one RawFileBackend per IOThread of the NBD server group, in that
     * IOThread (the backend belongs to its context); a node is only a description until then.
     *
     * NBD server (NbdGroup): an NbdServerGroup with one NbdServer per IOThread that serves an
     * export (made on demand); the server of the first default IOThread listens. A client's
     * handshake runs there against every export of the group; then its connection moves to the
     * IOThread of the export it chose (NbdServerGroup.route: round-robin over the export's
     * IOThreads). An export's IOThreads: its `iothread` (QMP, --export type=nbd), else the
     * default ones (the short --export form's iothread=a:b list, else the first iothread
     * object, else the internal main-loop IOThread). Each (export, IOThread) pair has its own
     * backend, opened and used in that IOThread.
     *
     * Export addition (addExport) is all or nothing: every check that needs nothing open comes
     * first (id, node, iothreads, a name taken by any export, even one shutting down); whatever
     * is opened after that (backends, an NbdServer made for an IOThread, the node's bitmaps if
     * this add loaded them) is closed again by undoAdd if the export is not added after all.
     *
     * Export removal (exportDel): under `lock`, a safe removal counts the clients on every server
     * and refuses if any; then every server removes the export (NbdServer.removeExport: no new
     * handshakes see it, its clients end after their running requests, it is flushed); when all
     * have finished, the control executor closes the backends in their IOThreads, drops the
     * export and emits BLOCK_EXPORT_DELETED. Until then query-block-exports shows it with
     * shutting-down true and its id stays taken (as in QEMU).
     */
    private static final System.Logger LOG = System.getLogger("io.jaio.daemon");
    /** QEMU's raw_open text (block/file-posix.c). */
    static final String AIO_NATIVE_NEEDS_DIRECT = "aio=native was specified, but it requires cache.direct=on,"
            + " which was not specified.";

    /** Guards every field below that is not final. */
    final Object lock = new Object();
    private final DaemonConfig config;
    private final Map<String, IoThreadObject> iothreads = new LinkedHashMap<>();
    private final Map<String, DaemonObjects.DaemonObject> objects = new LinkedHashMap<>();
    private final Map<String, Node> nodes = new LinkedHashMap<>();
    private final Map<String, ExportEntry> exports = new LinkedHashMap<>();
    /** The dirty bitmaps of each file node that has any (by file node name): its image's sidecar. */
    private final Map<String, NodeBitmaps> bitmaps = new LinkedHashMap<>();
    /** The internal IOThread of a group started without any IOThread (QEMU's main loop role). */
    private IoThread mainLoop;
    private NbdGroup nbd;
    private final List<QmpMonitor> monitors = new ArrayList<>();
    private Metrics.Endpoint metricsEndpoint;
    /** Async completions (export removal) run here, never in an IOThread. */
    private final ExecutorService control = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "jaio-control");
        t.setDaemon(true);
        return t;
    });
    /**
     * Where events go (the QMP monitors): set once by the Qmp constructor before any monitor
     * starts, read by whichever control thread emits (volatile: that write is its partner).
     */
    private volatile Consumer<Map<String, Object>> events = e -> { };
    /** Counted down by SIGINT/SIGTERM; installed before start-up so no signal meets the JVM's default. */
    private static final CountDownLatch STOP = new CountDownLatch(1);
    private boolean closed;

    /** A block node: a file, or raw over a file node (QEMU's blockdev). */
    record Node(String name, String driver, Node file, Path filename, boolean readOnly, boolean cacheDirect,
                RawFileBackend.Engine engine, String aio, boolean discard, boolean inline) {
        /** The file node under this one (itself for driver file). */
        Node fileNode() {
            return file == null ? this : file;
        }

        RawFileBackend.Options options() {
            Node f = fileNode();
            return new RawFileBackend.Options(readOnly || f.readOnly, f.cacheDirect, f.engine, f.discard, f.inline);
        }
    }

    /** An export: its servers and their backends (same order) and its state. */
    static final class ExportEntry {
        final String id;
        final String nodeName;
        final String name;
        final String description;
        final boolean writable;
        final List<RawFileBackend> backends;
        final List<IoThread> threads;
        /** The bitmaps its writes mark and it offers as meta contexts, or null. */
        final DirtyBitmaps bitmaps;
        /** QEMU's {@code bitmaps}: the names it was asked to export (busy while it exists). */
        List<String> exportedBitmaps = List.of();
        boolean shuttingDown;

        ExportEntry(String id, String nodeName, String name, String description, boolean writable,
                    List<RawFileBackend> backends, List<IoThread> threads, DirtyBitmaps bitmaps) {
            this.threads = threads;
            this.bitmaps = bitmaps;
            this.id = id;
            this.nodeName = nodeName;
            this.name = name;
            this.description = description;
            this.writable = writable;
            this.backends = backends;
        }
    }

    /** The running NBD server: one NbdServer per IOThread that serves exports; the lead listens. */
    static final class NbdGroup {
        final NbdServerGroup group = new NbdServerGroup();
        /** Where an export without an iothread goes; the first one's server listens. */
        final List<IoThread> threads;
        final Map<IoThread, NbdServer> servers = new LinkedHashMap<>();
        final List<String> uris = new ArrayList<>();
        final int maxConnections;
        /** Server credentials (every client must STARTTLS), or null for plaintext. */
        final NbdTls tls;

        NbdGroup(List<IoThread> threads, int maxConnections, NbdTls tls) {
            this.threads = List.copyOf(threads);
            this.maxConnections = maxConnections;
            this.tls = tls;
        }

        NbdServer serverOn(IoThread t) {
            return servers.computeIfAbsent(t, k -> NbdServer.builder(k.context()).group(group)
                    .maxConnections(maxConnections).tls(tls).build());
        }

        NbdServer lead() {
            return serverOn(threads.get(0));
        }
    }

    /** An {@code iothread} object. */
    final class IoThreadObject implements DaemonObjects.DaemonObject {
        final String id;
        final IoThread thread;

        IoThreadObject(String id, IoThread thread) {
            this.id = id;
            this.thread = thread;
        }

        @Override
        public String qomType() {
            return "iothread";
        }

        @Override
        public boolean inUse() {
            if (nbd == null) {
                return false;
            }
            if (nbd.threads.contains(thread)) {
                return true;
            }
            for (ExportEntry e : exports.values()) {
                if (e.threads.contains(thread)) {
                    return true;
                }
            }
            return false;
        }

        @Override
        public void close() {
            thread.close();
        }
    }

    /**
     * A {@code tls-creds-x509} object: the credentials loaded when it is created (as QEMU loads
     * them). Deleting it does not affect a server that uses it (the server holds its own
     * immutable {@link NbdTls}), as in QEMU.
     */
    record TlsCredsObject(String id, NbdTls tls) implements DaemonObjects.DaemonObject {
        @Override
        public String qomType() {
            return "tls-creds-x509";
        }

        @Override
        public void close() {
        }
    }

    /** An {@code authz-simple} object: one client identity (an X.509 distinguished name). */
    record AuthzObject(String id, String identity) implements DaemonObjects.DaemonObject {
        @Override
        public String qomType() {
            return "authz-simple";
        }

        @Override
        public void close() {
        }
    }

    /** The bitmaps of one file node, and which of them go at a clean stop (QEMU's persistent=false). */
    record NodeBitmaps(DirtyBitmaps bitmaps, Set<String> transientNames) {
    }

    private Daemon(DaemonConfig config) {
        this.config = config;
    }

    /** Starts everything or, on failure, releases what was started and rethrows. */
    static Daemon start(DaemonConfig config, PrintWriter out) throws Exception {
        Daemon d = new Daemon(config);
        try {
            d.startAll(out);
            return d;
        } catch (QmpError e) {
            d.close();
            if (e.isFailure()) {
                throw new IOException(e.getMessage(), e);
            }
            throw new IllegalArgumentException(e.getMessage(), e);
        } catch (Exception | Error e) {
            d.close();
            throw e;
        }
    }

    private void startAll(PrintWriter out) throws Exception {
        synchronized (lock) {
            for (Specs.IoThreadSpec s : config.iothreads()) {
                objects.put(s.id(), startIoThread(s.id(), s.pollMaxNs(), s.pollGrow(), s.pollShrink(), s.pollContention(),
                        s.fdMonitor()));
            }
            for (Map<String, String> o : config.objects()) {
                objectAdd(Args.keyval(o));
            }
            for (Map<String, String> b : config.blockdevs()) {
                blockdevAdd(Args.keyval(b));
            }
            for (Specs.Export e : config.exports()) {
                Node n = new Node("#block-" + e.name(), "file", null, e.file(), e.readOnly(), e.cacheNone(), e.engine(),
                        e.engine().name().toLowerCase(java.util.Locale.ROOT), e.discard(), e.inline());
                nodes.put(n.name(), n);
            }
            if (!config.listens().isEmpty() || !config.activationFds().isEmpty()) {
                List<String> groupIds = config.exportIoThreads();
                startNbd(config.listens(), groupIds, config.maxConnections(),
                        serverTls(config.tlsCreds(), config.tlsAuthz()));
                for (int fd : config.activationFds()) {
                    // systemd socket activation: the unit's sockets, already listening
                    SocketAddress a = nbd.lead().listenFd(fd);
                    nbd.uris.add(a instanceof UnixDomainSocketAddress u ? "nbd+unix:///?socket=" + u.getPath()
                            : uriFor(new Specs.Listen(a, ""), a));
                }
            }
            for (Specs.Export e : config.exports()) {
                addExport(e.name(), "#block-" + e.name(), e.name(), e.description(), !e.readOnly(), e.iothreadIds());
            }
            for (Map<String, String> x : config.qsdExports()) {
                exportAdd(Args.keyval(x));
            }
        }
        if (config.metrics() != null) {
            metricsEndpoint = new Metrics.Endpoint(this, config.metrics());
            LOG.log(System.Logger.Level.INFO, "metrics on http://{0}/metrics", metricsEndpoint.address());
        }
        if (!config.monitors().isEmpty()) {
            Qmp qmp = new Qmp(this); // one per daemon: it is the event sink, and events go to every monitor
            for (Path p : config.monitors()) {
                monitors.add(QmpMonitor.start(p, qmp));
            }
        }
        if (config.pidfile() != null) {
            Files.writeString(config.pidfile(), ProcessHandle.current().pid() + "\n");
        }
        printReady(out);
    }

    private void printReady(PrintWriter out) {
        synchronized (lock) {
            List<String> engines = new ArrayList<>();
            for (ExportEntry e : exports.values()) {
                RawFileBackend b = e.backends.get(0);
                engines.add(e.name + "=" + b.engine().name().toLowerCase(java.util.Locale.ROOT)
                        + (b.inlineIo() ? " (inline: memory-backed file)" : "") + (b.isCacheNone() ? ",cache=none" : ""));
            }
            if (nbd != null) {
                AioContext ctx = nbd.lead().context();
                LOG.log(System.Logger.Level.INFO,
                        "jaio-storage-daemon ready: fd monitor {0} ({1}), coroutine engine {2}, I/O engine {3}",
                        ctx.fdMonitorKind(), ctx.hasIoUring() ? "io_uring requests" : "no io_uring: refused by the kernel",
                        Coroutine.engineName(), String.join(" ", engines));
                List<IoThread> serving = new ArrayList<>();
                for (ExportEntry e : exports.values()) {
                    for (IoThread t : e.threads) {
                        if (!serving.contains(t)) {
                            serving.add(t);
                        }
                    }
                }
                if (serving.isEmpty()) {
                    serving.addAll(nbd.threads);
                }
                List<String> names = new ArrayList<>();
                for (IoThread t : serving) {
                    names.add(iothreadId(t));
                }
                out.println("jaio-storage-daemon: serving " + exports.size() + " export(s) on IOThread '"
                        + String.join("', '", names) + "' (fd monitor " + ctx.fdMonitorKind()
                        + ", poll-max-ns " + pollMaxNsOf(serving) + ", coroutines "
                        + Coroutine.engineName() + ", I/O " + String.join(" ", engines) + ")");
                for (ExportEntry e : exports.values()) {
                    for (String u : nbd.uris) {
                        out.println("  " + tlsUri(exportUri(u, e.name)));
                    }
                }
                for (ExportEntry e : exports.values()) {
                    // which engine each export's image uses, and why (aio=, cache=, the kernel, the file system)
                    RawFileBackend b = e.backends.get(0);
                    out.println("I/O engine of '" + e.name + "': " + b.engine().name().toLowerCase(java.util.Locale.ROOT)
                            + " (" + b.engineReason() + ")");
                }
                if (nbd.tls != null) {
                    out.println("TLS: required (" + (nbd.tls.verifyPeer() ? "client certificates verified" : "verify-peer=off")
                            + (nbd.tls.authorizedIdentities().isEmpty() ? ""
                            : "; allowed: " + String.join(" | ", nbd.tls.authorizedIdentities())) + ")");
                }
            }
            for (QmpMonitor m : monitors) {
                out.println("QMP monitor: " + m.path());
            }
            if (metricsEndpoint != null) {
                InetSocketAddress a = metricsEndpoint.address();
                out.println("Metrics: http://" + (a.getAddress() instanceof java.net.Inet6Address
                        ? "[" + a.getAddress().getHostAddress() + "]" : a.getAddress().getHostAddress())
                        + ":" + a.getPort() + "/metrics");
            }
            if (nbd != null && !exports.isEmpty()) {
                String uri = tlsUri(exportUri(nbd.uris.get(nbd.uris.size() - 1), exports.values().iterator().next().name));
                out.println("Try:  nbdinfo '" + uri + (nbd.tls != null ? (uri.contains("?") ? "&" : "?")
                        + "tls-certificates=CLIENT-PKI-DIR" : "") + "'");
            } else if (!monitors.isEmpty()) {
                out.println("Try:  socat - UNIX-CONNECT:" + monitors.get(0).path());
            } else {
                out.println("Try:  (nothing is served)");
            }
            out.println("Stop: Ctrl-C (or SIGTERM) finishes in-flight requests, flushes and exits 0.");
            out.flush();
        }
    }

    /** {@code nbds://} and {@code nbds+unix://} when the server requires TLS. Holds lock. */
    private String tlsUri(String uri) {
        if (nbd == null || nbd.tls == null) {
            return uri;
        }
        return uri.startsWith("nbd+unix://") ? "nbds+unix://" + uri.substring("nbd+unix://".length())
                : uri.startsWith("nbd://") ? "nbds://" + uri.substring("nbd://".length()) : uri;
    }

    private String iothreadId(IoThread t) {
        for (IoThreadObject o : iothreads.values()) {
            if (o.thread == t) {
                return o.id;
            }
        }
        return "main-loop";
    }

    private static String pollMaxNsOf(List<IoThread> threads) {
        return threads.stream().map(t -> Long.toString(t.context().pollMaxNs())).distinct()
                .collect(java.util.stream.Collectors.joining("/"));
    }

    /** Sets where events go. Any thread. */
    void setEventSink(Consumer<Map<String, Object>> sink) {
        events = sink;
    }

    // ---- IOThreads and objects ----

    /**
     * Starts IOThread {@code id} and registers it in {@link #iothreads}: the one place an
     * IOThread is made, for the command line's specs and for {@code object-add}/{@code --object
     * iothread} alike (the caller registers the object). Holds {@link #lock}.
     */
    private IoThreadObject startIoThread(String id, long maxNs, long grow, long shrink, boolean contention,
                                         FdMonitorKind fdMonitor) {
        IoThread t = IoThread.builder(id).pollMaxNs(maxNs).pollGrow(grow).pollShrink(shrink).pollContention(contention)
                .fdMonitor(Specs.IoThreadSpec.resolve(fdMonitor)).build();
        IoThreadObject o = new IoThreadObject(id, t);
        iothreads.put(id, o);
        return o;
    }

    /** The {@code iothread} factory of {@link DaemonObjects}. Holds {@link #lock}. */
    DaemonObjects.DaemonObject createIoThread(String id, Args a) {
        long maxNs = a.integer("poll-max-ns", Specs.IoThreadSpec.DEFAULT_POLL_MAX_NS, 0, Long.MAX_VALUE);
        long grow = a.integer("poll-grow", 0, 0, Long.MAX_VALUE);
        long shrink = a.integer("poll-shrink", 0, 0, Long.MAX_VALUE);
        boolean contention = a.bool("poll-contention", Specs.IoThreadSpec.DEFAULT_POLL_CONTENTION);
        FdMonitorKind fdMonitor = Specs.IoThreadSpec.fdMonitor(a.enumeration("fd-monitor", "auto",
                Specs.IoThreadSpec.FD_MONITORS));
        a.integer("aio-max-batch", 0, 0, Long.MAX_VALUE); // accepted, as QEMU's; the core sizes its own batches
        a.integer("thread-pool-min", 0, 0, Integer.MAX_VALUE);
        a.integer("thread-pool-max", 64, 0, Integer.MAX_VALUE);
        a.done();
        return startIoThread(id, maxNs, grow, shrink, contention, fdMonitor);
    }

    /**
     * The {@code tls-creds-x509} factory: {@code dir}, {@code endpoint} (QEMU's default
     * {@code client}), {@code verify-peer} (default on), {@code sanity-check} (accepted; the
     * certificates are always checked). Files missing get QEMU's error text. Control thread.
     */
    static DaemonObjects.DaemonObject createTlsCreds(String id, Args a) {
        String dir = a.str("dir");
        String endpoint = a.enumeration("endpoint", "client", List.of("client", "server"));
        boolean verifyPeer = a.bool("verify-peer", true);
        a.bool("sanity-check", true);
        a.done();
        Path d = Path.of(dir);
        List<String> files = new ArrayList<>(List.of("ca-cert.pem"));
        if (endpoint.equals("server")) {
            files.add("server-cert.pem");
            files.add("server-key.pem");
        }
        for (String f : files) {
            Path p = d.resolve(f);
            if (!Files.isReadable(p)) {
                // QEMU: qcrypto_tls_creds_get_path's text
                throw QmpError.generic("Unable to access credentials " + p + ": "
                        + (Files.exists(p) ? "Permission denied" : "No such file or directory"));
            }
        }
        try {
            return new TlsCredsObject(id, NbdTls.fromDirectory(d, endpoint.equals("server")
                    ? NbdTls.Endpoint.SERVER : NbdTls.Endpoint.CLIENT, verifyPeer));
        } catch (IllegalArgumentException e) {
            throw QmpError.generic(e.getMessage());
        }
    }

    /**
     * The {@code authz-simple} factory: {@code identity}, the client certificate's distinguished
     * name (e.g. {@code CN=backup,O=Example,C=GB}, as GnuTLS prints it). Control thread.
     */
    static DaemonObjects.DaemonObject createAuthz(String id, Args a) {
        String identity = a.str("identity");
        a.done();
        try {
            new javax.security.auth.x500.X500Principal(identity);
        } catch (IllegalArgumentException e) {
            throw QmpError.generic("authz-simple '" + id + "': identity '" + identity
                    + "' is not a distinguished name: " + e.getMessage());
        }
        return new AuthzObject(id, identity);
    }

    /**
     * The forms of an authz-simple identity to admit: as given, and with its RDNs in the other
     * order. QEMU compares the string GnuTLS prints, which is in certificate order
     * ({@code C=GB,O=Example,CN=backup}); Java and RFC 4514 print the reverse
     * ({@code CN=backup,O=Example,C=GB}). Either spelling, copied from a QEMU configuration or
     * from {@code openssl x509 -subject}, names the same certificate here.
     */
    static List<String> identityForms(String identity) {
        try {
            List<javax.naming.ldap.Rdn> rdns = new ArrayList<>(new javax.naming.ldap.LdapName(identity).getRdns());
            java.util.Collections.reverse(rdns);
            String reversed = new javax.naming.ldap.LdapName(rdns).toString();
            return reversed.equals(identity) ? List.of(identity) : List.of(identity, reversed);
        } catch (javax.naming.InvalidNameException | IllegalArgumentException e) {
            return List.of(identity);
        }
    }

    /** QMP {@code object-add} / {@code --object}. Control thread. */
    void objectAdd(Args a) {
        synchronized (lock) {
            String type = a.str("qom-type");
            String id = a.str("id");
            DaemonObjects.Factory f = DaemonObjects.find(type);
            if (f == null) {
                throw QmpError.generic("Parameter 'qom-type' does not accept value '" + type + "'");
            }
            if (!wellFormedId(id)) {
                throw QmpError.generic("Parameter 'id' expects an identifier");
            }
            if (objects.containsKey(id)) {
                throw QmpError.generic("attempt to add duplicate property '" + id + "' to object (type 'container')");
            }
            DaemonObjects.DaemonObject o;
            try {
                o = f.create(this, id, a);
                a.done();
            } catch (RuntimeException e) {
                IoThreadObject half = iothreads.remove(id);
                if (half != null) {
                    half.close();
                }
                throw e;
            }
            objects.put(id, o);
        }
    }

    /** QMP {@code object-del}. Control thread. */
    void objectDel(Args a) {
        String id = a.str("id");
        a.done();
        synchronized (lock) {
            DaemonObjects.DaemonObject o = objects.get(id);
            if (o == null) {
                throw QmpError.generic("object '" + id + "' not found");
            }
            if (o.inUse()) {
                throw QmpError.generic("object '" + id + "' is in use, can not be deleted");
            }
            objects.remove(id);
            IoThreadObject t = iothreads.remove(id);
            if (t != null && nbd != null) {
                NbdServer idle = nbd.servers.remove(t.thread);
                if (idle != null) {
                    idle.close(); // no export of its own and not the listener (inUse said so)
                    nbd.group.remove(idle);
                }
            }
            o.close();
        }
    }

    /** QMP {@code query-iothreads}. Control thread. */
    List<Object> queryIoThreads() {
        synchronized (lock) {
            List<Object> l = new ArrayList<>();
            for (IoThreadObject o : iothreads.values()) {
                AioContext c = o.thread.context();
                l.add(Json.obj("id", o.id, "thread-id", o.thread.thread().threadId(), "poll-max-ns", c.pollMaxNs(),
                        "poll-grow", c.pollGrow(), "poll-shrink", c.pollShrink(), "aio-max-batch", 0L, "poll-contention", c.pollContention(),
                        "fd-monitor", Specs.IoThreadSpec.fdMonitorName(c.fdMonitorKind())));
            }
            return l;
        }
    }

    /** QEMU's id_wellformed: a letter, then letters, digits, '-', '.', '_'. */
    static boolean wellFormedId(String id) {
        if (id.isEmpty() || !Character.isLetter(id.charAt(0)) || id.charAt(0) > 127) {
            return false;
        }
        for (int i = 1; i < id.length(); i++) {
            char c = id.charAt(i);
            if (c > 127 || !(Character.isLetterOrDigit(c) || c == '-' || c == '.' || c == '_')) {
                return false;
            }
        }
        return true;
    }

    // ---- block nodes ----

    /** QMP {@code blockdev-add} / {@code --blockdev} (drivers file and raw). Control thread. */
    void blockdevAdd(Args a) {
        synchronized (lock) {
            if (!a.has("node-name")) {
                a.enumeration("driver", null, List.of("file", "raw"));
                throw QmpError.generic("'node-name' must be specified for the root node");
            }
            Node n = parseNode(a);
            a.done();
            // an image with a sidecar from an earlier run: its bitmaps are the node's (QEMU loads
            // a qcow2 image's persistent bitmaps when it opens it)
            bitmapsOf(n, false);
            nodes.put(n.name(), n);
        }
    }

    private Node parseNode(Args a) {
        String driver = a.str("driver");
        if (!driver.equals("file") && !driver.equals("raw")) {
            throw QmpError.generic("Parameter 'driver' does not accept value '" + driver
                    + "' (jaio-storage-daemon supports the drivers file and raw)");
        }
        String name = a.str("node-name");
        if (nodes.containsKey(name)) {
            throw QmpError.generic("Duplicate nodes with node-name='" + name + "'");
        }
        if (name.length() > 31 || !wellFormedId(name)) {
            throw QmpError.generic("Invalid node-name: '" + name + "'");
        }
        boolean ro = a.bool("read-only", false);
        a.bool("auto-read-only", false);
        a.ignore("force-share");
        boolean direct = false;
        if (a.has("cache")) {
            Args c = a.object("cache");
            direct = c.bool("direct", false);
            if (c.bool("no-flush", false)) {
                throw QmpError.generic("cache.no-flush=on is not supported by jaio-storage-daemon");
            }
            c.done();
        }
        String detect = a.optStr("detect-zeroes", "off");
        if (!detect.equals("off")) {
            throw QmpError.generic("detect-zeroes=" + detect + " is not supported by jaio-storage-daemon");
        }
        String discardText = a.enumeration("discard", "ignore", List.of("ignore", "unmap", "off", "on"));
        boolean discard = discardText.equals("unmap") || discardText.equals("on");
        if (driver.equals("file")) {
            String filename = a.str("filename");
            String aio = a.enumeration("aio", "threads", List.of("threads", "native", "io_uring"));
            a.enumeration("locking", "auto", List.of("auto", "on", "off"));
            RawFileBackend.Engine engine = switch (aio) {
                case "io_uring" -> RawFileBackend.Engine.IO_URING;
                case "native" -> RawFileBackend.Engine.NATIVE;
                default -> RawFileBackend.Engine.THREADS;
            };
            if (engine == RawFileBackend.Engine.NATIVE && !direct) {
                throw QmpError.generic(AIO_NATIVE_NEEDS_DIRECT);
            }
            Path p = Path.of(filename);
            if (!Files.exists(p)) {
                throw QmpError.generic("Could not open '" + filename + "': No such file or directory");
            }
            if (Files.isDirectory(p)) {
                throw QmpError.generic("Could not open '" + filename + "': Is a directory");
            }
            if (!Files.isReadable(p) || (!ro && !Files.isWritable(p))) {
                throw QmpError.generic("Could not open '" + filename + "': Permission denied");
            }
            // QEMU's file nodes default to discard=ignore; the daemon's short --export form keeps unmap.
            return new Node(name, "file", null, p.toAbsolutePath(), ro, direct, engine, aio, discard, true);
        }
        Node child;
        if (a.isObject("file")) {
            Args f = a.object("file");
            if (!f.has("node-name")) {
                throw QmpError.generic("Parameter 'file.node-name' is missing (jaio-storage-daemon names every node)");
            }
            child = parseNode(f);
            f.done();
            nodes.put(child.name(), child);
        } else {
            String ref = a.str("file");
            child = nodes.get(ref);
            if (child == null) {
                throw QmpError.generic("Cannot find device='" + ref + "' nor node-name='" + ref + "'");
            }
            if (!child.driver().equals("file")) {
                throw QmpError.generic("raw over node '" + ref + "' (driver " + child.driver()
                        + "): jaio-storage-daemon supports raw over a file node only");
            }
        }
        if (a.has("offset") || a.has("size")) {
            a.ignore("offset");
            a.ignore("size");
            throw QmpError.generic("raw offset/size are not supported by jaio-storage-daemon");
        }
        return new Node(name, "raw", child, child.filename(), ro, direct, child.engine(), child.aio(), discard, true);
    }

    /** QMP {@code blockdev-del}. Control thread. */
    void blockdevDel(Args a) {
        String name = a.str("node-name");
        a.done();
        synchronized (lock) {
            Node n = nodes.get(name);
            if (n == null) {
                throw QmpError.generic("Failed to find node with node-name='" + name + "'");
            }
            for (ExportEntry e : exports.values()) {
                if (e.nodeName.equals(name)) {
                    throw QmpError.generic("Node " + name + " is in use");
                }
            }
            for (Node o : nodes.values()) {
                if (o.file() == n) {
                    throw QmpError.generic("Node " + name + " is in use");
                }
            }
            nodes.remove(name);
            NodeBitmaps nb = n.fileNode() == n ? bitmaps.remove(name) : null;
            if (nb != null) {
                // the image leaves the daemon: its bitmaps are stopped as at a clean stop
                for (String t : nb.transientNames()) {
                    if (nb.bitmaps().get(t) != null) {
                        nb.bitmaps().remove(t);
                    }
                }
                nb.bitmaps().close();
            }
        }
    }

    /** QMP {@code query-named-block-nodes}. Control thread. */
    List<Object> queryNamedBlockNodes(Args a) {
        a.bool("flat", false);
        a.done();
        synchronized (lock) {
            List<Object> l = new ArrayList<>();
            for (Node n : nodes.values()) {
                long size;
                try {
                    size = Files.size(n.filename());
                } catch (IOException e) {
                    size = 0;
                }
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("file", n.filename().toString());
                m.put("node-name", n.name());
                m.put("ro", n.readOnly() || n.fileNode().readOnly());
                m.put("drv", n.driver());
                m.put("encrypted", false);
                m.put("detect_zeroes", "off");
                m.put("image", Json.obj("virtual-size", size, "filename", n.filename().toString(), "format", n.driver()));
                m.put("cache", Json.obj("no-flush", false, "direct", n.fileNode().cacheDirect(), "writeback", true));
                List<Object> bi = bitmapInfo(n);
                if (!bi.isEmpty()) {
                    m.put("dirty-bitmaps", bi);
                }
                m.put("write_threshold", 0L);
                m.put("backing_file_depth", 0L);
                m.put("bps", 0L);
                m.put("bps_rd", 0L);
                m.put("bps_wr", 0L);
                m.put("iops", 0L);
                m.put("iops_rd", 0L);
                m.put("iops_wr", 0L);
                l.add(m);
            }
            return l;
        }
    }

    // ---- NBD server ----

    /** QMP {@code nbd-server-start} / {@code --nbd-server addr.type=...}. Control thread. */
    void nbdServerStart(Args a) {
        synchronized (lock) {
            if (nbd != null) {
                throw QmpError.generic("NBD server already running");
            }
            Specs.Listen l = parseAddr(a.object("addr"), true);
            String creds = a.optStr("tls-creds", null);
            String authz = a.optStr("tls-authz", null);
            long max = a.integer("max-connections", 0, 0, 0xffffffffL);
            a.ignore("handshake-max-seconds");
            a.done();
            List<String> group = new ArrayList<>();
            if (!iothreads.isEmpty()) {
                group.add(iothreads.keySet().iterator().next());
            }
            startNbd(List.of(l), group, (int) Math.min(Integer.MAX_VALUE, max), serverTls(creds, authz));
        }
    }

    /**
     * The server credentials of {@code tls-creds=ID} with the allow-list of {@code tls-authz=ID},
     * or null for plaintext. Holds lock.
     */
    private NbdTls serverTls(String credsId, String authzId) {
        if (credsId == null) {
            if (authzId != null) {
                // QEMU accepts it too: there is no TLS session whose client it could check
                LOG.log(System.Logger.Level.WARNING, "tls-authz={0} without tls-creds has no effect: the NBD server"
                        + " speaks plaintext", authzId);
            }
            return null;
        }
        if (!(objects.get(credsId) instanceof TlsCredsObject c)) {
            throw QmpError.generic("No TLS credentials with id '" + credsId + "'");
        }
        if (c.tls().endpoint() != NbdTls.Endpoint.SERVER) {
            throw QmpError.generic("Expected TLS credentials for a server endpoint");
        }
        if (authzId == null) {
            return c.tls();
        }
        if (!(objects.get(authzId) instanceof AuthzObject z)) {
            throw QmpError.generic("No authz-simple object with id '" + authzId + "'");
        }
        try {
            return c.tls().authorizing(identityForms(z.identity()));
        } catch (IllegalArgumentException e) {
            throw QmpError.generic("tls-authz '" + authzId + "': " + e.getMessage() + " (tls-creds '" + credsId
                    + "' has verify-peer=off)");
        }
    }

    /**
     * A socket address: QMP's nbd-server-start takes QEMU's SocketAddressLegacy
     * ({@code {type, data: {path}}}), the command line the flat SocketAddress ({@code type, path}),
     * as QEMU does.
     */
    static Specs.Listen parseAddr(Args addr, boolean legacy) {
        String type = addr.enumeration("type", null, List.of("unix", "inet", "fd", "vsock"));
        Args d = legacy ? addr.object("data") : addr;
        Specs.Listen l;
        switch (type) {
            case "unix" -> {
                String path = d.str("path");
                d.bool("abstract", false);
                d.bool("tight", true);
                if (path.isEmpty() || path.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > 107) {
                    throw QmpError.generic("UNIX socket path '" + path + "' is too long");
                }
                l = new Specs.Listen(UnixDomainSocketAddress.of(path), "nbd+unix:///?socket=" + path);
            }
            case "inet" -> {
                String host = d.str("host");
                String port = d.str("port");
                d.ignore("numeric");
                d.bool("ipv4", false);
                d.bool("ipv6", false);
                d.ignore("to");
                d.ignore("keep-alive");
                int p;
                try {
                    p = Integer.parseInt(port);
                    if (p < 0 || p > 65535) {
                        throw new NumberFormatException();
                    }
                } catch (NumberFormatException e) {
                    throw QmpError.generic("address resolution failed for " + host + ":" + port + ": Servname not supported for ai_socktype");
                }
                InetAddress ia;
                try {
                    ia = InetAddress.getByName(host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host);
                } catch (UnknownHostException e) {
                    throw QmpError.generic("address resolution failed for " + host + ":" + port + ": Name or service not known");
                }
                String uriHost = ia instanceof java.net.Inet6Address ? "[" + ia.getHostAddress() + "]" : ia.getHostAddress();
                l = new Specs.Listen(new InetSocketAddress(ia, p), "nbd://" + uriHost + ":" + p);
            }
            default -> throw QmpError.generic("socket address type '" + type + "' is not supported by jaio-storage-daemon");
        }
        if (d != addr) {
            d.done();
        }
        addr.done();
        return l;
    }

    /** Starts the group on {@code groupIds} (the internal main-loop IOThread if empty). Holds lock. */
    private void startNbd(List<Specs.Listen> listens, List<String> groupIds, int maxConnections, NbdTls tls) {
        List<IoThread> threads = new ArrayList<>();
        for (String id : groupIds) {
            IoThreadObject o = iothreads.get(id);
            if (o == null) {
                throw QmpError.generic("iothread \"" + id + "\" not found");
            }
            threads.add(o.thread);
        }
        if (threads.isEmpty()) {
            if (mainLoop == null) {
                mainLoop = IoThread.builder("main-loop").pollMaxNs(Specs.IoThreadSpec.DEFAULT_POLL_MAX_NS)
                        .fdMonitor(Specs.IoThreadSpec.AUTO_FD_MONITOR).build();
            }
            threads.add(mainLoop);
        }
        NbdGroup g = new NbdGroup(threads, maxConnections, tls);
        for (IoThread t : threads) {
            g.serverOn(t);
        }
        try {
            for (Specs.Listen l : listens) {
                if (l.address() instanceof UnixDomainSocketAddress u) {
                    removeStaleSocket(u.getPath());
                }
                SocketAddress bound = g.lead().listen(l.address());
                g.uris.add(uriFor(l, bound));
            }
        } catch (RuntimeException | IOException e) {
            for (NbdServer s : g.servers.values()) {
                s.close();
            }
            if (e instanceof QmpError q) {
                throw q;
            }
            if (e instanceof IllegalArgumentException) {
                throw QmpError.generic(e.getMessage());
            }
            throw QmpError.failure("Failed to bind socket: " + e.getMessage());
        }
        nbd = g;
    }

    /** QMP {@code nbd-server-stop}: removes every NBD export (hard), then stops. Control thread. */
    void nbdServerStop(Args a) {
        a.done();
        List<CompletableFuture<Void>> removals = new ArrayList<>();
        NbdGroup g;
        synchronized (lock) {
            if (nbd == null) {
                throw QmpError.generic("NBD server not running");
            }
            for (ExportEntry e : List.copyOf(exports.values())) {
                if (!e.shuttingDown) {
                    removals.add(removeExport(e, true));
                }
            }
            g = nbd;
            nbd = null;
        }
        // QEMU waits for the exports to go (AIO_WAIT_WHILE) before it returns.
        for (CompletableFuture<Void> f : removals) {
            try {
                f.get(60, TimeUnit.SECONDS);
            } catch (Exception e) {
                LOG.log(System.Logger.Level.WARNING, "nbd-server-stop: removing an export: {0}", e.toString());
            }
        }
        stopGroup(g);
    }

    private static void stopGroup(NbdGroup g) {
        List<NbdServer> all = List.copyOf(g.servers.values());
        List<CompletableFuture<Void>> stopping = new ArrayList<>();
        for (NbdServer s : all) {
            stopping.add(s.shutdown());
        }
        for (int i = 0; i < all.size(); i++) {
            try {
                stopping.get(i).get(60, TimeUnit.SECONDS);
                all.get(i).close();
            } catch (Exception e) {
                LOG.log(System.Logger.Level.WARNING, "NBD server shutdown: {0}", e.toString());
            }
        }
    }

    // ---- exports ----

    /** QMP {@code block-export-add} / {@code --export type=nbd,...}. Control thread. */
    void exportAdd(Args a) {
        synchronized (lock) {
            String type = a.str("type");
            if (!type.equals("nbd")) {
                a.ignore("id");
                throw QmpError.generic("Parameter 'type' does not accept value '" + type + "'");
            }
            String id = a.str("id");
            String nodeName = a.str("node-name");
            String name = a.optStr("name", nodeName);
            String description = a.optStr("description", "");
            boolean writable = a.bool("writable", false);
            boolean writethrough = a.bool("writethrough", false);
            String iothread = a.optStr("iothread", null);
            a.bool("fixed-iothread", false); // the move to the iothread never fails here
            // qemu:allocation-depth is always offered (a raw file is one layer: depth 1 everywhere)
            a.bool("allocation-depth", false);
            List<String> wanted = a.strList("bitmaps");
            a.done();
            if (writethrough) {
                throw QmpError.generic("writethrough=true is not supported by jaio-storage-daemon");
            }
            addExport(id, nodeName, name, description, writable, iothread == null ? List.of() : List.of(iothread),
                    wanted);
        }
    }

    /** Holds lock. */
    private void addExport(String id, String nodeName, String name, String description, boolean writable,
                           List<String> iothreadIds) {
        addExport(id, nodeName, name, description, writable, iothreadIds, List.of());
    }

    /** Holds lock. {@code wanted}: QEMU's {@code bitmaps} (each must exist on the node). */
    private void addExport(String id, String nodeName, String name, String description, boolean writable,
                           List<String> iothreadIds, List<String> wanted) {
        if (!wellFormedId(id)) {
            throw QmpError.generic("Invalid block export id");
        }
        if (exports.containsKey(id)) {
            throw QmpError.generic("Block export id '" + id + "' is already in use");
        }
        Node node = nodes.get(nodeName);
        if (node == null) {
            throw QmpError.generic("Cannot find device='' nor node-name='" + nodeName + "'");
        }
        if (writable && (node.readOnly() || node.fileNode().readOnly())) {
            throw QmpError.generic("Cannot export read-only node as writable");
        }
        List<IoThread> placed = new ArrayList<>();
        for (String iothread : iothreadIds) {
            IoThreadObject o = iothreads.get(iothread);
            if (o == null) {
                throw QmpError.generic("iothread \"" + iothread + "\" not found");
            }
            placed.add(o.thread); // fixed-iothread or not: the move always succeeds here
        }
        if (nbd == null) {
            throw QmpError.generic("NBD server not running");
        }
        if (name.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > 4096) {
            throw QmpError.generic("export name '" + name.substring(0, 32) + "...' too long");
        }
        for (ExportEntry e : exports.values()) {
            if (e.name.equals(name)) {
                throw QmpError.generic("NBD server already has export named '" + name + "'");
            }
        }
        // From here on things are opened for the export; if it is not added after all, the
        // finally block closes them again (the add is all or nothing, as NbdServerGroup's).
        boolean hadBitmaps = bitmaps.containsKey(node.fileNode().name());
        List<RawFileBackend> backends = new ArrayList<>();
        List<IoThread> newServers = new ArrayList<>();
        boolean added = false;
        try {
            // The node's bitmaps: those of this daemon, or those its sidecar holds from an earlier run.
            DirtyBitmaps bm = bitmapsOf(node, false);
            for (String b : wanted) {
                DirtyBitmap d = bm == null ? null : bm.get(b);
                if (d == null) {
                    throw QmpError.generic("Bitmap '" + b + "' is not found");
                }
                if (!writable && d.isEnabled()) {
                    throw QmpError.generic("Enabled bitmap '" + b + "' incompatible with readonly export");
                }
            }
            RawFileBackend.Options opts = node.options().withReadOnly(!writable || node.options().readOnly());
            List<IoThread> threads = !placed.isEmpty() ? List.copyOf(placed) : nbd.threads;
            if (nbd.tls != null && !threads.get(0).equals(nbd.threads.get(0))) {
                // A TLS connection cannot move between IOThreads (its SSLEngine lives where it was
                // accepted): TLS clients are served on the listener's IOThread, so the export goes there.
                LOG.log(System.Logger.Level.INFO, "export ''{0}'': with tls-creds, its clients are served on"
                        + " IOThread ''{1}'' (the NBD listener''s), not on ''{2}''", name, iothreadId(nbd.threads.get(0)),
                        iothreadId(threads.get(0)));
            }
            if (nbd.tls != null) {
                threads = List.of(nbd.threads.get(0));
            }
            try {
                for (IoThread t : threads) {
                    AioContext c = t.context();
                    backends.add(c.callOnHomeThread("daemon-open-image",
                            () -> RawFileBackend.open(c, node.filename(), opts)));
                }
            } catch (RuntimeException e) {
                throw QmpError.failure("Could not open '" + node.filename() + "': " + e.getMessage());
            }
            long size = backends.get(0).size();
            if (bm != null && bm.imageSize() != size) {
                throw QmpError.failure("Cannot export node '" + nodeName + "': its dirty bitmaps cover " + bm.imageSize()
                        + " bytes, but the image has " + size + " (was it resized outside the daemon?)");
            }
            List<NbdExport> instances = new ArrayList<>();
            List<NbdServer> on = new ArrayList<>();
            for (int i = 0; i < threads.size(); i++) {
                try {
                    instances.add(NbdExport.builder(name, backends.get(i)).description(description)
                            .readOnly(!writable).multiConn(true).dirtyBitmaps(bm).build());
                } catch (IllegalArgumentException e) {
                    throw QmpError.generic("Cannot export node '" + nodeName + "': " + e.getMessage());
                }
                if (!nbd.servers.containsKey(threads.get(i))) {
                    newServers.add(threads.get(i));
                }
                on.add(nbd.serverOn(threads.get(i)));
            }
            try {
                nbd.group.addExport(instances, on);
            } catch (IllegalArgumentException e) {
                // The group still holds the name (a removal not finished) or refused the placement.
                throw QmpError.generic("Cannot add NBD export '" + name + "': " + e.getMessage());
            }
            ExportEntry entry = new ExportEntry(id, nodeName, name, description, writable, backends, threads, bm);
            entry.exportedBitmaps = List.copyOf(wanted);
            exports.put(id, entry);
            added = true;
        } finally {
            if (!added) {
                undoAdd(node, hadBitmaps, backends, newServers);
            }
        }
        LOG.log(System.Logger.Level.INFO, "export ''{0}'' (id {1}) of node {2} added", name, id, nodeName);
    }

    /**
     * Closes what a failed {@link #addExport} opened: its backends (in their IOThreads), the NBD
     * servers it made on IOThreads that had none (the group took no export there), and the
     * node's bitmaps if it was the one to open them. Holds lock.
     */
    private void undoAdd(Node node, boolean hadBitmaps, List<RawFileBackend> backends, List<IoThread> newServers) {
        closeBackends(backends);
        for (IoThread t : newServers) {
            NbdServer idle = nbd.servers.remove(t);
            if (idle != null) {
                try {
                    idle.close();
                    nbd.group.remove(idle);
                } catch (RuntimeException e) {
                    LOG.log(System.Logger.Level.WARNING, "closing the NBD server of a failed export: {0}", e.toString());
                }
            }
        }
        NodeBitmaps nb = hadBitmaps ? null : bitmaps.remove(node.fileNode().name());
        if (nb != null) {
            try {
                nb.bitmaps().close(); // just loaded from the sidecar: closing writes back what was read
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "closing the dirty bitmaps of node {0}: {1}", node.name(),
                        e.toString());
            }
        }
    }

    // ---- dirty bitmaps ----

    /**
     * The bitmaps of {@code node}'s image (a raw node shares its file node's): those already
     * open, else its sidecar's if one exists or {@code create} is true, else null. Holds lock.
     */
    private DirtyBitmaps bitmapsOf(Node node, boolean create) {
        Node f = node.fileNode();
        NodeBitmaps nb = bitmaps.get(f.name());
        if (nb != null) {
            return nb.bitmaps();
        }
        Path sidecar = DirtyBitmaps.sidecarFor(f.filename());
        if (!create && !Files.exists(sidecar)) {
            return null;
        }
        DirtyBitmaps b;
        try {
            b = DirtyBitmaps.open(sidecar, Files.size(f.filename()));
        } catch (IOException | java.io.UncheckedIOException | IllegalArgumentException e) {
            throw QmpError.generic("Cannot open the dirty bitmaps of node '" + node.name() + "' in " + sidecar + ": "
                    + e.getMessage());
        }
        bitmaps.put(f.name(), new NodeBitmaps(b, new LinkedHashSet<>()));
        LOG.log(System.Logger.Level.INFO, "dirty bitmaps of {0}: {1} ({2} bitmap(s))", f.filename(), sidecar,
                b.list().size());
        return b;
    }

    /**
     * QEMU's bdrv_dirty_bitmap_check(BDRV_BITMAP_DEFAULT): a bitmap an export names in its
     * {@code bitmaps} is busy until the export is gone. Holds lock.
     */
    private void checkNotBusy(String nodeName, String name) {
        Node n = nodes.get(nodeName);
        for (ExportEntry e : exports.values()) {
            Node en = nodes.get(e.nodeName);
            if (en != null && en.fileNode() == n.fileNode() && e.exportedBitmaps.contains(name)) {
                throw QmpError.generic("Bitmap '" + name + "' is currently in use by another operation and cannot be used");
            }
        }
    }

    /** QEMU's block_dirty_bitmap_lookup: the node and the bitmaps of its image. Holds lock. */
    private DirtyBitmaps lookupBitmaps(String nodeName, String name) {
        Node n = nodes.get(nodeName);
        if (n == null) {
            throw QmpError.generic("Node '" + nodeName + "' not found");
        }
        DirtyBitmaps b = bitmapsOf(n, false);
        if (b == null || b.get(name) == null) {
            throw QmpError.generic("Dirty bitmap '" + name + "' not found");
        }
        return b;
    }

    /**
     * QMP {@code block-dirty-bitmap-add}: {@code node}, {@code name}, {@code granularity}
     * (default 64 KiB), {@code persistent} (kept in the sidecar across a clean stop; without it
     * the bitmap is removed at a clean stop), {@code disabled}. Control thread.
     */
    void bitmapAdd(Args a) {
        String nodeName = a.str("node");
        String name = a.str("name");
        long granularity = a.integer("granularity", DirtyBitmap.DEFAULT_GRANULARITY, Long.MIN_VALUE, Long.MAX_VALUE);
        boolean persistent = a.bool("persistent", false);
        boolean disabled = a.bool("disabled", false);
        a.done();
        synchronized (lock) {
            Node n = nodes.get(nodeName);
            if (n == null) {
                throw QmpError.generic("Cannot find device='" + nodeName + "' nor node-name='" + nodeName + "'");
            }
            if (name.isEmpty()) {
                throw QmpError.generic("Bitmap name cannot be empty");
            }
            if (name.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > 1023) {
                throw QmpError.generic("Bitmap name too long: " + name);
            }
            if (granularity < 512 || granularity > (1L << 31) || Long.bitCount(granularity) != 1) {
                throw QmpError.generic("Granularity must be power of 2 and at least 512");
            }
            DirtyBitmaps existing = bitmapsOf(n, false);
            if (existing != null && existing.get(name) != null) {
                throw QmpError.generic("Bitmap already exists: " + name);
            }
            for (ExportEntry e : exports.values()) {
                Node en = nodes.get(e.nodeName);
                if (en != null && en.fileNode() == n.fileNode() && e.bitmaps == null) {
                    throw QmpError.generic("Export '" + e.id + "' of node '" + e.nodeName + "' was added before the"
                            + " node had dirty bitmaps, so its writes would not be recorded: add the first bitmap"
                            + " before block-export-add (jaio-storage-daemon)");
                }
            }
            DirtyBitmaps b = bitmapsOf(n, true);
            try {
                b.add(name, (int) granularity);
            } catch (IllegalArgumentException e) {
                throw QmpError.generic(e.getMessage());
            }
            if (disabled) {
                b.disable(name);
            }
            if (!persistent) {
                bitmaps.get(n.fileNode().name()).transientNames().add(name);
            }
            b.persist();
        }
    }

    /** QMP {@code block-dirty-bitmap-remove|clear|enable|disable}: {@code node}, {@code name}. Control thread. */
    void bitmapOp(String op, Args a) {
        String nodeName = a.str("node");
        String name = a.str("name");
        a.done();
        synchronized (lock) {
            DirtyBitmaps b = lookupBitmaps(nodeName, name);
            checkNotBusy(nodeName, name);
            switch (op) {
                case "remove" -> {
                    b.remove(name);
                    bitmaps.get(nodes.get(nodeName).fileNode().name()).transientNames().remove(name);
                }
                case "clear" -> b.clear(name);
                case "enable" -> b.enable(name);
                case "disable" -> b.disable(name);
                default -> throw new IllegalArgumentException(op);
            }
            b.persist();
        }
    }

    /** QMP {@code block-dirty-bitmap-merge}: {@code node}, {@code target}, {@code bitmaps} (names on the node). Control thread. */
    void bitmapMerge(Args a) {
        String nodeName = a.str("node");
        String target = a.str("target");
        List<String> sources = a.strList("bitmaps");
        a.done();
        synchronized (lock) {
            DirtyBitmaps b = lookupBitmaps(nodeName, target);
            checkNotBusy(nodeName, target);
            for (String s : sources) {
                lookupBitmaps(nodeName, s);
                checkNotBusy(nodeName, s);
            }
            try {
                b.merge(target, sources);
            } catch (IllegalArgumentException e) {
                throw QmpError.generic(e.getMessage());
            }
            b.persist();
        }
    }

    /**
     * QMP {@code x-jaio-block-dirty-bitmap-checkpoint} (jaio's; QEMU has none): {@code node},
     * {@code name}. Freezes bitmap NAME as {@code NAME@N} (disabled: what changed up to now) and
     * starts an empty NAME at the next request boundary; returns {@code {"frozen": "NAME@N"}}.
     * Control thread.
     */
    Map<String, Object> bitmapCheckpoint(Args a) {
        String nodeName = a.str("node");
        String name = a.str("name");
        a.done();
        synchronized (lock) {
            DirtyBitmaps b = lookupBitmaps(nodeName, name);
            DirtyBitmap frozen;
            try {
                frozen = b.checkpoint(name);
            } catch (IllegalArgumentException e) {
                throw QmpError.generic(e.getMessage());
            }
            Set<String> transients = bitmaps.get(nodes.get(nodeName).fileNode().name()).transientNames();
            if (transients.contains(name)) {
                transients.add(frozen.name());
            }
            b.persist();
            return Json.obj("frozen", frozen.name());
        }
    }

    /** QEMU's {@code dirty-bitmaps} member of query-named-block-nodes. Holds lock. */
    private List<Object> bitmapInfo(Node n) {
        List<Object> l = new ArrayList<>();
        NodeBitmaps nb = bitmaps.get(n.fileNode().name());
        if (nb != null) {
            for (DirtyBitmap b : nb.bitmaps().list()) {
                boolean busy = false;
                for (ExportEntry e : exports.values()) {
                    Node en = nodes.get(e.nodeName);
                    busy |= en != null && en.fileNode() == n.fileNode() && e.exportedBitmaps.contains(b.name());
                }
                l.add(Json.obj("name", b.name(), "recording", b.isEnabled(), "persistent",
                        !nb.transientNames().contains(b.name()), "busy", busy, "granularity", (long) b.granularity(),
                        "count", b.dirtyBytes(), "inconsistent", b.isInconsistent()));
            }
        }
        return l;
    }

    /** Clean stop of the bitmaps (after every export is closed): drops the transient ones, persists the rest. */
    private void closeBitmaps() {
        for (Map.Entry<String, NodeBitmaps> e : bitmaps.entrySet()) {
            NodeBitmaps nb = e.getValue();
            try {
                for (String t : nb.transientNames()) {
                    if (nb.bitmaps().get(t) != null) {
                        nb.bitmaps().remove(t);
                    }
                }
                nb.bitmaps().close();
            } catch (RuntimeException ex) {
                LOG.log(System.Logger.Level.WARNING, "closing the dirty bitmaps of node {0}: {1}", e.getKey(), ex.toString());
            }
        }
        bitmaps.clear();
    }

    private static void closeBackends(List<RawFileBackend> backends) {
        for (RawFileBackend b : backends) {
            try {
                closeBackend(b);
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "closing image {0}: {1}", b.path(), e.toString());
            }
        }
    }

    /**
     * Closes {@code b} in its home thread, or here once its context is closed (its IOThread
     * stopped first: nothing runs there any more, and the fd must still be released). Any thread.
     */
    private static void closeBackend(RawFileBackend b) {
        AioContext ctx = b.context();
        if (!ctx.isClosed()) {
            try {
                ctx.callOnHomeThread("daemon-close-image", () -> {
                    b.close();
                    return null;
                });
                return;
            } catch (IllegalStateException e) {
                if (!ctx.isClosed()) {
                    throw e; // the close itself failed
                }
                // the context closed before the close ran: release here
            }
        }
        b.close();
    }

    /** QMP {@code block-export-del}. Control thread. */
    void exportDel(Args a) {
        String id = a.str("id");
        String mode = a.enumeration("mode", "safe", List.of("safe", "hard"));
        a.done();
        synchronized (lock) {
            ExportEntry e = exports.get(id);
            if (e == null) {
                throw QmpError.generic("Export '" + id + "' is not found");
            }
            if (e.shuttingDown) {
                throw QmpError.generic("Export '" + id + "' is already shutting down");
            }
            if (mode.equals("safe")) {
                if (nbd.group.connectionCount(e.name) > 0) {
                    throw QmpError.generic("export '" + id + "' still in use");
                }
            }
            removeExport(e, mode.equals("hard"));
        }
    }

    /**
     * Starts removing {@code e} from every server; the returned future completes once the
     * backends are closed, the export is gone and BLOCK_EXPORT_DELETED was emitted. Holds lock.
     */
    private CompletableFuture<Void> removeExport(ExportEntry e, boolean hard) {
        e.shuttingDown = true;
        // A safe removal was checked by the caller.
        return nbd.group.removeExport(e.name, true).handleAsync((v, err) -> {
            if (err != null) {
                LOG.log(System.Logger.Level.WARNING, "removing export ''{0}'': {1}", e.id, err.toString());
            }
            closeBackends(e.backends);
            synchronized (lock) {
                exports.remove(e.id);
            }
            LOG.log(System.Logger.Level.INFO, "export ''{0}'' (id {1}) deleted ({2})", e.name, e.id, hard ? "hard" : "safe");
            events.accept(Json.obj("event", "BLOCK_EXPORT_DELETED", "data", Json.obj("id", e.id)));
            return null;
        }, control);
    }

    /** QMP {@code query-block-exports}. Control thread. */
    List<Object> queryBlockExports() {
        synchronized (lock) {
            List<Object> l = new ArrayList<>();
            for (ExportEntry e : exports.values()) {
                l.add(Json.obj("id", e.id, "type", "nbd", "node-name", e.nodeName, "shutting-down", e.shuttingDown));
            }
            return l;
        }
    }

    /**
     * Live counters of every export and IOThread (for query-stats and the metrics endpoint). Any
     * thread but an IOThread (a QMP reader, the metrics HTTP thread); takes the daemon lock.
     */
    Metrics.Snapshot metrics() {
        synchronized (lock) {
            List<Metrics.ExportSample> ex = new ArrayList<>();
            for (ExportEntry e : exports.values()) {
                NbdExport.Stats sum = NbdExport.Stats.empty();
                if (nbd != null) {
                    for (NbdExport x : nbd.group.placement(e.name).values()) {
                        sum = sum.plus(x.stats());
                    }
                }
                ex.add(new Metrics.ExportSample(e.id, e.name, sum));
            }
            List<Metrics.ThreadSample> ts = new ArrayList<>();
            for (IoThreadObject o : iothreads.values()) {
                ts.add(new Metrics.ThreadSample(o.id, Metrics.IoThreadCounters.of(o.thread.context())));
            }
            if (mainLoop != null) {
                ts.add(new Metrics.ThreadSample("main-loop", Metrics.IoThreadCounters.of(mainLoop.context())));
            }
            return new Metrics.Snapshot(ex, ts);
        }
    }

    // ---- helpers ----

    private static String uriFor(Specs.Listen l, SocketAddress bound) {
        if (bound instanceof InetSocketAddress in) {
            String host = in.getAddress() instanceof java.net.Inet6Address
                    ? "[" + in.getAddress().getHostAddress() + "]" : in.getAddress().getHostAddress();
            return "nbd://" + host + ":" + in.getPort();
        }
        return l.uri();
    }

    /** The URI of export {@code name} on a server URI from {@link Specs.Listen}. */
    static String exportUri(String serverUri, String name) {
        if (serverUri.startsWith("nbd+unix:///")) {
            return "nbd+unix:///" + name + serverUri.substring("nbd+unix:///".length());
        }
        return serverUri + "/" + name;
    }

    /**
     * Routes SIGINT and SIGTERM to an orderly stop. Called first thing, before anything is opened
     * or printed: a signal during start-up then stops the daemon cleanly once it is up.
     */
    static void installSignalHandlers() {
        for (String sig : new String[] {"INT", "TERM"}) {
            try {
                sun.misc.Signal.handle(new sun.misc.Signal(sig), s -> {
                    LOG.log(System.Logger.Level.INFO, "SIG{0}: stopping", sig);
                    STOP.countDown();
                });
            } catch (IllegalArgumentException e) {
                LOG.log(System.Logger.Level.WARNING, "cannot handle SIG{0}: {1}", sig, e.getMessage());
            }
        }
    }

    /** Blocks until SIGINT or SIGTERM (or {@link #requestStop()}). */
    void awaitStopSignal() throws InterruptedException {
        STOP.await();
    }

    /** Makes {@link #awaitStopSignal()} return. Any thread. */
    static void requestStop() {
        STOP.countDown();
    }

    /**
     * Removes a Unix socket file left by a daemon that was killed, after checking that nobody
     * listens on it (QEMU does the same); refuses if a server still answers there.
     */
    static void removeStaleSocket(Path path) throws IOException {
        if (!Files.exists(path, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        if (Files.isRegularFile(path, java.nio.file.LinkOption.NOFOLLOW_LINKS) || Files.isDirectory(path)) {
            throw new IllegalArgumentException(path + " exists and is not a socket");
        }
        try (java.nio.channels.SocketChannel ch = java.nio.channels.SocketChannel.open(UnixDomainSocketAddress.of(path))) {
            throw new IllegalArgumentException(path + " is in use by a running server");
        } catch (IOException refused) {
            Files.delete(path); // nobody listens: a leftover of a killed daemon
        }
    }

    /**
     * Stops in order: monitors close; every server stops accepting, finishes its requests and
     * flushes (and removes its Unix socket files); images close on their IOThreads; IOThreads
     * stop; the pidfile goes. Idempotent. The control thread only (it blocks on the IOThreads),
     * never an IOThread.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (QmpMonitor m : monitors) {
            m.close();
        }
        if (metricsEndpoint != null) {
            metricsEndpoint.close();
        }
        NbdGroup g;
        List<ExportEntry> all;
        synchronized (lock) {
            g = nbd;
            nbd = null;
            all = List.copyOf(exports.values());
        }
        if (g != null) {
            stopGroup(g);
        }
        control.shutdown();
        try {
            control.awaitTermination(60, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        synchronized (lock) {
            for (ExportEntry e : all) {
                if (exports.remove(e.id) != null) {
                    closeBackends(e.backends);
                }
            }
            closeBitmaps(); // after the servers stopped: no write can mark them any more
            for (DaemonObjects.DaemonObject o : objects.values()) {
                try {
                    o.close();
                } catch (RuntimeException e) {
                    LOG.log(System.Logger.Level.WARNING, "closing object: {0}", e.getMessage());
                }
            }
            for (IoThreadObject o : iothreads.values()) {
                if (!objects.containsValue(o)) {
                    o.close();
                }
            }
            if (mainLoop != null) {
                mainLoop.close();
            }
        }
        if (config.pidfile() != null) {
            try {
                Files.deleteIfExists(config.pidfile());
            } catch (IOException e) {
                // best effort
            }
        }
    }
}
