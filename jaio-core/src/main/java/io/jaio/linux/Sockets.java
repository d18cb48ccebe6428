package io.jaio.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * Socket system calls on raw fds: TCP over IPv4/IPv6 and Unix stream sockets, always
 * non-blocking and close-on-exec. Results are the call's value or {@code -errno} where a caller
 * must react to EAGAIN/EINPROGRESS; set-up calls throw {@link NativeException}. Any thread.
 */
@SuppressWarnings("restricted")
public final class Sockets {
    private Sockets() {}

    // <bits/socket.h>, <netinet/in.h>, <netinet/tcp.h>, <asm-generic/socket.h>
    public static final int AF_UNIX = 1;
    public static final int AF_INET = 2;
    public static final int AF_INET6 = 10;
    public static final int SOCK_STREAM = 1;
    public static final int SOCK_DGRAM = 2;
    /** {@code MSG_NOSIGNAL} (sys/socket.h): a send to a closed peer returns EPIPE, no SIGPIPE. */
    public static final int MSG_NOSIGNAL = 0x4000;
    public static final int SOCK_NONBLOCK = Linux.O_NONBLOCK;
    public static final int SOCK_CLOEXEC = Linux.O_CLOEXEC;
    public static final int SOL_SOCKET = 1;
    public static final int SO_REUSEADDR = 2;
    public static final int SO_ERROR = 4;
    public static final int SO_SNDBUF = 7;
    public static final int SO_RCVBUF = 8;
    public static final int SO_PEERCRED = 17;
    public static final int IPPROTO_TCP = 6;
    public static final int TCP_NODELAY = 1;
    public static final int SHUT_RD = 0;
    public static final int SHUT_WR = 1;
    public static final int SHUT_RDWR = 2;
    public static final int EPIPE = 32;
    public static final int ECONNRESET = 104;
    public static final int ENOTCONN = 107;
    public static final int ECONNREFUSED = 111;
    public static final int EINPROGRESS = 115;
    /** {@code struct iovec { void *base; size_t len; }} */
    public static final long IOVEC_SIZE = 16;

    private static MethodHandle call(String name, FunctionDescriptor fd) {
        return Linux.errnoCall(name, fd);
    }

