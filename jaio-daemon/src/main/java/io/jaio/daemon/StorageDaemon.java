package io.jaio.daemon;

import io.jaio.coroutine.Coroutine;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code jaio-storage-daemon}: exports raw disk images over NBD, in the spirit of
 * {@code qemu-storage-daemon}. With no arguments it serves a default 1 GiB sparse image.
 *
 * <p>Exit codes: 0 after a clean stop (SIGINT/SIGTERM), 2 for bad arguments (a one-line error
 * naming the bad part), 1 when the daemon cannot start (e.g. the image cannot be opened).
 */
@Command(name = "jaio-storage-daemon", mixinStandardHelpOptions = true,
        versionProvider = StorageDaemon.Version.class, sortOptions = false,
        description = {"Exports raw disk images over NBD (fixed newstyle, structured replies, base:allocation, multi-conn).",
                "With no arguments: creates (if absent) a 1 GiB sparse image in the data directory and exports it as",
                "'disk' on a Unix socket and on 127.0.0.1:10809."},
        footer = {"", "Example:",
                "  jaio-storage-daemon --iothread id=io0 --export name=disk,file=disk.img,iothread=io0 \\",
                "      --nbd-server unix=/tmp/nbd.sock --nbd-server tcp=127.0.0.1:10809"})
public final class StorageDaemon implements Callable<Integer> {
    @Option(names = "--export", paramLabel = "type=nbd,id=ID,node-name=NODE[,name=NAME][,writable=on][,iothread=ID][,bitmaps.0=BITMAP][,allocation-depth=on] | name=NAME,file=PATH[,readonly=on][,cache=none|writeback][,aio=io_uring|native|threads][,iothread=ID[:ID...]][,description=TEXT][,discard=unmap|ignore][,inline=on|off]",
            description = "Export a raw image (repeatable). iothread=a:b spreads the connections over IOThreads a and b. inline=on (default): an image on tmpfs, ramfs or hugetlbfs does its I/O on the IOThread itself, not through aio=.")
    List<String> exports = new ArrayList<>();

    @Option(names = "--iothread", paramLabel = "id=ID[,poll-max-ns=N][,poll-grow=N][,poll-shrink=N][,poll-contention=on|off][,fd-monitor=auto|poll|epoll|io_uring]",
            description = "Create an IOThread (repeatable); poll-max-ns defaults to 65536 (QEMU: 32768; see docs/benchmarks.md). poll-contention=on suspends busy polling while the IOThread is preempted more than 2000 times a second. fd-monitor picks how it waits for fds (default auto: epoll, with io_uring for image I/O on a ring of the IOThread's own where the kernel allows it; io_uring waits for sockets through io_uring too, which costs the tail when clients outnumber CPUs); query-iothreads says which is in use.")
    List<String> iothreads = new ArrayList<>();

    @Option(names = "--nbd-server", paramLabel = "unix=PATH|tcp=HOST:PORT|addr.type=unix,addr.path=PATH|addr.type=inet,addr.host=H,addr.port=P[,max-connections=N][,tls-creds=ID][,tls-authz=ID]",
            description = "Listen for NBD clients (repeatable). tls-creds=ID: clients must use TLS with the tls-creds-x509 object ID; tls-authz=ID: only the client certificate named by the authz-simple object ID.")
    List<String> servers = new ArrayList<>();

    @Option(names = "--object", paramLabel = "iothread,id=ID[,poll-max-ns=N][,poll-grow=N][,poll-shrink=N][,poll-contention=on|off] | tls-creds-x509,id=ID,dir=DIR,endpoint=server[,verify-peer=on|off] | authz-simple,id=ID,identity=DN",
            description = "Create an object, qemu-storage-daemon style (repeatable): an IOThread, TLS credentials (DIR holds ca-cert.pem, server-cert.pem, server-key.pem), or a client allow-list entry.")
    List<String> objects = new ArrayList<>();

    @Option(names = "--blockdev", paramLabel = "driver=file,node-name=N,filename=PATH[,read-only=on][,cache.direct=on][,aio=threads|io_uring|native] | driver=raw,node-name=N,file=NODE",
            description = "Define a block node, qemu-storage-daemon style (repeatable).")
    List<String> blockdevs = new ArrayList<>();

    @Option(names = "--chardev", paramLabel = "socket,id=ID,path=PATH,server=on,wait=off",
            description = "A Unix socket for --monitor chardev=ID (repeatable).")
    List<String> chardevs = new ArrayList<>();

    @Option(names = "--monitor", paramLabel = "unix=PATH|chardev=ID",
            description = "Serve QMP (the QEMU Machine Protocol) on a Unix socket (repeatable); see docs/qmp.md.")
    List<String> monitors = new ArrayList<>();

    @Option(names = "--metrics", paramLabel = "tcp=HOST:PORT",
            description = "Serve live counters as OpenMetrics/Prometheus text on http://HOST:PORT/metrics (off by default).")
    String metrics;

    @Option(names = "--exit-with-parent",
            description = "Stop (as on SIGTERM) when the parent process exits.")
    boolean exitWithParent;

    @Option(names = "--pidfile", paramLabel = "PATH", description = "Write the daemon's pid to PATH (removed at exit).")
    Path pidfile;

    @Option(names = "--data-dir", paramLabel = "DIR",
            description = "Where the no-argument mode keeps its image and socket (default: $JAIO_DATA_DIR, else $XDG_DATA_HOME/jaio, else ~/.local/share/jaio).")
    Path dataDir;

    private final PrintWriter out;

    StorageDaemon(PrintWriter out) {
        this.out = out;
    }

    @Override
    public Integer call() throws Exception {
        Daemon.installSignalHandlers();
        if (exitWithParent) {
            Systemd.exitWithParent();
        }
        DaemonConfig config = DaemonConfig.from(this);
        try (Daemon d = Daemon.start(config, out)) {
            Systemd.notify(System.getenv("NOTIFY_SOCKET"), "READY=1\nMAINPID=" + ProcessHandle.current().pid());
            d.awaitStopSignal();
            Systemd.notify(System.getenv("NOTIFY_SOCKET"), "STOPPING=1");
        }
        return 0;
    }

    /**
     * Entry point: parses the command line (see {@code --help}), runs the daemon until a stop
     * signal and exits with its status.
     *
     * @param args the command-line arguments
     */
    public static void main(String[] args) {
        PrintWriter out = new PrintWriter(System.out, true);
        CommandLine cmd = new CommandLine(new StorageDaemon(out));
        cmd.setParameterExceptionHandler((ex, a) -> {
            System.err.println("jaio-storage-daemon: " + ex.getMessage());
            return CommandLine.ExitCode.USAGE;
        });
        cmd.setExecutionExceptionHandler((ex, c, parsed) -> {
            if (ex instanceof IllegalArgumentException) {
                System.err.println("jaio-storage-daemon: " + ex.getMessage());
                return CommandLine.ExitCode.USAGE;
            }
            System.err.println("jaio-storage-daemon: cannot start: " + ex.getMessage());
            System.getLogger("io.jaio.daemon").log(System.Logger.Level.DEBUG, "start-up failure", ex);
            return CommandLine.ExitCode.SOFTWARE;
        });
        System.exit(cmd.execute(args));
    }

    /** {@code --version}. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = StorageDaemon.class.getPackage().getImplementationVersion();
            return new String[] {"jaio-storage-daemon " + (v != null ? v : "(development build)"),
                    "Java " + Runtime.version() + ", coroutine engine " + Coroutine.engineName()};
        }
    }
}
