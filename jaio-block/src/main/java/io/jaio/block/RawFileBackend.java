package io.jaio.block;

import io.jaio.linux.FileSys;
import io.jaio.aio.AioContext;
import io.jaio.aio.AioWait;
import io.jaio.aio.Throwables;
import io.jaio.coroutine.CoCompletion;
import io.jaio.coroutine.Coroutine;
import io.jaio.fs.FileEngine;
import io.jaio.fs.MemoryFs;
import io.jaio.linux.Linux;
import io.jaio.linux.NativeException;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Supplier;
import java.util.function.UnaryOperator;

/**
 * A raw image file (or block device) as a {@link BlockBackend}: QEMU's {@code file} protocol driver
 * ({@code block/file-posix.c}) for the operations an NBD export needs.
 *
 * <pre>{@code
 * AioContext ctx = AioContext.builder().fdMonitor(FdMonitorKind.IO_URING).build();
 * try (RawFileBackend disk = RawFileBackend.open(ctx, Path.of("disk.img"),
 *         RawFileBackend.Options.defaults().withEngine(RawFileBackend.Engine.IO_URING).withDiscard(true))) {
 *     Coroutine.create(() -> disk.write(0, buf, true)).enter();   // then run ctx.poll(true)
 * }
 * }</pre>
 *
 * <h2>I/O engines ({@code aio=})</h2>
 * <ul>
 *   <li>{@link Engine#IO_URING}: every read/write/flush/fallocate is one SQE on the context's own
 *       ring ({@link AioContext#addSqe}), completed in the home thread; all requests prepared in
 *       one loop iteration reach the kernel together. Needs {@link AioContext#hasIoUring()}.
 *   <li>{@link Engine#THREADS}: the same operations as {@code pread}/{@code pwrite}/
 *       {@code fdatasync}/{@code fallocate} in the context's thread pool.
 *   <li>{@link Engine#NATIVE}: Linux AIO ({@code io_submit}) through the context's one kernel AIO
 *       context, batched per loop pass; cache=none only. See {@link LinuxAioFileIo}.
 * </ul>
 * Files on tmpfs, ramfs or hugetlbfs bypass the engine: their I/O is a memory copy, done inline
 * on the home thread ({@link #inlineIo()}).
 * Completion rules (every engine, docs/design/aio-semantics.md §16.4): {@code EINTR}/{@code EAGAIN} are
 * resubmitted; a short read resubmits the remainder and a read that reaches end of file early
 * zero-fills the rest (success); a short write resubmits the remainder, {@code ENOSPC} if nothing
 * was accepted; any other error is a {@link BlockException} with the kernel's errno.
 *
 * <h2>cache=none</h2>
 * {@link Options#cacheNone()} opens with {@code O_DIRECT}. {@link #alignment()} is then probed at
 * open (the smallest of 512..4096 that a direct read accepts, as QEMU's
 * {@code raw_probe_alignment}). Writes and write-zeroes must have offset and length aligned
 * ({@code EINVAL} otherwise); reads and discards may be unaligned (reads go through an aligned
 * bounce buffer covering the range; discards need no alignment). Caller buffers whose address is
 * not aligned, and heap (non-native) segments with any engine, are bounced through aligned
 * native memory; native aligned buffers are used in place (zero copy).
 *
 * <h2>Errors (before any I/O)</h2>
 * Negative offsets/lengths: {@code EINVAL}. A range outside {@code [0, size())}: {@code EINVAL} for
 * {@link #read}, {@code ENOSPC} for {@link #write}, {@link #writeZeroes} and {@link #discard}.
 * Writes, write-zeroes and discards on a read-only backend: {@code EPERM} (checked first).
 * Misaligned write/write-zeroes under O_DIRECT: {@code EINVAL}. Any request after
 * {@link #close()}: {@code ESHUTDOWN} (108), checked before all of these and whatever the request
 * (empty ones, and discards that would be no-ops, included).
 *
 * <h2>Threads</h2>
 * {@link #open} may run on any thread. {@link #size()}, {@link #isReadOnly()}, {@link #alignment()},
 * {@link #canDiscard()} and the other getters: any thread. The I/O methods ({@link #read},
 * {@link #write}, {@link #flush}, {@link #discard}, {@link #writeZeroes}) are called in a coroutine
 * running in the backend's context's home thread and suspend it; many coroutines may have
 * requests in flight at once. Called outside a coroutine (in the home thread only), an I/O method
 * runs in a new coroutine and polls the context until it completes (QEMU's generated
 * {@code co_wrapper_mixed} + {@code AIO_WAIT_WHILE}). {@link #blockStatus} and {@link #close()}:
 * home thread (inside a coroutine or not). A request or {@link #blockStatus} from another thread
 * throws {@link IllegalStateException} before anything else.
 *
 * <p>Each request keeps its caller's buffer and any bounce buffer alive until it completes. If the
 * context is closed while requests are in flight their coroutines never resume (the context
 * cancels them), and their bounce buffers are not freed: close the backend, then the context.
 */
public final class RawFileBackend implements BlockBackend {
    private static final System.Logger LOG = System.getLogger(RawFileBackend.class.getName());

