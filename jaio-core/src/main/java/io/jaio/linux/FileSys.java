package io.jaio.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The file syscalls of the block layer and of {@code io.jaio.fs}: {@code pread}, {@code pwrite},
 * {@code preadv}, {@code pwritev}, {@code fsync}, {@code fdatasync},
 * {@code fallocate}, {@code lseek}, {@code fstat} (st_blocks), {@code fstatfs} (f_type), and aligned native memory
 * ({@code aligned_alloc}/{@code free}).
 *
 * <p>Conventions as in {@code Linux}: every call returns its result or {@code -errno} (nothing
 * throws for a failed syscall), {@code EINTR} is retried by {@link Linux}'s one retry loop.
 * Buffer addresses are passed as plain {@code long}s (raw native addresses), so a worker thread
 * can use memory that belongs to a confined arena of another thread; the caller keeps that memory
 * alive for the duration of the call. Any thread, virtual threads included.
 */
@SuppressWarnings("restricted") // io.jaio.linux: the one place allowed to make downcalls
public final class FileSys {
    private FileSys() {}

    // errno values: see Linux (EINVAL, ENXIO, ENOTSUP...).

    // ---- lseek whence, <uapi/linux/fs.h> ----
    /** {@code lseek} whence: {@code off} is from the start of the file. */
    public static final int SEEK_SET = 0;
    /** {@code lseek} whence: {@code off} is from the end of the file. */
    public static final int SEEK_END = 2;
    /** {@code lseek} whence: the next offset at or after {@code off} that holds data. */
    public static final int SEEK_DATA = 3;
    /** {@code lseek} whence: the next offset at or after {@code off} in a hole (or the end of file). */
    public static final int SEEK_HOLE = 4;

    // ---- fallocate modes, <uapi/linux/falloc.h> ----
    /** {@code fallocate} mode bit: do not change the file size. */
    public static final int FALLOC_FL_KEEP_SIZE = 0x01;
    /** {@code fallocate} mode bit: deallocate the range (with {@link #FALLOC_FL_KEEP_SIZE}). */
    public static final int FALLOC_FL_PUNCH_HOLE = 0x02;
    /** {@code fallocate} mode bit: make the range read as zeroes. */
    public static final int FALLOC_FL_ZERO_RANGE = 0x10;

    // ---- preadv2/pwritev2 and io_uring rw_flags, <uapi/linux/fs.h> ----
    /** Per-write {@code O_DSYNC} ({@code preadv2}/{@code pwritev2} and io_uring {@code rw_flags}). */
    public static final int RWF_DSYNC = 0x02;

    // ---- struct stat, <asm/stat.h> (x86-64) / <asm-generic/stat.h> (arm64): same offsets ----
    private static final long STAT_SIZE = 144;
    private static final long STAT_ST_SIZE = 48;
    private static final long STAT_ST_BLOCKS = 64;

    private static MethodHandle errnoCall(String name, FunctionDescriptor fd) {
        return Linux.errnoCall(name, fd);
    }

