package io.jaio.daemon;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jaio.nbd.NbdClient;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.UnixDomainSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * systemd's protocols end to end, with a small python3 stand-in for systemd: it binds the
 * listening socket and passes it as fd 3 (LISTEN_FDS=1, LISTEN_PID set in the child), listens
 * on a NOTIFY_SOCKET for READY=1, and its own exit must stop a daemon run with
 * --exit-with-parent.
 */
class SystemdActivationTest {
    @TempDir
    Path dir;

    private static final String FAKE_SYSTEMD = """
            import os, socket, subprocess, sys
            listen_path, notify_path = sys.argv[1], sys.argv[2]
            ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            ls.bind(listen_path)
            ls.listen(16)
            os.dup2(ls.fileno(), 3)
            ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            ns.bind(notify_path)
            ns.settimeout(120)
            os.environ["LISTEN_FDS"] = "1"
            os.environ["NOTIFY_SOCKET"] = notify_path
            # LISTEN_PID names the child: set between fork and exec, as systemd does (no env=:
            # the child's exec then takes the environment preexec_fn changed).
            child = subprocess.Popen(sys.argv[3:], pass_fds=(3,), stdout=subprocess.DEVNULL,
                                     preexec_fn=lambda: os.putenv("LISTEN_PID", str(os.getpid())))
            print("CHILD", child.pid, flush=True)
            print("NOTIFY", ns.recv(4096).decode().replace("\\n", " "), flush=True)
            sys.stdin.read()   # until the test closes our stdin
            """;

    @Test
    void socketActivationNotifyAndExitWithParent() throws Exception {
        Tools.require("python3", "python3");
        Path img = Images.sparse(dir, "disk.img", 3 << 20);
        Path script = dir.resolve("fake-systemd.py");
        Files.writeString(script, FAKE_SYSTEMD);
        Path sock = dir.resolve("nbd.sock");
        Path notify = dir.resolve("notify.sock");
        List<String> cmd = new ArrayList<>(List.of("python3", script.toString(), sock.toString(), notify.toString()));
        cmd.addAll(DaemonProcess.command(List.of("--exit-with-parent", "--export", "name=disk,file=" + img)));
        Process fake = new ProcessBuilder(cmd).redirectError(dir.resolve("fake.log").toFile()).start();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(fake.getInputStream(), StandardCharsets.UTF_8));
            String child = readLine(out);
            assertTrue(child.startsWith("CHILD "), child + "\n" + Files.readString(dir.resolve("fake.log")));
            long pid = Long.parseLong(child.substring(6).strip());
            String ready = readLine(out);
            assertEquals("NOTIFY READY=1 MAINPID=" + pid, ready, Files.readString(dir.resolve("fake.log")));
            // The passed socket serves the export: nothing else listens on it.
            try (NbdClient c = NbdClient.connect(UnixDomainSocketAddress.of(sock), "disk")) {
                assertEquals(3 << 20, c.size());
            }
            ProcessHandle daemon = ProcessHandle.of(pid).orElseThrow();
            fake.getOutputStream().close(); // the stand-in exits; the daemon must follow
            assertTrue(fake.waitFor(60, TimeUnit.SECONDS));
            daemon.onExit().get(60, TimeUnit.SECONDS);
            assertTrue(Files.exists(sock), "the daemon leaves systemd's socket file alone");
        } finally {
            fake.destroyForcibly();
        }
    }

    private static String readLine(BufferedReader r) throws Exception {
        String l = CompletableFuture.supplyAsync(() -> {
            try {
                return r.readLine();
            } catch (java.io.IOException e) {
                return "IOException " + e;
            }
        }).get(120, TimeUnit.SECONDS);
        return l == null ? "EOF" : l;
    }
}
