package io.jaio.daemon;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArraySet;
import java.util.function.Function;

/**
 * QMP command dispatch, QEMU's {@code qapi/qmp-dispatch.c} and {@code monitor/qmp.c} semantics:
 * request checking, capabilities negotiation, the command table, error replies, events. One
 * per daemon, shared by every monitor connection.
 *
 * <p>Threads: {@link #dispatch} from any connection's reader thread (commands serialize on the
 * daemon's lock inside each handler); {@link #emit} from any control thread.
 */
final class Qmp {
    /** One client connection: whether it negotiated, and how to write to it. */
    interface Session {
        boolean negotiated();

        void setNegotiated();

        /** Writes one JSON object and a newline; never throws (a dead client is closed). Any thread. */
        void send(Map<String, Object> message);
    }

    /** quit's return value: dispatch replies {} and then stops the daemon. */
    private static final Map<String, Object> QUIT = new LinkedHashMap<>();
    private final Daemon daemon;
    private final Map<String, Function<Args, Object>> commands = new LinkedHashMap<>();
    private final Set<Session> sessions = new CopyOnWriteArraySet<>();

    Qmp(Daemon daemon) {
        this.daemon = daemon;
        daemon.setEventSink(this::emit);
        commands.put("qmp_capabilities", a -> {
            throw new QmpError(QmpError.COMMAND_NOT_FOUND, "Capabilities negotiation is already complete, command ignored");
        });
        commands.put("query-version", a -> {
            a.done();
            return version();
        });
        commands.put("query-commands", a -> {
            a.done();
            List<Object> l = new ArrayList<>();
            for (String n : commands.keySet()) {
                l.add(Json.obj("name", n));
            }
            return l;
        });
        commands.put("quit", a -> {
            a.done();
            return QUIT; // the stop is requested once the reply is out (dispatch)
        });
        commands.put("blockdev-add", a -> {
            daemon.blockdevAdd(a);
            return Json.obj();
        });
        commands.put("blockdev-del", a -> {
            daemon.blockdevDel(a);
            return Json.obj();
        });
        commands.put("query-named-block-nodes", daemon::queryNamedBlockNodes);
        commands.put("nbd-server-start", a -> {
            daemon.nbdServerStart(a);
            return Json.obj();
        });
        commands.put("nbd-server-stop", a -> {
            daemon.nbdServerStop(a);
            return Json.obj();
        });
        commands.put("block-export-add", a -> {
            daemon.exportAdd(a);
            return Json.obj();
        });
        commands.put("block-export-del", a -> {
            daemon.exportDel(a);
            return Json.obj();
        });
        commands.put("query-block-exports", a -> {
            a.done();
            return daemon.queryBlockExports();
        });
        commands.put("object-add", a -> {
            daemon.objectAdd(a);
            return Json.obj();
        });
        commands.put("object-del", a -> {
            daemon.objectDel(a);
            return Json.obj();
        });
        commands.put("block-dirty-bitmap-add", a -> {
            daemon.bitmapAdd(a);
            return Json.obj();
        });
        for (String op : List.of("remove", "clear", "enable", "disable")) {
            commands.put("block-dirty-bitmap-" + op, a -> {
                daemon.bitmapOp(op, a);
                return Json.obj();
            });
        }
        commands.put("block-dirty-bitmap-merge", a -> {
            daemon.bitmapMerge(a);
            return Json.obj();
        });
        commands.put("x-jaio-block-dirty-bitmap-checkpoint", daemon::bitmapCheckpoint);
        commands.put("query-stats", a -> Metrics.queryStats(daemon, a));
        commands.put("query-iothreads", a -> {
            a.done();
            return daemon.queryIoThreads();
        });
    }

    /** query-version's value (also the greeting's). */
    static Map<String, Object> version() {
        String v = StorageDaemon.class.getPackage().getImplementationVersion();
        long[] n = {0, 1, 0};
        if (v != null) {
            String[] p = v.split("[.-]");
            for (int i = 0; i < 3 && i < p.length; i++) {
                try {
                    n[i] = Long.parseLong(p[i]);
                } catch (NumberFormatException e) {
                    break;
                }
            }
        }
        return Json.obj("qemu", Json.obj("micro", n[2], "minor", n[1], "major", n[0]),
                "package", "jaio-storage-daemon " + (v != null ? v : "(development build)"));
    }

