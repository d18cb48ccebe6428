package io.jaio.block;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Objects;

/**
 * A named dirty bitmap over an image of {@link #size()} bytes (QEMU's
 * {@code BdrvDirtyBitmap}): one bit per {@link #granularity()} bytes, set when a write, trim
 * or write-zeroes touches the chunk, kept in native memory (64 KiB granularity: 2 KiB per
 * GiB). Disabled bitmaps ignore {@link #mark}; {@link #set} and {@link #merge} still apply.
 * A bitmap loaded from a sidecar that was not closed cleanly is {@link #isInconsistent()
 * inconsistent}: it may have missed writes, so it reads as all dirty until cleared.
 *
 * <p>Threads: {@link #mark}, {@link #set} and the queries ({@link #isDirty},
 * {@link #runLength}, {@link #dirtyBytes}) from any thread, concurrently (an export served by
 * several IOThreads marks from each); the rest ({@link #clear}, {@link #merge},
 * {@link #setEnabled}, {@link #copy}) are not atomic with respect to concurrent marks: a mark
 * racing with them may land on either side. The memory is freed by the GC once the bitmap is
 * unreachable, so a session still reading a removed bitmap stays safe.
 */
public final class DirtyBitmap {
    /** Default bytes per bit (QEMU's default for NBD exports and backups). */
    public static final int DEFAULT_GRANULARITY = 64 * 1024;

    /** Renamed only by {@link DirtyBitmaps#checkpoint} (under its lock); volatile for readers elsewhere. */
    private volatile String name;
    private final long size;
    private final int granularity;
    private final int shift;
    private final long bits;
    private final MemorySegment words;
    /*
     * Words are set with getAndBitwiseOr (a volatile read-modify-write, so concurrent marks of
     * one word never lose each other's bits) and read with getAcquire, which pairs with it: a
     * query that sees a bit also sees everything its marking thread did before the mark.
     * enabled/inconsistent/generation are volatile for the same reason (set by the control
     * path in one thread, read by marking threads).
     */
    private static final java.lang.invoke.VarHandle WORD = ValueLayout.JAVA_LONG.varHandle();
    private volatile boolean enabled = true;
    private volatile boolean inconsistent;
    private volatile long generation;

    /**
     * An empty, enabled bitmap.
     *
     * @param name the bitmap's name
     * @param size bytes of image covered
     * @param granularity bytes per bit
     * @throws IllegalArgumentException unless the name is 1..1023 UTF-8 bytes, the size is
     *     non-negative and the granularity a power of two from 512 bytes to 2 GiB
     */
    public DirtyBitmap(String name, long size, int granularity) {
        this.name = Objects.requireNonNull(name, "name");
        int n = name.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
        if (n == 0 || n > 1023 || name.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("bitmap name must be 1..1023 UTF-8 bytes without NUL: '" + name + "'");
        }
        if (size < 0) {
            throw new IllegalArgumentException("size must be >= 0, got " + size);
        }
        if (granularity < 512 || Integer.bitCount(granularity) != 1) {
            throw new IllegalArgumentException("granularity must be a power of two >= 512, got " + granularity);
        }
        this.size = size;
        this.granularity = granularity;
        this.shift = Integer.numberOfTrailingZeros(granularity);
        this.bits = (size + granularity - 1) >>> shift;
        this.words = Arena.ofAuto().allocate(Math.max(8, ((bits + 63) >>> 6) * 8), 8); // zeroed
    }

    /** {@return the bitmap's name} Any thread. */
    public String name() {
        return name;
    }

    void rename(String newName) {
        this.name = newName;
    }

    /** {@return the bytes of image covered} Any thread. */
    public long size() {
        return size;
    }

    /** {@return the bytes per bit} Any thread. */
    public int granularity() {
        return granularity;
    }

    /** {@return whether {@link #mark} records writes} Any thread. */
    public boolean isEnabled() {
        return enabled;
    }

    /**
     * Starts or stops recording writes (QEMU's block-dirty-bitmap-enable/disable).
     *
     * @param enabled whether {@link #mark} records writes from now on
     */
    public void setEnabled(boolean enabled) {
        this.enabled = enabled;
    }

    /** {@return whether the bitmap may have missed writes (a crash while it was in use)} If so it reads as all dirty. */
    public boolean isInconsistent() {
        return inconsistent;
    }

    void setInconsistent(boolean inconsistent) {
        this.inconsistent = inconsistent;
    }

    /** {@return the generation: 0 for a new bitmap, one more at each {@link DirtyBitmaps#checkpoint}} */
    public long generation() {
        return generation;
    }

    void setGeneration(long generation) {
        this.generation = generation;
    }

    /**
     * Records a write of {@code [offset, offset + length)} if enabled.
     *
     * @param offset start of the write
     * @param length its length in bytes
     */
    public void mark(long offset, long length) {
        if (enabled) {
            set(offset, length);
        }
    }