    // Pointers are passed as JAVA_LONG: same register class as ADDRESS on the 64-bit ABIs jaio
    // supports, and no segment scope check (so any thread may pass any live native address).
    private static final MethodHandle PREAD = errnoCall("pread",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG));
    private static final MethodHandle PWRITE = errnoCall("pwrite",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG));
    private static final MethodHandle FDATASYNC = errnoCall("fdatasync",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle FSYNC = errnoCall("fsync",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle PREADV = errnoCall("preadv",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_LONG));
    private static final MethodHandle PWRITEV = errnoCall("pwritev",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_LONG));
    private static final MethodHandle FALLOCATE = errnoCall("fallocate",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG));
    private static final MethodHandle LSEEK = errnoCall("lseek",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_INT));
    private static final MethodHandle FSTAT = errnoCall("fstat",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
    private static final MethodHandle FSTATFS = errnoCall("fstatfs",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
    private static final MethodHandle ALIGNED_ALLOC = Linux.plainCall("aligned_alloc",
            FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG));
    private static final MethodHandle FREE = Linux.plainCall("free",
            FunctionDescriptor.ofVoid(JAVA_LONG));

    /** struct statfs (x86-64 and arm64: 120 bytes, {@code f_type} first); fits the stat scratch. */
    private static final long STATFS_SIZE = 120;

    /** Per-thread errno capture + room for a struct stat. Freed by the GC with the thread. */
    private static final long SCRATCH_STAT = Linux.SCRATCH_ARG;
    private static final ThreadLocal<MemorySegment> SCRATCH = ThreadLocal.withInitial(
            () -> Arena.ofAuto().allocate(SCRATCH_STAT + STAT_SIZE, 16));

    /** Runs {@code call} through {@link Linux#retry} (the one EINTR loop) on this class's scratch. */
    private static long retry(Linux.Call call) {
        return Linux.retry(SCRATCH.get(), call);
    }

    /**
     * {@code pread(2)} of {@code len} bytes at file offset {@code off} into native address {@code addr}.
     *
     * @param fd   the file descriptor
     * @param addr the native address of the buffer
     * @param len  the number of bytes to read
     * @param off  the file offset
     * @return the number of bytes read (0 at end of file), or -errno
     */
    public static long pread(int fd, long addr, long len, long off) {
        return retry(c -> (long) PREAD.invokeExact(c, fd, addr, len, off));
    }

    /**
     * {@code pwrite(2)} of {@code len} bytes from native address {@code addr} at file offset {@code off}.
     *
     * @param fd   the file descriptor
     * @param addr the native address of the data
     * @param len  the number of bytes to write
     * @param off  the file offset
     * @return the number of bytes written, or -errno
     */
    public static long pwrite(int fd, long addr, long len, long off) {
        return retry(c -> (long) PWRITE.invokeExact(c, fd, addr, len, off));
    }

    /**
     * {@code fdatasync(2)}.
     *
     * @param fd the file descriptor
     * @return 0, or -errno
     */
    public static int fdatasync(int fd) {
        return (int) retry(c -> (int) FDATASYNC.invokeExact(c, fd));
    }

    /**
     * {@code fsync(2)}.
     *
     * @param fd the file descriptor
     * @return 0, or -errno
     */
    public static int fsync(int fd) {
        return (int) retry(c -> (int) FSYNC.invokeExact(c, fd));
    }

    /**
     * {@code preadv(2)} into {@code iovcnt} struct iovec at native address {@code iov}, at file
     * offset {@code off}.
     *
     * @param fd     the file descriptor
     * @param iov    the native address of the struct iovec array
     * @param iovcnt the number of entries in it
     * @param off    the file offset
     * @return the number of bytes read (0 at end of file), or -errno
     */
    public static long preadv(int fd, long iov, int iovcnt, long off) {
        return retry(c -> (long) PREADV.invokeExact(c, fd, iov, iovcnt, off));
    }

    /**
     * {@code pwritev(2)} from {@code iovcnt} struct iovec at native address {@code iov}, as {@link #preadv}.
     *
     * @param fd     the file descriptor
     * @param iov    the native address of the struct iovec array
     * @param iovcnt the number of entries in it
     * @param off    the file offset
     * @return the number of bytes written, or -errno
     */
    public static long pwritev(int fd, long iov, int iovcnt, long off) {
        return retry(c -> (long) PWRITEV.invokeExact(c, fd, iov, iovcnt, off));
    }

    /**
     * {@code fallocate(2)} of {@code len} bytes at file offset {@code off}.
     *
     * @param fd   the file descriptor
     * @param mode 0 or {@code FALLOC_FL_*} bits
     * @param off  the start of the range
     * @param len  the length of the range
     * @return 0, or -errno
     */
    public static int fallocate(int fd, int mode, long off, long len) {
        return (int) retry(c -> (int) FALLOCATE.invokeExact(c, fd, mode, off, len));
    }

    /**
     * {@code lseek(2)}.
     *
     * @param fd     the file descriptor
     * @param off    the offset, relative to {@code whence}
     * @param whence {@link #SEEK_SET}, {@link #SEEK_END}, {@link #SEEK_DATA} or {@link #SEEK_HOLE}
     * @return the new offset, or -errno (-ENXIO from SEEK_DATA/SEEK_HOLE past the data)
     */
    public static long lseek(int fd, long off, int whence) {
        return retry(c -> (long) LSEEK.invokeExact(c, fd, off, whence));
    }

    /**
     * {@code st_size} of {@code fstat(2)}.
     *
     * @param fd the file descriptor
     * @return the file's length in bytes, or -errno
     */
    public static long fileSize(int fd) {
        return fstatField(fd, STAT_ST_SIZE);
    }

    /**
     * {@code st_blocks} of {@code fstat(2)}.
     *
     * @param fd the file descriptor
     * @return the 512-byte units actually allocated, or -errno
     */
    public static long allocatedBlocks(int fd) {
        return fstatField(fd, STAT_ST_BLOCKS);
    }

    /**
     * {@code f_type} of {@code fstatfs(2)}: the magic number of the file system holding {@code fd}
     * ({@code <linux/magic.h>}; jaio-block's memory-file-system rules compare it).
     *
     * @param fd the file descriptor
     * @return the file system's magic number, or -errno
     */
    public static long fsType(int fd) {
        MemorySegment st = SCRATCH.get().asSlice(SCRATCH_STAT, STATFS_SIZE);
        long r = retry(c -> (int) FSTATFS.invokeExact(c, fd, st));
        return r < 0 ? r : st.get(JAVA_LONG, 0);
    }

    private static long fstatField(int fd, long offset) {
        MemorySegment st = SCRATCH.get().asSlice(SCRATCH_STAT, STAT_SIZE);
        long r = retry(c -> (int) FSTAT.invokeExact(c, fd, st));
        return r < 0 ? r : st.get(JAVA_LONG, offset);
    }

    /**
     * {@code aligned_alloc(3)} of at least {@code size} bytes (rounded up to {@code align}) at an
     * address that is a multiple of {@code align} (a power of two). Uninitialised.
     *
     * @param align the alignment, a power of two
     * @param size  the minimum size in bytes
     * @return the native address; release it with {@link #free}
     * @throws OutOfMemoryError if the C library has no memory
     */
    public static long alignedAlloc(long align, long size) {
        long rounded = Math.max(align, (size + align - 1) & -align);
        long p;
        try {
            p = (long) ALIGNED_ALLOC.invokeExact(align, rounded);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        if (p == 0) {
            throw new OutOfMemoryError("aligned_alloc(" + align + ", " + rounded + ") failed");
        }
        return p;
    }

    /**
     * {@code free(3)} of an address from {@link #alignedAlloc}; 0 is ignored.
     *
     * @param addr the address, or 0
     */
    public static void free(long addr) {
        if (addr == 0) {
            return;
        }
        try {
            FREE.invokeExact(addr);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /**
     * A view of {@code size} bytes of native memory at {@code addr}, global scope (any thread).
     *
     * @param addr the native address
     * @param size the view's length in bytes
     * @return a segment over that memory; the caller keeps the memory alive while it is used
     */
    public static MemorySegment view(long addr, long size) {
        return MemorySegment.ofAddress(addr).reinterpret(size);
    }
}