    /** Linux errno of a request on a closed backend (NBD_ESHUTDOWN has the same value). */
    public static final int ESHUTDOWN = 108;
    /** Alignment of bounce buffers: a page, which satisfies every O_DIRECT memory alignment. */
    private static final int BOUNCE_ALIGN = 4096;
    /** Size of the shared zero buffer used when write-zeroes falls back to writing. */
    private static final int ZERO_CHUNK = 1 << 20;
    /** At most this many extents per {@link #blockStatus} answer. */
    public static final int MAX_EXTENTS = 1024;

    /** The I/O engine (QEMU's {@code aio=} option). */
    public enum Engine {
        /** io_uring through the context's ring ({@link AioContext#addSqe}); needs {@link AioContext#hasIoUring()}. */
        IO_URING,
        /** Blocking syscalls in the context's thread pool ({@code aio=threads}, QEMU's default). */
        THREADS,
        /**
         * Linux native AIO ({@code aio=native}, QEMU's {@code block/linux-aio.c}): {@code io_submit}
         * through one kernel AIO context per {@link AioContext}, batched per loop pass up to
         * {@link AioContext#maxBatch()}, completions through an eventfd on the context. Needs
         * {@link Options#cacheNone()} (O_DIRECT); flush is {@code IOCB_CMD_FDSYNC}, fallocate runs in
         * the thread pool.
         */
        NATIVE,
        /**
         * IO_URING if the context has io_uring; else NATIVE with cache=none (if the kernel allows
         * Linux AIO); else THREADS. {@link #engineReason()} says which and why.
         */
        AUTO
    }

    /**
     * How to open the image. Immutable.
     *
     * @param readOnly  open {@code O_RDONLY}; every write, write-zeroes and discard fails with EPERM
     * @param cacheNone open with {@code O_DIRECT} (QEMU's {@code cache.direct=on}, as in {@code cache=none})
     * @param engine    the I/O engine
     * @param discard   whether discard requests may punch holes (QEMU's {@code discard=unmap}); when
     *                  false, discard is a successful no-op and write-zeroes never unmaps
     * @param inlineMemoryFiles whether a file on tmpfs, ramfs or hugetlbfs does its I/O inline on the
     *                  home thread instead of through {@code engine} (see {@link #inlineIo()})
     */
    public record Options(boolean readOnly, boolean cacheNone, Engine engine, boolean discard,
                          boolean inlineMemoryFiles) {
        /**
         * Options as given; nothing is checked against a context or file until
         * {@link RawFileBackend#open} (e.g. {@link Engine#NATIVE} needs {@code cacheNone}). Any thread.
         *
         * @param readOnly  open {@code O_RDONLY}
         * @param cacheNone open with {@code O_DIRECT}
         * @param engine    the I/O engine, not null
         * @param discard   whether discard requests may punch holes
         * @param inlineMemoryFiles whether a memory-backed file does its I/O inline on the home thread
         * @throws NullPointerException if {@code engine} is null
         */
        public Options {
            Objects.requireNonNull(engine, "engine");
        }

        /**
         * Read-write, writeback cache (no O_DIRECT), {@link Engine#AUTO}, discard=ignore (QEMU's
         * default), inline I/O for memory-backed files. Any thread.
         *
         * @return the default options
         */
        public static Options defaults() {
            return new Options(false, false, Engine.AUTO, false, true);
        }

        /**
         * A copy with {@link #readOnly()} replaced. Any thread.
         *
         * @param v whether to open {@code O_RDONLY}
         * @return the new options
         */
        public Options withReadOnly(boolean v) {
            return new Options(v, cacheNone, engine, discard, inlineMemoryFiles);
        }

        /**
         * A copy with {@link #cacheNone()} replaced. Any thread.
         *
         * @param v whether to open with {@code O_DIRECT}
         * @return the new options
         */
        public Options withCacheNone(boolean v) {
            return new Options(readOnly, v, engine, discard, inlineMemoryFiles);
        }

        /**
         * A copy with {@link #engine()} replaced. Any thread.
         *
         * @param v the I/O engine, not null
         * @return the new options
         * @throws NullPointerException if {@code v} is null
         */
        public Options withEngine(Engine v) {
            return new Options(readOnly, cacheNone, v, discard, inlineMemoryFiles);
        }

        /**
         * A copy with {@link #discard()} replaced. Any thread.
         *
         * @param v whether discard requests may punch holes ({@code discard=unmap})
         * @return the new options
         */
        public Options withDiscard(boolean v) {
            return new Options(readOnly, cacheNone, engine, v, inlineMemoryFiles);
        }

        /**
         * A copy with {@link #inlineMemoryFiles()} replaced. Any thread.
         *
         * @param v whether a file on tmpfs, ramfs or hugetlbfs does its I/O inline on the home thread
         * @return the new options
         */
        public Options withInlineMemoryFiles(boolean v) {
            return new Options(readOnly, cacheNone, engine, discard, v);
        }
    }

    private final AioContext ctx;
    private final Path path;
    private final int fd;
    private final long size;
    private final boolean readOnly;
    private final boolean cacheNone;
    private final boolean discardAllowed;
    private final int alignment;
    private final Engine engine;
    /** Why {@link #engine} was chosen, for the caller's startup log. */
    private final String engineReason;
    /** Whether I/O runs inline on the home thread (memory-backed file, see {@link #inlineIo()}). */
    private final boolean inline;
    private final FileIo io;
    /**
     * The fd {@link #sendFileFd()} gives out: -1 unless inline on a file system that splices
     * ({@link MemoryFs#splicesFromMemory}) or if reopening failed; {@link #fd} itself, or with
     * cache=none the same file opened again without O_DIRECT (splice copies from an O_DIRECT
     * fd into new pages; tmpfs has no cache for O_DIRECT to bypass).
     */
    private final int sendFd;

