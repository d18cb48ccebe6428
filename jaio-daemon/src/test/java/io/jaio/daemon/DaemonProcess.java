package io.jaio.daemon;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * jaio-storage-daemon as a child JVM on this test's class path (the shaded jar is built after the
 * test phase). Stdout is read line by line: lines starting with {@code "  nbd"} are export URIs, the
 * {@code "Try:"} line means ready. Stderr (the log) goes to a file. Always {@link #close()}d by the
 * test: SIGTERM, then SIGKILL, by this process's own handle (never by name).
 */
final class DaemonProcess implements AutoCloseable {
    static final Duration READY_TIMEOUT = Duration.ofSeconds(60);

    private final Process process;
    private final List<String> args;
    private final Path stderrFile;
    private final List<String> stdout = Collections.synchronizedList(new ArrayList<>());
    private final List<String> uris = Collections.synchronizedList(new ArrayList<>());
    private final CountDownLatch ready = new CountDownLatch(1);
    private final CountDownLatch stdoutDone = new CountDownLatch(1);

    private DaemonProcess(Process process, List<String> args, Path stderrFile) {
        this.process = process;
        this.args = args;
        this.stderrFile = stderrFile;
        Thread t = new Thread(this::pump, "daemon-stdout-" + process.pid());
        t.setDaemon(true);
        t.start();
    }

    /** The java command that runs the daemon's main class with {@code args}. */
    static List<String> command(List<String> args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("--enable-native-access=ALL-UNNAMED");
        cmd.add("--add-exports");
        cmd.add("java.base/jdk.internal.vm=ALL-UNNAMED");
        cmd.add("-ea");
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(StorageDaemon.class.getName());
        cmd.addAll(args);
        return cmd;
    }

    /** Starts the daemon; does not wait for it to be ready. Its log goes to {@code logDir}. */
    static DaemonProcess launch(Path logDir, List<String> args) throws IOException {
        Files.createDirectories(logDir);
        Path err = Files.createTempFile(logDir, "daemon-", ".log");
        ProcessBuilder pb = new ProcessBuilder(command(args)).redirectError(err.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
        pb.environment().put("LC_ALL", "C");
        return new DaemonProcess(pb.start(), List.copyOf(args), err);
    }

    /** Starts the daemon and waits (bounded) for its "Try:" line. */
    static DaemonProcess start(Path logDir, String... args) throws IOException {
        DaemonProcess d = launch(logDir, List.of(args));
        try {
            d.awaitReady();
        } catch (Throwable t) {
            d.close();
            throw t;
        }
        return d;
    }

    /**
     * As {@link #start}, with {@code jvmOptions} (e.g. {@code -D} properties) before the main class.
     */
    static DaemonProcess startWithJvmOptions(Path logDir, List<String> jvmOptions, String... args) throws IOException {
        Files.createDirectories(logDir);
        Path err = Files.createTempFile(logDir, "daemon-", ".log");
        List<String> cmd = new ArrayList<>(command(List.of(args)));
        cmd.addAll(1, jvmOptions);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(err.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
        pb.environment().put("LC_ALL", "C");
        DaemonProcess d = new DaemonProcess(pb.start(), List.of(args), err);
        try {
            d.awaitReady();
        } catch (Throwable t) {
            d.close();
            throw t;
        }
        return d;
    }

    private void pump() {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) {
                stdout.add(line);
                if (line.startsWith("  nbd")) {
                    uris.add(line.strip());
                }
                if (line.startsWith("Try:")) {
                    ready.countDown();
                }
            }
        } catch (IOException e) {
            // the process went away
        } finally {
            stdoutDone.countDown();
        }
    }

    void awaitReady() {
        long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
        try {
            while (System.nanoTime() < deadline) {
                if (ready.await(100, TimeUnit.MILLISECONDS)) {
                    return;
                }
                if (!process.isAlive() && stdoutDone.await(2, TimeUnit.SECONDS) && ready.getCount() != 0) {
                    fail("daemon exited with " + process.exitValue() + " before it was ready\n" + describe());
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
        fail("daemon not ready within " + READY_TIMEOUT + "\n" + describe());
    }

    long pid() {
        return process.pid();
    }

    Process process() {
        return process;
    }

    List<String> uris() {
        return List.copyOf(uris);
    }

    /** The one URI of export {@code name} that starts with {@code prefix} ("nbd+unix:" or "nbd:"). */
    String uri(String prefix, String name) {
        List<String> m = new ArrayList<>();
        for (String u : uris()) {
            if (u.startsWith(prefix) && (u.startsWith("nbd+unix:///" + name + "?") || u.endsWith("/" + name))) {
                m.add(u);
            }
        }
        if (m.size() != 1) {
            fail("expected one " + prefix + " URI for export '" + name + "', got " + m + "\n" + describe());
        }
        return m.get(0);
    }

    String unixUri(String name) {
        return uri("nbd+unix:", name);
    }

    String tcpUri(String name) {
        return uri("nbd:", name);
    }

    List<String> stdoutLines() {
        return List.copyOf(stdout);
    }

    String log() {
        try {
            return Files.exists(stderrFile) ? Files.readString(stderrFile) : "";
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Args, state, stdout and the log's tail, for assertion messages. */
    String describe() {
        String log = log();
        if (log.length() > 8000) {
            log = "...\n" + log.substring(log.length() - 8000);
        }
        return "daemon pid " + process.pid() + " args " + args + (process.isAlive() ? " (running)" : " (exit " + process.exitValue() + ")")
                + "\n--- stdout\n" + String.join("\n", stdoutLines()) + "\n--- stderr (log)\n" + log;
    }

    /** SIGTERM and a bounded wait; returns the exit code (fails if it does not exit). */
    int terminate(Duration timeout) {
        process.destroy(); // SIGTERM
        return await(timeout);
    }

    /** SIGKILL and wait; returns the exit code (137). */
    int kill() {
        process.destroyForcibly(); // SIGKILL
        return await(Duration.ofSeconds(30));
    }

    /** Sends a signal by this child's pid with kill(1). */
    void signal(String sig) {
        Tools.run(Duration.ofSeconds(10), "kill", "-" + sig, Long.toString(process.pid())).assertOk();
    }

    int await(Duration timeout) {
        try {
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                String d = describe();
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
                fail("daemon did not exit within " + timeout + "\n" + d);
            }
            stdoutDone.await(5, TimeUnit.SECONDS);
            return process.exitValue();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /** SIGTERM, then SIGKILL if it lingers. Idempotent. */
    @Override
    public void close() {
        if (!process.isAlive()) {
            return;
        }
        process.destroy();
        try {
            if (!process.waitFor(20, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }
}
