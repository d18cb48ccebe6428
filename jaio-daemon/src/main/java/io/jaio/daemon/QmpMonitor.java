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
    /** Most clients connected at once; more are closed at once (each costs a thread). */
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
            t.start();
        }
    }

    /** One connected client. */
    private final class Client implements Qmp.Session {
        private final SocketChannel ch;
        private final OutputStream out;
        /** Set by the reader thread, read by event emitters (volatile). */
        private volatile boolean negotiated;

        Client(SocketChannel ch) {
            this.ch = ch;
            this.out = Channels.newOutputStream(ch);
        }

        @Override
        public boolean negotiated() {
            return negotiated;
        }

        @Override
        public void setNegotiated() {
            negotiated = true;
        }

        @Override
        public void send(Map<String, Object> message) {
            byte[] b = (Json.write(message) + "\r\n").getBytes(StandardCharsets.UTF_8);
            synchronized (this) { // replies and events never interleave
                try {
                    out.write(b);
                    out.flush();
                } catch (IOException e) {
                    close();
                }
            }
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
            try (Reader r = new InputStreamReader(Channels.newInputStream(ch), StandardCharsets.UTF_8)) {
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

        void close() {
            clients.remove(this);
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
        for (Client c : clients) {
            c.close();
        }
        try {
            acceptor.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            Files.deleteIfExists(path);
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "removing {0}: {1}", path, e.getMessage());
        }
    }
}