    // Capabilities learnt from EOPNOTSUPP (QEMU's has_discard / has_write_zeroes / has_fallocate).
    // Written in the home thread, read by canDiscard() from any thread.
    volatile boolean punchHoleSupported = true;
    /** The last data run SEEK_HOLE found, [start, end); -1 = none. Home thread. */
    private long dataRunStart = -1;
    private long dataRunEnd = -1;
    /** Discards and write-zeroes in flight (they invalidate the data-run cache). Home thread. */
    private int holeMakers;
    // Written and read only by request coroutines of the home thread (tests write them in the
    // home thread before entering one). Plain: under the virtual-thread engine a coroutine runs on
    // its own thread, but only one runs at a time and the engine's enter/yield hand-off orders
    // every access of one coroutine before the next one's.
    boolean zeroRangeSupported = true;
    boolean fallocateSupported = true;
    /**
     * Whether {@code fallocate(0)} has succeeded on this file: until then write-zeroes step 3
     * allocates before it punches, so that a refusal comes before anything is deallocated.
     */
    boolean fallocateProven;

    // Home thread only.
    private int inFlight;
    private boolean closed;
    private boolean released;
    private NativeBuffer zeroBuffer;

    private RawFileBackend(AioContext ctx, Path path, int fd, long size, Options opts, int alignment, Engine engine,
                           String engineReason, UnaryOperator<FileIo> ioFilter) {
        this.ctx = ctx;
        this.path = path;
        this.fd = fd;
        this.size = size;
        this.readOnly = opts.readOnly();
        this.cacheNone = opts.cacheNone();
        this.discardAllowed = opts.discard() && !opts.readOnly();
        this.alignment = alignment;
        this.engine = engine;
        this.engineReason = engineReason;
        long fsType = FileSys.fsType(fd);
        this.inline = opts.inlineMemoryFiles() && MemoryFs.isMemoryBacked(fsType);
        this.io = ioFilter.apply(inline ? new EngineFileIo(FileEngine.inline(ctx, fd), alignment)
                : engine == Engine.IO_URING ? new EngineFileIo(FileEngine.ioUring(ctx, fd), alignment)
                : engine == Engine.NATIVE ? new LinuxAioFileIo(LinuxAio.get(ctx), fd, alignment)
                : new EngineFileIo(FileEngine.threadPool(ctx, fd), alignment));
        this.sendFd = !inline || !MemoryFs.splicesFromMemory(fsType) ? -1 : !cacheNone ? fd : reopenBuffered(fd);
    }

    /** The file of {@code fd} opened again read-only without O_DIRECT, or -1 if that fails. */
    private static int reopenBuffered(int fd) {
        try {
            return Linux.open("/proc/self/fd/" + fd, Linux.O_RDONLY | Linux.O_CLOEXEC, 0);
        } catch (NativeException e) {
            LOG.log(System.Logger.Level.DEBUG, "no buffered fd for sendfile: {0}", e.getMessage());
            return -1;
        }
    }

    /**
     * Opens {@code file} (a regular file or a block device; never created) for I/O in {@code ctx}
     * (QEMU's {@code raw_open}). The size is the file's length at open ({@code lseek(SEEK_END)}).
     * Any thread; the returned backend is used from {@code ctx}'s home thread.
     *
     * @param ctx the context whose home thread will issue the backend's requests
     * @param file the image file or block device
     * @param opts how to open it
     * @return the open backend, to be closed with {@link #close()} before {@code ctx}
     * @throws IllegalArgumentException if {@code opts.engine()} is {@link Engine#IO_URING} and
     *     {@code ctx} has no io_uring ({@link AioContext#hasIoUring()} is false), or
     *     {@link Engine#NATIVE} without {@link Options#cacheNone()}
     * @throws BlockException with the errno of a failed {@code open}/{@code lseek} (ENOENT, EACCES,
     *     EROFS...; EINVAL when the file system refuses O_DIRECT, e.g. tmpfs before Linux 6.6), or
     *     of {@code io_setup} for {@link Engine#NATIVE} (ENOSYS, EAGAIN past {@code fs.aio-max-nr})
     */
    public static RawFileBackend open(AioContext ctx, Path file, Options opts) {
        return open(ctx, file, opts, UnaryOperator.identity());
    }

