package io.jaio.fs;

import io.jaio.aio.AioContext;
import io.jaio.coroutine.Coroutine;
import io.jaio.linux.FileSys;
import io.jaio.linux.Linux;
import io.jaio.linux.NativeException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * A file read and written by coroutines (tokio-uring's {@code fs::File}, a coroutine-shaped
 * {@link java.nio.channels.FileChannel}): positional reads and writes into {@link MemorySegment}s
 * and {@link ByteBuffer}s, vectored forms, {@code fsync}/{@code fdatasync}, {@code fallocate} and
 * punch-hole, {@code SEEK_DATA}/{@code SEEK_HOLE}, size. Each request suspends the calling
 * {@link Coroutine} until it completes, so one thread keeps many requests in flight.
 *
 * <pre>{@code
 * try (CoFile f = CoFile.open(ctx, Path.of("disk.img"), StandardOpenOption.READ, CoFile.Option.DIRECT)) {
 *     Coroutine.create(() -> {
 *         try (Arena a = Arena.ofConfined()) {
 *             MemorySegment buf = a.allocate(4096, 4096);
 *             long n = f.read(buf, 0);            // suspends this coroutine, not the thread
 *         } catch (IOException e) { ... }
 *     }).enter();
 *     while (...) ctx.poll(true);                  // or run ctx in an IoThread
 * }
 * }</pre>
 *
 * <h2>Engines</h2>
 * On a context with an io_uring ring ({@link AioContext#hasIoUring()}) each request is an SQE on
 * that ring ({@link AioContext#addSqe}); otherwise a job on the context's thread pool. A file on a
 * memory-backed file system (tmpfs such as {@code /dev/shm}, ramfs, hugetlbfs:
 * {@link MemoryFs#isMemoryBacked(int)}) gets the inline engine instead: each request is the
 * syscall itself in the calling coroutine, a page-cache copy with no hand-off (io_uring would punt
 * every tmpfs request to a kernel worker, the pool is a hand-off by design). Choose an engine
 * explicitly with {@link #open(AioContext, Path, Engine, OpenOption...)}. All three are
 * {@link FileEngine}, which jaio-block's daemon uses too. {@code SEEK_DATA}/{@code SEEK_HOLE} and
 * {@link #size()} are cheap syscalls with no io_uring opcode: they run inline in the calling thread
 * (as QEMU's {@code find_allocation} does).
 *
 * <h2>Threads</h2>
 * {@link #open} runs in any thread. Every I/O request (read, write, sync, allocate) runs inside a
 * coroutine in the home thread of the file's context, and suspends it; many coroutines may have
 * requests in flight at once. Called elsewhere, it throws {@link IllegalStateException} at once
 * (no hidden blocking): from other threads, hand the work to the home thread (e.g.
 * {@link AioContext#scheduleOneshot} entering a coroutine). {@link #size()}, {@link #seekData},
 * {@link #seekHole}: the home thread, in a coroutine or not. {@link #close()}: any thread.
 *
 * <h2>Short transfers</h2>
 * As {@code FileChannel} users expect from a regular file: a read fills the whole buffer unless the
 * file ends first (short reads, {@code EINTR} and {@code EAGAIN} are resubmitted inside), a write
 * writes everything or throws. The {@code ByteBuffer} forms return {@code -1} at end of file.
 *
 * <h2>Errors</h2>
 * A kernel error is a {@link CoFileException} (an {@link IOException}) with the {@code errno}, its
 * text, the operation, the range and the file: e.g. {@code EINVAL} for an O_DIRECT request whose
 * offset, length or buffer address is not aligned to the device's logical block size. A write that
 * makes no progress fails with {@code ENOSPC}. After {@link #close()}:
 * {@link ClosedChannelException}. Bad arguments (negative position, read-only buffer, too many
 * buffers): {@link IllegalArgumentException}. A request with nothing to transfer (an empty
 * segment, a buffer with no room or nothing remaining) is checked as any other (arguments,
 * thread, closed) before it returns 0.
 *
 * <h2>Buffers</h2>
 * Native segments and direct buffers are handed to the kernel in place (zero copy); they must stay
 * alive until the request returns. Heap ones are copied through a temporary native buffer (aligned
 * to 4096 bytes, so they also satisfy O_DIRECT's memory alignment), freed before the request returns.
 * Under the io_uring engine, a single-buffer read or write into a segment that lies wholly inside
 * a buffer registered on the context's ring ({@link FixedBuffers}) is {@code READ_FIXED}/
 * {@code WRITE_FIXED}: the kernel skips pinning its pages per request. Nothing else changes.
 */
public final class CoFile implements AutoCloseable {
    /** Which engine runs the requests. */
    public enum Engine {
        /** SQEs on the context's io_uring ring; needs {@link AioContext#hasIoUring()}. */
        IO_URING,
        /** Jobs on the context's {@link io.jaio.aio.ThreadPool} ({@code pread}/{@code pwrite}...). */
        THREAD_POOL,
        /**
         * The syscall itself in the calling coroutine, which it never suspends: for memory-backed
         * files (the default there). On a disk file each request blocks the loop for the device.
         */
        INLINE
    }

    /** Open options beyond {@link StandardOpenOption}. */
    public enum Option implements OpenOption {
        /**
         * {@code O_DIRECT}: bypass the page cache. Offsets, lengths and buffer addresses must then be
         * aligned to the device's logical block size (often 512 or 4096): else {@code EINVAL}.
         * {@code com.sun.nio.file.ExtendedOpenOption.DIRECT} is accepted as well.
         */
        DIRECT
    }

    // <asm-generic/fcntl.h>, x86-64 values (as Linux's O_DIRECT)
    private static final int O_EXCL = 0x80;
    private static final int O_DSYNC = 0x1000;
    private static final int O_SYNC = 0x101000;
    private static final int O_NOFOLLOW = 0x20000;
    /** Permission denied (not among Linux's errno constants). */
    private static final int EACCES = 13;
    /** Most iovecs per vectored request (IOV_MAX). */
    public static final int MAX_BUFFERS = 1024;
    /** Alignment of bounce buffers: a page, which satisfies every O_DIRECT memory alignment. */
    private static final long BOUNCE_ALIGN = 4096;
    private static final String DIRECT_HINT = "O_DIRECT needs offset, length and buffer address aligned to the "
            + "device's logical block size (often 512 or 4096)";

    private final AioContext ctx;
    private final String path;
    private final int fd;
    private final boolean direct;
    /**
     * The {@link FileEngine#readFully} alignment: 1, or for O_DIRECT {@link FileEngine#MAX_CHUNK},
     * so that any short transfer ends a read (the real block size is not probed; an O_DIRECT short
     * read only happens at end of file, and resubmitting an unaligned remainder would fail). This
     * holds because FileEngine never hands the kernel more than MAX_CHUNK bytes at once, vectored
     * requests included: the kernel's own cap per call (0x7ffff000) is never what cut a transfer.
     */
    private final int align;
    private final FileEngine engine;
    private final Engine engineKind;
    /** Requests in flight. Home thread (plain). */
    private int inFlight;
    /**
     * Set by close(); written in the home thread (or by any thread once the context is closed). The
     * volatile write pairs with the volatile reads of isOpen() and toString() in other threads.
     */
    private volatile boolean closed;
    /** Makes close(2) happen once, whichever of close() and the last request's end gets there. */
    private final AtomicBoolean fdReleased = new AtomicBoolean();

    private CoFile(AioContext ctx, String path, int fd, boolean direct, Engine engine) {
        this.ctx = ctx;
        this.path = path;
        this.fd = fd;
        this.direct = direct;
        this.align = direct ? (int) FileEngine.MAX_CHUNK : 1;
        this.engineKind = engine;
        this.engine = switch (engine) {
            case IO_URING -> FileEngine.ioUring(ctx, fd);
            case THREAD_POOL -> FileEngine.threadPool(ctx, fd);
            case INLINE -> FileEngine.inline(ctx, fd);
        };
    }

    /**
     * Opens {@code path} for requests on {@code ctx} with the fastest engine for the file and the
     * context: {@link Engine#INLINE} on a memory-backed file system, else io_uring if the context
     * has a ring, else the thread pool. Options as {@code FileChannel.open}: {@code READ}
     * (the default), {@code WRITE}, {@code CREATE}, {@code CREATE_NEW}, {@code TRUNCATE_EXISTING}
     * (the last three only with {@code WRITE}), {@code DSYNC}, {@code SYNC}, {@code NOFOLLOW_LINKS},
     * {@code SPARSE} (ignored), and {@link Option#DIRECT}. A new file gets mode 0666 minus the umask.
     * Any thread; blocks it for {@code open(2)}.
     *
     * @param ctx the context whose home thread will run the file's requests
     * @param path the file
     * @param options how to open it; none means {@code READ}
     * @return the open file, to be closed with {@link #close()}
     * @throws IOException if {@code open(2)} fails: {@link NoSuchFileException},
     *     {@link AccessDeniedException}, {@link FileAlreadyExistsException}, or a
     *     {@link FileSystemException} with the errno text (e.g. {@code EINVAL} when the file system
     *     refuses O_DIRECT)
     * @throws IllegalArgumentException for {@code APPEND} or {@code DELETE_ON_CLOSE} (positional
     *     API), or an option this class does not know
     * @throws NullPointerException if an option is null (as {@code FileChannel.open})
     */
    public static CoFile open(AioContext ctx, Path path, OpenOption... options) throws IOException {
        return openWith(ctx, path, null, options);
    }

    /**
     * As {@link #open(AioContext, Path, OpenOption...)} with a chosen engine. Any thread.
     *
     * @param ctx the context whose home thread will run the file's requests
     * @param path the file
     * @param engine the engine, used whatever the file system ({@link Engine#INLINE} on a disk
     *     file blocks the loop for each request)
     * @param options as {@link #open(AioContext, Path, OpenOption...)}
     * @return the open file, to be closed with {@link #close()}
     * @throws IOException as {@link #open(AioContext, Path, OpenOption...)}
     * @throws IllegalArgumentException as there, and if {@code engine} is IO_URING and {@code ctx} has no ring
     * @throws NullPointerException if {@code engine} or an option is null
     */
    public static CoFile open(AioContext ctx, Path path, Engine engine, OpenOption... options) throws IOException {
        return openWith(ctx, path, Objects.requireNonNull(engine, "engine"), options);
    }

    /** {@link #open}; a null {@code engine} is chosen once the file is open (its file system known). */
    private static CoFile openWith(AioContext ctx, Path path, Engine engine, OpenOption... options) throws IOException {
        Objects.requireNonNull(ctx, "ctx");
        Objects.requireNonNull(path, "path");
        if (engine == Engine.IO_URING && !ctx.hasIoUring()) {
            throw new IllegalArgumentException("CoFile engine IO_URING: " + ctx.ioUringRefusal());
        }
        boolean read = false;
        boolean write = false;
        boolean create = false;
        boolean createNew = false;
        boolean truncate = false;
        boolean direct = false;
        int extra = 0;
        for (OpenOption o : options) {
            Objects.requireNonNull(o, "open option");
            if (o == StandardOpenOption.READ) {
                read = true;
            } else if (o == StandardOpenOption.WRITE) {
                write = true;
            } else if (o == StandardOpenOption.CREATE) {
                create = true;
            } else if (o == StandardOpenOption.CREATE_NEW) {
                createNew = true;
            } else if (o == StandardOpenOption.TRUNCATE_EXISTING) {
                truncate = true;
            } else if (o == StandardOpenOption.DSYNC) {
                extra |= O_DSYNC;
            } else if (o == StandardOpenOption.SYNC) {
                extra |= O_SYNC;
            } else if (o == StandardOpenOption.SPARSE) {
                continue; // every Linux file can be sparse
            } else if (o == LinkOption.NOFOLLOW_LINKS) {
                extra |= O_NOFOLLOW;
            } else if (o == Option.DIRECT || (o.getClass().getName().equals("com.sun.nio.file.ExtendedOpenOption")
                    && o.toString().equals("DIRECT"))) {
                direct = true;
            } else if (o == StandardOpenOption.APPEND || o == StandardOpenOption.DELETE_ON_CLOSE) {
                throw new IllegalArgumentException("CoFile does not support " + o + " (positional requests only)");
            } else {
                throw new IllegalArgumentException("unknown CoFile open option " + o);
            }
        }
        int flags = Linux.O_CLOEXEC | extra | (write ? (read ? Linux.O_RDWR : Linux.O_WRONLY) : Linux.O_RDONLY);
        if (write) { // as FileChannel: creation and truncation only for writers
            if (createNew) {
                flags |= Linux.O_CREAT | O_EXCL;
            } else if (create) {
                flags |= Linux.O_CREAT;
            }
            if (truncate) {
                flags |= Linux.O_TRUNC;
            }
        }
        if (direct) {
            flags |= Linux.O_DIRECT;
        }
        String p = path.toString();
        int fd;
        try {
            fd = Linux.open(p, flags, 0666);
        } catch (NativeException e) {
            String msg = "open: " + Linux.strerror(e.errno()) + " (errno " + e.errno() + ")" + (direct && e.errno() == Linux.EINVAL
                    ? " (the file system does not support O_DIRECT)" : "");
            throw switch (e.errno()) {
                case Linux.ENOENT -> new NoSuchFileException(p, null, msg);
                case EACCES, Linux.EPERM -> new AccessDeniedException(p, null, msg);
                case Linux.EEXIST -> new FileAlreadyExistsException(p, null, msg);
                default -> new FileSystemException(p, null, msg);
            };
        }
        try {
            Engine chosen = engine != null ? engine
                    : MemoryFs.isMemoryBacked(fd) ? Engine.INLINE
                    : ctx.hasIoUring() ? Engine.IO_URING : Engine.THREAD_POOL;
            return new CoFile(ctx, p, fd, direct, chosen);
        } catch (RuntimeException | Error e) {
            Linux.close(fd);
            throw e;
        }
    }

    // ---- properties ----

    /**
     * The context whose home thread runs this file's requests. Any thread.
     *
     * @return the context given to {@link #open}
     */
    public AioContext context() {
        return ctx;
    }

    /**
     * The engine in use: the one given to {@link #open(AioContext, Path, Engine, OpenOption...)},
     * or the one chosen at open. Any thread.
     *
     * @return the engine
     */
    public Engine engine() {
        return engineKind;
    }

    /**
     * Whether the file was opened with {@code O_DIRECT} ({@link Option#DIRECT}). Any thread.
     *
     * @return true with {@code O_DIRECT}
     */
    public boolean isDirect() {
        return direct;
    }

    /**
     * The path it was opened with. Any thread.
     *
     * @return the path, as {@link Path#toString()} gave it at open
     */
    public String path() {
        return path;
    }

    /**
     * Whether {@link #close()} has not been called yet. Any thread.
     *
     * @return true until the first {@link #close()}
     */
    public boolean isOpen() {
        return !closed;
    }

    @Override
    public String toString() {
        return "CoFile[" + path + ", " + engine() + (direct ? ", O_DIRECT" : "") + (closed ? ", closed" : "") + "]";
    }

    // ---- reads ----

    /**
     * Reads from file offset {@code position} until {@code dst} is full or the file ends. Native
     * segments are read into in place; heap ones through a bounce buffer. Inside a coroutine in the
     * home thread; suspends it.
     *
     * @param dst the destination, writable; filled from its start
     * @param position file offset in bytes, {@code >= 0}
     * @return the bytes read: {@code dst.byteSize()}, or fewer only at end of file (0 at or past it)
     * @throws CoFileException with the kernel's errno (EINVAL: misaligned O_DIRECT request)
     * @throws ClosedChannelException after {@link #close()}
     * @throws IllegalArgumentException if {@code position} is negative or {@code dst} read-only
     * @throws IllegalStateException outside a coroutine in the home thread
     */
    public long read(MemorySegment dst, long position) throws IOException {
        checkBuffer(dst, true);
        return transfer(dst, position, false);
    }

    /**
     * As {@link java.nio.channels.FileChannel#read(ByteBuffer, long)}: reads {@code dst.remaining()}
     * bytes at {@code position} (fewer only at end of file) and advances {@code dst}'s position by
     * the count. Same threads and errors as {@link #read(MemorySegment, long)}.
     *
     * @param dst the destination, writable; filled from its position up to its limit
     * @param position file offset in bytes, {@code >= 0}
     * @return the bytes read, 0 if {@code dst} has no room, -1 if {@code position} is at or past
     *     the end of the file
     * @throws IOException a {@link CoFileException} with the kernel's errno, or
     *     {@link ClosedChannelException} after {@link #close()}
     * @throws IllegalArgumentException if {@code position} is negative or {@code dst} read-only
     * @throws IllegalStateException outside a coroutine in the home thread
     */
    public int read(ByteBuffer dst, long position) throws IOException {
        if (dst.isReadOnly()) {
            throw new IllegalArgumentException("read into a read-only buffer");
        }
        boolean room = dst.hasRemaining();
        long r = read(MemorySegment.ofBuffer(dst), position); // no room: the checks, then 0
        if (!room) {
            return 0;
        }
        if (r == 0) {
            return -1;
        }
        dst.position(dst.position() + (int) r);
        return (int) r;
    }

    /**
     * Vectored read ({@code preadv}, {@code IORING_OP_READV}): fills {@code dsts} in order from
     * {@code position}, each completely before the next, until all are full or the file ends.
     * Same threads and errors as {@link #read(MemorySegment, long)}.
     *
     * @param dsts the destinations, writable, at most {@link #MAX_BUFFERS}
     * @param position file offset in bytes, {@code >= 0}
     * @return the total bytes read, less than the total size only at end of file
     * @throws IOException a {@link CoFileException} with the kernel's errno, or
     *     {@link ClosedChannelException} after {@link #close()}
     * @throws IllegalArgumentException if {@code position} is negative, a segment is read-only, or
     *     there are more than {@link #MAX_BUFFERS} buffers
     * @throws IllegalStateException outside a coroutine in the home thread
     */
    public long read(MemorySegment[] dsts, long position) throws IOException {
        return vectored(dsts, position, false);
    }

    /**
     * Vectored read into {@code ByteBuffer}s, as {@code FileChannel}'s scattering read but
     * positional: each buffer's position advances by what it received. Same threads and errors as
     * {@link #read(MemorySegment, long)}.
     *
     * @param dsts the destinations, writable, at most {@link #MAX_BUFFERS}; each filled from its
     *     position up to its limit
     * @param position file offset in bytes, {@code >= 0}
     * @return the total bytes read, 0 if no buffer has room, -1 at or past end of file
     * @throws IOException a {@link CoFileException} with the kernel's errno, or
     *     {@link ClosedChannelException} after {@link #close()}
     * @throws IllegalArgumentException if {@code position} is negative, a buffer is read-only, or
     *     there are more than {@link #MAX_BUFFERS} buffers
     * @throws IllegalStateException outside a coroutine in the home thread
     */
    public long read(ByteBuffer[] dsts, long position) throws IOException {
        MemorySegment[] segs = segments(dsts, true);
        long total = 0;
        for (MemorySegment s : segs) {
            total += s.byteSize();
        }
        long r = vectored(segs, position, false); // no room: the checks, then 0
        if (total == 0) {
            return 0;
        }
        advance(dsts, r);
        return r == 0 ? -1 : r;
    }

    // ---- writes ----

    /**
     * Writes all of {@code src} at file offset {@code position}, extending the file if needed.
     * Inside a coroutine in the home thread; suspends it.
     *
     * @param src the data
     * @param position file offset in bytes, {@code >= 0}
     * @return {@code src.byteSize()}
     * @throws CoFileException with the kernel's errno (EINVAL: misaligned O_DIRECT request;
     *     ENOSPC: no progress; EBADF: not opened for writing)
     * @throws ClosedChannelException after {@link #close()}
     * @throws IllegalArgumentException if {@code position} is negative
     * @throws IllegalStateException outside a coroutine in the home thread
     */
    public long write(MemorySegment src, long position) throws IOException {
        checkBuffer(src, false);
        return transfer(src, position, true);
    }

    /**
     * As {@link java.nio.channels.FileChannel#write(ByteBuffer, long)}: writes all
     * {@code src.remaining()} bytes at {@code position} and advances {@code src}'s position.
     * Same threads and errors as {@link #write(MemorySegment, long)}.
     *
     * @param src the data, from its position to its limit
     * @param position file offset in bytes, {@code >= 0}
     * @return the bytes written ({@code src.remaining()} on entry)
     * @throws IOException a {@link CoFileException} with the kernel's errno, or
     *     {@link ClosedChannelException} after {@link #close()}
     * @throws IllegalArgumentException if {@code position} is negative
     * @throws IllegalStateException outside a coroutine in the home thread
     */
    public int write(ByteBuffer src, long position) throws IOException {
        int n = (int) write(MemorySegment.ofBuffer(src), position); // nothing remaining: the checks, then 0
        src.position(src.position() + n);
        return n;
    }

    /**
     * Vectored write ({@code pwritev}, {@code IORING_OP_WRITEV}) of every buffer in order from
     * {@code position}. Same threads and errors as {@link #write(MemorySegment, long)}.
     *
     * @param srcs the data, at most {@link #MAX_BUFFERS} segments
     * @param position file offset in bytes, {@code >= 0}
     * @return the total bytes written (all of them)
     * @throws IOException a {@link CoFileException} with the kernel's errno, or
     *     {@link ClosedChannelException} after {@link #close()}
     * @throws IllegalArgumentException if {@code position} is negative or there are more than
     *     {@link #MAX_BUFFERS} buffers
     * @throws IllegalStateException outside a coroutine in the home thread
     */
    public long write(MemorySegment[] srcs, long position) throws IOException {
        return vectored(srcs, position, true);
    }

    /**
     * Vectored write from {@code ByteBuffer}s (each position advances to its limit). Same threads
     * and errors as {@link #write(MemorySegment, long)}.
     *
     * @param srcs the data, at most {@link #MAX_BUFFERS} buffers, each from its position to its limit
     * @param position file offset in bytes, {@code >= 0}
     * @return the total bytes written (all of them)
     * @throws IOException a {@link CoFileException} with the kernel's errno, or
     *     {@link ClosedChannelException} after {@link #close()}
     * @throws IllegalArgumentException if {@code position} is negative or there are more than
     *     {@link #MAX_BUFFERS} buffers
     * @throws IllegalStateException outside a coroutine in the home thread
     */
    public long write(ByteBuffer[] srcs, long position) throws IOException {
        MemorySegment[] segs = segments(srcs, false);
        long r = vectored(segs, position, true);
        advance(srcs, r);
        return r;
    }

    /**
     * One read ({@code write} false) or write of all of {@code buf} at {@code position}: native
     * segments in place, heap ones through a bounce buffer freed before returning.
     */
    private long transfer(MemorySegment buf, long position, boolean write) throws IOException {
        checkPosition(position);
        begin(write ? "write" : "read");
        try {
            long n = buf.byteSize();
            if (n == 0) {
                return 0;
            }
            long r;
            if (buf.isNative()) {
                r = io(buf.address(), n, position, write);
            } else {
                try (Arena a = Arena.ofConfined()) {
                    MemorySegment b = a.allocate(n, BOUNCE_ALIGN);
                    if (write) {
                        MemorySegment.copy(buf, 0, b, 0, n);
                    }
                    r = io(b.address(), n, position, write);
                    if (!write && r > 0) {
                        MemorySegment.copy(b, 0, buf, 0, r);
                    }
                }
            }
            return check(r, write ? "pwrite" : "pread", n, position);
        } finally {
            Reference.reachabilityFence(buf);
            end();
        }
    }

    private long io(long addr, long n, long position, boolean write) {
        return write ? engine.write(addr, n, position, align, false) : engine.read(addr, n, position, align);
    }

    private long vectored(MemorySegment[] bufs, long position, boolean write) throws IOException {
        Objects.requireNonNull(bufs, "buffers");
        if (bufs.length > MAX_BUFFERS) {
            throw new IllegalArgumentException(bufs.length + " buffers: at most " + MAX_BUFFERS + " (IOV_MAX)");
        }
        long total = 0;
        for (MemorySegment b : bufs) {
            checkBuffer(b, !write);
            total += b.byteSize();
        }
        checkPosition(position);
        begin(write ? "write" : "read");
        try (Arena a = Arena.ofConfined()) {
            if (total == 0) {
                return 0;
            }
            int n = bufs.length;
            MemorySegment iov = a.allocate(FileEngine.IOVEC_SIZE * n, 8);
            MemorySegment[] bounce = new MemorySegment[n];
            for (int i = 0; i < n; i++) {
                MemorySegment b = bufs[i];
                if (!b.isNative() && b.byteSize() > 0) {
                    bounce[i] = a.allocate(b.byteSize(), BOUNCE_ALIGN);
                    if (write) {
                        MemorySegment.copy(b, 0, bounce[i], 0, b.byteSize());
                    }
                }
                MemorySegment k = bounce[i] != null ? bounce[i] : b;
                iov.set(JAVA_LONG, FileEngine.IOVEC_SIZE * i, k.byteSize() == 0 ? 0 : k.address());
                iov.set(JAVA_LONG, FileEngine.IOVEC_SIZE * i + 8, k.byteSize());
            }
            long r = write ? engine.writev(iov.address(), n, position, align)
                    : engine.readv(iov.address(), n, position, align);
            if (!write && r > 0) {
                long left = r;
                for (int i = 0; i < n && left > 0; i++) {
                    long c = Math.min(left, bufs[i].byteSize());
                    if (bounce[i] != null) {
                        MemorySegment.copy(bounce[i], 0, bufs[i], 0, c);
                    }
                    left -= c;
                }
            }
            return check(r, write ? "pwritev" : "preadv", total, position);
        } finally {
            Reference.reachabilityFence(bufs);
            end();
        }
    }

    private static MemorySegment[] segments(ByteBuffer[] bufs, boolean forRead) {
        Objects.requireNonNull(bufs, "buffers");
        MemorySegment[] s = new MemorySegment[bufs.length];
        for (int i = 0; i < bufs.length; i++) {
            if (forRead && bufs[i].isReadOnly()) {
                throw new IllegalArgumentException("read into a read-only buffer (index " + i + ")");
            }
            s[i] = MemorySegment.ofBuffer(bufs[i]);
        }
        return s;
    }

    private static void advance(ByteBuffer[] bufs, long n) {
        for (ByteBuffer b : bufs) {
            int c = (int) Math.min(n, b.remaining());
            b.position(b.position() + c);
            n -= c;
        }
    }

    // ---- durability and allocation ----

    /**
     * {@code fsync(2)}: data and metadata durable on return. Inside a coroutine in the home
     * thread; suspends it.
     *
     * @throws CoFileException with the kernel's errno (e.g. EIO: a write-back failed)
     * @throws ClosedChannelException after {@link #close()}
     * @throws IllegalStateException outside a coroutine in the home thread
     */
    public void fsync() throws IOException {
        begin("fsync");
        try {
            check(engine.sync(false), "fsync", 0, 0);
        } finally {
            end();
        }
    }

    /**
     * {@code fdatasync(2)}: as {@link #fsync()} without the metadata not needed to read the data
     * back (timestamps). Inside a coroutine in the home thread; suspends it.
     *
     * @throws CoFileException with the kernel's errno (e.g. EIO: a write-back failed)
     * @throws ClosedChannelException after {@link #close()}
     * @throws IllegalStateException outside a coroutine in the home thread
     */
    public void fdatasync() throws IOException {
        begin("fdatasync");
        try {
            check(engine.sync(true), "fdatasync", 0, 0);
        } finally {
            end();
        }
    }

    /**
     * {@code fallocate(2)} mode 0: allocates {@code [offset, offset+length)}, extending the file if
     * it ends before. Inside a coroutine in the home thread; suspends it.
     *
     * @param offset start of the range in bytes, {@code >= 0}
     * @param length length of the range in bytes, {@code > 0}
     * @throws CoFileException with the kernel's errno (ENOSPC, EOPNOTSUPP...)
     * @throws ClosedChannelException after {@link #close()}
     * @throws IllegalArgumentException if {@code offset} is negative or {@code length} not positive
     * @throws IllegalStateException outside a coroutine in the home thread
     */
    public void allocate(long offset, long length) throws IOException {
        fallocate(0, offset, length, "fallocate");
    }

    /**
     * Deallocates {@code [offset, offset+length)} ({@code FALLOC_FL_PUNCH_HOLE |
     * FALLOC_FL_KEEP_SIZE}): the range reads back as zeros and the size stays. Threads and errors
     * as {@link #allocate} (EOPNOTSUPP where the file system cannot punch holes).
     *
     * @param offset start of the range in bytes, {@code >= 0}
     * @param length length of the range in bytes, {@code > 0}
     * @throws CoFileException with the kernel's errno (EOPNOTSUPP...)
     * @throws ClosedChannelException after {@link #close()}
     * @throws IllegalArgumentException if {@code offset} is negative or {@code length} not positive
     * @throws IllegalStateException outside a coroutine in the home thread
     */
    public void punchHole(long offset, long length) throws IOException {
        fallocate(FileSys.FALLOC_FL_PUNCH_HOLE | FileSys.FALLOC_FL_KEEP_SIZE, offset, length, "punch-hole");
    }

    private void fallocate(int mode, long offset, long length, String op) throws IOException {
        checkPosition(offset);
        if (length <= 0) {
            throw new IllegalArgumentException(op + " length must be > 0, got " + length);
        }
        begin(op);
        try {
            check(engine.fallocate(mode, offset, length), op, length, offset);
        } finally {
            end();
        }
    }

    // ---- inline queries ----

    /**
     * The first offset at or after {@code from} that holds data ({@code lseek SEEK_DATA}), or -1
     * if there is none before the end of the file. Inline (a cheap syscall); the home thread, in a
     * coroutine or not.
     *
     * @param from file offset in bytes, {@code >= 0}
     * @return the offset of the next data, {@code >= from}, or -1
     * @throws CoFileException with the kernel's errno (e.g. EINVAL where unsupported)
     * @throws ClosedChannelException after {@link #close()}
     * @throws IllegalArgumentException if {@code from} is negative
     * @throws IllegalStateException off the home thread
     */
    public long seekData(long from) throws IOException {
        return seek(from, FileSys.SEEK_DATA, "SEEK_DATA");
    }

    /**
     * The first offset at or after {@code from} that starts a hole ({@code lseek SEEK_HOLE}); the
     * end of the file counts as a hole, so this is the size when the rest is data. -1 if
     * {@code from} is at or past the end. As {@link #seekData} otherwise.
     *
     * @param from file offset in bytes, {@code >= 0}
     * @return the offset of the next hole, {@code >= from}, or -1
     * @throws CoFileException with the kernel's errno (e.g. EINVAL where unsupported)
     * @throws ClosedChannelException after {@link #close()}
     * @throws IllegalArgumentException if {@code from} is negative
     * @throws IllegalStateException off the home thread
     */
    public long seekHole(long from) throws IOException {
        return seek(from, FileSys.SEEK_HOLE, "SEEK_HOLE");
    }

    private long seek(long from, int whence, String op) throws IOException {
        checkPosition(from);
        checkInline(op);
        long r = FileSys.lseek(fd, from, whence);
        if (r == -Linux.ENXIO) {
            return -1;
        }
        return check(r, "lseek " + op, 0, from);
    }

    /**
     * The file's size in bytes ({@code fstat st_size}). Inline; the home thread, in a coroutine or not.
     *
     * @return the current size in bytes
     * @throws CoFileException with the kernel's errno if {@code fstat} fails
     * @throws ClosedChannelException after {@link #close()}
     * @throws IllegalStateException off the home thread
     */
    public long size() throws IOException {
        checkInline("size");
        return check(FileSys.fileSize(fd), "fstat", 0, 0);
    }

    // ---- closing ----

    /**
     * Closes the file. New requests then fail with {@link ClosedChannelException}; requests in
     * flight are not cancelled: each completes with its own result, and the descriptor is closed
     * when the last one has (so the kernel never sees a recycled fd). Idempotent. Any thread:
     * from another thread it runs in the home thread ({@link AioContext#callOnHomeThread}, so the
     * context's loop must be running), unless the context is already closed (then requests can no
     * longer complete, and the descriptor is closed at once). Close files before their context.
     */
    @Override
    public void close() {
        if (ctx.isHomeThread()) {
            closeHome();
        } else if (ctx.isClosed()) {
            closed = true;
            releaseFd();
        } else {
            ctx.callOnHomeThread("CoFile.close", () -> {
                closeHome();
                return null;
            });
        }
    }

    /** The file engine, for tests in this package. Any thread. */
    FileEngine fileEngine() {
        return engine;
    }

    private void closeHome() {
        if (closed) {
            return;
        }
        closed = true;
        if (inFlight == 0) {
            releaseFd();
        }
    }

    private void releaseFd() {
        if (fdReleased.compareAndSet(false, true)) { // once; pairs with nothing else (close(2) only)
            Linux.close(fd);
        }
    }

    // ---- helpers ----

    private void begin(String op) throws ClosedChannelException {
        if (!Coroutine.inCoroutine() || !ctx.isHomeThread()) {
            throw new IllegalStateException("CoFile." + op + "() must run inside a coroutine in the home thread of context '"
                    + ctx.name() + "' (" + ctx.homeThread().getName() + "); called from "
                    + (Coroutine.inCoroutine() ? "a coroutine of another thread" : "outside a coroutine in "
                    + Thread.currentThread().getName()));
        }
        if (closed) {
            throw new ClosedChannelException();
        }
        inFlight++;
    }

    private void end() {
        if (--inFlight == 0 && closed) {
            releaseFd();
        }
    }

    private void checkInline(String op) throws ClosedChannelException {
        if (!ctx.isHomeThread()) {
            throw new IllegalStateException("CoFile." + op + "() must run in the home thread of context '" + ctx.name()
                    + "' (" + ctx.homeThread().getName() + "), not in " + Thread.currentThread().getName());
        }
        if (closed) {
            throw new ClosedChannelException();
        }
    }

    private static void checkPosition(long position) {
        if (position < 0) {
            throw new IllegalArgumentException("negative file position " + position);
        }
    }

    private static void checkBuffer(MemorySegment b, boolean forRead) {
        Objects.requireNonNull(b, "buffer");
        if (forRead && b.isReadOnly()) {
            throw new IllegalArgumentException("read into a read-only segment");
        }
    }

    private long check(long r, String op, long length, long position) throws CoFileException {
        if (r >= 0) {
            return r;
        }
        int errno = (int) -r;
        String what = op + (length > 0 ? " of " + length + " bytes at " + position : position > 0 ? " at " + position : "")
                + " on " + path;
        throw new CoFileException(what, errno, direct && errno == Linux.EINVAL ? DIRECT_HINT : null);
    }
}
