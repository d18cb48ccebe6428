package io.jaio.daemon;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
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
    private static final int AF_UNIX = 1;
    private static final int SOCK_DGRAM = 2;
    private static final int SOCK_CLOEXEC = 0x80000;
    private static final int MSG_NOSIGNAL = 0x4000;

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
        Linker linker = Linker.nativeLinker();
        var libc = linker.defaultLookup();
        try (Arena a = Arena.ofConfined()) {
            MethodHandle socketFn = linker.downcallHandle(libc.find("socket").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
            MethodHandle sendto = linker.downcallHandle(libc.find("sendto").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG,
                            ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
            MethodHandle close = linker.downcallHandle(libc.find("close").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
            int fd = (int) socketFn.invokeExact(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            if (fd < 0) {
                LOG.log(System.Logger.Level.WARNING, "sd_notify: socket() failed");
                return false;
            }
            try {
                // struct sockaddr_un { sa_family_t sun_family; char sun_path[108]; }
                MemorySegment sa = a.allocate(110);
                sa.set(ValueLayout.JAVA_SHORT, 0, (short) AF_UNIX);
                MemorySegment.copy(path, 0, sa, ValueLayout.JAVA_BYTE, 2, path.length);
                byte[] msg = state.getBytes(StandardCharsets.UTF_8);
                MemorySegment m = a.allocate(msg.length);
                MemorySegment.copy(msg, 0, m, ValueLayout.JAVA_BYTE, 0, msg.length);
                long r = (long) sendto.invokeExact(fd, m, (long) msg.length, MSG_NOSIGNAL, sa, 2 + path.length);
                if (r != msg.length) {
                    LOG.log(System.Logger.Level.WARNING, "sd_notify to {0} failed", socket);
                    return false;
                }
                return true;
            } finally {
                int ignored = (int) close.invokeExact(fd);
            }
        } catch (Throwable t) {
            LOG.log(System.Logger.Level.WARNING, "sd_notify to {0}: {1}", socket, t.toString());
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