    private static final MethodHandle SOCKET = call("socket", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle BIND = call("bind", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle LISTEN = call("listen", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle ACCEPT4 = call("accept4",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
    private static final MethodHandle CONNECT = call("connect", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle SETSOCKOPT = call("setsockopt",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle GETSOCKOPT = call("getsockopt",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle GETSOCKNAME = call("getsockname",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle SHUTDOWN = call("shutdown", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle WRITEV = call("writev", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle SENDFILE = call("sendfile",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG));

    /** Per-thread: errno capture + a sockaddr_storage-sized buffer + a socklen_t. */
    private static final long ADDR_OFF = Linux.SCRATCH_ARG;
    private static final long LEN_OFF = ADDR_OFF + 128;
    private static final ThreadLocal<MemorySegment> SCRATCH =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(LEN_OFF + 16, 16));

    private static int errno(MemorySegment s) {
        return Linux.errno(s);
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            return r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException(t);
    }

    /** A new non-blocking, close-on-exec stream socket of {@code family}. */
    public static int socket(int family) {
        MemorySegment s = SCRATCH.get();
        try {
            int fd = (int) SOCKET.invokeExact(s, family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fd < 0) {
                throw new NativeException("socket", errno(s));
            }
            return fd;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static final MethodHandle SENDTO = call("sendto",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));

    /**
     * Sends {@code msg} as one datagram to the Unix socket whose {@code sun_path} is
     * {@code sunPath} (a leading 0 byte: the abstract namespace), from a datagram socket opened
     * and closed for it (sd_notify(3)'s protocol). Returns the bytes sent or {@code -errno}. Any
     * thread.
     *
     * @throws IllegalArgumentException if {@code sunPath} is empty or longer than 107 bytes
     */
    public static long sendUnixDatagram(byte[] sunPath, byte[] msg) {
        if (sunPath.length == 0 || sunPath.length > 107) {
            throw new IllegalArgumentException("Unix socket path of " + sunPath.length + " bytes (1 to 107)");
        }
        MemorySegment s = SCRATCH.get();
        try (Arena a = Arena.ofConfined()) {
            int fd = (int) SOCKET.invokeExact(s, AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            if (fd < 0) {
                return -errno(s);
            }
            try {
                // struct sockaddr_un { sa_family_t sun_family; char sun_path[108]; }
                MemorySegment sa = a.allocate(2 + 108);
                sa.set(JAVA_SHORT, 0, (short) AF_UNIX);
                MemorySegment.copy(sunPath, 0, sa, JAVA_BYTE, 2, sunPath.length);
                MemorySegment m = a.allocate(Math.max(1, msg.length));
                MemorySegment.copy(msg, 0, m, JAVA_BYTE, 0, msg.length);
                long r = (long) SENDTO.invokeExact(s, fd, m, (long) msg.length, MSG_NOSIGNAL, sa, 2 + sunPath.length);
                return r < 0 ? -errno(s) : r;
            } finally {
                Linux.close(fd);
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The address family jaio uses for {@code addr}. */
    public static int family(SocketAddress addr) {
        if (addr instanceof UnixDomainSocketAddress) {
            return AF_UNIX;
        }
        InetSocketAddress in = (InetSocketAddress) addr;
        return in.getAddress() instanceof Inet6Address ? AF_INET6 : AF_INET;
    }

    /** Writes {@code addr} as a sockaddr into {@code out}; returns its length. */
    static int encode(SocketAddress addr, MemorySegment out) {
        out.fill((byte) 0);
        if (addr instanceof UnixDomainSocketAddress u) {
            byte[] path = u.getPath().toString().getBytes(StandardCharsets.UTF_8);
            if (path.length >= 108) {
                throw new IllegalArgumentException("Unix socket path longer than 107 bytes: " + u.getPath());
            }
            out.set(JAVA_SHORT, 0, (short) AF_UNIX);
            MemorySegment.copy(path, 0, out, JAVA_BYTE, 2, path.length);
            return 2 + path.length + 1;
        }
        if (!(addr instanceof InetSocketAddress in)) {
            throw new IllegalArgumentException("unsupported socket address " + addr);
        }
        if (in.isUnresolved()) {
            throw new IllegalArgumentException("unresolved host " + in.getHostString());
        }
        int port = in.getPort();
        byte[] ip = in.getAddress().getAddress();
        if (in.getAddress() instanceof Inet4Address) {
            out.set(JAVA_SHORT, 0, (short) AF_INET);
            out.set(JAVA_BYTE, 2, (byte) (port >>> 8));
            out.set(JAVA_BYTE, 3, (byte) port);
            MemorySegment.copy(ip, 0, out, JAVA_BYTE, 4, 4);
            return 16;
        }
        out.set(JAVA_SHORT, 0, (short) AF_INET6);
        out.set(JAVA_BYTE, 2, (byte) (port >>> 8));
        out.set(JAVA_BYTE, 3, (byte) port);
        MemorySegment.copy(ip, 0, out, JAVA_BYTE, 8, 16);
        out.set(JAVA_INT, 24, ((Inet6Address) in.getAddress()).getScopeId());
        return 28;
    }

    static SocketAddress decode(MemorySegment in, int len) {
        int family = in.get(JAVA_SHORT, 0) & 0xffff;
        try {
            switch (family) {
                case AF_UNIX -> {
                    int n = 0;
                    while (2 + n < len && in.get(JAVA_BYTE, 2 + n) != 0) {
                        n++;
                    }
                    byte[] p = new byte[n];
                    MemorySegment.copy(in, JAVA_BYTE, 2, p, 0, n);
                    return UnixDomainSocketAddress.of(new String(p, StandardCharsets.UTF_8));
                }
                case AF_INET -> {
                    int port = ((in.get(JAVA_BYTE, 2) & 0xff) << 8) | (in.get(JAVA_BYTE, 3) & 0xff);
                    byte[] ip = new byte[4];
                    MemorySegment.copy(in, JAVA_BYTE, 4, ip, 0, 4);
                    return new InetSocketAddress(InetAddress.getByAddress(ip), port);
                }
                case AF_INET6 -> {
                    int port = ((in.get(JAVA_BYTE, 2) & 0xff) << 8) | (in.get(JAVA_BYTE, 3) & 0xff);
                    byte[] ip = new byte[16];
                    MemorySegment.copy(in, JAVA_BYTE, 8, ip, 0, 16);
                    return new InetSocketAddress(Inet6Address.getByAddress(null, ip, in.get(JAVA_INT, 24)), port);
                }
                default -> throw new IllegalArgumentException("unknown address family " + family);
            }
        } catch (UnknownHostException e) {
            throw new IllegalStateException(e);
        }
    }

    /** {@code bind(2)}; throws with the address in the message. */
    public static void bind(int fd, SocketAddress addr) {
        MemorySegment s = SCRATCH.get();
        MemorySegment sa = s.asSlice(ADDR_OFF, 128);
        int len = encode(addr, sa);
        try {
            if ((int) BIND.invokeExact(s, fd, sa, len) < 0) {
                throw new NativeException("bind", errno(s), String.valueOf(addr));
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code listen(2)}. */
    public static void listen(int fd, int backlog) {
        MemorySegment s = SCRATCH.get();
        try {
            if ((int) LISTEN.invokeExact(s, fd, backlog) < 0) {
                throw new NativeException("listen", errno(s));
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * {@code accept4(2)} of a non-blocking, close-on-exec connection; returns its fd or
     * {@code -errno} (-EAGAIN when none is pending). EINTR is retried.
     */
    public static int accept(int fd) {
        return (int) Linux.retry(SCRATCH.get(), c -> (int) ACCEPT4.invokeExact(c, fd, MemorySegment.NULL,
                MemorySegment.NULL, SOCK_NONBLOCK | SOCK_CLOEXEC));
    }

    /** {@code connect(2)}: 0, or {@code -errno} (-EINPROGRESS: wait for writability, then {@link #soError}). */
    public static int connect(int fd, SocketAddress addr) {
        MemorySegment s = SCRATCH.get();
        MemorySegment sa = s.asSlice(ADDR_OFF, 128);
        int len = encode(addr, sa);
        try {
            int r = (int) CONNECT.invokeExact(s, fd, sa, len);
            return r < 0 ? -errno(s) : 0;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Sets an int socket option. */
    public static void setIntOption(int fd, int level, int option, int value) {
        MemorySegment s = SCRATCH.get();
        MemorySegment v = s.asSlice(LEN_OFF, 4);
        v.set(JAVA_INT, 0, value);
        try {
            if ((int) SETSOCKOPT.invokeExact(s, fd, level, option, v, 4) < 0) {
                throw new NativeException("setsockopt", errno(s), "level " + level + " option " + option);
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Reads an int socket option. */
    public static int intOption(int fd, int level, int option) {
        MemorySegment s = SCRATCH.get();
        MemorySegment v = s.asSlice(ADDR_OFF, 4);
        MemorySegment len = s.asSlice(LEN_OFF, 4);
        len.set(JAVA_INT, 0, 4);
        try {
            if ((int) GETSOCKOPT.invokeExact(s, fd, level, option, v, len) < 0) {
                throw new NativeException("getsockopt", errno(s), "level " + level + " option " + option);
            }
            return v.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The pending error of a socket ({@code SO_ERROR}), e.g. the outcome of a connect. */
    public static int soError(int fd) {
        return intOption(fd, SOL_SOCKET, SO_ERROR);
    }

    /** Peer credentials of a Unix socket: {pid, uid, gid} ({@code SO_PEERCRED}). */
    public static int[] peerCredentials(int fd) {
        MemorySegment s = SCRATCH.get();
        MemorySegment v = s.asSlice(ADDR_OFF, 12);
        MemorySegment len = s.asSlice(LEN_OFF, 4);
        len.set(JAVA_INT, 0, 12);
        try {
            if ((int) GETSOCKOPT.invokeExact(s, fd, SOL_SOCKET, SO_PEERCRED, v, len) < 0) {
                throw new NativeException("getsockopt", errno(s), "SO_PEERCRED");
            }
            return new int[] {v.get(JAVA_INT, 0), v.get(JAVA_INT, 4), v.get(JAVA_INT, 8)};
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The local address of a bound socket ({@code getsockname(2)}), e.g. to learn an ephemeral port. */
    public static SocketAddress localAddress(int fd) {
        MemorySegment s = SCRATCH.get();
        MemorySegment sa = s.asSlice(ADDR_OFF, 128);
        MemorySegment len = s.asSlice(LEN_OFF, 4);
        len.set(JAVA_INT, 0, 128);
        try {
            if ((int) GETSOCKNAME.invokeExact(s, fd, sa, len) < 0) {
                throw new NativeException("getsockname", errno(s));
            }
            return decode(sa, len.get(JAVA_INT, 0));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code shutdown(2)}; returns 0 or {@code -errno} (ENOTCONN is common and harmless). */
    public static int shutdown(int fd, int how) {
        MemorySegment s = SCRATCH.get();
        try {
            int r = (int) SHUTDOWN.invokeExact(s, fd, how);
            return r < 0 ? -errno(s) : 0;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * {@code sendfile(2)}: up to {@code count} bytes of file {@code inFd} from {@code offset} into
     * socket {@code sockFd}, without copying them through user memory; bytes sent (0 at the
     * file's end) or {@code -errno} (-EAGAIN when the socket buffer is full).
     */
    public static long sendfile(int sockFd, int inFd, long offset, long count) {
        MemorySegment s = SCRATCH.get();
        return Linux.retry(s, c -> {
            c.set(JAVA_LONG, LEN_OFF, offset); // off_t *offset: the file position is not used or moved
            return (long) SENDFILE.invokeExact(c, sockFd, inFd, c.asSlice(LEN_OFF, 8), count);
        });
    }

    /** {@code writev(2)}; bytes written or {@code -errno} (-EAGAIN when the socket buffer is full). */
    public static long writev(int fd, MemorySegment iov, int iovcnt) {
        return Linux.retry(SCRATCH.get(), c -> (long) WRITEV.invokeExact(c, fd, iov, iovcnt));
    }

    /** Fills iovec {@code i} of {@code iov} with {@code seg}'s address and length. */
    public static void iovec(MemorySegment iov, int i, MemorySegment seg) {
        iov.set(JAVA_LONG, i * IOVEC_SIZE, seg.address());
        iov.set(JAVA_LONG, i * IOVEC_SIZE + 8, seg.byteSize());
    }
}
