package io.jaio.daemon;

import io.jaio.aio.FdMonitorKind;

import io.jaio.block.RawFileBackend;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** The daemon's command-line objects, parsed from QEMU-style option strings. Immutable. */
final class Specs {
    private Specs() {}

    private static Set<String> keys(String... k) {
        return new LinkedHashSet<>(List.of(k));
    }

    /** {@code --export name=NAME,file=PATH[,readonly=on][,cache=none|writeback][,aio=io_uring|native|threads][,iothread=ID[:ID...]][,description=TEXT][,discard=unmap|ignore][,inline=on|off]} */
    record Export(String name, Path file, boolean readOnly, boolean cacheNone, RawFileBackend.Engine engine,
                  String iothread, String description, boolean discard, boolean inline) {
        /**
         * The IOThreads of {@code iothread=ID[:ID...]}: with more than one, connections are spread
         * round-robin over them. Empty if no iothread was given.
         */
        List<String> iothreadIds() {
            return iothread == null ? List.of() : List.of(iothread.split(":", -1));
        }

        static Export parse(String text) {
            Map<String, String> kv = KeyValues.parse("--export", text,
                    keys("name", "file", "readonly", "cache", "aio", "iothread", "description", "discard", "inline"));
            String name = kv.get("name");
            String file = kv.get("file");
            if (name == null || name.isEmpty()) {
                throw new IllegalArgumentException("--export: name=NAME is required in '" + text + "'");
            }
            if (name.length() > 4096) {
                throw new IllegalArgumentException("--export: name longer than 4096 bytes");
            }
            if (file == null || file.isEmpty()) {
                throw new IllegalArgumentException("--export: file=PATH is required in '" + text + "'");
            }
            boolean ro = kv.containsKey("readonly") && KeyValues.onOff("--export", "readonly", kv.get("readonly"));
            boolean cacheNone = switch (kv.getOrDefault("cache", "writeback")) {
                case "none" -> true;
                case "writeback" -> false;
                default -> throw new IllegalArgumentException("--export: cache=" + kv.get("cache") + " must be none or writeback");
            };
            RawFileBackend.Engine engine = switch (kv.getOrDefault("aio", "auto")) {
                case "io_uring" -> RawFileBackend.Engine.IO_URING;
                case "threads" -> RawFileBackend.Engine.THREADS;
                case "native" -> RawFileBackend.Engine.NATIVE;
                case "auto" -> RawFileBackend.Engine.AUTO;
                default -> throw new IllegalArgumentException("--export: aio=" + kv.get("aio")
                        + " must be io_uring, native or threads");
            };
            if (engine == RawFileBackend.Engine.NATIVE && !cacheNone) {
                throw new IllegalArgumentException("--export: " + Daemon.AIO_NATIVE_NEEDS_DIRECT);
            }
            String discardText = kv.getOrDefault("discard", "unmap");
            boolean discard = switch (discardText) {
                case "unmap", "on" -> true;
                case "ignore", "off" -> false;
                default -> throw new IllegalArgumentException("--export: discard=" + discardText + " must be unmap or ignore");
            };
            boolean inline = !kv.containsKey("inline") || KeyValues.onOff("--export", "inline", kv.get("inline"));
            return new Export(name, Path.of(file), ro, cacheNone, engine, kv.get("iothread"),
                    kv.getOrDefault("description", ""), discard, inline);
        }
    }

