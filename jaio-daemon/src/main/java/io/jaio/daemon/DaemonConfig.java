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
                    Path pidfile, boolean defaultMode) {
    static final long DEFAULT_IMAGE_SIZE = 1L << 30;
    static final String DEFAULT_EXPORT = "disk";
    static final int DEFAULT_PORT = 10809;

    /** @throws IllegalArgumentException for bad arguments (exit 2), naming the bad part */
    static DaemonConfig from(StorageDaemon cli) {
        if (cli.exports.isEmpty() && cli.iothreads.isEmpty() && cli.servers.isEmpty()) {
            return defaults(cli.dataDir != null ? cli.dataDir : defaultDataDir(), cli.pidfile);
        }
        List<Specs.IoThreadSpec> its = new ArrayList<>();
        for (String s : cli.iothreads) {
            its.add(Specs.IoThreadSpec.parse(s));
        }
        List<Specs.Export> exs = new ArrayList<>();
        for (String s : cli.exports) {
            exs.add(Specs.Export.parse(s));
        }
        List<Specs.Listen> ls = new ArrayList<>();
        for (String s : cli.servers) {
            ls.add(Specs.Listen.parse(s));
        }
        if (exs.isEmpty()) {
            throw new IllegalArgumentException("no --export given (or run with no arguments for the default image)");
        }
        if (ls.isEmpty()) {
            throw new IllegalArgumentException("no --nbd-server given: add --nbd-server unix=PATH or tcp=HOST:PORT");
        }
        Map<String, Specs.IoThreadSpec> byId = new LinkedHashMap<>();
        for (Specs.IoThreadSpec it : its) {
            if (byId.put(it.id(), it) != null) {
                throw new IllegalArgumentException("--iothread: id '" + it.id() + "' given twice");
            }
        }
        Set<String> names = new HashSet<>();
        Set<String> used = new HashSet<>();
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
            used.add(e.iothread() != null ? e.iothread() : firstOrDefault(byId));
        }
        if (used.size() > 1) {
            throw new IllegalArgumentException("--export: exports on different iothreads (" + String.join(", ", used)
                    + ") are not supported yet; give every export the same iothread=ID[:ID...]");
        }
        if (byId.isEmpty()) {
            its.add(Specs.IoThreadSpec.withDefaults("io0"));
        }
        return new DaemonConfig(its, exs, ls, cli.pidfile, false);
    }

    private static String firstOrDefault(Map<String, Specs.IoThreadSpec> byId) {
        return byId.isEmpty() ? "io0" : byId.keySet().iterator().next();
    }

    /** The IoThread ids that serve the exports (connections are spread over them). */
    List<String> exportIoThreads() {
        for (Specs.Export e : exports) {
            if (e.iothread() != null) {
                return e.iothreadIds();
            }
        }
        return List.of(iothreads.get(0).id());
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