    /** The greeting sent when a client connects. */
    static Map<String, Object> greeting() {
        return Json.obj("QMP", Json.obj("version", version(), "capabilities", List.of()));
    }

    void opened(Session s) {
        sessions.add(s);
        s.send(greeting());
    }

    void closed(Session s) {
        sessions.remove(s);
    }

    /** Sends {@code event} (with "event" and optional "data") to every negotiated client, stamped now. Any thread. */
    void emit(Map<String, Object> event) {
        java.time.Instant now = java.time.Instant.now();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("timestamp", Json.obj("seconds", now.getEpochSecond(), "microseconds", (long) (now.getNano() / 1000)));
        m.putAll(event);
        for (Session s : sessions) {
            if (s.negotiated()) {
                s.send(m);
            }
        }
    }

    /** Handles one JSON text from {@code s} and sends the reply. Reader thread of s. */
    void dispatch(Session s, String text) {
        Object req;
        try {
            req = Json.parse(text);
        } catch (Json.JsonException e) {
            s.send(error(QmpError.GENERIC, e.getMessage()));
            return;
        }
        Object id = req instanceof Map<?, ?> m ? m.get("id") : null;
        Map<String, Object> reply;
        boolean quit = false;
        try {
            Object ret = execute(s, req);
            quit = ret == QUIT;
            reply = Json.obj("return", quit ? Json.obj() : ret);
        } catch (QmpError e) {
            reply = error(e.errorClass(), e.getMessage());
        } catch (RuntimeException e) {
            System.getLogger("io.jaio.daemon").log(System.Logger.Level.WARNING, "QMP command failed", e);
            reply = error(QmpError.GENERIC, String.valueOf(e.getMessage()));
        }
        if (id != null) {
            Map<String, Object> withId = new LinkedHashMap<>(reply);
            withId.put("id", id);
            reply = withId;
        }
        s.send(reply);
        if (quit) {
            Daemon.requestStop(); // after the reply: closing the monitors must not race it
        }
    }

    private static Map<String, Object> error(String cls, String desc) {
        return Json.obj("error", Json.obj("class", cls, "desc", desc));
    }

    private Object execute(Session s, Object req) {
        if (!(req instanceof Map<?, ?> raw)) {
            throw QmpError.generic("QMP input must be a JSON object");
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> dict = (Map<String, Object>) raw;
        String command = null;
        for (Map.Entry<String, Object> e : dict.entrySet()) {
            switch (e.getKey()) {
                case "execute" -> {
                    if (!(e.getValue() instanceof String c)) {
                        throw QmpError.generic("QMP input member 'execute' must be a string");
                    }
                    command = c;
                }
                case "arguments" -> {
                    if (!(e.getValue() instanceof Map)) {
                        throw QmpError.generic("QMP input member 'arguments' must be an object");
                    }
                }
                case "id" -> { }
                case "exec-oob" -> throw QmpError.generic("QMP input member 'exec-oob' is unexpected");
                default -> throw QmpError.generic("QMP input member '" + e.getKey() + "' is unexpected");
            }
        }
        if (command == null) {
            throw QmpError.generic("QMP input lacks member 'execute'");
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> argMap = dict.containsKey("arguments") ? (Map<String, Object>) dict.get("arguments") : Map.of();
        Args args = Args.qmp(argMap);
        if (!s.negotiated()) {
            if (!command.equals("qmp_capabilities")) {
                throw new QmpError(QmpError.COMMAND_NOT_FOUND, "Expecting capabilities negotiation with 'qmp_capabilities'");
            }
            if (args.has("enable")) {
                Object en = argMap.get("enable");
                if (!(en instanceof List<?> l)) {
                    throw QmpError.generic("Invalid parameter type for 'enable', expected: array");
                }
                for (Object cap : l) {
                    if (!(cap instanceof String c)) {
                        throw QmpError.generic("Invalid parameter type for 'enable[0]', expected: string");
                    }
                    if (c.equals("oob")) {
                        throw QmpError.generic("Capability 'oob' not available");
                    }
                    throw QmpError.generic("Parameter 'enable[0]' does not accept value '" + c + "'");
                }
                args.ignore("enable");
            }
            args.done();
            s.setNegotiated();
            return Json.obj();
        }
        Function<Args, Object> f = commands.get(command);
        if (f == null) {
            throw new QmpError(QmpError.COMMAND_NOT_FOUND, "The command " + command + " has not been found");
        }
        return f.apply(args);
    }
}