    /**
     * {@code --iothread id=ID[,poll-max-ns=N][,poll-grow=N][,poll-shrink=N][,poll-contention=on|off]
     * [,fd-monitor=auto|poll|epoll|io_uring]}
     */
    record IoThreadSpec(String id, long pollMaxNs, long pollGrow, long pollShrink, boolean pollContention,
                        FdMonitorKind fdMonitor) {
        /** With the daemon's poll-contention default and the automatic fd monitor. */
        IoThreadSpec(String id, long pollMaxNs, long pollGrow, long pollShrink) {
            this(id, pollMaxNs, pollGrow, pollShrink, DEFAULT_POLL_CONTENTION, FdMonitorKind.AUTO);
        }

        /** The {@code fd-monitor} values, as the key takes them (beyond QEMU, which picks its own). */
        static final List<String> FD_MONITORS =
                java.util.Arrays.stream(FdMonitorKind.values()).map(IoThreadSpec::fdMonitorName).toList();

        /** The monitor named {@code value} (one of {@link #FD_MONITORS}, checked by the caller). */
        static FdMonitorKind fdMonitor(String value) {
            return FdMonitorKind.valueOf(value.toUpperCase(java.util.Locale.ROOT));
        }

        /** The {@code fd-monitor} value naming {@code kind}. */
        static String fdMonitorName(FdMonitorKind kind) {
            return kind.name().toLowerCase(java.util.Locale.ROOT);
        }

        /**
         * Whether the daemon's IOThreads cap their busy polling while preempted too often
         * (AioContext.setPollContention; the library's default is off, as QEMU). See
         * docs/benchmarks.md §3, "Polling that notices CPU contention", for the measurement.
         */
        static final boolean DEFAULT_POLL_CONTENTION = false;

        /**
         * What {@code fd-monitor=auto} (the default) means for the daemon's IOThreads: epoll, with
         * io_uring requests on a ring of each IOThread's own where the kernel allows io_uring
         * (aio-semantics.md §7.5), where the library's AUTO would take the io_uring monitor. A
         * socket's readiness wakes an epoll waiter synchronously; through io_uring it arrives as
         * task work with a plain wake-up, and with more clients than CPUs that costs the tail.
         * Measured beside nbdkit and qemu-nbd, 2 IOThreads on the 2-vCPU VM, images in /dev/shm
         * (docs/benchmarks.md §3, 2026-12-03 night): 4k randread QD1 with 4 clients, p99 1270 µs
         * on io_uring against 177 µs on epoll (median of 5 rounds; qemu-nbd 161, nbdkit 259),
         * p99.9 3.0 against 4.6 ms; IOPS 0.98-1.24x the io_uring monitor's on every row.
         */
        static final FdMonitorKind AUTO_FD_MONITOR = FdMonitorKind.EPOLL;

        /** The monitor an IOThread asking for {@code kind} gets: {@link #AUTO_FD_MONITOR} for AUTO. */
        static FdMonitorKind resolve(FdMonitorKind kind) {
            return kind == FdMonitorKind.AUTO ? AUTO_FD_MONITOR : kind;
        }

        /**
         * The daemon's IOThreads busy-poll up to 64 µs, twice QEMU's 32 µs (which IoThread keeps
         * as the library default). A QD1 client's turnaround is one wake-up of the client plus
         * its work; on a VM, where waking a halted vCPU costs 25-30 µs, that is 30-40 µs: just
         * past 32 µs, so QEMU's window shrank to 0 after every request and each request paid
         * a halted-vCPU wake-up on the server as well. Measured on the 2-vCPU VM, 4k randread
         * QD1, one client, unpinned (docs/benchmarks.md §3): 32768 gave 0.82-0.91x nbdkit's IOPS,
         * 65536 gave 1.93-1.98x at the same or lower server CPU per request; the other rows of
         * the suite did not change beyond noise. Polling still stops when requests come less
         * often than every 64 µs (QEMU's shrink rule), so an idle daemon does not spin.
         */
        static final long DEFAULT_POLL_MAX_NS = 65536;

        /** An IOThread with the daemon's polling defaults. */
        static IoThreadSpec withDefaults(String id) {
            return new IoThreadSpec(id, DEFAULT_POLL_MAX_NS, 0, 0);
        }

        /** From {@code --object iothread,id=ID,poll-max-ns=N,...} (keys already split). */
        static IoThreadSpec fromObject(Map<String, String> kv) {
            StringBuilder b = new StringBuilder();
            for (Map.Entry<String, String> e : kv.entrySet()) {
                if (!e.getKey().equals("qom-type")) {
                    b.append(b.isEmpty() ? "" : ",").append(e.getKey()).append('=').append(e.getValue().replace(",", ",,"));
                }
            }
            return parse(b.toString(), "--object iothread");
        }

        static IoThreadSpec parse(String text) {
            return parse(text, "--iothread");
        }

        private static IoThreadSpec parse(String text, String option) {
            Map<String, String> kv = KeyValues.parse(option, text,
                    keys("id", "poll-max-ns", "poll-grow", "poll-shrink", "poll-contention", "fd-monitor"));
            String id = kv.get("id");
            if (id == null || id.isEmpty()) {
                throw new IllegalArgumentException(option + ": id=ID is required in '" + text + "'");
            }
            return new IoThreadSpec(id,
                    kv.containsKey("poll-max-ns") ? KeyValues.nonNegativeLong(option, "poll-max-ns", kv.get("poll-max-ns")) : DEFAULT_POLL_MAX_NS,
                    kv.containsKey("poll-grow") ? KeyValues.nonNegativeLong(option, "poll-grow", kv.get("poll-grow")) : 0,
                    kv.containsKey("poll-shrink") ? KeyValues.nonNegativeLong(option, "poll-shrink", kv.get("poll-shrink")) : 0,
                    kv.containsKey("poll-contention") ? KeyValues.onOff(option, "poll-contention", kv.get("poll-contention"))
                            : DEFAULT_POLL_CONTENTION,
                    fdMonitor(fdMonitorValue(option, kv.getOrDefault("fd-monitor", "auto"))));
        }

        private static String fdMonitorValue(String option, String v) {
            if (!FD_MONITORS.contains(v)) {
                throw new IllegalArgumentException(option + ": fd-monitor=" + v + " must be one of "
                        + String.join(", ", FD_MONITORS));
            }
            return v;
        }
    }