    /**
     * {@link #open(AioContext, Path, Options)} with the engine seen through {@code ioFilter}: tests
     * wrap it to make the file system refuse or fail a request.
     */
    static RawFileBackend open(AioContext ctx, Path file, Options opts, UnaryOperator<FileIo> ioFilter) {
        Objects.requireNonNull(ctx, "ctx");
        Objects.requireNonNull(file, "file");
        Objects.requireNonNull(opts, "opts");
        String[] reason = new String[1];
        Engine engine = chooseEngine(ctx, opts, reason);
        int flags = (opts.readOnly() ? Linux.O_RDONLY : Linux.O_RDWR) | Linux.O_CLOEXEC
                | (opts.cacheNone() ? Linux.O_DIRECT : 0);
        int fd;
        try {
            fd = Linux.open(file.toString(), flags, 0);
        } catch (NativeException e) {
            String why = e.errno() == Linux.EINVAL && opts.cacheNone()
                    ? " (the file system does not support O_DIRECT, needed by cache=none)" : "";
            throw new BlockException(e.errno(), "cannot open " + file + ": " + Linux.strerror(e.errno()) + why);
        }
        try {
            long size = FileSys.lseek(fd, 0, FileSys.SEEK_END);
            if (size < 0) {
                throw new BlockException((int) -size, "cannot get the size of " + file + ": " + Linux.strerror((int) -size));
            }
            int align = opts.cacheNone() ? probeAlignment(fd) : 1;
            return new RawFileBackend(ctx, file, fd, size, opts, align, engine, reason[0], ioFilter);
        } catch (RuntimeException | Error e) {
            closeQuietly(fd);
            throw e;
        }
    }

    /**
     * Resolves {@code opts.engine()} for {@code ctx}; stores why in {@code reason[0]}. AUTO: io_uring
     * if the context has it, else native AIO for cache=none (QEMU's qemu-nbd {@code --aio=native}
     * where io_uring is refused), else threads. Native AIO needs the context's {@link LinuxAio},
     * set up here (once per context).
     */
    private static Engine chooseEngine(AioContext ctx, Options opts, String[] reason) {
        String noUring = ctx.ioUringRefusal(); // null if the context has io_uring
        switch (opts.engine()) {
            case IO_URING -> {
                if (noUring != null) {
                    throw new IllegalArgumentException("engine IO_URING needs a context with io_uring, but "
                            + noUring + " (aio=io_uring needs aio_has_io_uring)");
                }
                reason[0] = "aio=io_uring requested";
                return Engine.IO_URING;
            }
            case THREADS -> {
                reason[0] = "aio=threads requested";
                return Engine.THREADS;
            }
            case NATIVE -> {
                if (!opts.cacheNone()) {
                    throw new IllegalArgumentException("aio=native was specified, but it requires cache.direct=on"
                            + " (cache=none, O_DIRECT), which was not specified");
                }
                try {
                    LinuxAio.get(ctx);
                } catch (NativeException e) {
                    throw new BlockException(e.errno(), "aio=native: cannot set up Linux AIO for context '"
                            + ctx.name() + "': " + e.getMessage());
                }
                reason[0] = "aio=native requested";
                return Engine.NATIVE;
            }
            default -> {
                if (noUring == null) {
                    reason[0] = "auto: context '" + ctx.name() + "' has io_uring";
                    return Engine.IO_URING;
                }
                if (!opts.cacheNone()) {
                    reason[0] = "auto: " + noUring + ", and native AIO needs cache=none (O_DIRECT)";
                    return Engine.THREADS;
                }
                try {
                    LinuxAio.get(ctx);
                } catch (NativeException e) {
                    reason[0] = "auto: " + noUring + ", and Linux AIO is unavailable (" + e.getMessage() + ")";
                    return Engine.THREADS;
                }
                reason[0] = "auto: " + noUring + "; cache=none, so Linux native AIO";
                return Engine.NATIVE;
            }
        }
    }

    /**
     * QEMU's {@code raw_probe_alignment} for O_DIRECT: the smallest of 512, 1024, 2048, 4096 that a
     * direct read at offset 0 accepts; 4096 if none does.
     */
    private static int probeAlignment(int fd) {
        try (NativeBuffer b = NativeBuffer.allocate(BOUNCE_ALIGN, BOUNCE_ALIGN)) {
            for (int a = 512; a <= BOUNCE_ALIGN; a <<= 1) {
                long r = FileSys.pread(fd, b.address(), a, 0);
                if (r >= 0) {
                    return a;
                }
                if (r != -Linux.EINVAL) {
                    break;
                }
            }
        }
        return BOUNCE_ALIGN;
    }

    private static void closeQuietly(int fd) {
        try {
            Linux.close(fd);
        } catch (NativeException ignored) {
            // nothing more to do: the fd is released by the kernel even on error
        }
    }

    // ---- getters (any thread) ----

    /** The image size in bytes, fixed at open. Any thread. */
    @Override
    public long size() {
        return size;
    }

    /** Whether the backend was opened read-only. Any thread. */
    @Override
    public boolean isReadOnly() {
        return readOnly;
    }

    /** 1 in writeback mode, the probed O_DIRECT alignment (512..4096) with cache=none. Any thread. */
    @Override
    public int alignment() {
        return alignment;
    }

    /**
     * Whether discard may punch holes: discard allowed by {@link Options#discard()}, writable, and
     * the file system has not refused {@code FALLOC_FL_PUNCH_HOLE} yet (it may turn false after the
     * first refusal). Any thread.
     */
    @Override
    public boolean canDiscard() {
        return discardAllowed && punchHoleSupported;
    }

    /**
     * The engine in use ({@link Engine#AUTO} resolved); when {@link #inlineIo()} is true, requests
     * bypass it. Any thread.
     *
     * @return {@link Engine#IO_URING}, {@link Engine#THREADS} or {@link Engine#NATIVE}; never AUTO
     */
    public Engine engine() {
        return engine;
    }

