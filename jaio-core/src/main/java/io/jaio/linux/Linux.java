package io.jaio.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Every libc downcall jaio makes, and the kernel constants they need.
 *
 * <p>This is the only class (with its package) that touches {@code java.lang.foreign}. Calls
 * either return a result or throw {@link NativeException}; the few that callers must inspect
 * without an exception ({@code read}/{@code write} on non-blocking fds, the waits) return
 * {@code -errno} instead and say so. {@code EINTR} is retried in {@link #retry} and nowhere
 * else; the waits ({@link #ppoll}, {@link #epollWait}) report an interrupted wait as zero
 * events, which their callers treat as a spurious wake-up.
 *
 * <p>errno is captured with {@link Linker.Option#captureCallState}, into a per-thread scratch
 * segment, so a call allocates nothing. All methods may be called from any thread, virtual
 * threads included.
 */
@SuppressWarnings("restricted") // this class is the one place allowed to make downcalls
public final class Linux {
    private Linux() {}

    // ---- errno values, <asm-generic/errno-base.h> and <asm-generic/errno.h> ----
    public static final int EPERM = 1;
    public static final int ENOENT = 2;
    public static final int EINTR = 4;
    public static final int EIO = 5;
    public static final int EBADF = 9;
    public static final int EAGAIN = 11;
    public static final int ENOMEM = 12;
    public static final int EEXIST = 17;
    public static final int EINVAL = 22;
    public static final int EMFILE = 24;
    public static final int ENOSPC = 28;
    public static final int ENOSYS = 38;
    public static final int ENXIO = 6;
    /** Linux's ENOTSUP and EOPNOTSUPP are the same value. */
    public static final int EOPNOTSUPP = 95;
    public static final int ENOTSUP = EOPNOTSUPP;
    public static final int ETIME = 62;
    public static final int ECANCELED = 125;

    // ---- open/pipe/eventfd/epoll flags, <asm-generic/fcntl.h>, <sys/eventfd.h>, <sys/epoll.h> ----
    public static final int O_NONBLOCK = 0x800;
    public static final int O_CLOEXEC = 0x80000;
    public static final int O_RDONLY = 0;
    public static final int O_WRONLY = 1;
    public static final int O_RDWR = 2;
    public static final int O_CREAT = 0x40;
    public static final int O_TRUNC = 0x200;
    public static final int O_DIRECT = 0x4000;
    public static final int EFD_NONBLOCK = O_NONBLOCK;
    public static final int EFD_CLOEXEC = O_CLOEXEC;
    public static final int EPOLL_CLOEXEC = O_CLOEXEC;

    // ---- fcntl commands, <asm-generic/fcntl.h> ----
    public static final int F_GETFD = 1;
    public static final int F_GETFL = 3;
    public static final int F_SETFL = 4;

    // ---- poll(2) event bits, <asm-generic/poll.h>; epoll's EPOLLIN.. have the same values ----
    public static final int POLLIN = 0x001;
    public static final int POLLPRI = 0x002;
    public static final int POLLOUT = 0x004;
    public static final int POLLERR = 0x008;
    public static final int POLLHUP = 0x010;
    public static final int POLLNVAL = 0x020;

    // ---- epoll_ctl ops, <uapi/linux/eventpoll.h> ----
    public static final int EPOLL_CTL_ADD = 1;
    public static final int EPOLL_CTL_DEL = 2;
    public static final int EPOLL_CTL_MOD = 3;

    // ---- prctl options, <uapi/linux/prctl.h> ----
    public static final int PR_SET_TIMERSLACK = 29;
    public static final int PR_GET_TIMERSLACK = 30;

    // ---- layouts ----
    /** {@code struct pollfd { int fd; short events; short revents; }}, {@code <asm-generic/poll.h>}. */
    public static final long POLLFD_SIZE = 8;
    public static final long POLLFD_FD = 0;
    public static final long POLLFD_EVENTS = 4;
    public static final long POLLFD_REVENTS = 6;

    /**
     * {@code struct epoll_event { u32 events; u64 data; }}, {@code <uapi/linux/eventpoll.h>}: packed
     * (12 bytes) on x86-64, naturally aligned (16 bytes) elsewhere.
     */
    public static final boolean EPOLL_PACKED = "amd64".equals(System.getProperty("os.arch"))
            || "x86_64".equals(System.getProperty("os.arch"));
    public static final long EPOLL_EVENT_SIZE = EPOLL_PACKED ? 12 : 16;
    public static final long EPOLL_EVENT_EVENTS = 0;
    public static final long EPOLL_EVENT_DATA = EPOLL_PACKED ? 4 : 8;

    private static final ValueLayout.OfLong LONG_UNALIGNED = JAVA_LONG.withByteAlignment(1);

    // ---- the linker ----
    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final StructLayout CAPTURE_LAYOUT = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE_LAYOUT.varHandle(
            MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option CAPTURE_ERRNO = Linker.Option.captureCallState("errno");

    /** Bytes of the errno capture state at the start of every scratch segment of this package. */
    static final long CAPTURE_SIZE = CAPTURE_LAYOUT.byteSize();

    /**
     * A downcall to libc's {@code name} that captures errno into its first (scratch) argument:
     * the one linker set-up of io.jaio.linux (Linux, FileSys, Sockets, IoUring).
     */
    static MethodHandle errnoCall(String name, FunctionDescriptor fd, Linker.Option... extra) {
        Linker.Option[] opts = new Linker.Option[extra.length + 1];
        opts[0] = CAPTURE_ERRNO;
        System.arraycopy(extra, 0, opts, 1, extra.length);
        return LINKER.downcallHandle(find(name), fd, opts);
    }

    /** A downcall to libc's {@code name} without errno capture (functions that cannot fail with errno). */
    static MethodHandle plainCall(String name, FunctionDescriptor fd) {
        return LINKER.downcallHandle(find(name), fd);
    }

    private static MemorySegment find(String name) {
        return LIBC.find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name));
    }

    private static final MethodHandle EVENTFD = errnoCall("eventfd",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle PIPE2 = errnoCall("pipe2",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle READ = errnoCall("read",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle WRITE = errnoCall("write",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle OPEN = errnoCall("open",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), Linker.Option.firstVariadicArg(2));
    private static final MethodHandle CLOSE = errnoCall("close",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle FCNTL = errnoCall("fcntl",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT), Linker.Option.firstVariadicArg(2));
    private static final MethodHandle PRCTL = errnoCall("prctl",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG),
            Linker.Option.firstVariadicArg(1));
    private static final MethodHandle PPOLL = errnoCall("ppoll",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS, ADDRESS));
    private static final MethodHandle EPOLL_CREATE1 = errnoCall("epoll_create1",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle EPOLL_CTL = errnoCall("epoll_ctl",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS));
    private static final MethodHandle EPOLL_WAIT = errnoCall("epoll_wait",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
    /**
     * {@code long syscall(long nr, ...)} with six arguments, errno captured: for the system calls
     * glibc has no wrapper for (io_uring, Linux AIO).
     */
    static final MethodHandle SYSCALL6 = errnoCall("syscall",
            FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG),
            Linker.Option.firstVariadicArg(1));
    private static final MethodHandle STRERROR = plainCall("strerror",
            FunctionDescriptor.of(ADDRESS, JAVA_INT));

    // ---- per-thread scratch: errno capture + a small argument buffer ----
    /** Where a scratch segment's arguments start: after the errno capture, 16-byte aligned (package: Sockets and FileSys lay out their own scratch the same way). */
    static final long SCRATCH_ARG = align(CAPTURE_LAYOUT.byteSize(), 16);
    private static final long SCRATCH_SIZE = SCRATCH_ARG + 64;

    private static long align(long v, long a) {
        return (v + a - 1) & -a;
    }

    /**
     * One segment per thread: [capture state][64 bytes for arguments such as a timespec, an
     * epoll_event or an eventfd counter]. Freed by the GC when the thread is gone.
     */
    private static final ThreadLocal<MemorySegment> SCRATCH = ThreadLocal.withInitial(
            () -> Arena.ofAuto().allocate(SCRATCH_SIZE, 16));

    private static MemorySegment scratch() {
        return SCRATCH.get();
    }

    /** The errno a call captured into {@code scratch} (any scratch segment of this package). */
    static int errno(MemorySegment scratch) {
        return (int) ERRNO.get(scratch, 0L);
    }

    /** A native call that returns {@code -1} and sets errno on failure. */
    @FunctionalInterface
    interface Call {
        long invoke(MemorySegment capture) throws Throwable;
    }

    /**
     * The one place that retries {@code EINTR}. Returns the call's result, or {@code -errno}.
     */
    static long retry(MemorySegment scratch, Call call) {
        try {
            for (;;) {
                long r = call.invoke(scratch);
                if (r != -1) {
                    return r;
                }
                int e = errno(scratch);
                if (e != EINTR) {
                    return -e;
                }
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            throw r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        throw new IllegalStateException(t);
    }

    private static long check(String name, long r) {
        if (r < 0) {
            throw new NativeException(name, (int) -r);
        }
        return r;
    }

    // ---- descriptors ----

    /** {@code eventfd(2)}; returns the new fd. */
    public static int eventfd(int initval, int flags) {
        MemorySegment s = scratch();
        return (int) check("eventfd", retry(s, c -> (int) EVENTFD.invokeExact(c, initval, flags)));
    }

    /** {@code pipe2(2)}; returns {read end, write end}. */
    public static int[] pipe2(int flags) {
        MemorySegment s = scratch();
        MemorySegment fds = s.asSlice(SCRATCH_ARG, 8);
        check("pipe2", retry(s, c -> (int) PIPE2.invokeExact(c, fds, flags)));
        return new int[] {fds.get(JAVA_INT, 0), fds.get(JAVA_INT, 4)};
    }

    /** {@code open(2)} of {@code path} with {@code flags} ({@code O_*}) and {@code mode}; returns the fd. */
    public static int open(String path, int flags, int mode) {
        MemorySegment s = scratch();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocateFrom(path);
            long r = retry(s, c -> (int) OPEN.invokeExact(c, p, flags, mode));
            if (r < 0) {
                throw new NativeException("open", (int) -r, path);
            }
            return (int) r;
        }
    }

    /**
     * {@code dup3(2)}: makes {@code newFd} refer to {@code oldFd}'s open file, closing what
     * {@code newFd} referred to, atomically; {@code flags} 0 or {@link #O_CLOEXEC}. Throws
     * {@link NativeException} if the kernel refuses.
     */
    public static void dup3(int oldFd, int newFd, int flags) {
        long nr = "aarch64".equals(System.getProperty("os.arch")) ? 24 : 292; // SYS_dup3
        check("dup3", retry(scratch(), c -> (long) SYSCALL6.invokeExact(c, nr, (long) oldFd, (long) newFd,
                (long) flags, 0L, 0L, 0L)));
    }

    /**
     * {@code close(2)}. Not retried on EINTR: Linux releases the fd even then, and a retry could
     * close an fd another thread just opened.
     */
    public static void close(int fd) {
        MemorySegment s = scratch();
        try {
            int r = (int) CLOSE.invokeExact(s, fd);
            if (r == -1 && errno(s) != EINTR) {
                throw new NativeException("close", errno(s), "fd " + fd);
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code fcntl(2)} with an int argument; returns the call's result. */
    public static int fcntl(int fd, int cmd, int arg) {
        MemorySegment s = scratch();
        return (int) check("fcntl", retry(s, c -> (int) FCNTL.invokeExact(c, fd, cmd, arg)));
    }

    /** {@code prctl(2)}; returns the call's result. */
    public static int prctl(int option, long arg2) {
        MemorySegment s = scratch();
        return (int) check("prctl", retry(s, c -> (int) PRCTL.invokeExact(c, option, arg2, 0L, 0L, 0L)));
    }

    /** Sets the calling thread's timer slack, as QEMU does for its loop threads. */
    public static void setTimerSlackNs(long ns) {
        prctl(PR_SET_TIMERSLACK, ns);
    }

    /** The calling thread's timer slack in ns. */
    public static long timerSlackNs() {
        return prctl(PR_GET_TIMERSLACK, 0);
    }

    // ---- read / write ----

    /** {@code read(2)} into native memory; returns bytes read or {@code -errno} (e.g. -EAGAIN). */
    public static long read(int fd, MemorySegment buf, long len) {
        MemorySegment s = scratch();
        return retry(s, c -> (long) READ.invokeExact(c, fd, buf, len));
    }

    /** {@code write(2)} from native memory; returns bytes written or {@code -errno}. */
    public static long write(int fd, MemorySegment buf, long len) {
        MemorySegment s = scratch();
        return retry(s, c -> (long) WRITE.invokeExact(c, fd, buf, len));
    }

    /** {@code read(2)} into a Java array (copied through scratch memory); bytes or {@code -errno}. */
    public static int read(int fd, byte[] b) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(Math.max(1, b.length));
            long n = read(fd, buf, b.length);
            if (n > 0) {
                MemorySegment.copy(buf, ValueLayout.JAVA_BYTE, 0, b, 0, (int) n);
            }
            return (int) n;
        }
    }

    /** {@code write(2)} from a Java array; bytes written or {@code -errno}. */
    public static int write(int fd, byte[] b) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(Math.max(1, b.length));
            MemorySegment.copy(b, 0, buf, ValueLayout.JAVA_BYTE, 0, b.length);
            return (int) write(fd, buf, b.length);
        }
    }

    /**
     * Adds {@code value} to an eventfd's counter (writes 8 bytes). Returns 0, or {@code -errno}:
     * {@code -EAGAIN} means the counter is saturated, i.e. a wake-up is already pending.
     */
    public static int eventfdWrite(int fd, long value) {
        // Hot path (every cross-thread wake-up): no lambda, no allocation.
        MemorySegment s = scratch();
        MemorySegment v = s.asSlice(SCRATCH_ARG, 8);
        v.set(JAVA_LONG, 0, value);
        try {
            for (;;) {
                long r = (long) WRITE.invokeExact(s, fd, v, 8L);
                if (r >= 0) {
                    return 0;
                }
                int e = errno(s);
                if (e != EINTR) {
                    return -e;
                }
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * Reads an eventfd's counter (resetting it). Returns the counter (&gt; 0), or {@code -errno}:
     * {@code -EAGAIN} when it was zero on a non-blocking eventfd.
     */
    public static long eventfdRead(int fd) {
        MemorySegment s = scratch();
        MemorySegment v = s.asSlice(SCRATCH_ARG, 8);
        try {
            for (;;) {
                long r = (long) READ.invokeExact(s, fd, v, 8L);
                if (r >= 0) {
                    return v.get(JAVA_LONG, 0);
                }
                int e = errno(s);
                if (e != EINTR) {
                    return -e;
                }
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // ---- ppoll ----

    /**
     * {@code ppoll(2)} over {@code nfds} {@code struct pollfd}s in {@code fds}. A negative
     * timeout waits forever; seconds are capped at INT32_MAX. Returns the number of fds with
     * events, 0 on time-out or on EINTR (a spurious wake-up for the caller), or throws.
     */
    public static int ppoll(MemorySegment fds, int nfds, long timeoutNs) {
        MemorySegment s = scratch();
        MemorySegment ts = MemorySegment.NULL;
        if (timeoutNs >= 0) {
            ts = s.asSlice(SCRATCH_ARG, 16);
            long sec = Math.min(timeoutNs / 1_000_000_000L, Integer.MAX_VALUE);
            ts.set(JAVA_LONG, 0, sec);
            ts.set(JAVA_LONG, 8, timeoutNs % 1_000_000_000L);
        }
        try {
            int r = (int) PPOLL.invokeExact(s, fds, (long) nfds, ts, MemorySegment.NULL);
            if (r >= 0) {
                return r;
            }
            int e = errno(s);
            if (e == EINTR) {
                return 0;
            }
            throw new NativeException("ppoll", e);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // ---- epoll ----

    /** {@code epoll_create1(2)}; returns the epoll fd. */
    public static int epollCreate1(int flags) {
        MemorySegment s = scratch();
        return (int) check("epoll_create1", retry(s, c -> (int) EPOLL_CREATE1.invokeExact(c, flags)));
    }

    /**
     * {@code epoll_ctl(2)} with an event of {@code events} and 64-bit {@code data}. Returns 0 or
     * {@code -errno}, so callers can decide what a failure means for them.
     */
    public static int epollCtl(int epfd, int op, int fd, int events, long data) {
        MemorySegment s = scratch();
        MemorySegment ev = s.asSlice(SCRATCH_ARG, EPOLL_EVENT_SIZE);
        ev.set(JAVA_INT, EPOLL_EVENT_EVENTS, events);
        ev.set(LONG_UNALIGNED, EPOLL_EVENT_DATA, data);
        return (int) retry(s, c -> (int) EPOLL_CTL.invokeExact(c, epfd, op, fd, ev));
    }

    /**
     * {@code epoll_wait(2)} into {@code events} (room for {@code max} entries), timeout in ms
     * (-1 forever). Returns the count, 0 on time-out or EINTR, or throws.
     */
    public static int epollWait(int epfd, MemorySegment events, int max, int timeoutMs) {
        MemorySegment s = scratch();
        try {
            int r = (int) EPOLL_WAIT.invokeExact(s, epfd, events, max, timeoutMs);
            if (r >= 0) {
                return r;
            }
            int e = errno(s);
            if (e == EINTR) {
                return 0;
            }
            throw new NativeException("epoll_wait", e);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The {@code events} word of entry {@code i} of an epoll_event array. */
    public static int epollEventEvents(MemorySegment events, int i) {
        return events.get(JAVA_INT, i * EPOLL_EVENT_SIZE + EPOLL_EVENT_EVENTS);
    }

    /** The {@code data} word of entry {@code i} of an epoll_event array. */
    public static long epollEventData(MemorySegment events, int i) {
        return events.get(LONG_UNALIGNED, i * EPOLL_EVENT_SIZE + EPOLL_EVENT_DATA);
    }

    // ---- pollfd accessors ----

    public static void pollfdSet(MemorySegment fds, int i, int fd, short events) {
        long base = i * POLLFD_SIZE;
        fds.set(JAVA_INT, base + POLLFD_FD, fd);
        fds.set(ValueLayout.JAVA_SHORT, base + POLLFD_EVENTS, events);
        fds.set(ValueLayout.JAVA_SHORT, base + POLLFD_REVENTS, (short) 0);
    }

    public static int pollfdRevents(MemorySegment fds, int i) {
        return fds.get(ValueLayout.JAVA_SHORT, i * POLLFD_SIZE + POLLFD_REVENTS) & 0xffff;
    }

    // ---- errors ----

    /** The C library's text for {@code errno}. */
    public static String strerror(int errno) {
        try {
            MemorySegment p = (MemorySegment) STRERROR.invokeExact(errno);
            return p.reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "errno " + errno;
        }
    }

    /** Number of open fds of this process (entries of /proc/self/fd), for leak checks. */
    public static int openFdCount() {
        String[] names = new java.io.File("/proc/self/fd").list();
        return names == null ? -1 : names.length;
    }

}
