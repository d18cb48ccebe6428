package io.jaio.daemon;

import io.jaio.linux.Linux;
import io.jaio.linux.Sockets;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The two systemd service protocols the daemon speaks: socket activation ({@code LISTEN_PID},
 * {@code LISTEN_FDS}: listening sockets passed from fd 3 on) and readiness notification
 * ({@code NOTIFY_SOCKET}: one {@code READY=1} datagram), as sd_listen_fds(3) and sd_notify(3)
 * describe them. Any thread.
 */
final class Systemd {
    private static final System.Logger LOG = System.getLogger("io.jaio.daemon");
    /** SD_LISTEN_FDS_START. */
    static final int LISTEN_FDS_START = 3;

    private Systemd() {}

    /**
     * The fds passed by socket activation, or none: LISTEN_PID must name this process and
     * LISTEN_FDS count the fds (sd_listen_fds).
     *
     * @throws IllegalArgumentException if LISTEN_FDS is set for this process but is not a count
     */
    static List<Integer> listenFds(Map<String, String> env, long pid) {
        String p = env.get("LISTEN_PID");
        String n = env.get("LISTEN_FDS");
        if (p == null || n == null || !p.strip().equals(Long.toString(pid))) {
            return List.of();
        }
        int count;
        try {
            count = Integer.parseInt(n.strip());
            if (count < 0 || count > 1024) {
                throw new NumberFormatException();
            }
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("LISTEN_FDS=" + n + " is not a count of passed sockets");
        }
        List<Integer> fds = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            fds.add(LISTEN_FDS_START + i);
        }
        return fds;
    }

    /**
     * Sends {@code state} (e.g. "READY=1") to $NOTIFY_SOCKET if it is set (a path, or "@name"
     * for the abstract namespace); returns whether it was sent. Failures are logged, never thrown:
     * the service runs on without the notification.
     */
    static boolean notify(String socket, String state) {
        if (socket == null || socket.isEmpty()) {
            return false;
        }
        byte[] path = socket.getBytes(StandardCharsets.UTF_8);
        if (path.length > 107 || (path[0] != '/' && path[0] != '@')) {
            LOG.log(System.Logger.Level.WARNING, "NOTIFY_SOCKET={0} is not a socket path", socket);
            return false;
        }
        if (path[0] == '@') {
            path[0] = 0; // abstract namespace
        }
        try {
            long r = Sockets.sendUnixDatagram(path, state.getBytes(StandardCharsets.UTF_8));
            if (r < 0) {
                LOG.log(System.Logger.Level.WARNING, "sd_notify to {0} failed: {1}", socket, Linux.strerror((int) -r));
                return false;
            }
            return true;
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "sd_notify to {0}: {1}", socket, e.toString());
            return false;
        }
    }

    /** Stops the daemon (as SIGTERM would) when the parent process exits: --exit-with-parent. */
    static void exitWithParent() {
        ProcessHandle parent = ProcessHandle.current().parent().orElse(null);
        if (parent == null || !parent.isAlive()) {
            LOG.log(System.Logger.Level.INFO, "--exit-with-parent: the parent is gone; stopping");
            Daemon.requestStop();
            return;
        }
        parent.onExit().thenRun(() -> {
            LOG.log(System.Logger.Level.INFO, "--exit-with-parent: parent {0} exited; stopping", parent.pid());
            Daemon.requestStop();
        });
    }
}