    /** {@code --nbd-server unix=PATH} or {@code --nbd-server tcp=HOST:PORT}. */
    record Listen(SocketAddress address, String uri) {
        static Listen parse(String text) {
            return parse(KeyValues.parse("--nbd-server", text, keys("unix", "tcp")), text);
        }

        /** From the keys of {@code text} (tls-creds and tls-authz already taken out). */
        static Listen parse(Map<String, String> kv, String text) {
            for (String k : kv.keySet()) {
                if (!k.equals("unix") && !k.equals("tcp")) {
                    throw new IllegalArgumentException("--nbd-server: unknown key '" + k
                            + "' (known: unix, tcp, tls-creds, tls-authz)");
                }
            }
            if (kv.size() != 1) {
                throw new IllegalArgumentException("--nbd-server: give exactly one of unix=PATH or tcp=HOST:PORT, got '" + text + "'");
            }
            if (kv.containsKey("unix")) {
                String path = kv.get("unix");
                if (path.isEmpty() || path.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > 107) {
                    throw new IllegalArgumentException("--nbd-server: unix=" + path + " must be a path of 1 to 107 bytes");
                }
                return new Listen(UnixDomainSocketAddress.of(path), "nbd+unix:///?socket=" + path);
            }
            String hp = kv.get("tcp");
            int colon = hp.lastIndexOf(':');
            if (colon <= 0 || colon == hp.length() - 1) {
                throw new IllegalArgumentException("--nbd-server: tcp=" + hp + " must be HOST:PORT");
            }
            String host = hp.substring(0, colon);
            if (host.startsWith("[") && host.endsWith("]")) {
                host = host.substring(1, host.length() - 1);
            }
            int port;
            try {
                port = Integer.parseInt(hp.substring(colon + 1));
                if (port < 0 || port > 65535) {
                    throw new NumberFormatException();
                }
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--nbd-server: port in tcp=" + hp + " must be 0..65535");
            }
            InetAddress addr;
            try {
                addr = InetAddress.getByName(host);
            } catch (UnknownHostException e) {
                throw new IllegalArgumentException("--nbd-server: unknown host '" + host + "' in tcp=" + hp);
            }
            String uriHost = addr instanceof java.net.Inet6Address ? "[" + addr.getHostAddress() + "]" : addr.getHostAddress();
            return new Listen(new InetSocketAddress(addr, port), "nbd://" + uriHost + ":" + port);
        }
    }
}
