package io.jaio.nbd;

import io.jaio.block.BlockBackend;
import io.jaio.block.DirtyBitmaps;

import java.util.Objects;

/**
 * One export of an {@link NbdServer}: a name clients ask for, a description shown by
 * {@code NBD_OPT_LIST} and {@code NBD_OPT_INFO}, a {@link BlockBackend}, and its policy
 * (read-only, multi-conn, sparse reads). Immutable; any thread.
 *
 * <pre>{@code
 * NbdExport disk = NbdExport.builder("disk0", backend).description("scratch disk").build();
 * }</pre>
 *
 * <p>Transmission flags: HAS_FLAGS, SEND_FLUSH, SEND_FUA and SEND_CACHE always; READ_ONLY for a
 * read-only export, otherwise SEND_TRIM, SEND_WRITE_ZEROES and SEND_FAST_ZERO; CAN_MULTI_CONN
 * unless turned off (every connection shares the one backend, so a flush is visible to all of
 * them, which is what the flag promises); SEND_DF once the client negotiated structured
 * replies. Structured READs of at least 64 KiB send the holes the backend reports as
 * OFFSET_HOLE chunks (see {@link Builder#sparseReads}). Block sizes: minimum = the backend's alignment, preferred = max(4096, minimum),
 * maximum = 32 MiB.
 */
public final class NbdExport {
    /** Default of {@link Builder#sparseReadMinimum}. */
    public static final int DEFAULT_SPARSE_READ_MINIMUM = 64 * 1024;

    private final String name;
    private final String description;
    private final BlockBackend backend;
    private final boolean readOnly;
    private final boolean multiConn;
    private final boolean sparseReads;
    private final int sparseReadMinimum;
    private final int minBlockSize;
    private final DirtyBitmaps dirtyBitmaps;

    private NbdExport(Builder b) {
        this.dirtyBitmaps = b.dirtyBitmaps;
        this.name = b.name;
        this.description = b.description;
        this.backend = b.backend;
        this.readOnly = b.readOnly || b.backend.isReadOnly();
        this.multiConn = b.multiConn;
        this.sparseReads = b.sparseReads;
        this.sparseReadMinimum = b.sparseReadMinimum;
        int align = Math.max(1, b.backend.alignment());
        if (Integer.bitCount(align) != 1 || align > 65536) {
            throw new IllegalArgumentException("backend alignment must be a power of two up to 64 KiB, got " + align);
        }
        this.minBlockSize = align;
    }

    /** A builder for an export named {@code name} (at most 4096 UTF-8 bytes; "" is the default export). */
    public static Builder builder(String name, BlockBackend backend) {
        return new Builder(name, backend);
    }

    /** The export's name. */
    public String name() {
        return name;
    }

    /** The human-readable description ("" if none). */
    public String description() {
        return description;
    }

    /** The backend serving the export's bytes. */
    public BlockBackend backend() {
        return backend;
    }

    /** Whether writes are refused with EPERM (set here, or the backend is read-only). */
    public boolean isReadOnly() {
        return readOnly;
    }

    /** Whether CAN_MULTI_CONN is advertised. */
    public boolean isMultiConn() {
        return multiConn;
    }

    /** Whether structured READ replies describe holes with OFFSET_HOLE chunks. */
    public boolean sparseReads() {
        return sparseReads;
    }

    /** Shortest structured READ that looks for holes (shorter ones are sent as one data chunk). */
    public int sparseReadMinimum() {
        return sparseReadMinimum;
    }

    /**
     * The image's dirty bitmaps (marked by every write, trim and write-zeroes; offered as
     * {@code qemu:dirty-bitmap:NAME}), or null. Any thread (DirtyBitmaps is thread-safe).
     */
    public DirtyBitmaps dirtyBitmaps() {
        return dirtyBitmaps;
    }

    /** The export size in bytes (the backend's size). */
    public long size() {
        return backend.size();
    }

    /** The minimum block size (request alignment) advertised and enforced. */
    public int minBlockSize() {
        return minBlockSize;
    }