    /**
     * Marks every chunk touching {@code [offset, offset + length)} dirty (clamped to the image).
     *
     * @param offset start of the range
     * @param length its length in bytes
     */
    public void set(long offset, long length) {
        if (length <= 0 || offset >= size || offset < 0) {
            return;
        }
        long end = Math.min(size, offset + length);
        long first = offset >>> shift;
        long last = (end - 1) >>> shift;
        for (long b = first; b <= last;) {
            long w = b >>> 6;
            int lo = (int) (b & 63);
            int hi = (int) Math.min(63, last - (w << 6));
            long mask = (hi == 63 ? -1L : (1L << (hi + 1)) - 1) & (-1L << lo);
            long unused = (long) WORD.getAndBitwiseOr(words, w * 8, mask);
            b = (w + 1) << 6;
        }
    }

    /** Clears every bit (QEMU's block-dirty-bitmap-clear); also ends inconsistency. */
    public void clear() {
        words.fill((byte) 0);
        inconsistent = false;
    }

    /**
     * Whether the chunk holding byte {@code offset} is dirty.
     *
     * @param offset an image offset
     * @return whether its chunk is dirty (always, while inconsistent)
     */
    public boolean isDirty(long offset) {
        if (inconsistent) {
            return true;
        }
        long b = offset >>> shift;
        return (word(b >>> 6) & (1L << (b & 63))) != 0;
    }

    /** Word {@code w}, read with acquire (pairs with the getAndBitwiseOr in {@link #set}). */
    private long word(long w) {
        return (long) WORD.getAcquire(words, w * 8);
    }

    /** {@return the dirty bytes (dirty chunks times the granularity, the last one cut to the image)} */
    public long dirtyBytes() {
        long n = 0;
        for (long w = 0; w < (bits + 63) >>> 6; w++) {
            n += Long.bitCount(word(w));
        }
        long bytes = n << shift;
        if (bits > 0 && isDirty(size - 1)) {
            bytes -= (bits << shift) - size; // the last chunk is short
        }
        return Math.min(bytes, size);
    }

    /**
     * The length of the run starting at {@code offset} whose chunks all have the state of
     * {@code offset}'s chunk, cut at {@code offset + max} and the end of the image. 0 if
     * {@code offset} is outside the image.
     *
     * @param offset the run's start
     * @param max the longest run wanted
     * @return the run's length in bytes
     */
    public long runLength(long offset, long max) {
        if (offset < 0 || offset >= size || max <= 0) {
            return 0;
        }
        long end = Math.min(size, offset + max);
        if (inconsistent) {
            return end - offset;
        }
        boolean dirty = isDirty(offset);
        long b = (offset >>> shift) + 1;
        long lastBit = (end - 1) >>> shift;
        while (b <= lastBit) {
            long w = word(b >>> 6);
            long v = (dirty ? ~w : w) >>> (b & 63); // bits that differ, from b on
            if (v != 0) {
                b += Long.numberOfTrailingZeros(v);
                break;
            }
            b = ((b >>> 6) + 1) << 6;
        }
        long runEnd = Math.min(end, b << shift);
        return runEnd - offset;
    }

    /**
     * Sets every bit that is set in {@code other} (QEMU's block-dirty-bitmap-merge); both must
     * cover the same size with the same granularity.
     *
     * @param other the bitmap to OR into this one
     * @throws IllegalArgumentException if they do not match
     */
    public void merge(DirtyBitmap other) {
        if (other.size != size || other.granularity != granularity) {
            throw new IllegalArgumentException("cannot merge bitmap '" + other.name + "' (" + other.size + " bytes, "
                    + other.granularity + " granularity) into '" + name + "' (" + size + ", " + granularity + ")");
        }
        for (long w = 0; w < words.byteSize() / 8; w++) {
            long unused = (long) WORD.getAndBitwiseOr(words, w * 8, other.word(w));
        }
        inconsistent |= other.inconsistent;
    }

    /**
     * A copy with another name (enabled state and bits copied).
     *
     * @param newName the copy's name
     * @return the copy
     */
    public DirtyBitmap copy(String newName) {
        DirtyBitmap c = new DirtyBitmap(newName, size, granularity);
        MemorySegment.copy(words, 0, c.words, 0, words.byteSize());
        c.enabled = enabled;
        c.inconsistent = inconsistent;
        return c;
    }

    /** The raw words (for persistence). */
    MemorySegment words() {
        return words;
    }

    @Override
    public String toString() {
        return "DirtyBitmap[" + name + ", " + size + " bytes, granularity " + granularity
                + (enabled ? "" : ", disabled") + (inconsistent ? ", inconsistent" : "") + "]";
    }
}
