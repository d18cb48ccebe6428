package io.jaio.daemon;

import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.Reader;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A QMP monitor on a Unix socket ({@code --monitor unix=PATH}, or qemu-storage-daemon's
 * {@code --chardev socket,...,server=on,wait=off --monitor chardev=ID}). Each client gets the
 * greeting and its own reader thread; commands run in that thread (the daemon's lock serializes
 * them), so a slow command never stalls an IOThread, and a client that misbehaves (bad JSON, a
 * text over {@link #MAX_MESSAGE} characters, a dropped connection) affects only itself. Unlike a
 * QEMU chardev, several clients may be connected at once.
 *
 * <p>Output (replies and events, in the order sent) goes through a per-client queue that the
 * client's writer thread drains, so whoever emits an event (the daemon's control executor, another
 * client's command) never blocks on a client that does not read. A client whose unsent output
 * passes {@link #MAX_PENDING} bytes is disconnected (QEMU buffers without a bound instead).
 *
 * <p>Threads: {@link #start} and {@link #close} from the control thread.
 */
final class QmpMonitor implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger("io.jaio.daemon");
    /** Longest JSON text accepted; a longer one gets an error and the connection is closed. */
    static final int MAX_MESSAGE = 4 << 20;

    private final Path path;
    private final Qmp qmp;
    private final ServerSocketChannel server;
    private final Thread acceptor;
    /** Unsent output a client may have before it is disconnected (it is not reading). */
    static final long MAX_PENDING = 16 << 20;
    /** How long close() lets writers finish queued output (a "quit" reply) before cutting them off. */
    private static final long DRAIN_MS = 2000;
    /** Most clients connected at once; more are closed at once (each costs two threads). */
    static final int MAX_CLIENTS = 64;
    private final Set<Client> clients = ConcurrentHashMap.newKeySet();
    /** Set by close() (control thread), read by the accept thread: volatile, no other partner. */
    private volatile boolean closed;

    private QmpMonitor(Path path, Qmp qmp, ServerSocketChannel server) {
        this.path = path;
        this.qmp = qmp;
        this.server = server;
        this.acceptor = new Thread(this::acceptLoop, "qmp-accept");
        acceptor.setDaemon(true);
    }

    /** Binds {@code path} (replacing a stale socket nobody listens on) and starts accepting. */
    static QmpMonitor start(Path path, Qmp qmp) throws IOException {
        try {
            Daemon.removeStaleSocket(path);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--monitor: " + e.getMessage(), e);
        }
        ServerSocketChannel s = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            s.bind(UnixDomainSocketAddress.of(path), 16);
        } catch (IOException e) {
            s.close();
            throw new IOException("--monitor: cannot listen on " + path + ": " + e.getMessage(), e);
        }
        QmpMonitor m = new QmpMonitor(path, qmp, s);
        m.acceptor.start();
        LOG.log(System.Logger.Level.INFO, "QMP monitor on {0}", path);
        return m;
    }

    Path path() {
        return path;
    }

    private void acceptLoop() {
        while (!closed) {
            SocketChannel ch;
            try {
                ch = server.accept();
            } catch (ClosedChannelException e) {
                return;
            } catch (IOException e) {
                if (!closed) {
                    LOG.log(System.Logger.Level.WARNING, "QMP accept on {0}: {1}", path, e.getMessage());
                }
                return;
            }
            if (clients.size() >= MAX_CLIENTS) {
                LOG.log(System.Logger.Level.WARNING, "QMP monitor {0}: {1} clients connected, closing a new one",
                        path, MAX_CLIENTS);
                try {
                    ch.close();
                } catch (IOException e) {
                    // gone anyway
                }
                continue;
            }
            Client c = new Client(ch);
            clients.add(c);
            Thread t = new Thread(c::run, "qmp-client");
            t.setDaemon(true);
            c.writer.start();
            t.start();
        }
    }

    /** One connected client. */
    private final class Client implements Qmp.Session {
        private final SocketChannel ch;
        private final OutputStream out;
        private final Thread writer;
        /** Set by the reader thread, read by event emitters (volatile). */
        private volatile boolean negotiated;
        /** Texts not yet written, oldest first. Guarded by this. */
        private final ArrayDeque<byte[]> pending = new ArrayDeque<>();
        /** Bytes in {@link #pending}. Guarded by this. */
        private long pendingBytes;
        /** No more output is queued; the writer writes what is queued, then closes. Guarded by this. */
        private boolean closing;

        Client(SocketChannel ch) {
            this.ch = ch;
            this.out = Channels.newOutputStream(ch);
            this.writer = new Thread(this::writeLoop, "qmp-client-writer");
            writer.setDaemon(true);
        }

        @Override
        public boolean negotiated() {
            return negotiated;
        }

        @Override
        public void setNegotiated() {
            negotiated = true;
        }

        /**
         * Queues {@code message} for the writer thread and returns at once: replies and events
         * keep their order and never interleave. Any thread.
         */
        @Override
        public void send(Map<String, Object> message) {
            byte[] b = (Json.write(message) + "\r\n").getBytes(StandardCharsets.UTF_8);
            long unsent;
            synchronized (this) {
                if (closing) {
                    return;
                }
                if (pendingBytes + b.length <= MAX_PENDING || pending.isEmpty()) {
                    pending.add(b);
                    pendingBytes += b.length;
                    notifyAll();
                    return;
                }
                unsent = pendingBytes;
            }
            LOG.log(System.Logger.Level.WARNING, "QMP client on {0} does not read its output ({1} bytes unsent):"
                    + " disconnecting it", path, unsent);
            abort();
        }

        /** The writer thread: writes queued texts in order until closing and drained, then closes. */
        private void writeLoop() {
            try {
                for (;;) {
                    byte[] b;
                    synchronized (this) {
                        while (pending.isEmpty() && !closing) {
                            wait();
                        }
                        if (pending.isEmpty()) {
                            break; // closing, everything written
                        }
                        b = pending.peek();
                    }
                    out.write(b); // blocks while the client does not read: only this thread waits
                    out.flush();
                    synchronized (this) {
                        pending.poll();
                        pendingBytes -= b.length;
                    }
                }
            } catch (IOException | InterruptedException e) {
                LOG.log(System.Logger.Level.DEBUG, "QMP client output: {0}", String.valueOf(e.getMessage()));
            }
            abort();
        }

        void run() {
            qmp.opened(this);
            QmpFramer framer = new QmpFramer(MAX_MESSAGE);
            QmpFramer.Sink sink = new QmpFramer.Sink() {
                @Override
                public void text(String json) {
                    qmp.dispatch(Client.this, json);
                }

                @Override
                public void tooLong() {
                    send(Json.obj("error", Json.obj("class", QmpError.GENERIC,
                            "desc", "JSON parse error, message longer than " + MAX_MESSAGE + " characters")));
                }
            };
            // Not closed here: closing the stream closes the channel, and the writer still has
            // replies to send to a client that half-closed after its last command (socat, nc -N).
            // The writer closes the channel once it has written them (close() below).
            Reader r = new InputStreamReader(Channels.newInputStream(ch), StandardCharsets.UTF_8);
            try {
                char[] buf = new char[8192];
                for (int n; (n = r.read(buf)) > 0; ) {
                    if (!framer.feed(buf, 0, n, sink)) {
                        break;
                    }
                }
            } catch (IOException e) {
                LOG.log(System.Logger.Level.DEBUG, "QMP client: {0}", e.getMessage());
            } finally {
                qmp.closed(this);
                close();
            }
        }

        /** Queues no more output; the writer writes what is queued, then closes the connection. Any thread. */
        void close() {
            clients.remove(this);
            synchronized (this) {
                closing = true;
                notifyAll();
            }
        }

        /** Closes the connection now, dropping unsent output (a blocked write or read ends). Any thread. */
        void abort() {
            close();
            synchronized (this) {
                pending.clear();
                pendingBytes = 0;
            }
            try {
                ch.close();
            } catch (IOException e) {
                // already gone
            }
        }
    }

    /** Stops accepting, disconnects every client, removes the socket file. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            server.close();
        } catch (IOException e) {
            // best effort
        }
        List<Client> all = List.copyOf(clients);
        for (Client c : all) {
            c.close(); // a "quit" reply still queued gets written
        }
        long deadline = System.nanoTime() + DRAIN_MS * 1_000_000;
        try {
            for (Client c : all) {
                long left = deadline - System.nanoTime();
                if (left > 0) {
                    c.writer.join(Math.max(1, left / 1_000_000));
                }
                c.abort(); // a client that does not read is cut off
            }
            acceptor.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            all.forEach(Client::abort);
        }
        try {
            Files.deleteIfExists(path);
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "removing {0}: {1}", path, e.getMessage());
        }
    }
}
