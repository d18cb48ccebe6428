package io.jaio.daemon;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Assumptions;

/**
 * External tools for the interop tests: finding them (missing → fail under CI=true with the package
 * to install, skip otherwise) and running them with a bounded wait.
 */
final class Tools {
    private Tools() {}

    static final boolean CI = "true".equals(System.getenv("CI"));
    private static final Map<String, Boolean> PYTHON_CACHE = new ConcurrentHashMap<>();

    /** A finished external command. */
    record Result(List<String> command, int exit, String stdout, String stderr) {
        String all() {
            return stdout + stderr;
        }

        /** For assertion messages: the command, its exit code and its output. */
        String describe() {
            return "$ " + String.join(" ", command) + "\nexit " + exit + "\n--- stdout\n" + tail(stdout)
                    + "\n--- stderr\n" + tail(stderr);
        }

        Result assertOk() {
            if (exit != 0) {
                fail("command failed:\n" + describe());
            }
            return this;
        }
    }

    private static String tail(String s) {
        return s.length() > 6000 ? "...\n" + s.substring(s.length() - 6000) : s;
    }

    /** Where {@code name} is on PATH, or null. */
    static Path which(String name) {
        String path = System.getenv("PATH");
        if (path == null) {
            path = "/usr/local/bin:/usr/bin:/bin";
        }
        for (String dir : (path + ":/usr/sbin:/sbin").split(":")) {
            if (dir.isEmpty()) {
                continue;
            }
            Path p = Path.of(dir, name);
            if (Files.isRegularFile(p) && Files.isExecutable(p)) {
                return p;
            }
        }
        return null;
    }

    /** Fails (CI) or skips (elsewhere) with the package that provides what is missing. */
    static void missing(String what, String pkg) {
        String msg = what + " is not available: install it with `apt-get install " + pkg + "`";
        if (CI) {
            fail(msg + " (CI=true: the interop tests must run in CI; add " + pkg + " to .ci/run)");
        }
        Assumptions.abort(msg);
    }

    /** Requires program {@code name} from Debian package {@code pkg}. */
    static void require(String name, String pkg) {
        if (which(name) == null) {
            missing("`" + name + "`", pkg);
        }
    }

    /** Requires fio built with the nbd ioengine. */
    static void requireFioNbd() {
        require("fio", "fio");
        Result r = run(Duration.ofSeconds(30), "fio", "--enghelp=nbd");
        if (r.exit() != 0 || !r.all().contains("uri")) {
            missing("fio's nbd ioengine (fio --enghelp=nbd)", "fio");
        }
    }

    /** A python3 that can {@code import nbd} (libnbd's binding), or fail/skip. */
    static String requirePythonNbd() {
        for (String py : new String[] {"/usr/bin/python3", "python3"}) {
            if (py.startsWith("/") ? !Files.isExecutable(Path.of(py)) : which(py) == null) {
                continue;
            }
            boolean ok = PYTHON_CACHE.computeIfAbsent(py,
                    p -> run(Duration.ofSeconds(30), p, "-c", "import nbd").exit() == 0);
            if (ok) {
                return py;
            }
        }
        missing("python3 with libnbd's binding (import nbd)", "python3-libnbd");
        return null; // unreachable
    }

    static Result run(Duration timeout, String... command) {
        return runWithInput(timeout, null, command);
    }

    static Result run(Duration timeout, List<String> command) {
        return runWithInput(timeout, null, command.toArray(String[]::new));
    }

    /**
     * Runs {@code command} (LC_ALL=C, so error texts are the English ones), feeding it {@code stdin}
     * if given; kills it and fails if it does not finish within {@code timeout}.
     */
    static Result runWithInput(Duration timeout, String stdin, String... command) {
        List<String> cmd = Arrays.asList(command);
        Path out = null;
        Path err = null;
        try {
            out = Files.createTempFile("jaio-tool", ".out");
            err = Files.createTempFile("jaio-tool", ".err");
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile());
            pb.environment().put("LC_ALL", "C");
            if (stdin == null) {
                pb.redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
            }
            Process p = pb.start();
            try {
                if (stdin != null) {
                    try (var os = p.getOutputStream()) {
                        os.write(stdin.getBytes(StandardCharsets.UTF_8));
                    }
                }
                if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                    p.destroy();
                    if (!p.waitFor(5, TimeUnit.SECONDS)) {
                        p.destroyForcibly();
                        p.waitFor(10, TimeUnit.SECONDS);
                    }
                    fail("timed out after " + timeout + ": " + String.join(" ", cmd) + "\n--- stdout\n"
                            + tail(Files.readString(out)) + "\n--- stderr\n" + tail(Files.readString(err)));
                }
            } finally {
                if (p.isAlive()) {
                    p.destroyForcibly();
                }
            }
            return new Result(cmd, p.exitValue(), Files.readString(out), Files.readString(err));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + cmd, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted running " + cmd, e);
        } finally {
            deleteQuietly(out);
            deleteQuietly(err);
        }
    }

    private static void deleteQuietly(Path p) {
        if (p != null) {
            try {
                Files.deleteIfExists(p);
            } catch (IOException e) {
                // best effort
            }
        }
    }

    /** Lower-case hex SHA-256 of a file. */
    static String sha256(Path file) throws IOException {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
        byte[] buf = new byte[1 << 20];
        try (InputStream in = Files.newInputStream(file)) {
            for (int n; (n = in.read(buf)) > 0; ) {
                md.update(buf, 0, n);
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /** Number of 512-byte blocks allocated to {@code file} (stat %b). */
    static long allocatedBlocks(Path file) {
        Result r = run(Duration.ofSeconds(20), "stat", "-c", "%b", file.toString()).assertOk();
        return Long.parseLong(r.stdout().strip());
    }

    static List<String> lines(String s) {
        List<String> out = new ArrayList<>();
        for (String l : s.split("\n")) {
            if (!l.isBlank()) {
                out.add(l);
            }
        }
        return out;
    }
}