    /**
     * Why {@link #engine()} was chosen, one line for the caller's startup log, e.g.
     * {@code "auto: context 'main' has no io_uring (EPOLL fd monitor); cache=none, so Linux native AIO"}.
     * Any thread.
     *
     * @return the reason, one line
     */
    public String engineReason() {
        return engineReason;
    }

    /**
     * Whether reads, writes, flushes and fallocates run as plain syscalls on the home thread
     * instead of through {@link #engine()}: true for a file on tmpfs, ramfs or hugetlbfs, where each
     * is a memory copy and either engine would only add a thread hand-off (io_uring punts such
     * files to its worker threads). Off with {@link Options#inlineMemoryFiles()} false. Any thread.
     *
     * @return true if I/O runs inline
     */
    public boolean inlineIo() {
        return inline;
    }

    /**
     * The image's fd when I/O runs inline on tmpfs or ramfs (memory-backed files whose reads
     * never block and that splice; not hugetlbfs), else -1. Bytes past the end of a file that shrank since it was opened are not there to send.
     * Home thread.
     */
    @Override
    public int sendFileFd() {
        return closed ? -1 : sendFd;
    }

    /**
     * Whether the file was opened with O_DIRECT ({@link Options#cacheNone()}). Any thread.
     *
     * @return true with O_DIRECT
     */
    public boolean isCacheNone() {
        return cacheNone;
    }

    /**
     * The image's path as given to {@link #open}. Any thread.
     *
     * @return the path
     */
    public Path path() {
        return path;
    }

    /**
     * The context the backend does its I/O in. Any thread.
     *
     * @return the context given to {@link #open}
     */
    public AioContext context() {
        return ctx;
    }

    /** The file descriptor (for tests and diagnostics; do not close it). Any thread. */
    int fd() {
        return fd;
    }

    // ---- I/O ----

    /**
     * Reads {@code buf.byteSize()} bytes at {@code offset} into {@code buf} (QEMU's
     * {@code raw_co_preadv}). Bytes past the end of a file shorter than {@link #size()} read as
     * zero. Any alignment (bounced under O_DIRECT when needed). Coroutine in the home thread (or
     * home thread, see the class comment); suspends until done.
     *
     * @throws BlockException ESHUTDOWN after {@link #close()} (checked first); EINVAL if the range
     *     is outside {@code [0, size())}; the kernel's errno on failure
     * @throws IllegalArgumentException if {@code buf} is read-only
     * @throws IllegalStateException off the home thread
     */
    @Override
    public void read(long offset, MemorySegment buf) {
        checkCaller("read");
        Objects.requireNonNull(buf, "buf");
        if (buf.isReadOnly()) {
            throw new IllegalArgumentException("read into a read-only segment");
        }
        long len = buf.byteSize();
        checkRange("read", offset, len, Linux.EINVAL);
        if (len == 0) {
            return;
        }
        run("read", () -> {
            doRead(offset, buf, len);
            return null;
        });
    }

    private void doRead(long offset, MemorySegment buf, long len) {
        long mask = alignment - 1;
        if (buf.isNative() && ((offset | len | buf.address()) & mask) == 0) {
            long n = check("read", io.read(buf.address(), len, offset), offset, len);
            if (n < len) {
                buf.asSlice(n).fill((byte) 0); // past EOF
            }
            return;
        }
        long start = offset & ~mask;
        long end = (offset + len + mask) & ~mask;
        try (NativeBuffer b = NativeBuffer.allocate(end - start, BOUNCE_ALIGN)) {
            long n = check("read", io.read(b.address(), end - start, start), offset, len);
            MemorySegment bounce = b.segment();
            if (n < end - start) {
                bounce.asSlice(n, end - start - n).fill((byte) 0);
            }
            MemorySegment.copy(bounce, offset - start, buf, 0, len);
        }
    }

    /**
     * Writes {@code buf} at {@code offset} (QEMU's {@code raw_co_pwritev}); with {@code fua} the
     * data is durable on return (RWF_DSYNC with io_uring, else write + fdatasync). Coroutine in the
     * home thread; suspends until done.
     *
     * @throws IllegalStateException off the home thread
     * @throws BlockException ESHUTDOWN after {@link #close()} (checked first); EPERM when read-only;
     *     ENOSPC if the range is outside
     *     {@code [0, size())}; EINVAL if misaligned under O_DIRECT; the kernel's errno on failure
     */
    @Override
    public void write(long offset, MemorySegment buf, boolean fua) {
        checkCaller("write");
        Objects.requireNonNull(buf, "buf");
        long len = buf.byteSize();
        checkWritable("write");
        checkRange("write", offset, len, Linux.ENOSPC);
        checkAligned("write", offset, len);
        if (len == 0) {
            if (fua) {
                flush();
            }
            return;
        }
        run("write", () -> {
            if (buf.isNative() && (buf.address() & (alignment - 1)) == 0) {
                check("write", io.write(buf.address(), len, offset, fua), offset, len);
            } else {
                try (NativeBuffer b = NativeBuffer.allocate(len, BOUNCE_ALIGN)) {
                    MemorySegment.copy(buf, 0, b.segment(), 0, len);
                    check("write", io.write(b.address(), len, offset, fua), offset, len);
                }
            }
            return null;
        });
    }

