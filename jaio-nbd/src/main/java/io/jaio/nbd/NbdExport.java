package io.jaio.nbd;

import io.jaio.block.BlockBackend;
import io.jaio.block.DirtyBitmaps;

import java.util.Objects;
import java.util.concurrent.atomic.AtomicLongArray;

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
    /**
     * Live request counters (see {@link Stats}): written only by the home thread of the server
     * serving this export (one writer: a plain read and a release store per add, pairing with
     * the volatile reads of {@link #stats()}), read from any thread.
     */
    private final AtomicLongArray counters = new AtomicLongArray(C_BUCKETS + LATENCY_BUCKETS);
    private static final int C_REQUESTS = 0;
    private static final int C_ERRORS = 1;
    private static final int C_READ = 2;
    private static final int C_WRITTEN = 3;
    private static final int C_LATENCY_SUM = 4;
    private static final int C_BUCKETS = 5;
    /** Latency buckets: bucket i counts requests that took at most 2^i µs; the last one, longer. */
    public static final int LATENCY_BUCKETS = 25;

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

    private void add(int i, long n) {
        counters.setRelease(i, counters.getPlain(i) + n);
    }

    /**
     * Counts one answered request. The home thread of the server serving this export only.
     *
     * @param type the NBD command; payload bytes count for READ and WRITE only, as in {@link NbdStats}
     */
    void requestDone(int type, int error, long bytes, long latencyNs) {
        add(C_REQUESTS, 1);
        if (error != 0) {
            add(C_ERRORS, 1);
        } else if (type == Nbd.CMD_READ) {
            add(C_READ, bytes);
        } else if (type == Nbd.CMD_WRITE) {
            add(C_WRITTEN, bytes);
        }
        long ns = Math.max(0, latencyNs);
        add(C_LATENCY_SUM, ns);
        long us = ns / 1000;
        int bucket = us <= 1 ? 0 : Math.min(LATENCY_BUCKETS - 1, 64 - Long.numberOfLeadingZeros(us - 1));
        add(C_BUCKETS + bucket, 1);
    }

    /** A snapshot of the request counters. Any thread. */
    public Stats stats() {
        long[] b = new long[LATENCY_BUCKETS];
        for (int i = 0; i < b.length; i++) {
            b[i] = counters.get(C_BUCKETS + i);
        }
        return new Stats(counters.get(C_REQUESTS), counters.get(C_ERRORS), counters.get(C_READ),
                counters.get(C_WRITTEN), counters.get(C_LATENCY_SUM), b);
    }

    /**
     * Request counters of one export on one server: requests answered, those answered with an
     * error, payload bytes read and written, the sum of latencies (header received to reply
     * written) and their histogram ({@link #latencyBucketUpperNs} bounds).
     */
    public record Stats(long requests, long errors, long bytesRead, long bytesWritten, long latencySumNs,
                        long[] latencyBuckets) {
        /** The upper bound of latency bucket {@code i} in ns (Long.MAX_VALUE for the last). */
        public static long latencyBucketUpperNs(int i) {
            return i == LATENCY_BUCKETS - 1 ? Long.MAX_VALUE : (1L << i) * 1000;
        }

        /** The sum of two snapshots (one export served by several servers). */
        public Stats plus(Stats o) {
            long[] b = latencyBuckets.clone();
            for (int i = 0; i < b.length; i++) {
                b[i] += o.latencyBuckets[i];
            }
            return new Stats(requests + o.requests, errors + o.errors, bytesRead + o.bytesRead,
                    bytesWritten + o.bytesWritten, latencySumNs + o.latencySumNs, b);
        }

        /** No requests. */
        public static Stats empty() {
            return new Stats(0, 0, 0, 0, 0, new long[LATENCY_BUCKETS]);
        }
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
