package io.jaio.daemon;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A validated daemon configuration: the command line, or the no-argument default (a 1 GiB sparse
 * image exported as {@code disk} on a Unix socket and on 127.0.0.1:10809). Immutable.
 */
record DaemonConfig(List<Specs.IoThreadSpec> iothreads, List<Specs.Export> exports, List<Specs.Listen> listens,
                    Path pidfile, boolean defaultMode, List<Map<String, String>> objects,
                    List<Map<String, String>> blockdevs, List<Map<String, String>> qsdExports, List<Path> monitors,
                    int maxConnections, InetSocketAddress metrics, List<Integer> activationFds, String tlsCreds,
                    String tlsAuthz) {
    static final long DEFAULT_IMAGE_SIZE = 1L << 30;
    static final String DEFAULT_EXPORT = "disk";
    static final int DEFAULT_PORT = 10809;

    DaemonConfig(List<Specs.IoThreadSpec> iothreads, List<Specs.Export> exports, List<Specs.Listen> listens,
                 Path pidfile, boolean defaultMode) {
        this(iothreads, exports, listens, pidfile, defaultMode, List.of(), List.of(), List.of(), List.of(), 0, null, List.of(),
                null, null);
    }

    /** @throws IllegalArgumentException for bad arguments (exit 2), naming the bad part */
    static DaemonConfig from(StorageDaemon cli) {
        if (cli.exports.isEmpty() && cli.iothreads.isEmpty() && cli.servers.isEmpty() && cli.objects.isEmpty()
                && cli.blockdevs.isEmpty() && cli.monitors.isEmpty() && cli.chardevs.isEmpty() && cli.metrics == null) {
            return defaults(cli.dataDir != null ? cli.dataDir : defaultDataDir(), cli.pidfile);
        }
        List<Specs.IoThreadSpec> its = new ArrayList<>();
        for (String s : cli.iothreads) {
            its.add(Specs.IoThreadSpec.parse(s));
        }
        List<Map<String, String>> objects = new ArrayList<>();
        for (String s : cli.objects) {
            Map<String, String> kv = KeyValues.parseAny("--object", s, "qom-type");
            if ("iothread".equals(kv.get("qom-type"))) {
                its.add(Specs.IoThreadSpec.fromObject(kv));
            } else {
                objects.add(kv);
            }
        }
        List<Map<String, String>> blockdevs = new ArrayList<>();
        for (String s : cli.blockdevs) {
            blockdevs.add(KeyValues.parseAny("--blockdev", s, "driver"));
        }
        List<Specs.Export> exs = new ArrayList<>();
        List<Map<String, String>> qsdExports = new ArrayList<>();
        for (String s : cli.exports) {
            Map<String, String> kv = KeyValues.parseAny("--export", s, "type");
            if (kv.containsKey("type")) {
                qsdExports.add(kv);
            } else {
                exs.add(Specs.Export.parse(s));
            }
        }
        List<Specs.Listen> ls = new ArrayList<>();
        int maxConnections = 0;
        String tlsCreds = null;
        String tlsAuthz = null;
        for (String s : cli.servers) {
            Map<String, String> kv = KeyValues.parseAny("--nbd-server", s, "unix");
            // tls-creds=ID and tls-authz=ID go with either form (QEMU's addr.* one and jaio's short one)
            for (String k : List.of("tls-creds", "tls-authz")) {
                String v = kv.remove(k);
                if (v == null) {
                    continue;
                }
                String old = k.equals("tls-creds") ? tlsCreds : tlsAuthz;
                if (old != null && !old.equals(v)) {
                    throw new IllegalArgumentException("--nbd-server: " + k + "=" + v + " differs from " + k + "=" + old
                            + " of another --nbd-server (one NBD server, one set of credentials)");
                }
                if (k.equals("tls-creds")) {
                    tlsCreds = v;
                } else {
                    tlsAuthz = v;
                }
            }
            if (kv.keySet().stream().anyMatch(k -> k.startsWith("addr.") || k.equals("max-connections"))) {
                Map<String, String> addr = new LinkedHashMap<>();
                for (Map.Entry<String, String> e : kv.entrySet()) {
                    if (e.getKey().startsWith("addr.")) {
                        addr.put(e.getKey(), e.getValue());
                    } else if (e.getKey().equals("max-connections")) {
                        maxConnections = (int) KeyValues.nonNegativeLong("--nbd-server", "max-connections", e.getValue());
                    } else {
                        throw new IllegalArgumentException("--nbd-server: unknown key '" + e.getKey()
                                + "' (known: addr.type, addr.path, addr.host, addr.port, max-connections, tls-creds,"
                                + " tls-authz)");
                    }
                }
                try {
                    ls.add(Daemon.parseAddr(Args.keyval(addr).object("addr"), false));
                } catch (QmpError e) {
                    throw new IllegalArgumentException("--nbd-server: " + e.getMessage(), e);
                }
            } else {
                ls.add(Specs.Listen.parse(kv, s));
            }
        }
        Map<String, Path> chardevs = new LinkedHashMap<>();
        for (String s : cli.chardevs) {
            Map<String, String> kv = KeyValues.parseAny("--chardev", s, "backend");
            if (!"socket".equals(kv.get("backend"))) {
                throw new IllegalArgumentException("--chardev: only socket chardevs are supported, got '" + s + "'");
            }
            String id = kv.get("id");
            String path = kv.get("path");
            if (id == null || path == null) {
                throw new IllegalArgumentException("--chardev: id=ID and path=PATH are required in '" + s + "'");
            }
            for (String k : kv.keySet()) {
                switch (k) {
                    case "backend", "id", "path" -> { }
                    case "server" -> {
                        if (!KeyValues.onOff("--chardev", k, kv.get(k))) {
                            throw new IllegalArgumentException("--chardev: only server=on is supported");
                        }
                    }
                    case "wait" -> {
                        if (KeyValues.onOff("--chardev", k, kv.get(k))) {
                            throw new IllegalArgumentException("--chardev: wait=on is not supported (use wait=off)");
                        }
                    }
                    default -> throw new IllegalArgumentException("--chardev: unknown key '" + k + "' (known: id, path, server, wait)");
                }
            }
            if (chardevs.put(id, Path.of(path)) != null) {
                throw new IllegalArgumentException("--chardev: id '" + id + "' given twice");
            }
        }
        List<Path> monitors = new ArrayList<>();
        for (String s : cli.monitors) {
            Map<String, String> kv = KeyValues.parse("--monitor", s,
                    new java.util.LinkedHashSet<>(List.of("unix", "chardev", "mode", "pretty")));
            if (kv.containsKey("mode") && !kv.get("mode").equals("control")) {
                throw new IllegalArgumentException("--monitor: only mode=control (QMP) is supported");
            }
            if (kv.containsKey("pretty") && KeyValues.onOff("--monitor", "pretty", kv.get("pretty"))) {
                throw new IllegalArgumentException("--monitor: pretty=on is not supported");
            }
            if (kv.containsKey("unix") == kv.containsKey("chardev")) {
                throw new IllegalArgumentException("--monitor: give exactly one of unix=PATH or chardev=ID, got '" + s + "'");
            }
            Path p;
            if (kv.containsKey("unix")) {
                p = Path.of(kv.get("unix"));
            } else {
                p = chardevs.get(kv.get("chardev"));
                if (p == null) {
                    throw new IllegalArgumentException("--monitor: chardev '" + kv.get("chardev") + "' not found");
                }
            }
            if (p.toString().isEmpty() || p.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8).length > 107) {
                throw new IllegalArgumentException("--monitor: " + p + " must be a path of 1 to 107 bytes");
            }
            monitors.add(p);
        }
        if (exs.isEmpty() && qsdExports.isEmpty() && monitors.isEmpty()) {
            throw new IllegalArgumentException("no --export given (or run with no arguments for the default image)");
        }
        List<Integer> activation = Systemd.listenFds(System.getenv(), ProcessHandle.current().pid());
        if ((!exs.isEmpty() || !qsdExports.isEmpty()) && ls.isEmpty() && activation.isEmpty()) {
            throw new IllegalArgumentException("no --nbd-server given: add --nbd-server unix=PATH or tcp=HOST:PORT");
        }
        Map<String, Specs.IoThreadSpec> byId = new LinkedHashMap<>();
        for (Specs.IoThreadSpec it : its) {
            if (byId.put(it.id(), it) != null) {
                throw new IllegalArgumentException("--iothread: id '" + it.id() + "' given twice");
            }
        }
        Set<String> names = new HashSet<>();
        for (Specs.Export e : exs) {
            if (!names.add(e.name())) {
                throw new IllegalArgumentException("--export: name '" + e.name() + "' given twice");
            }
            if (e.iothread() != null) {
                Set<String> seen = new HashSet<>();
                for (String id : e.iothreadIds()) {
                    if (!byId.containsKey(id)) {
                        throw new IllegalArgumentException("--export " + e.name() + ": iothread " + id
                                + " is not defined by an --iothread id=" + id);
                    }
                    if (!seen.add(id)) {
                        throw new IllegalArgumentException("--export " + e.name() + ": iothread " + id + " listed twice");
                    }
                }
            }
        }
        if (byId.isEmpty() && !exs.isEmpty()) {
            its.add(Specs.IoThreadSpec.withDefaults("io0"));
        }
        InetSocketAddress metrics = null;
        if (cli.metrics != null) {
            Map<String, String> kv = KeyValues.parse("--metrics", cli.metrics, new java.util.LinkedHashSet<>(List.of("tcp")));
            if (!kv.containsKey("tcp")) {
                throw new IllegalArgumentException("--metrics: give tcp=HOST:PORT");
            }
            try {
                metrics = (InetSocketAddress) Specs.Listen.parse("tcp=" + kv.get("tcp")).address();
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(e.getMessage().replace("--nbd-server", "--metrics"), e);
            }
        }
        return new DaemonConfig(its, exs, ls, cli.pidfile, false, objects, blockdevs, qsdExports, monitors, maxConnections,
                metrics, activation, tlsCreds, tlsAuthz);
    }

    /**
     * The IoThread ids that serve the exports (connections are spread over them); empty: the
     * daemon's internal main-loop thread.
     */
    List<String> exportIoThreads() {
        for (Specs.Export e : exports) {
            if (e.iothread() != null) {
                return e.iothreadIds();
            }
        }
        for (Map<String, String> x : qsdExports) {
            if (x.containsKey("iothread")) {
                return List.of(x.get("iothread"));
            }
        }
        return iothreads.isEmpty() ? List.of() : List.of(iothreads.get(0).id());
    }

    static Path defaultDataDir() {
        String env = System.getenv("JAIO_DATA_DIR");
        if (env != null && !env.isEmpty()) {
            return Path.of(env);
        }
        String xdg = System.getenv("XDG_DATA_HOME");
        if (xdg != null && !xdg.isEmpty()) {
            return Path.of(xdg, "jaio");
        }
        return Path.of(System.getProperty("user.home"), ".local", "share", "jaio");
    }

    /** The no-argument configuration; creates the data directory and the sparse image if absent. */
    static DaemonConfig defaults(Path dataDir, Path pidfile) {
        Path image = dataDir.resolve("disk.img");
        try {
            Files.createDirectories(dataDir);
            if (!Files.exists(image)) {
                try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
                    f.setLength(DEFAULT_IMAGE_SIZE); // sparse: no block is written
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the default image " + image + ": " + e.getMessage(), e);
        }
        Path sock = dataDir.resolve("nbd.sock").toAbsolutePath();
        if (sock.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8).length > 107) {
            sock = Path.of(System.getProperty("java.io.tmpdir"), "jaio-" + System.getProperty("user.name") + ".sock");
        }
        try {
            Files.deleteIfExists(sock); // ours, left by an earlier run
        } catch (IOException e) {
            throw new UncheckedIOException("cannot remove the stale socket " + sock + ": " + e.getMessage(), e);
        }
        Specs.Export export = new Specs.Export(DEFAULT_EXPORT, image.toAbsolutePath(), false, false,
                io.jaio.block.RawFileBackend.Engine.AUTO, "io0", "jaio default image", true, true);
        List<Specs.Listen> ls = List.of(
                new Specs.Listen(UnixDomainSocketAddress.of(sock), "nbd+unix:///?socket=" + sock),
                new Specs.Listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), DEFAULT_PORT),
                        "nbd://127.0.0.1:" + DEFAULT_PORT));
        return new DaemonConfig(List.of(Specs.IoThreadSpec.withDefaults("io0")), List.of(export), ls, pidfile, true);
    }
}