    /**
     * Makes every completed write durable: {@code fdatasync} (QEMU's {@code raw_co_flush_to_disk};
     * {@code IORING_OP_FSYNC} with {@code IORING_FSYNC_DATASYNC} under io_uring). Also allowed on a
     * read-only backend. Coroutine in the home thread; suspends until done.
     *
     * @throws BlockException ESHUTDOWN after {@link #close()}; the kernel's errno (e.g. EIO after a
     *     lost write-back)
     * @throws IllegalStateException off the home thread
     */
    @Override
    public void flush() {
        checkCaller("flush");
        run("flush", () -> {
            check("flush", io.datasync(), 0, 0);
            return null;
        });
    }

    /**
     * Deallocates the range with {@code fallocate(PUNCH_HOLE|KEEP_SIZE)} (QEMU's
     * {@code raw_co_pdiscard}), so it reads as zeroes afterwards. Advisory: a successful no-op when
     * {@link Options#discard()} is off or the file system cannot punch holes (then
     * {@link #canDiscard()} turns false). Any alignment. With {@code fua} the deallocation is made
     * durable (fdatasync). Coroutine in the home thread; suspends until done.
     *
     * @throws IllegalStateException off the home thread
     * @throws BlockException ESHUTDOWN after {@link #close()} (checked first); EPERM when read-only;
     *     ENOSPC if the range is outside
     *     {@code [0, size())}; the kernel's errno on another failure
     */
    @Override
    public void discard(long offset, long length, boolean fua) {
        checkCaller("discard");
        checkWritable("discard");
        checkRange("discard", offset, length, Linux.ENOSPC);
        if (length == 0 || !canDiscard()) {
            return;
        }
        run("discard", () -> holeMaking(() -> {
            int r = io.fallocate(FileSys.FALLOC_FL_PUNCH_HOLE | FileSys.FALLOC_FL_KEEP_SIZE, offset, length);
            if (unsupported(r)) {
                punchHoleSupported = false;
                return null;
            }
            check("discard", r, offset, length);
            if (fua) {
                check("discard (fua)", io.datasync(), offset, length);
            }
            return null;
        }));
    }

    /**
     * Makes the range read as zeroes (QEMU's {@code raw_co_pwrite_zeroes} +
     * {@code handle_aiocb_write_zeroes}), trying in order:
     * <ol>
     *   <li>{@code mayUnmap} and discard allowed: punch a hole;
     *   <li>{@code FALLOC_FL_ZERO_RANGE} (blocks stay allocated; on ext4/xfs they become
     *       unwritten extents, which SEEK_DATA — and so {@link #blockStatus} — reports as a hole
     *       while {@code st_blocks} shows them allocated);
     *   <li>punch a hole then {@code fallocate(0)} to allocate it again (tmpfs, which has no
     *       ZERO_RANGE; QEMU's {@code handle_aiocb_write_zeroes} does the same), whatever
     *       {@code mayUnmap}: the range ends allocated. Until {@code fallocate(0)} has once
     *       succeeded on the file, the range is allocated first (which changes no byte), so that a
     *       file system refusing it is found before anything is punched. Should it refuse after
     *       the punch all the same, zero buffers are written to allocate the range again, even
     *       with {@code fastOnly};
     *   <li>unless {@code fastOnly}: write zero buffers (1 MiB at a time). With {@code fastOnly}
     *       and nothing fast available: {@link BlockException} {@code ENOTSUP} (95), no byte
     *       changed and nothing deallocated.
     * </ol>
     * Without {@code mayUnmap}, or with {@link Options#discard()} off, the range is never left
     * deallocated (NBD's {@code NBD_CMD_FLAG_NO_HOLE}). Each refusal ({@code EOPNOTSUPP}) is
     * remembered so later requests skip that step. With {@code fua} the result is made durable
     * (fdatasync). After a failure other than ENOTSUP the range's contents and allocation are
     * unspecified, as after any failed write. Coroutine in the home thread; suspends until done.
     *
     * @throws IllegalStateException off the home thread
     * @throws BlockException ESHUTDOWN after {@link #close()} (checked first); EPERM when read-only;
     *     ENOSPC if the range is outside
     *     {@code [0, size())}; EINVAL if misaligned under O_DIRECT; ENOTSUP as above; the kernel's
     *     errno on another failure
     */
    @Override
    public void writeZeroes(long offset, long length, boolean mayUnmap, boolean fastOnly, boolean fua) {
        checkCaller("write-zeroes");
        checkWritable("write-zeroes");
        checkRange("write-zeroes", offset, length, Linux.ENOSPC);
        checkAligned("write-zeroes", offset, length);
        if (length == 0) {
            return;
        }
        run("write-zeroes", () -> holeMaking(() -> {
            if (!zeroFast(offset, length, mayUnmap)) {
                if (fastOnly) {
                    throw new BlockException(Linux.ENOTSUP, "write-zeroes [" + offset + ", +" + length
                            + ") of " + path + ": no fast way to zero (fastOnly)");
                }
                writeZeroBuffers(offset, length);
            }
            if (fua) {
                check("write-zeroes (fua)", io.datasync(), offset, length);
            }
            return null;
        }));
    }

