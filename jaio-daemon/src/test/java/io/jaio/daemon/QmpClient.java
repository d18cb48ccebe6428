package io.jaio.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * A raw QMP client for the tests: one JSON object per line each way, as on the wire. Replies are
 * parsed with the daemon's {@link Json}; events seen while waiting for a reply are kept for
 * {@link #awaitEvent}. Every read is bounded (a test never hangs on a silent daemon).
 */
final class QmpClient implements AutoCloseable {
    private static final long READ_TIMEOUT_S = 60;
    private final SocketChannel ch;
    private final BufferedReader in;
    private final OutputStream out;
    private final Deque<Map<String, Object>> events = new ArrayDeque<>();
    private final ExecutorService reader = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "qmp-test-reader");
        t.setDaemon(true);
        return t;
    });
    final Map<String, Object> greeting;

    private QmpClient(SocketChannel ch) throws IOException {
        this.ch = ch;
        this.in = new BufferedReader(new InputStreamReader(Channels.newInputStream(ch), StandardCharsets.UTF_8));
        this.out = Channels.newOutputStream(ch);
        this.greeting = readObject();
    }

    /** Connects and reads the greeting (not negotiated yet). */
    static QmpClient connect(Path socket) throws IOException {
        SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        ch.connect(UnixDomainSocketAddress.of(socket));
        return new QmpClient(ch);
    }

    /** Connects and negotiates capabilities. */
    static QmpClient negotiated(Path socket) throws IOException {
        QmpClient c = connect(socket);
        assertEquals(Map.of("return", Map.of()), c.execute("qmp_capabilities", null));
        return c;
    }

    /** Half-closes: the daemon reads EOF after what was sent, as from {@code socat} or {@code nc -N}. */
    void shutdownOutput() {
        try {
            ch.shutdownOutput();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The next line as an object, or null at EOF. */
    String readLine() {
        Future<String> f = reader.submit(in::readLine);
        try {
            return f.get(READ_TIMEOUT_S, TimeUnit.SECONDS);
        } catch (Exception e) {
            f.cancel(true);
            throw new AssertionError("no QMP line within " + READ_TIMEOUT_S + " s", e);
        }
    }

    @SuppressWarnings("unchecked")
    private Map<String, Object> readObject() {
        String line = readLine();
        if (line == null) {
            return null;
        }
        try {
            return (Map<String, Object>) Json.parse(line);
        } catch (Json.JsonException e) {
            throw new AssertionError("daemon sent bad JSON: " + line, e);
        }
    }

    void sendRaw(String text) {
        try {
            out.write(text.getBytes(StandardCharsets.UTF_8));
            out.flush();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Sends a raw text and returns the next reply (events are kept aside); null at EOF. */
    Map<String, Object> raw(String text) {
        sendRaw(text);
        return reply();
    }

    Map<String, Object> reply() {
        for (;;) {
            Map<String, Object> m = readObject();
            if (m == null || !m.containsKey("event")) {
                return m;
            }
            events.add(m);
        }
    }

    /** Runs a command; {@code argsJson} is the arguments object's JSON text or null. */
    Map<String, Object> execute(String command, String argsJson) {
        return raw("{\"execute\": \"" + command + "\"" + (argsJson == null ? "" : ", \"arguments\": " + argsJson) + "}\n");
    }

    /** Runs a command that must succeed; returns its "return" value. */
    Object ok(String command, String argsJson) {
        Map<String, Object> r = execute(command, argsJson);
        if (r == null || !r.containsKey("return")) {
            fail(command + " " + argsJson + " failed: " + r);
        }
        return r.get("return");
    }

    /** Runs a command that must fail; returns "class: desc". */
    String error(String command, String argsJson) {
        return describeError(execute(command, argsJson));
    }

    static String describeError(Map<String, Object> r) {
        if (r == null || !(r.get("error") instanceof Map<?, ?> e)) {
            throw new AssertionError("expected an error, got " + r);
        }
        return e.get("class") + ": " + e.get("desc");
    }

    /** The next event called {@code name} (earlier events of other names are dropped). */
    Map<String, Object> awaitEvent(String name) {
        for (;;) {
            while (!events.isEmpty()) {
                Map<String, Object> e = events.poll();
                if (name.equals(e.get("event"))) {
                    return e;
                }
            }
            Map<String, Object> m = readObject();
            if (m == null) {
                throw new AssertionError("connection closed while waiting for event " + name);
            }
            if (m.containsKey("event")) {
                events.add(m);
            } else {
                throw new AssertionError("unexpected reply while waiting for event " + name + ": " + m);
            }
        }
    }

    @Override
    public void close() {
        try {
            ch.close();
        } catch (IOException e) {
            // gone
        }
        reader.shutdownNow();
    }
}
