package io.jaio.daemon;

import io.jaio.aio.AioContext;
import io.jaio.aio.IoThread;
import io.jaio.block.RawFileBackend;
import io.jaio.coroutine.Coroutine;
import io.jaio.nbd.NbdExport;
import io.jaio.nbd.NbdServer;

import java.io.IOException;
import java.io.PrintWriter;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * A running daemon: IoThreads, opened images, the NBD server and its listeners. {@link #close()}
 * stops it in order: stop accepting, finish in-flight requests, flush, close images, stop threads.
 *
 * <p>Threads: {@link #start} and {@link #close} from one control thread (main).
 */
final class Daemon implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger("io.jaio.daemon");

    private final DaemonConfig config;
    private final Map<String, IoThread> iothreads = new LinkedHashMap<>();
    /** Every opened image (each used only from its context's home thread: RawFileBackend.context()). */
    private final List<RawFileBackend> backends = new ArrayList<>();
    /** One NBD server per serving IOThread; the first listens. */
    private final List<NbdServer> servers = new ArrayList<>();
    /** Counted down by SIGINT/SIGTERM; installed before start-up so no signal meets the JVM's default. */
    private static final CountDownLatch STOP = new CountDownLatch(1);
    private boolean closed;

    private Daemon(DaemonConfig config) {
        this.config = config;
    }

    /** Starts everything or, on failure, releases what was started and rethrows. */
    static Daemon start(DaemonConfig config, PrintWriter out) throws Exception {
        Daemon d = new Daemon(config);
        try {
            d.startAll(out);
            return d;
        } catch (Exception | Error e) {
            d.close();
            throw e;
        }
    }

    private void startAll(PrintWriter out) throws Exception {
        for (Specs.IoThreadSpec s : config.iothreads()) {
            iothreads.put(s.id(), IoThread.builder(s.id()).pollMaxNs(s.pollMaxNs()).pollGrow(s.pollGrow())
                    .pollShrink(s.pollShrink()).build());
        }
        // One NbdServer per serving IOThread, each with its own backend of every export (its own
        // fd, used only from that thread); the first one listens and spreads connections.
        List<String> engines = new ArrayList<>();
        for (String id : config.exportIoThreads()) {
            IoThread io = iothreads.get(id);
            AioContext c = io.context();
            NbdServer.Builder sb = NbdServer.builder(c);
            for (Specs.Export e : config.exports()) {
                RawFileBackend.Options opts = new RawFileBackend.Options(e.readOnly(), e.cacheNone(), e.engine(),
                        e.discard(), e.inline());
                RawFileBackend backend = on(io, () -> RawFileBackend.open(c, e.file(), opts));
                backends.add(backend);
                if (servers.isEmpty()) {
                    engines.add(e.name() + "=" + backend.engine().name().toLowerCase(java.util.Locale.ROOT)
                            + (backend.inlineIo() ? " (inline: memory-backed file)" : "")
                            + (e.cacheNone() ? ",cache=none" : ""));
                }
                sb.export(NbdExport.builder(e.name(), backend).description(e.description()).readOnly(e.readOnly())
                        .multiConn(true).build());
            }
            servers.add(sb.build());
        }
        NbdServer lead = servers.get(0);
        AioContext ctx = lead.context();
        List<String> uris = new ArrayList<>();
        for (Specs.Listen l : config.listens()) {
            if (l.address() instanceof UnixDomainSocketAddress u) {
                removeStaleSocket(u.getPath());
            }
            SocketAddress bound = lead.listen(l.address(), servers); // the server removes its socket files
            uris.add(uriFor(l, bound));
        }
        if (config.pidfile() != null) {
            Files.writeString(config.pidfile(), ProcessHandle.current().pid() + "\n");
        }
        LOG.log(System.Logger.Level.INFO, "jaio-storage-daemon ready: fd monitor {0}, coroutine engine {1}, I/O engine {2}",
                ctx.fdMonitorKind(), Coroutine.engineName(), String.join(" ", engines));
        out.println("jaio-storage-daemon: serving " + config.exports().size() + " export(s) on IOThread '"
                + String.join("', '", config.exportIoThreads()) + "' (fd monitor " + ctx.fdMonitorKind()
                + ", poll-max-ns " + pollMaxNsOfServingThreads() + ", coroutines "
                + Coroutine.engineName() + ", I/O " + String.join(" ", engines) + ")");
        for (Specs.Export e : config.exports()) {
            for (String u : uris) {
                out.println("  " + exportUri(u, e.name()));
            }
        }
        String first = exportUri(uris.get(uris.size() - 1), config.exports().get(0).name());
        out.println("Try:  nbdinfo '" + first + "'");
        out.println("Stop: Ctrl-C (or SIGTERM) finishes in-flight requests, flushes and exits 0.");
        out.flush();
    }

    private static String uriFor(Specs.Listen l, SocketAddress bound) {
        if (bound instanceof java.net.InetSocketAddress in) {
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

    /** Runs {@code work} in {@code io}'s thread and waits for it (the images belong to that thread). */
    /** The serving IOThreads' poll-max-ns: one value, or each distinct one joined with '/'. */
    private String pollMaxNsOfServingThreads() {
        return config.exportIoThreads().stream().map(id -> Long.toString(iothreads.get(id).context().pollMaxNs()))
                .distinct().collect(java.util.stream.Collectors.joining("/"));
    }

    private static <T> T on(IoThread io, java.util.function.Supplier<T> work) {
        return io.context().callOnHomeThread("daemon-call", work);
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
    private static void removeStaleSocket(Path path) throws IOException {
        if (!Files.exists(path, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        if (Files.isRegularFile(path, java.nio.file.LinkOption.NOFOLLOW_LINKS) || Files.isDirectory(path)) {
            throw new IllegalArgumentException("--nbd-server: " + path + " exists and is not a socket");
        }
        try (java.nio.channels.SocketChannel ch = java.nio.channels.SocketChannel.open(UnixDomainSocketAddress.of(path))) {
            throw new IllegalArgumentException("--nbd-server: " + path + " is in use by a running server");
        } catch (IOException refused) {
            Files.delete(path); // nobody listens: a leftover of a killed daemon
        }
    }

    /**
     * Stops in order: every server stops accepting, finishes its requests and flushes (and removes
     * its Unix socket files), images close on their IOThreads, IOThreads stop, the pidfile goes.
     * Idempotent. The control thread only (it blocks on the IOThreads), never an IOThread.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        // Shut every server down at once (each stops accepting, finishes its requests, flushes),
        // then wait for each.
        List<CompletableFuture<Void>> stopping = new ArrayList<>();
        for (NbdServer s : servers) {
            stopping.add(s.shutdown());
        }
        for (int i = 0; i < servers.size(); i++) {
            try {
                stopping.get(i).get(60, TimeUnit.SECONDS);
            } catch (Exception e) {
                LOG.log(System.Logger.Level.WARNING, "NBD server shutdown: {0}", e.toString());
            }
            try {
                servers.get(i).close(); // from this control thread: it waits for the home thread
            } catch (Exception e) {
                LOG.log(System.Logger.Level.WARNING, "NBD server close: {0}", e.toString());
            }
        }
        for (RawFileBackend b : backends) {
            try {
                b.context().callOnHomeThread("daemon-close-image", () -> {
                    b.close();
                    return null;
                });
            } catch (Exception e) {
                LOG.log(System.Logger.Level.WARNING, "closing image: {0}", e.toString());
            }
        }
        for (IoThread io : iothreads.values()) {
            try {
                io.close();
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "stopping IOThread {0}: {1}", io, e.getMessage());
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