    /**
     * Runs an operation that may turn data into holes (or unwritten extents): the data-run cache
     * of {@link #blockStatus} is dropped before and after it, and not refilled while any such
     * operation is in flight. Home thread.
     */
    private <T> T holeMaking(java.util.function.Supplier<T> op) {
        holeMakers++;
        dataRunStart = dataRunEnd = -1;
        try {
            return op.get();
        } finally {
            holeMakers--;
            dataRunStart = dataRunEnd = -1;
        }
    }

    /**
     * Steps 1-3 of {@link #writeZeroes}: true once the range reads as zeroes (allocated unless
     * step 1 punched it), false if no step is supported (then no byte was changed and nothing
     * deallocated; holes in the range may have been allocated by step 3's first fallocate).
     */
    private boolean zeroFast(long offset, long length, boolean mayUnmap) {
        if (mayUnmap && canDiscard()) {
            int r = io.fallocate(FileSys.FALLOC_FL_PUNCH_HOLE | FileSys.FALLOC_FL_KEEP_SIZE, offset, length);
            if (!unsupported(r)) {
                check("write-zeroes (punch hole)", r, offset, length);
                return true;
            }
            punchHoleSupported = false;
        }
        if (zeroRangeSupported) {
            int r = io.fallocate(FileSys.FALLOC_FL_ZERO_RANGE, offset, length);
            if (!unsupported(r)) {
                check("write-zeroes (zero range)", r, offset, length);
                return true;
            }
            zeroRangeSupported = false;
        }
        if (punchHoleSupported && fallocateSupported) {
            if (!fallocateProven) {
                // Allocate before punching: changes no byte, and a refusal leaves the range as it was.
                int r = io.fallocate(0, offset, length);
                if (unsupported(r)) {
                    fallocateSupported = false;
                    return false;
                }
                check("write-zeroes (allocate)", r, offset, length);
                fallocateProven = true;
            }
            int r = io.fallocate(FileSys.FALLOC_FL_PUNCH_HOLE | FileSys.FALLOC_FL_KEEP_SIZE, offset, length);
            if (unsupported(r)) {
                punchHoleSupported = false;
                return false;
            }
            check("write-zeroes (punch hole)", r, offset, length);
            r = io.fallocate(0, offset, length);
            if (unsupported(r)) {
                // Refused after it worked once: the range reads as zero but is a hole, and the
                // request must not fail having changed it. Write zeroes to allocate it again.
                fallocateSupported = false;
                writeZeroBuffers(offset, length);
                return true;
            }
            check("write-zeroes (allocate)", r, offset, length);
            return true;
        }
        return false;
    }

    private void writeZeroBuffers(long offset, long length) {
        if (zeroBuffer == null) {
            zeroBuffer = NativeBuffer.zeroed(ZERO_CHUNK, BOUNCE_ALIGN);
        }
        long addr = zeroBuffer.address();
        for (long done = 0; done < length; ) {
            long n = Math.min(length - done, ZERO_CHUNK);
            check("write-zeroes (write)", io.write(addr, n, offset + done, false), offset + done, n);
            done += n;
        }
    }

    /**
     * The allocation state of {@code [offset, offset + length)} from {@code lseek(SEEK_DATA)} /
     * {@code lseek(SEEK_HOLE)} (QEMU's {@code raw_co_block_status} + {@code find_allocation}):
     * consecutive extents starting at {@code offset}, data as {@code hole=false zero=false}, holes
     * as {@code hole=true zero=true}; adjacent extents never share a state. A range reaching past
     * {@link #size()} is clamped to it; at most {@link #MAX_EXTENTS} extents are returned (then
     * they cover less than the range). {@code ENXIO} from SEEK_DATA means a hole up to the end; any
     * other lseek failure reports the rest as data (QEMU's fallback).
     *
     * <p>The lseeks run synchronously in the calling thread, as QEMU does in the coroutine (they
     * only read metadata); no suspension. Home thread (inside a coroutine or not): it keeps the
     * last data run found in plain fields.
     *
     * @throws BlockException ESHUTDOWN after {@link #close()}; EINVAL if {@code offset} is outside
     *     {@code [0, size())} or {@code length <= 0}
     * @throws IllegalStateException off the home thread
     */
    @Override
    public List<Extent> blockStatus(long offset, long length) {
        checkCaller("block status");
        if (offset < 0 || length <= 0 || offset >= size) {
            throw new BlockException(Linux.EINVAL, "block status [" + offset + ", +" + length
                    + ") outside " + path + " (size " + size + ")");
        }
        long end = length > size - offset ? size : offset + length;
        List<Extent> out = new ArrayList<>();
        long pos = offset;
        while (pos < end && out.size() < MAX_EXTENTS) {
            if (pos >= dataRunStart && pos < dataRunEnd) {
                // Inside the last data run found: SEEK_HOLE scans page by page on some file systems
                // (tmpfs), so a dense image would pay O(size) per sparse READ without this.
                long h = Math.min(dataRunEnd, end);
                add(out, h - pos, false);
                pos = h;
                continue;
            }
            long d = FileSys.lseek(fd, pos, FileSys.SEEK_DATA);
            if (d == -Linux.ENXIO) {
                add(out, end - pos, true);
                break;
            }
            if (d < 0) {
                add(out, end - pos, false);
                break;
            }
            if (d > pos) {
                long h = Math.min(d, end);
                add(out, h - pos, true);
                pos = h;
                continue;
            }
            long h = FileSys.lseek(fd, pos, FileSys.SEEK_HOLE);
            if (h <= pos) { // error, or the file changed under us: call the rest data
                add(out, end - pos, false);
                break;
            }
            if (holeMakers == 0) {
                dataRunStart = pos; // writes only add data, so this run stays data until a discard
                dataRunEnd = h;
            }
            h = Math.min(h, end);
            add(out, h - pos, false);
            pos = h;
        }
        return out;
    }

