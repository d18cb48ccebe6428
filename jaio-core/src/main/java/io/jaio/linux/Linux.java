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
    /** Operation not permitted. */
    public static final int EPERM = 1;
    /** No such file or directory. */
    public static final int ENOENT = 2;
    /** Interrupted by a signal; the call may be retried. */
    public static final int EINTR = 4;
    /** I/O error. */
    public static final int EIO = 5;
    /** Bad file descriptor. */
    public static final int EBADF = 9;
    /** Try again: a non-blocking call would block (also EWOULDBLOCK). */
    public static final int EAGAIN = 11;
    /** Out of memory (or past {@code RLIMIT_MEMLOCK}). */
    public static final int ENOMEM = 12;
    /** Already exists (an fd already registered with epoll, a file with {@code O_EXCL}). */
    public static final int EEXIST = 17;
    /** Invalid argument. */
    public static final int EINVAL = 22;
    /** The process has too many open files. */
    public static final int EMFILE = 24;
    /** No space left on device. */
    public static final int ENOSPC = 28;
    /** The kernel lacks this system call. */
    public static final int ENOSYS = 38;
    /** No such device or address (also {@code lseek}: no data/hole past the offset). */
    public static final int ENXIO = 6;
    /** Linux's ENOTSUP and EOPNOTSUPP are the same value. */
    public static final int EOPNOTSUPP = 95;
    /** Operation not supported; same value as {@link #EOPNOTSUPP}. */
    public static final int ENOTSUP = EOPNOTSUPP;
    /** Timer expired (an io_uring timeout completing). */
    public static final int ETIME = 62;
    /** Operation canceled (an io_uring request that was cancelled). */
    public static final int ECANCELED = 125;

    // ---- open/pipe/eventfd/epoll flags, <asm-generic/fcntl.h>, <sys/eventfd.h>, <sys/epoll.h> ----
    /** {@code open}/{@code fcntl} flag: non-blocking I/O. */
    public static final int O_NONBLOCK = 0x800;
    /** {@code open} flag: close the fd on {@code execve}. */
    public static final int O_CLOEXEC = 0x80000;
    /** {@code open} access mode: read only. */
    public static final int O_RDONLY = 0;
    /** {@code open} access mode: write only. */
    public static final int O_WRONLY = 1;
    /** {@code open} access mode: read and write. */
    public static final int O_RDWR = 2;
    /** {@code open} flag: create the file if it does not exist. */
    public static final int O_CREAT = 0x40;
    /** {@code open} flag: truncate an existing regular file to length 0. */
    public static final int O_TRUNC = 0x200;
    /** {@code open} flag: bypass the page cache (buffers, offsets and lengths must be aligned). */
    public static final int O_DIRECT = 0x4000;
    /** {@code eventfd} flag: non-blocking reads and writes. */
    public static final int EFD_NONBLOCK = O_NONBLOCK;
    /** {@code eventfd} flag: close on {@code execve}. */
    public static final int EFD_CLOEXEC = O_CLOEXEC;
    /** {@code epoll_create1} flag: close on {@code execve}. */
    public static final int EPOLL_CLOEXEC = O_CLOEXEC;

    // ---- fcntl commands, <asm-generic/fcntl.h> ----
    /** {@code fcntl}: get the fd flags ({@code FD_CLOEXEC}). */
    public static final int F_GETFD = 1;
    /** {@code fcntl}: get the file status flags ({@code O_NONBLOCK}, access mode...). */
    public static final int F_GETFL = 3;
    /** {@code fcntl}: set the file status flags. */
    public static final int F_SETFL = 4;

    // ---- poll(2) event bits, <asm-generic/poll.h>; epoll's EPOLLIN.. have the same values ----
    /** Poll event: data to read. */
    public static final int POLLIN = 0x001;
    /** Poll event: urgent data (TCP out-of-band) to read. */
    public static final int POLLPRI = 0x002;
    /** Poll event: writing will not block. */
    public static final int POLLOUT = 0x004;
    /** Poll event (output only): error condition. */
    public static final int POLLERR = 0x008;
    /** Poll event (output only): hang up, the peer closed. */
    public static final int POLLHUP = 0x010;
    /** Poll event (output only): the fd is not open. */
    public static final int POLLNVAL = 0x020;

    // ---- epoll_ctl ops, <uapi/linux/eventpoll.h> ----
    /** {@code epoll_ctl} op: register an fd. */
    public static final int EPOLL_CTL_ADD = 1;
    /** {@code epoll_ctl} op: deregister an fd. */
    public static final int EPOLL_CTL_DEL = 2;
    /** {@code epoll_ctl} op: change a registered fd's events. */
    public static final int EPOLL_CTL_MOD = 3;

    // ---- prctl options, <uapi/linux/prctl.h> ----
    /** {@code prctl} option: set the calling thread's timer slack in ns (0: back to the default). */
    public static final int PR_SET_TIMERSLACK = 29;
    /** {@code prctl} option: get the calling thread's timer slack in ns. */
    public static final int PR_GET_TIMERSLACK = 30;

    // ---- layouts ----
    /** {@code struct pollfd { int fd; short events; short revents; }}, {@code <asm-generic/poll.h>}. */
    public static final long POLLFD_SIZE = 8;
    /** Byte offset of {@code pollfd.fd}. */
    public static final long POLLFD_FD = 0;
    /** Byte offset of {@code pollfd.events}. */
    public static final long POLLFD_EVENTS = 4;
    /** Byte offset of {@code pollfd.revents}. */
    public static final long POLLFD_REVENTS = 6;

    /**
     * {@code struct epoll_event { u32 events; u64 data; }}, {@code <uapi/linux/eventpoll.h>}: packed
     * (12 bytes) on x86-64, naturally aligned (16 bytes) elsewhere.
     */
    public static final boolean EPOLL_PACKED = "amd64".equals(System.getProperty("os.arch"))
            || "x86_64".equals(System.getProperty("os.arch"));
    /** Size in bytes of {@code struct epoll_event} on this architecture. */
    public static final long EPOLL_EVENT_SIZE = EPOLL_PACKED ? 12 : 16;
    /** Byte offset of {@code epoll_event.events}. */
    public static final long EPOLL_EVENT_EVENTS = 0;
    /** Byte offset of {@code epoll_event.data}. */
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
    private static final MethodHandle DUP3 = errnoCall("dup3",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
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

    /**
     * {@code eventfd(2)}.
     *
     * @param initval the counter's initial value
     * @param flags {@link #EFD_NONBLOCK}, {@link #EFD_CLOEXEC}, or 0
     * @return the new fd
     * @throws NativeException if the call fails
     */
    public static int eventfd(int initval, int flags) {
        MemorySegment s = scratch();
        return (int) check("eventfd", retry(s, c -> (int) EVENTFD.invokeExact(c, initval, flags)));
    }

    /**
     * {@code pipe2(2)}.
     *
     * @param flags {@link #O_NONBLOCK}, {@link #O_CLOEXEC}, or 0
     * @return {read end, write end}
     * @throws NativeException if the call fails
     */
    public static int[] pipe2(int flags) {
        MemorySegment s = scratch();
        MemorySegment fds = s.asSlice(SCRATCH_ARG, 8);
        check("pipe2", retry(s, c -> (int) PIPE2.invokeExact(c, fds, flags)));
        return new int[] {fds.get(JAVA_INT, 0), fds.get(JAVA_INT, 4)};
    }

    /**
     * {@code open(2)}.
     *
     * @param path the file's path
     * @param flags {@code O_*} bits
     * @param mode permission bits for a file {@link #O_CREAT} creates (e.g. 0644), else ignored
     * @return the new fd
     * @throws NativeException if the call fails (the message names {@code path})
     */
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
     * {@code newFd} referred to, atomically; {@code flags} 0 or {@link #O_CLOEXEC}. Through
     * glibc's wrapper, as every call here with one (no per-architecture syscall number). Any thread.
     *
     * @param oldFd the fd to duplicate
     * @param newFd the fd number to make refer to {@code oldFd}'s file
     * @param flags 0 or {@link #O_CLOEXEC}
     * @throws NativeException if the kernel refuses, naming both fds
     */
    public static void dup3(int oldFd, int newFd, int flags) {
        long r = retry(scratch(), c -> (int) DUP3.invokeExact(c, oldFd, newFd, flags));
        if (r < 0) {
            throw new NativeException("dup3", (int) -r, "fd " + oldFd + " onto fd " + newFd);
        }
    }

    /**
     * {@code close(2)}. Not retried on EINTR: Linux releases the fd even then, and a retry could
     * close an fd another thread just opened.
     *
     * @param fd the fd to close
     * @throws NativeException if the call fails (EBADF: a double close)
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

    /**
     * {@code fcntl(2)} with an int argument.
     *
     * @param fd the file descriptor
     * @param cmd an {@code F_*} command
     * @param arg the command's argument, 0 if it takes none
     * @return the call's result
     * @throws NativeException if the call fails
     */
    public static int fcntl(int fd, int cmd, int arg) {
        MemorySegment s = scratch();
        return (int) check("fcntl", retry(s, c -> (int) FCNTL.invokeExact(c, fd, cmd, arg)));
    }

    /**
     * {@code prctl(2)} with one argument (the rest 0).
     *
     * @param option a {@code PR_*} option
     * @param arg2 the option's argument
     * @return the call's result
     * @throws NativeException if the call fails
     */
    public static int prctl(int option, long arg2) {
        MemorySegment s = scratch();
        return (int) check("prctl", retry(s, c -> (int) PRCTL.invokeExact(c, option, arg2, 0L, 0L, 0L)));
    }

    /**
     * Sets the calling thread's timer slack, as QEMU does for its loop threads.
     *
     * @param ns slack in ns; 0 restores the thread's default (50 µs)
     * @throws NativeException if the call fails
     */
    public static void setTimerSlackNs(long ns) {
        prctl(PR_SET_TIMERSLACK, ns);
    }

    /**
     * The calling thread's timer slack.
     *
     * @return the slack in ns
     * @throws NativeException if the call fails
     */
    public static long timerSlackNs() {
        return prctl(PR_GET_TIMERSLACK, 0);
    }

    // ---- read / write ----

    /**
     * {@code read(2)} into native memory.
     *
     * @param fd the file descriptor
     * @param buf the destination, at least {@code len} bytes
     * @param len bytes to read at most
     * @return bytes read (0 at end of file), or {@code -errno} (e.g. {@code -EAGAIN})
     */
    public static long read(int fd, MemorySegment buf, long len) {
        MemorySegment s = scratch();
        return retry(s, c -> (long) READ.invokeExact(c, fd, buf, len));
    }

    /**
     * {@code write(2)} from native memory.
     *
     * @param fd the file descriptor
     * @param buf the source, at least {@code len} bytes
     * @param len bytes to write at most
     * @return bytes written, or {@code -errno}
     */
    public static long write(int fd, MemorySegment buf, long len) {
        MemorySegment s = scratch();
        return retry(s, c -> (long) WRITE.invokeExact(c, fd, buf, len));
    }

    /**
     * {@code read(2)} into a Java array (copied through scratch memory).
     *
     * @param fd the file descriptor
     * @param b the destination; reads up to {@code b.length} bytes
     * @return bytes read (0 at end of file), or {@code -errno}
     */
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

    /**
     * {@code write(2)} from a Java array.
     *
     * @param fd the file descriptor
     * @param b the data; writes up to {@code b.length} bytes
     * @return bytes written, or {@code -errno}
     */
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
     *
     * @param fd the eventfd
     * @param value the amount to add, &gt; 0
     * @return 0, or {@code -errno}
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
     *
     * @param fd the eventfd
     * @return the counter, or {@code -errno}
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
     *
     * @param fds the pollfd array
     * @param nfds entries of {@code fds} to watch
     * @param timeoutNs the timeout in ns; negative waits forever, 0 does not wait
     * @return the number of fds with events
     * @throws NativeException if the call fails
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

    /**
     * {@code epoll_create1(2)}.
     *
     * @param flags 0 or {@link #EPOLL_CLOEXEC}
     * @return the epoll fd
     * @throws NativeException if the call fails
     */
    public static int epollCreate1(int flags) {
        MemorySegment s = scratch();
        return (int) check("epoll_create1", retry(s, c -> (int) EPOLL_CREATE1.invokeExact(c, flags)));
    }

    /**
     * {@code epoll_ctl(2)} with an event of {@code events} and 64-bit {@code data}. Returns 0 or
     * {@code -errno}, so callers can decide what a failure means for them.
     *
     * @param epfd the epoll fd
     * @param op an {@code EPOLL_CTL_*} op
     * @param fd the watched fd
     * @param events {@code EPOLL*} bits (ignored by {@link #EPOLL_CTL_DEL})
     * @param data the value the kernel reports back with the fd's events
     * @return 0, or {@code -errno}
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
     *
     * @param epfd the epoll fd
     * @param events the epoll_event array
     * @param max entries of {@code events}, &gt; 0
     * @param timeoutMs the timeout in ms; -1 waits forever, 0 does not wait
     * @return the number of ready entries
     * @throws NativeException if the call fails
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

    /**
     * The {@code events} word of entry {@code i} of an epoll_event array.
     *
     * @param events the array
     * @param i the entry's index
     * @return its {@code EPOLL*} bits
     */
    public static int epollEventEvents(MemorySegment events, int i) {
        return events.get(JAVA_INT, i * EPOLL_EVENT_SIZE + EPOLL_EVENT_EVENTS);
    }

    /**
     * The {@code data} word of entry {@code i} of an epoll_event array.
     *
     * @param events the array
     * @param i the entry's index
     * @return its {@code data}, as registered with {@link #epollCtl}
     */
    public static long epollEventData(MemorySegment events, int i) {
        return events.get(LONG_UNALIGNED, i * EPOLL_EVENT_SIZE + EPOLL_EVENT_DATA);
    }

    // ---- pollfd accessors ----

    /**
     * Fills entry {@code i} of a pollfd array and clears its {@code revents}.
     *
     * @param fds the array
     * @param i the entry's index
     * @param fd the fd to watch (negative: the entry is ignored)
     * @param events {@code POLL*} bits
     */
    public static void pollfdSet(MemorySegment fds, int i, int fd, short events) {
        long base = i * POLLFD_SIZE;
        fds.set(JAVA_INT, base + POLLFD_FD, fd);
        fds.set(ValueLayout.JAVA_SHORT, base + POLLFD_EVENTS, events);
        fds.set(ValueLayout.JAVA_SHORT, base + POLLFD_REVENTS, (short) 0);
    }

    /**
     * The {@code revents} of entry {@code i} of a pollfd array, after {@link #ppoll}.
     *
     * @param fds the array
     * @param i the entry's index
     * @return its {@code POLL*} bits, as an unsigned 16-bit value
     */
    public static int pollfdRevents(MemorySegment fds, int i) {
        return fds.get(ValueLayout.JAVA_SHORT, i * POLLFD_SIZE + POLLFD_REVENTS) & 0xffff;
    }

    // ---- errors ----

    /**
     * The C library's text for {@code errno}.
     *
     * @param errno an errno value (positive)
     * @return its message, or {@code "errno N"} if the lookup fails
     */
    public static String strerror(int errno) {
        try {
            MemorySegment p = (MemorySegment) STRERROR.invokeExact(errno);
            return p.reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "errno " + errno;
        }
    }

    /**
     * Number of open fds of this process (entries of /proc/self/fd), for leak checks.
     *
     * @return the count, or -1 if /proc/self/fd cannot be listed
     */
    public static int openFdCount() {
        String[] names = new java.io.File("/proc/self/fd").list();
        return names == null ? -1 : names.length;
    }

}
