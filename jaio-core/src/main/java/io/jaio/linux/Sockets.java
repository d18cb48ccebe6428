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
    /** Address family: Unix domain sockets. */
    public static final int AF_UNIX = 1;
    /** Address family: IPv4. */
    public static final int AF_INET = 2;
    /** Address family: IPv6. */
    public static final int AF_INET6 = 10;
    /** Socket type: a reliable byte stream (TCP, Unix stream). */
    public static final int SOCK_STREAM = 1;
    /** Socket type: datagrams. */
    public static final int SOCK_DGRAM = 2;
    /** {@code MSG_NOSIGNAL} (sys/socket.h): a send to a closed peer returns EPIPE, no SIGPIPE. */
    public static final int MSG_NOSIGNAL = 0x4000;
    /** {@code socket}/{@code accept4} type flag: non-blocking. */
    public static final int SOCK_NONBLOCK = Linux.O_NONBLOCK;
    /** {@code socket}/{@code accept4} type flag: close on {@code execve}. */
    public static final int SOCK_CLOEXEC = Linux.O_CLOEXEC;
    /** Option level: the socket itself ({@code SO_*} options). */
    public static final int SOL_SOCKET = 1;
    /** Socket option: allow binding a local address still in TIME_WAIT. */
    public static final int SO_REUSEADDR = 2;
    /** Socket option (read only): the pending error, cleared by reading it. */
    public static final int SO_ERROR = 4;
    /** Socket option: send buffer size in bytes (the kernel doubles the value set). */
    public static final int SO_SNDBUF = 7;
    /** Socket option: receive buffer size in bytes (the kernel doubles the value set). */
    public static final int SO_RCVBUF = 8;
    /** Socket option (read only, Unix sockets): the peer's {@code struct ucred}. */
    public static final int SO_PEERCRED = 17;
    /** Option level: TCP ({@code TCP_*} options). */
    public static final int IPPROTO_TCP = 6;
    /** TCP option: disable Nagle's algorithm (send small segments at once). */
    public static final int TCP_NODELAY = 1;
    /** {@code shutdown} how: no more receptions. */
    public static final int SHUT_RD = 0;
    /** {@code shutdown} how: no more transmissions (the peer reads end of stream). */
    public static final int SHUT_WR = 1;
    /** {@code shutdown} how: neither. */
    public static final int SHUT_RDWR = 2;
    /** errno: write to a socket whose peer has closed (or after {@code SHUT_WR}). */
    public static final int EPIPE = 32;
    /** errno: connection reset by the peer. */
    public static final int ECONNRESET = 104;
    /** errno: the socket is not connected. */
    public static final int ENOTCONN = 107;
    /** errno: no one listens at the address. */
    public static final int ECONNREFUSED = 111;
    /** errno: a non-blocking {@code connect} has started; wait for writability, then read {@link #SO_ERROR}. */
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

    /**
     * A new non-blocking, close-on-exec stream socket of {@code family}.
     *
     * @param family {@link #AF_INET}, {@link #AF_INET6} or {@link #AF_UNIX}
     * @return the socket's fd
     * @throws NativeException if the call fails
     */
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
     * @param sunPath the destination's {@code sun_path} bytes, without a trailing 0
     * @param msg the datagram
     * @return bytes sent, or {@code -errno}
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

    /**
     * The address family jaio uses for {@code addr}.
     *
     * @param addr a {@link UnixDomainSocketAddress} or a resolved {@link InetSocketAddress}
     * @return {@link #AF_UNIX}, {@link #AF_INET6} or {@link #AF_INET}
     */
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

    /**
     * {@code bind(2)}.
     *
     * @param fd the socket
     * @param addr the local address (port 0: an ephemeral port)
     * @throws NativeException if the call fails, with the address in the message
     */
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

    /**
     * {@code listen(2)}.
     *
     * @param fd a bound socket
     * @param backlog the pending-connection queue length (capped by {@code net.core.somaxconn})
     * @throws NativeException if the call fails
     */
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
     *
     * @param fd a listening socket
     * @return the connection's fd, or {@code -errno}
     */
    public static int accept(int fd) {
        return (int) Linux.retry(SCRATCH.get(), c -> (int) ACCEPT4.invokeExact(c, fd, MemorySegment.NULL,
                MemorySegment.NULL, SOCK_NONBLOCK | SOCK_CLOEXEC));
    }

    /**
     * {@code connect(2)}.
     *
     * @param fd a socket of {@code addr}'s family
     * @param addr the peer's address
     * @return 0, or {@code -errno} (-EINPROGRESS: wait for writability, then {@link #soError})
     */
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

    /**
     * Sets an int socket option ({@code setsockopt(2)}).
     *
     * @param fd the socket
     * @param level {@link #SOL_SOCKET} or {@link #IPPROTO_TCP}
     * @param option an option of that level
     * @param value the option's value (booleans: 0 or 1)
     * @throws NativeException if the call fails
     */
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

    /**
     * Reads an int socket option ({@code getsockopt(2)}).
     *
     * @param fd the socket
     * @param level {@link #SOL_SOCKET} or {@link #IPPROTO_TCP}
     * @param option an option of that level
     * @return the option's value
     * @throws NativeException if the call fails
     */
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

    /**
     * The pending error of a socket ({@code SO_ERROR}), e.g. the outcome of a connect.
     *
     * @param fd the socket
     * @return 0, or a positive errno (reading clears it)
     * @throws NativeException if the call fails
     */
    public static int soError(int fd) {
        return intOption(fd, SOL_SOCKET, SO_ERROR);
    }

    /**
     * Peer credentials of a Unix socket ({@code SO_PEERCRED}), as of its connect.
     *
     * @param fd a connected Unix socket
     * @return {pid, uid, gid}
     * @throws NativeException if the call fails
     */
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

    /**
     * The local address of a bound socket ({@code getsockname(2)}), e.g. to learn an ephemeral port.
     *
     * @param fd a bound socket
     * @return an {@link InetSocketAddress} or a {@link UnixDomainSocketAddress}
     * @throws NativeException if the call fails
     */
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

    /**
     * {@code shutdown(2)}.
     *
     * @param fd a socket
     * @param how {@link #SHUT_RD}, {@link #SHUT_WR} or {@link #SHUT_RDWR}
     * @return 0, or {@code -errno} (ENOTCONN is common and harmless)
     */
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
     *
     * @param sockFd the destination socket
     * @param inFd the source file (its file position is neither used nor moved)
     * @param offset where in the file to start
     * @param count bytes to send at most
     * @return bytes sent, or {@code -errno}
     */
    public static long sendfile(int sockFd, int inFd, long offset, long count) {
        MemorySegment s = SCRATCH.get();
        return Linux.retry(s, c -> {
            c.set(JAVA_LONG, LEN_OFF, offset); // off_t *offset: the file position is not used or moved
            return (long) SENDFILE.invokeExact(c, sockFd, inFd, c.asSlice(LEN_OFF, 8), count);
        });
    }

    /**
     * {@code writev(2)}.
     *
     * @param fd the destination
     * @param iov the iovec array (see {@link #iovec}), {@link #IOVEC_SIZE} bytes per entry
     * @param iovcnt entries of {@code iov} to write
     * @return bytes written, or {@code -errno} (-EAGAIN when the socket buffer is full)
     */
    public static long writev(int fd, MemorySegment iov, int iovcnt) {
        return Linux.retry(SCRATCH.get(), c -> (long) WRITEV.invokeExact(c, fd, iov, iovcnt));
    }

    /**
     * Fills iovec {@code i} of {@code iov} with {@code seg}'s address and length.
     *
     * @param iov the iovec array
     * @param i the entry's index
     * @param seg a native segment, which must stay alive until the call using {@code iov} returns
     */
    public static void iovec(MemorySegment iov, int i, MemorySegment seg) {
        iov.set(JAVA_LONG, i * IOVEC_SIZE, seg.address());
        iov.set(JAVA_LONG, i * IOVEC_SIZE + 8, seg.byteSize());
    }
}