    private static void add(List<Extent> out, long length, boolean hole) {
        if (!out.isEmpty()) {
            Extent last = out.getLast();
            if (last.hole() == hole) {
                out.set(out.size() - 1, new Extent(last.length() + length, hole, hole));
                return;
            }
        }
        out.add(new Extent(length, hole, hole));
    }

    /**
     * Releases the fd and the backend's native memory; flushes nothing. Idempotent. Home thread,
     * with no request in flight, or any thread once the context is closed (no loop can run a
     * request any more: what an owner does after the context's IoThread stopped first); if
     * requests are still in flight (misuse) new requests already fail with ESHUTDOWN and the fd
     * is closed when the last one completes, so that no worker ever uses a recycled fd number.
     *
     * @throws IllegalStateException from another thread while the context is open
     */
    @Override
    public void close() {
        if (!ctx.isHomeThread() && !ctx.isClosed()) {
            throw new IllegalStateException("close of " + path + " must run in the home thread of context '"
                    + ctx.name() + "' while it is open, not in " + Thread.currentThread().getName());
        }
        if (closed) {
            return;
        }
        closed = true;
        if (inFlight == 0) {
            release();
        } else {
            LOG.log(System.Logger.Level.WARNING, "closing {0} with {1} request(s) in flight; the fd is released when they complete",
                    path, inFlight);
        }
    }

    private void release() {
        if (released) {
            return;
        }
        released = true;
        if (zeroBuffer != null) {
            zeroBuffer.close();
            zeroBuffer = null;
        }
        if (sendFd >= 0 && sendFd != fd) {
            closeQuietly(sendFd);
        }
        closeQuietly(fd);
    }

    // ---- request plumbing ----

    /**
     * Runs one request: in the calling coroutine, or in a new one while polling the context. The
     * caller ran {@link #checkCaller} (the thread and the closed state) just before, with nothing in
     * between that could suspend.
     */
    private <T> T run(String op, Supplier<T> body) {
        if (!Coroutine.inCoroutine()) {
            return runInNewCoroutine(op, body);
        }
        inFlight++;
        try {
            return body.get();
        } finally {
            if (--inFlight == 0 && closed) {
                release();
            }
        }
    }

    private <T> T runInNewCoroutine(String op, Supplier<T> body) {
        CoCompletion<T> o = new CoCompletion<>(); // no waiter: this thread polls isDone()
        Coroutine co = Coroutine.create(() -> {
            T value;
            try {
                value = run(op, body);
            } catch (Throwable t) {
                o.fail(t);
                return;
            }
            o.complete(value);
        });
        Coroutine.enterIn(ctx, co);
        AioWait.waitWhile(ctx, () -> !o.isDone());
        Throwable error = o.failure();
        if (error != null) {
            Throwables.throwIfUnchecked(error);
            throw new IllegalStateException(error);
        }
        return o.value();
    }

    /**
     * What every request checks before anything else, empty requests and no-op discards too: the
     * calling thread (the home thread: the backend's state is plain), then that the backend is open.
     */
    private void checkCaller(String op) {
        if (!ctx.isHomeThread()) {
            throw new IllegalStateException(op + " on " + path + " must run in the home thread of context '"
                    + ctx.name() + "' (in a coroutine or not), not in " + Thread.currentThread().getName());
        }
        if (closed) {
            throw new BlockException(ESHUTDOWN, op + " on closed backend " + path);
        }
    }

    private void checkWritable(String op) {
        if (readOnly) {
            throw new BlockException(Linux.EPERM, op + " on read-only " + path);
        }
    }

    private void checkRange(String op, long offset, long length, int errno) {
        if (offset < 0 || length < 0) {
            throw new BlockException(Linux.EINVAL, op + " with negative offset or length (" + offset + ", " + length + ")");
        }
        if (offset > size || length > size - offset) {
            throw new BlockException(errno, op + " [" + offset + ", +" + length + ") past the end of "
                    + path + " (size " + size + ")");
        }
    }

    private void checkAligned(String op, long offset, long length) {
        if (((offset | length) & (alignment - 1)) != 0) {
            throw new BlockException(Linux.EINVAL, op + " [" + offset + ", +" + length + ") not aligned to "
                    + alignment + " bytes (O_DIRECT) on " + path);
        }
    }

    private static boolean unsupported(long r) {
        return r == -Linux.EOPNOTSUPP || r == -Linux.ENOSYS;
    }

    private long check(String op, long r, long offset, long length) {
        if (r < 0) {
            int errno = (int) -r;
            throw new BlockException(errno, op + " [" + offset + ", +" + length + ") of " + path + ": "
                    + Linux.strerror(errno));
        }
        return r;
    }

    @Override
    public String toString() {
        return "RawFileBackend[" + path + ", size " + size + ", " + engine + (inline ? " (inline)" : "") + (cacheNone ? ", O_DIRECT" : "")
                + (readOnly ? ", read-only" : "") + "]";
    }
}
