package io.jaio.block;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * A block device image as seen by an export: byte-addressed I/O issued from coroutines.
 *
 * <p>Threads: every I/O method is called from a coroutine running in the backend's
 * {@link io.jaio.aio.AioContext} (its home thread) and suspends that coroutine until the I/O
 * completes; many coroutines may have requests in flight at once. Bounds are checked before any
 * I/O: a range outside {@code [0, size())} throws {@link BlockException} with {@code EINVAL}
 * (reads) or {@code ENOSPC} (writes, write-zeroes, discard), and a write to a read-only backend
 * throws {@code EPERM}. Kernel errors arrive as {@link BlockException} with their errno.
 *
 * <p>Further rules ({@link RawFileBackend} follows them; other implementations should): a negative offset or length is {@code EINVAL};
 * {@code EPERM} is checked before the range; writes and write-zeroes whose offset or length is
 * not a multiple of {@link #alignment()} fail with {@code EINVAL} (reads and discards may be
 * unaligned); a request after {@link #close()} fails with {@code ESHUTDOWN} (108). Buffers may be
 * native or heap segments; the caller keeps a buffer alive until the call returns.
 */
public interface BlockBackend extends AutoCloseable {
    /** {@return the image size in bytes} Any thread. */
    long size();

    /** {@return whether writes are refused} Any thread. */
    boolean isReadOnly();

    /**
     * The alignment writes and write-zeroes must honour (1, or 512..4096 with O_DIRECT): a power
     * of two, fixed at open. Any thread.
     *
     * @return the alignment in bytes
     */
    int alignment();

    /**
     * Whether {@link #discard} can punch holes (and so {@link #writeZeroes} with mayUnmap). May turn
     * false once the file system refuses hole punching. Any thread.
     *
     * @return whether discard currently deallocates
     */
    boolean canDiscard();

    /**
     * Reads {@code buf.byteSize()} bytes at {@code offset}; bytes past EOF of a short file read as zero.
     *
     * @param offset the image offset
     * @param buf the destination, filled completely
     */
    void read(long offset, MemorySegment buf);

    /**
     * Writes {@code buf} at {@code offset}; with {@code fua} the data is durable when this returns.
     *
     * @param offset the image offset, a multiple of {@link #alignment()}
     * @param buf the data, a multiple of {@link #alignment()} long
     * @param fua whether to force the data to stable storage before returning
     */
    void write(long offset, MemorySegment buf, boolean fua);

    /** Makes every completed write durable (fdatasync). */
    void flush();

    /**
     * Deallocates the range if the backend can (punch hole); reads of it then return zeroes.
     * Advisory: a successful no-op when the backend cannot discard.
     *
     * @param offset start of the range
     * @param length length of the range in bytes
     * @param fua whether the result must be durable when this returns
     */
    void discard(long offset, long length, boolean fua);

    /**
     * Makes the range read as zeroes. {@code mayUnmap}: a hole is allowed (punch hole); otherwise
     * the blocks stay allocated (zero range / explicit zero writes). {@code fastOnly}: fail with
     * {@code ENOTSUP} (95) instead of falling back to writing zero buffers.
     *
     * @param offset start of the range, a multiple of {@link #alignment()}
     * @param length length of the range, a multiple of {@link #alignment()}
     * @param mayUnmap whether the range may become a hole
     * @param fastOnly whether to fail rather than write zero buffers
     * @param fua whether the result must be durable when this returns
     */
    void writeZeroes(long offset, long length, boolean mayUnmap, boolean fastOnly, boolean fua);

    /**
     * The allocation state of {@code [offset, offset + length)}, as consecutive extents starting at
     * {@code offset} and covering at least one byte (possibly less than the whole range, never
     * past {@code size()}), from SEEK_DATA/SEEK_HOLE. A range reaching past {@code size()} is
     * clamped; an offset outside {@code [0, size())} or a length {@code <= 0} is {@code EINVAL}.
     * Home thread (no suspension needed).
     *
     * @param offset start of the range, in {@code [0, size())}
     * @param length length of the range, &gt; 0
     * @return the extents, in order, at least one
     */
    List<Extent> blockStatus(long offset, long length);

    /**
     * A file descriptor whose bytes a caller may send to a socket with {@code sendfile(2)} on the
     * home thread without blocking it (a memory-backed file), or -1 (the default) if reads must
     * go through {@link #read}. Valid until {@link #close()}. Home thread.
     *
     * @return the fd, or -1
     */
    default int sendFileFd() {
        return -1;
    }

    /**
     * One run of bytes with the same allocation state.
     *
     * @param length the run's length in bytes, &gt; 0
     * @param hole whether the run is unallocated (NBD_STATE_HOLE)
     * @param zero whether the run reads as zeroes (NBD_STATE_ZERO)
     */
    record Extent(long length, boolean hole, boolean zero) {}

    /** Flushes nothing, releases the fd and buffers. Home thread, with no request in flight. */
    @Override
    void close();
}
