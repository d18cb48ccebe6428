package io.jaio.aio;

import io.jaio.linux.Linux;
import io.jaio.linux.NativeException;
import io.jaio.linux.Sockets;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Runs an {@link AioContext} inside a plain {@link Selector} loop, through its {@link AioSource}:
 * the loop's thread is the context's home thread, and bottom halves, timers, fd handlers,
 * thread-pool completions and cross-thread wake-ups all run there, between the loop's own
 * channel events. Replace the loop's {@code selector.select(...)} with {@link #select(long)}:
 *
 * <pre>{@code
 * AioContext ctx = AioContext.builder().fdMonitor(FdMonitorKind.EPOLL).build(); // in the loop's thread
 * Selector selector = Selector.open();
 * try (SelectorEmbedding emb = SelectorEmbedding.register(ctx, selector)) {
 *     while (running) {
 *         emb.select(-1);                                // waits; runs the context's work
 *         for (SelectionKey k : selector.selectedKeys()) { ... }   // the loop's own channels
 *         selector.selectedKeys().clear();
 *     }
 * }
 * }</pre>
 *
 * <p>How the context's fd gets into a Selector: a {@code Selector} only takes JDK channels, and
 * the JDK has no channel over a foreign fd. So {@link #register} opens a Unix-domain
 * {@link ServerSocketChannel} bound to a fresh unique path, finds the fd the JDK gave it (the
 * one socket in {@code /proc/self/fd} whose {@code getsockname(2)} is that path), and
 * {@code dup3(2)}s the context's epoll fd ({@link AioSource#fd()}) over it. The channel, never
 * accepted from, now stands for the epoll fd: registered for {@code OP_ACCEPT} (POLLIN), it is
 * selected whenever the context has work. Closing the channel closes only that duplicate. Only
 * public JDK API and system calls are used (no reflection into the JDK), so the trick depends on
 * nothing but Linux semantics; the fd monitor must be EPOLL ({@link AioSource} explains why).
 *
 * <p>Closing: close the embedding before the context. Each path of {@link #register} that fails
 * closes the channel (and so the duplicate) and deletes the socket file before it throws; the file
 * is gone once {@code register} returns either way. The duplicate keeps the epoll instance alive
 * until {@link #close()}, also if the context is closed first.
 *
 * <p>Threads: {@link #register}, {@link #select}, {@link #beforeSelect()}, {@link #afterSelect()}
 * and {@link #close()} run in the context's home thread, which must be the thread that runs the
 * selector loop; {@link #source()} and {@link #key()} in any thread.
 */
public final class SelectorEmbedding implements AutoCloseable {
    /** Makes socket paths unique within the process; atomic for uniqueness only (pairs with nothing). */
    private static final AtomicLong SEQ = new AtomicLong();

    private final AioSource source;
    private final Selector selector;
    private final ServerSocketChannel channel;
    private final SelectionKey key;
    private boolean closed;

    private SelectorEmbedding(AioSource source, Selector selector, ServerSocketChannel channel, SelectionKey key) {
        this.source = source;
        this.selector = selector;
        this.channel = channel;
        this.key = key;
    }

    /**
     * Registers {@code ctx} with {@code selector}. Home thread of {@code ctx} (the selector loop's
     * thread).
     *
     * @param ctx the context to embed, built with the EPOLL fd monitor
     * @param selector the host loop's selector
     * @return the embedding, to drive with {@link #select(long)} (or {@link #beforeSelect()} and
     *     {@link #afterSelect()} around the loop's own {@code select})
     * @throws UnsupportedOperationException if the context's fd monitor cannot be embedded (not EPOLL)
     * @throws IllegalStateException off the home thread or if the context is closed
     * @throws UncheckedIOException if the channel that carries the fd cannot be made or registered
     * @throws java.nio.channels.ClosedSelectorException if {@code selector} is closed
     */
    public static SelectorEmbedding register(AioContext ctx, Selector selector) {
        Objects.requireNonNull(selector, "selector");
        AioSource source = AioSource.of(ctx);
        ServerSocketChannel ch = adopt(source.fd());
        try {
            SelectionKey key = ch.register(selector, SelectionKey.OP_ACCEPT, source);
            return new SelectorEmbedding(source, selector, ch, key);
        } catch (IOException e) {
            closeQuietly(ch, e);
            throw new UncheckedIOException("cannot register context '" + ctx.name() + "' with the selector", e);
        } catch (RuntimeException e) {
            closeQuietly(ch, e);
            throw e;
        }
    }

    /** A JDK channel whose fd is a duplicate of {@code fd} (see the class comment). */
    private static ServerSocketChannel adopt(int fd) {
        Path path = socketPath();
        ServerSocketChannel ch;
        try {
            ch = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open a Unix-domain channel to carry the context's fd", e);
        }
        try {
            ch.configureBlocking(false); // before dup3: afterwards the JDK must not touch the fd's flags
            ch.bind(UnixDomainSocketAddress.of(path), 1);
            int mine = findSocketBoundTo(path);
            Linux.dup3(fd, mine, Linux.O_CLOEXEC);
            return ch;
        } catch (IOException e) {
            closeQuietly(ch, e);
            throw new UncheckedIOException("cannot carry fd " + fd + " in a channel (socket " + path + ")", e);
        } catch (RuntimeException e) {
            closeQuietly(ch, e);
            throw e;
        } finally {
            try {
                Files.deleteIfExists(path);
            } catch (IOException ignored) {
                // a stale socket file in the temp directory; nothing listens on it any more
            }
        }
    }

    /** A fresh socket path, short enough for {@code sun_path} (107 bytes). */
    private static Path socketPath() {
        String name = "jaio-sel-" + ProcessHandle.current().pid() + "-" + SEQ.incrementAndGet() + "-"
                + Long.toHexString(System.nanoTime()) + ".sock";
        Path dir = Path.of(System.getProperty("java.io.tmpdir", "/tmp")).toAbsolutePath();
        Path p = dir.resolve(name);
        return p.toString().length() < 100 ? p : Path.of("/tmp", name);
    }

    /** The fd of the one socket in this process bound to {@code path}. */
    private static int findSocketBoundTo(Path path) throws IOException {
        String want = path.toString();
        try (DirectoryStream<Path> fds = Files.newDirectoryStream(Path.of("/proc/self/fd"))) {
            for (Path p : fds) {
                int fd;
                try {
                    fd = Integer.parseInt(p.getFileName().toString());
                    if (!Files.readSymbolicLink(p).toString().startsWith("socket:")) {
                        continue;
                    }
                } catch (NumberFormatException | IOException gone) {
                    continue; // closed since the listing (or the listing's own fd)
                }
                SocketAddress a;
                try {
                    a = Sockets.localAddress(fd);
                } catch (NativeException notOurs) {
                    continue;
                }
                if (a instanceof UnixDomainSocketAddress u && u.getPath().toString().equals(want)) {
                    return fd;
                }
            }
        }
        throw new IOException("no socket bound to " + want + " in /proc/self/fd");
    }

    private static void closeQuietly(ServerSocketChannel ch, Exception cause) {
        try {
            ch.close();
        } catch (IOException e) {
            cause.addSuppressed(e);
        }
    }

    /** {@return the embedded context's source} Any thread. */
    public AioSource source() {
        return source;
    }

    /**
     * {@return the key of the channel that carries the context's fd (attachment: the
     * {@link AioSource})} {@link #select} takes it out of the selected-key set; a loop that calls
     * {@code select} itself leaves it to {@link #afterSelect()}. Any thread.
     */
    public SelectionKey key() {
        return key;
    }

    /**
     * One loop iteration: {@link AioSource#prepare()}, {@code selector.select} for the sooner of
     * the context's timeout and {@code timeoutMs}, then {@link AioSource#check()} and, if it has
     * work, {@link AioSource#dispatch()}. The context's own key is taken out of the selected-key
     * set; the caller's keys stay there for it to handle. Home thread.
     *
     * @param timeoutMs the caller's own bound: negative for none, 0 not to block
     * @return the number of the caller's keys whose ready sets were updated (as {@code select})
     * @throws IOException if the selector fails
     * @throws IllegalStateException after {@link #close()}, off the home thread, or after the
     *     context was closed
     */
    public int select(long timeoutMs) throws IOException {
        long ms = beforeSelect();
        if (timeoutMs >= 0) {
            ms = ms < 0 ? timeoutMs : Math.min(ms, timeoutMs);
        }
        int n;
        boolean own = false;
        try {
            n = ms == 0 ? selector.selectNow() : ms < 0 ? selector.select() : selector.select(ms);
            own = selector.selectedKeys().contains(key);
        } finally {
            afterSelect();
        }
        return own ? Math.max(0, n - 1) : n;
    }

    /**
     * For a loop that calls {@code select} itself: {@link AioSource#prepare()} as a
     * {@code select} timeout in ms (-1 none: call {@code select()}; 0: call {@code selectNow()}).
     * Pair every call with {@link #afterSelect()}. Home thread.
     *
     * @return the timeout in ms: -1, 0, or how long {@code select} may block
     */
    public long beforeSelect() {
        checkOpen();
        return AioSource.timeoutMs(source.prepare());
    }

    /**
     * After the loop's {@code select}: removes the context's key from the selected-key set, then
     * {@link AioSource#check()} and, if there is work, {@link AioSource#dispatch()}. Returns
     * whether the dispatch made progress. Home thread.
     *
     * @return whether a callback ran
     * @throws IllegalStateException after {@link #close()} (as {@link #beforeSelect()}), or off
     *     the home thread
     */
    public boolean afterSelect() {
        checkOpen();
        selector.selectedKeys().remove(key);
        return source.check() && source.dispatch();
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("selector embedding of " + source.context().name() + " is closed");
        }
    }

    /**
     * Cancels the context's key and closes the channel's duplicate of the context's fd. The JDK
     * releases a registered channel's fd at the selector's next selection operation, so this runs
     * a {@code selectNow()} if the selector is open (keys it selects stay in the selected-key set
     * for the loop). The context itself stays open (close it in this thread afterwards).
     * Idempotent. Home thread.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        key.cancel();
        try {
            channel.close();
            if (selector.isOpen()) {
                selector.selectNow();
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot close the channel of context '" + source.context().name() + "'", e);
        }
    }
}
