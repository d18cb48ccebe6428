package io.jaio.daemon;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Assumptions;

/**
 * A daemon with QMP monitors, jaio's or QEMU's qemu-storage-daemon (skipped if absent), started
 * with the same qemu-storage-daemon arguments: {@code --chardev socket,...,server=on,wait=off
 * --monitor chardev=ID}. The scenario tests run against both so their expectations are QEMU's.
 */
final class QmpDaemon implements AutoCloseable {
    enum Kind { JAIO, QEMU }

    final Kind kind;
    final List<Path> monitors;
    private final DaemonProcess jaio;
    private final Process qemu;

    private QmpDaemon(Kind kind, List<Path> monitors, DaemonProcess jaio, Process qemu) {
        this.kind = kind;
        this.monitors = monitors;
        this.jaio = jaio;
        this.qemu = qemu;
    }

    /** Starts {@code kind} with {@code n} monitors in {@code dir} and {@code extra} arguments. */
    static QmpDaemon start(Kind kind, Path dir, int n, String... extra) throws IOException, InterruptedException {
        List<String> args = new ArrayList<>();
        List<Path> socks = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Path s = dir.resolve("qmp" + i + ".sock");
            socks.add(s);
            args.add("--chardev");
            args.add("socket,id=mon" + i + ",path=" + s + ",server=on,wait=off");
            args.add("--monitor");
            args.add("chardev=mon" + i);
        }
        args.addAll(List.of(extra));
        if (kind == Kind.JAIO) {
            return new QmpDaemon(kind, socks, DaemonProcess.start(dir.resolve("logs"), args.toArray(String[]::new)), null);
        }
        Path qsd = Tools.which("qemu-storage-daemon");
        Assumptions.assumeTrue(qsd != null, "qemu-storage-daemon is not installed (apt-get install qemu-system-common)");
        List<String> cmd = new ArrayList<>();
        cmd.add(qsd.toString());
        cmd.addAll(args);
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(dir.resolve("qsd.log").toFile()).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!socks.stream().allMatch(Files::exists)) {
            if (!p.isAlive() || System.nanoTime() > deadline) {
                p.destroyForcibly();
                throw new AssertionError("qemu-storage-daemon did not start: " + Files.readString(dir.resolve("qsd.log")));
            }
            Thread.sleep(20); // waiting for another process to create its socket: no event to wait on
        }
        return new QmpDaemon(kind, socks, null, p);
    }

    long pid() {
        return jaio != null ? jaio.pid() : qemu.pid();
    }

    boolean isAlive() {
        return jaio != null ? jaio.process().isAlive() : qemu.isAlive();
    }

    /** Waits for the process to exit (after quit); returns its exit code. */
    int awaitExit(Duration d) throws InterruptedException {
        Process p = jaio != null ? jaio.process() : qemu;
        if (!p.waitFor(d.toMillis(), TimeUnit.MILLISECONDS)) {
            throw new AssertionError(kind + " daemon did not exit within " + d);
        }
        return p.exitValue();
    }

    /** The first stdout line of the jaio daemon starting with {@code prefix}. */
    String stdoutLine(String prefix) {
        return jaio.stdoutLines().stream().filter(l -> l.startsWith(prefix)).findFirst()
                .orElseThrow(() -> new AssertionError("no stdout line '" + prefix + "...'\n" + jaio.describe()));
    }

    String describe() {
        return jaio != null ? jaio.describe() : "qemu-storage-daemon pid " + qemu.pid();
    }

    @Override
    public void close() {
        if (jaio != null) {
            jaio.close();
        } else {
            qemu.destroy();
            try {
                if (!qemu.waitFor(20, TimeUnit.SECONDS)) {
                    qemu.destroyForcibly();
                }
            } catch (InterruptedException e) {
                qemu.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
    }
}
