package io.jaio.block;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The named dirty bitmaps of one image (QEMU's {@code block-dirty-bitmap-add/remove/clear/
 * enable/disable/merge}), marked by every write, trim and write-zeroes the export serves
 * ({@link #mark}), and optionally persisted in a sidecar file beside a raw image.
 *
 * <pre>{@code
 * DirtyBitmaps bitmaps = DirtyBitmaps.open(DirtyBitmaps.sidecarFor(image), backend.size());
 * bitmaps.add("backup", DirtyBitmap.DEFAULT_GRANULARITY);
 * NbdExport e = NbdExport.builder("disk", backend).dirtyBitmaps(bitmaps).build();
 * ... // clients read qemu:dirty-bitmap:backup
 * DirtyBitmap frozen = bitmaps.checkpoint("backup");   // "backup@0" frozen, "backup" starts generation 1
 * ... // copy what frozen says, then bitmaps.remove(frozen.name())
 * bitmaps.close();                                      // clean stop: persisted, marked not in use
 * }</pre>
 *
 * <p>Persistence: the sidecar holds every bitmap and an IN_USE flag. {@link #open} loads it and
 * at once rewrites it with IN_USE set; {@link #persist} writes the current bits (IN_USE still
 * set); {@link #close} writes them with IN_USE clear. A process killed in between leaves IN_USE
 * set, and the next {@link #open} loads every bitmap as inconsistent (reads as all dirty until
 * cleared), so a crash can make a backup copy too much, never too little. Writes go to a
 * temporary file, are forced to disk, and replace the sidecar atomically.
 *
 * <p>Threads: any. {@link #mark} is lock-free (every IOThread serving the export marks at
 * request completion); the other methods take the object's lock. {@link #checkpoint} is atomic
 * at a request boundary: a mark that completes before it is in generation N; a mark that
 * overlaps it is recorded in N+1 as well (see {@link #mark}), so no write is lost from the next
 * increment, and at worst one is copied twice.
 */
public final class DirtyBitmaps implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger("io.jaio.block");
    private static final long MAGIC = 0x4a41494f424d5031L; // "JAIOBMP1"
    private static final int FLAG_IN_USE = 1;

    private final long imageSize;
    private final Path sidecar;
    /** Guarded by this. */
    private final LinkedHashMap<String, DirtyBitmap> bitmaps = new LinkedHashMap<>();
    /**
     * The bitmaps {@link #mark} visits: republished (volatile write, under the lock) after every
     * change of the set; pairs with the volatile reads in {@link #mark}.
     */
    private volatile DirtyBitmap[] marking = new DirtyBitmap[0];
    private boolean closed;

    private DirtyBitmaps(long imageSize, Path sidecar) {
        this.imageSize = imageSize;
        this.sidecar = sidecar;
    }

    /**
     * Bitmaps kept in memory only. Any thread.
     *
     * @param imageSize the image size every bitmap covers
     * @return an empty set of bitmaps
     */
    public static DirtyBitmaps inMemory(long imageSize) {
        if (imageSize < 0) {
            throw new IllegalArgumentException("image size must be >= 0");
        }
        return new DirtyBitmaps(imageSize, null);
    }

    /**
     * The sidecar path QEMU-style tooling expects beside {@code image}: {@code IMAGE.bitmaps}. Any thread.
     *
     * @param image the raw image's path
     * @return the sidecar's path
     */
    public static Path sidecarFor(Path image) {
        return image.resolveSibling(image.getFileName() + ".bitmaps");
    }

    /**
     * Loads the bitmaps in {@code sidecar} (none if it does not exist) for an image of
     * {@code imageSize} bytes and marks the file in use. Bitmaps of a file left in use (a
     * crash) are loaded as inconsistent; so are, with a warning, bitmaps written for another
     * image size (the image was resized outside the daemon), now sized for {@code imageSize}.
     * Any thread (before the export serves).
     *
     * @param sidecar the sidecar file
     * @param imageSize the image size every bitmap covers
     * @return the loaded bitmaps; close them for a clean stop
     * @throws UncheckedIOException if the file cannot be read or written, or is not a sidecar
     */
    public static DirtyBitmaps open(Path sidecar, long imageSize) {
        DirtyBitmaps b = new DirtyBitmaps(imageSize, Objects.requireNonNull(sidecar, "sidecar"));
        if (Files.exists(sidecar)) {
            b.load();
        }
        b.write(true);
        return b;
    }

    /** Republishes the marking snapshot. Under the lock. */
    private void publish() {
        marking = bitmaps.values().toArray(DirtyBitmap[]::new);
    }

    private void load() {
        try (DataInputStream in = new DataInputStream(new java.io.BufferedInputStream(Files.newInputStream(sidecar)))) {
            if (in.readLong() != MAGIC) {
                throw new IOException("not a jaio bitmap sidecar (bad magic)");
            }
            int flags = in.readInt();
            long size = in.readLong();
            int count = in.readInt();
            boolean crashed = (flags & FLAG_IN_USE) != 0;
            if (crashed) {
                LOG.log(System.Logger.Level.WARNING, "{0} was in use when its process ended: its {1} bitmap(s) are"
                        + " inconsistent (all dirty) until cleared", sidecar, count);
            }
            for (int i = 0; i < count; i++) {
                String name = in.readUTF();
                int granularity = in.readInt();
                boolean enabled = in.readBoolean();
                long generation = in.readLong();
                int len = in.readInt();
                byte[] data = in.readNBytes(len);
                if (data.length != len) {
                    throw new IOException("truncated bitmap '" + name + "'");
                }
                DirtyBitmap bm = new DirtyBitmap(name, imageSize, granularity);
                boolean resized = size != imageSize;
                if (resized) {
                    // The image changed size behind the sidecar's back: its bits cannot say what
                    // changed, but dropping the bitmap would make the next incremental backup
                    // fail (or, recreated, copy too little). Kept, as inconsistent: all dirty.
                    LOG.log(System.Logger.Level.WARNING, "{0}: bitmap ''{1}'' is for {2} bytes, the image has {3}:"
                            + " kept as inconsistent (all dirty) until cleared", sidecar, name, size, imageSize);
                } else if (len != bm.words().byteSize()) {
                    throw new IOException("bitmap '" + name + "' has " + len + " bytes, expected "
                            + bm.words().byteSize());
                } else {
                    MemorySegment.copy(data, 0, bm.words(), ValueLayout.JAVA_BYTE, 0, len);
                }
                bm.setEnabled(enabled);
                bm.setGeneration(generation);
                bm.setInconsistent(crashed || resized);
                bitmaps.put(name, bm);
            }
            publish();
        } catch (IOException | IllegalArgumentException e) {
            throw new UncheckedIOException(new IOException("reading bitmap sidecar " + sidecar + ": " + e.getMessage(),
                    e));
        }
    }

    /** Writes every bitmap (atomically replacing the sidecar), with the IN_USE flag as given. */
    private synchronized void write(boolean inUse) {
        if (sidecar == null) {
            return;
        }
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.writeLong(MAGIC);
            out.writeInt(inUse ? FLAG_IN_USE : 0);
            out.writeLong(imageSize);
            out.writeInt(bitmaps.size());
            for (DirtyBitmap b : bitmaps.values()) {
                out.writeUTF(b.name());
                out.writeInt(b.granularity());
                out.writeBoolean(b.isEnabled());
                out.writeLong(b.generation());
                // An inconsistent bitmap stays so on disk: its bits are all set.
                byte[] data = b.words().toArray(ValueLayout.JAVA_BYTE);
                if (b.isInconsistent()) {
                    java.util.Arrays.fill(data, (byte) -1);
                }
                out.writeInt(data.length);
                out.write(data);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Path tmp = sidecar.resolveSibling(sidecar.getFileName() + ".tmp");
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer buf = ByteBuffer.wrap(bytes.toByteArray());
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
                ch.force(true);
            }
            try {
                Files.move(tmp, sidecar, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, sidecar, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(new IOException("writing bitmap sidecar " + sidecar + ": " + e.getMessage(),
                    e));
        }
    }

    /** {@return the image size every bitmap covers} */
    public long imageSize() {
        return imageSize;
    }

    /** {@return the sidecar file, or null for in-memory bitmaps} */
    public Path sidecar() {
        return sidecar;
    }

    /**
     * Adds an empty, enabled bitmap.
     *
     * @param name the new bitmap's name
     * @param granularity bytes per bit (e.g. {@link DirtyBitmap#DEFAULT_GRANULARITY})
     * @return the bitmap
     * @throws IllegalArgumentException if the name is taken or invalid, or the granularity is bad
     */
    public synchronized DirtyBitmap add(String name, int granularity) {
        checkOpen();
        if (bitmaps.containsKey(name)) {
            throw new IllegalArgumentException("bitmap '" + name + "' exists");
        }
        DirtyBitmap b = new DirtyBitmap(name, imageSize, granularity);
        bitmaps.put(name, b);
        publish();
        return b;
    }

    /**
     * The bitmap called {@code name}.
     *
     * @param name a bitmap name
     * @return the bitmap, or null
     */
    public synchronized DirtyBitmap get(String name) {
        return bitmaps.get(name);
    }

    /** {@return every bitmap, in creation order} */
    public synchronized List<DirtyBitmap> list() {
        return List.copyOf(bitmaps.values());
    }

    private DirtyBitmap require(String name) {
        DirtyBitmap b = bitmaps.get(name);
        if (b == null) {
            throw new IllegalArgumentException("no bitmap '" + name + "'");
        }
        return b;
    }

    /**
     * Removes a bitmap (sessions that selected it keep reading their copy).
     *
     * @param name the bitmap's name
     * @throws IllegalArgumentException if there is no such bitmap
     * @throws IllegalStateException once closed
     */
    public synchronized void remove(String name) {
        checkOpen();
        bitmaps.remove(require(name).name());
        publish();
    }

    /**
     * Clears a bitmap (and ends its inconsistency).
     *
     * @param name the bitmap's name
     * @throws IllegalArgumentException if there is no such bitmap
     * @throws IllegalStateException once closed
     */
    public synchronized void clear(String name) {
        checkOpen();
        require(name).clear();
    }

    /**
     * Starts recording writes in a bitmap.
     *
     * @param name the bitmap's name
     * @throws IllegalArgumentException if there is no such bitmap
     * @throws IllegalStateException once closed
     */
    public synchronized void enable(String name) {
        checkOpen();
        require(name).setEnabled(true);
    }

    /**
     * Stops recording writes in a bitmap.
     *
     * @param name the bitmap's name
     * @throws IllegalArgumentException if there is no such bitmap
     * @throws IllegalStateException once closed
     */
    public synchronized void disable(String name) {
        checkOpen();
        require(name).setEnabled(false);
    }

    /**
     * ORs every source into {@code target} (sizes and granularities must match).
     *
     * @param target the bitmap to merge into
     * @param sources the bitmaps to merge from
     * @throws IllegalArgumentException if a bitmap is missing or they do not match
     * @throws IllegalStateException once closed
     */
    public synchronized void merge(String target, List<String> sources) {
        checkOpen();
        DirtyBitmap t = require(target);
        List<DirtyBitmap> src = new ArrayList<>();
        for (String s : sources) {
            src.add(require(s));
        }
        for (DirtyBitmap s : src) {
            t.merge(s);
        }
    }

    /**
     * Freezes generation N of {@code name} and starts N+1, in one step: the bitmap is renamed
     * {@code name@N} and disabled (what changed up to now, for a backup to copy), and a new
     * empty enabled bitmap {@code name} of generation N+1 records every write from the next
     * request on. Returns the frozen bitmap.
     *
     * @param name the bitmap to checkpoint
     * @return the frozen bitmap, {@code name@N}
     * @throws IllegalArgumentException if there is no such bitmap or {@code name@N} exists
     */
    public synchronized DirtyBitmap checkpoint(String name) {
        checkOpen();
        DirtyBitmap cur = require(name);
        String frozenName = name + "@" + cur.generation();
        if (bitmaps.containsKey(frozenName)) {
            throw new IllegalArgumentException("bitmap '" + frozenName + "' exists; remove it first");
        }
        // The current object itself is frozen (a mark already past its enabled check lands in
        // it, not in a stale copy); the new one is published below before this returns.
        DirtyBitmap next = new DirtyBitmap(name, imageSize, cur.granularity());
        next.setEnabled(cur.isEnabled());
        next.setGeneration(cur.generation() + 1);
        DirtyBitmap frozen = cur;
        // Replace in place (keeping the order), then add the frozen one.
        LinkedHashMap<String, DirtyBitmap> m = new LinkedHashMap<>();
        for (Map.Entry<String, DirtyBitmap> e : bitmaps.entrySet()) {
            m.put(e.getKey(), e.getKey().equals(name) ? next : e.getValue());
        }
        m.put(frozenName, frozen);
        bitmaps.clear();
        bitmaps.putAll(m);
        // Publish the set with `next` first, then disable `cur`: a mark that finds `cur`
        // disabled (volatile read) then reads the new set in mark() and marks `next`.
        publish();
        frozen.setEnabled(false);
        frozen.rename(frozenName);
        return frozen;
    }

    /**
     * Records a write, trim or write-zeroes of {@code [offset, offset + length)} in every
     * enabled bitmap. Any thread, lock-free. If the set of bitmaps changed while it marked (a
     * checkpoint), it marks the new set too: a mark racing with a checkpoint always reaches
     * generation N+1.
     *
     * @param offset start of the write
     * @param length its length in bytes
     */
    public void mark(long offset, long length) {
        DirtyBitmap[] seen = marking; // volatile read: pairs with publish()
        for (;;) {
            for (DirtyBitmap b : seen) {
                b.mark(offset, length);
            }
            DirtyBitmap[] now = marking;
            if (now == seen) {
                return;
            }
            seen = now;
        }
    }

    /** Writes the bitmaps to the sidecar (still marked in use). No-op in memory. */
    public synchronized void persist() {
        checkOpen();
        write(true);
    }

    /** Clean stop: writes the bitmaps with the in-use mark cleared. Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        write(false);
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("dirty bitmaps of " + (sidecar == null ? "an in-memory image" : sidecar)
                    + " are closed");
        }
    }

    @Override
    public String toString() {
        return "DirtyBitmaps[" + bitmaps.keySet() + (sidecar == null ? "" : ", " + sidecar) + "]";
    }
}