    /** The preferred block size advertised. */
    public int preferredBlockSize() {
        return Math.max(Nbd.PREFERRED_BLOCK_SIZE, minBlockSize);
    }

    /** The maximum READ/WRITE/CACHE length advertised and enforced. */
    public int maxBlockSize() {
        return Nbd.MAX_PAYLOAD;
    }

    /** The 16-bit transmission flags for a client that did (or did not) negotiate structured replies. */
    public int transmissionFlags(boolean structuredReplies) {
        int f = Nbd.FLAG_HAS_FLAGS | Nbd.FLAG_SEND_FLUSH | Nbd.FLAG_SEND_FUA | Nbd.FLAG_SEND_CACHE;
        if (readOnly) {
            f |= Nbd.FLAG_READ_ONLY;
        } else {
            f |= Nbd.FLAG_SEND_TRIM | Nbd.FLAG_SEND_WRITE_ZEROES | Nbd.FLAG_SEND_FAST_ZERO;
        }
        if (multiConn) {
            f |= Nbd.FLAG_CAN_MULTI_CONN;
        }
        if (structuredReplies) {
            f |= Nbd.FLAG_SEND_DF;
        }
        return f;
    }

    @Override
    public String toString() {
        return "NbdExport[" + name + (readOnly ? ", read-only" : "") + ", size=" + backend.size() + "]";
    }

    /** Options of a new export. */
    public static final class Builder {
        private final String name;
        private final BlockBackend backend;
        private String description = "";
        private boolean readOnly;
        private boolean multiConn = true;
        private boolean sparseReads = true;
        private int sparseReadMinimum = DEFAULT_SPARSE_READ_MINIMUM;
        private DirtyBitmaps dirtyBitmaps;

        private Builder(String name, BlockBackend backend) {
            this.name = Objects.requireNonNull(name, "name");
            this.backend = Objects.requireNonNull(backend, "backend");
            if (NbdCodec.utf8(name, Integer.MAX_VALUE).length > Nbd.MAX_STRING || name.indexOf('\0') >= 0) {
                throw new IllegalArgumentException("export name must be at most 4096 UTF-8 bytes without NUL");
            }
        }

        /** A description for NBD_OPT_LIST and NBD_INFO_DESCRIPTION (cut to 4096 bytes on the wire). */
        public Builder description(String description) {
            this.description = Objects.requireNonNull(description, "description");
            return this;
        }

        /** Refuse writes (EPERM) even if the backend accepts them. Default false. */
        public Builder readOnly(boolean readOnly) {
            this.readOnly = readOnly;
            return this;
        }

        /** Advertise NBD_FLAG_CAN_MULTI_CONN. Default true. */
        public Builder multiConn(boolean multiConn) {
            this.multiConn = multiConn;
            return this;
        }

        /**
         * Answer structured READs with OFFSET_HOLE chunks for the holes the backend reports
         * (one block-status query per read of at least {@link #sparseReadMinimum} bytes).
         * Default true; turn off for backends where block status is slow.
         */
        public Builder sparseReads(boolean sparseReads) {
            this.sparseReads = sparseReads;
            return this;
        }

        /**
         * Shortest READ for which holes are looked up (default 64 KiB): a short read gains
         * little from hole chunks and would pay a block-status query on every request.
         */
        public Builder sparseReadMinimum(int bytes) {
            if (bytes < 0) {
                throw new IllegalArgumentException("sparseReadMinimum must be >= 0, got " + bytes);
            }
            this.sparseReadMinimum = bytes;
            return this;
        }

        /** The image's dirty bitmaps, to mark and to offer as metadata contexts; default none. */
        public Builder dirtyBitmaps(DirtyBitmaps bitmaps) {
            if (bitmaps != null && bitmaps.imageSize() != backend.size()) {
                throw new IllegalArgumentException("dirty bitmaps cover " + bitmaps.imageSize()
                        + " bytes, the backend has " + backend.size());
            }
            this.dirtyBitmaps = bitmaps;
            return this;
        }

        public NbdExport build() {
            return new NbdExport(this);
        }
    }
}
