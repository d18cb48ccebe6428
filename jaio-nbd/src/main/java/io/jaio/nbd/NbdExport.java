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
 * OFFSET_HOLE chunks (see {@link Builder#sparseReads}). Block sizes: minimum = the backend's
 * alignment, preferred = max(4096, minimum), maximum = 32 MiB.
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
    /**
     * The server this instance is placed on, or null: claimed by NbdServer.place, released when
     * its removal ends, so the counters keep one writer. A CAS from any thread; the release
     * happens after the old server answered its last request, so the next owner's plain reads
     * of the counters follow its writes (through the removal's future or the group's lock).
     */
    private final java.util.concurrent.atomic.AtomicReference<Object> owner =
            new java.util.concurrent.atomic.AtomicReference<>();
    private static final int C_REQUESTS = 0;
    private static final int C_ERRORS = 1;
    private static final int C_READ = 2;
    private static final int C_WRITTEN = 3;
    private static final int C_LATENCY_SUM = 4;
    private static final int C_WAITS_EXECUTING = 5;
    private static final int C_WAITS_UNSENT = 6;
    private static final int C_BUCKETS = 7;
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

    /**
     * A builder for an export named {@code name}. Any thread.
     *
     * @param name the export's name: at most 4096 UTF-8 bytes, no NUL; "" is the default export
     * @param backend the backend serving the export's bytes; it stays the caller's to close
     * @return a builder with the defaults (writable unless the backend is read-only, multi-conn,
     *     sparse reads, no dirty bitmaps)
     * @throws IllegalArgumentException if the name is too long or contains NUL
     * @throws NullPointerException if {@code name} or {@code backend} is null
     */
    public static Builder builder(String name, BlockBackend backend) {
        return new Builder(name, backend);
    }

    /** {@return the export's name, as clients ask for it} Any thread. */
    public String name() {
        return name;
    }

    /** {@return the human-readable description, "" if none} Any thread. */
    public String description() {
        return description;
    }

    /** {@return the backend serving the export's bytes} Any thread. */
    public BlockBackend backend() {
        return backend;
    }

    /**
     * {@return whether writes, trims and write-zeroes are refused with EPERM} True if the
     * builder asked for it or the backend is read-only. Any thread.
     */
    public boolean isReadOnly() {
        return readOnly;
    }

    /** {@return whether {@link Nbd#FLAG_CAN_MULTI_CONN} is advertised} Any thread. */
    public boolean isMultiConn() {
        return multiConn;
    }

    /**
     * {@return whether structured READ replies describe holes with OFFSET_HOLE chunks} Reads
     * shorter than {@link #sparseReadMinimum()}, and reads with {@link Nbd#CMD_FLAG_DF}, are
     * sent as one data chunk all the same. Any thread.
     */
    public boolean sparseReads() {
        return sparseReads;
    }

    /**
     * {@return the shortest structured READ, in bytes, that looks for holes} Shorter ones are
     * sent as one data chunk. Any thread.
     */
    public int sparseReadMinimum() {
        return sparseReadMinimum;
    }

    /**
     * The image's dirty bitmaps (marked by every write, trim and write-zeroes; offered as
     * {@code qemu:dirty-bitmap:NAME}). Any thread (DirtyBitmaps is thread-safe).
     *
     * @return the bitmaps, or null if the export has none
     */
    public DirtyBitmaps dirtyBitmaps() {
        return dirtyBitmaps;
    }

    /** {@return the export size in bytes} It is the backend's size, read on every call. Any thread. */
    public long size() {
        return backend.size();
    }

    /**
     * {@return the minimum block size in bytes, advertised and enforced} It is the backend's
     * alignment: a power of two from 1 to 64 KiB; requests whose offset or length is not a
     * multiple of it fail with EINVAL. Any thread.
     */
    public int minBlockSize() {
        return minBlockSize;
    }

    /** {@return the preferred block size in bytes advertised: max(4096, minimum)} Any thread. */
    public int preferredBlockSize() {
        return Math.max(Nbd.PREFERRED_BLOCK_SIZE, minBlockSize);
    }

    /**
     * {@return the maximum READ/WRITE/CACHE length in bytes, advertised and enforced}
     * Always {@link Nbd#MAX_PAYLOAD} (32 MiB). Any thread.
     */
    public int maxBlockSize() {
        return Nbd.MAX_PAYLOAD;
    }

    /**
     * The 16-bit transmission flags to advertise (see the class comment). Any thread.
     *
     * @param structuredReplies whether the client negotiated structured replies (which adds
     *     {@link Nbd#FLAG_SEND_DF})
     * @return the flags ({@code Nbd.FLAG_*} transmission flags)
     */
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

    /** Claims this instance for {@code server}; false if another server has it. Any thread. */
    boolean claim(Object server) {
        return owner.compareAndSet(null, server) || owner.get() == server;
    }

    /** Gives up {@code server}'s claim (no-op if it has none). Any thread. */
    void release(Object server) {
        owner.compareAndSet(server, null);
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
        long us = ns / 1000 + (ns % 1000 == 0 ? 0 : 1); // rounded up: bucket i holds ns <= 2^i * 1000 only
        int bucket = us <= 1 ? 0 : Math.min(LATENCY_BUCKETS - 1, 64 - Long.numberOfLeadingZeros(us - 1));
        add(C_BUCKETS + bucket, 1);
    }

    /**
     * Counts one stop of a connection's receive loop at its read-ahead bound: {@code unsent}
     * when replies waiting for the socket reached theirs (the client is not reading its replies
     * as fast as it sends requests), else when the requests executing reached the cap. The home
     * thread of the server serving this export only.
     */
    void receiveWait(boolean unsent) {
        add(unsent ? C_WAITS_UNSENT : C_WAITS_EXECUTING, 1);
    }

    /**
     * A snapshot of the request counters. Any thread; the counters are read one by one, so a
     * snapshot taken while requests finish may be off by a request or two between fields.
     *
     * @return the counters of the requests this export answered since it was built
     */
    public Stats stats() {
        long[] b = new long[LATENCY_BUCKETS];
        for (int i = 0; i < b.length; i++) {
            b[i] = counters.get(C_BUCKETS + i);
        }
        return new Stats(counters.get(C_REQUESTS), counters.get(C_ERRORS), counters.get(C_READ),
                counters.get(C_WRITTEN), counters.get(C_LATENCY_SUM), b, counters.get(C_WAITS_EXECUTING),
                counters.get(C_WAITS_UNSENT));
    }

    /**
     * Request counters of one export on one server: requests answered, those answered with an
     * error, payload bytes read and written, the sum of latencies (header received to reply
     * written) and their histogram ({@link #latencyBucketUpperNs} bounds). Any thread.
     *
     * @param requests requests answered, DISC not included
     * @param errors requests answered with an error
     * @param bytesRead payload bytes sent by successful READs
     * @param bytesWritten payload bytes received by successful WRITEs
     * @param latencySumNs the sum of every request's latency, in ns
     * @param latencyBuckets {@link #LATENCY_BUCKETS} counts: bucket {@code i} counts the requests
     *     whose latency was at most 2^{@code i} µs
     *     ({@link #latencyBucketUpperNs latencyBucketUpperNs(i)}) and more than the previous
     *     bucket's bound; the last bucket counts every longer one
     * @param waitsExecuting times a connection stopped reading requests because as many as its
     *     cap ({@link NbdServer.Builder#maxRequestsPerConnection}) were executing: the backend
     *     is slower than the client's queue depth
     * @param waitsUnsent times a connection stopped reading requests because its replies waiting
     *     for the socket reached their bound (4 times the cap): the client sends requests faster
     *     than it reads replies
     */
    public record Stats(long requests, long errors, long bytesRead, long bytesWritten, long latencySumNs,
                        long[] latencyBuckets, long waitsExecuting, long waitsUnsent) {
        /**
         * Copies the buckets, so the snapshot cannot change behind its reader's back. Any thread.
         *
         * @throws IllegalArgumentException if there are not {@link #LATENCY_BUCKETS} buckets
         */
        public Stats {
            latencyBuckets = latencyBuckets.clone();
            if (latencyBuckets.length != LATENCY_BUCKETS) {
                throw new IllegalArgumentException("expected " + LATENCY_BUCKETS + " latency buckets, got "
                        + latencyBuckets.length);
            }
        }

        @Override
        public String toString() {
            return "Stats[requests=" + requests + ", errors=" + errors + ", bytesRead=" + bytesRead + ", bytesWritten="
                    + bytesWritten + ", latencySumNs=" + latencySumNs + ", latencyBuckets="
                    + java.util.Arrays.toString(latencyBuckets) + ", waitsExecuting=" + waitsExecuting
                    + ", waitsUnsent=" + waitsUnsent + "]";
        }

        /** Equal when every counter and every bucket is (a record compares arrays by identity). Any thread. */
        @Override
        public boolean equals(Object o) {
            return o instanceof Stats s && requests == s.requests && errors == s.errors && bytesRead == s.bytesRead
                    && bytesWritten == s.bytesWritten && latencySumNs == s.latencySumNs
                    && java.util.Arrays.equals(latencyBuckets, s.latencyBuckets)
                    && waitsExecuting == s.waitsExecuting && waitsUnsent == s.waitsUnsent;
        }

        /** Consistent with {@link #equals}: the buckets' contents count. Any thread. */
        @Override
        public int hashCode() {
            return java.util.Objects.hash(requests, errors, bytesRead, bytesWritten, latencySumNs,
                    java.util.Arrays.hashCode(latencyBuckets), waitsExecuting, waitsUnsent);
        }

        /** {@return a copy of the latency buckets} Any thread. */
        @Override
        public long[] latencyBuckets() {
            return latencyBuckets.clone();
        }

        /**
         * The upper bound of a latency bucket: 2^{@code i} µs. Any thread.
         *
         * @param i the bucket, 0 to {@link #LATENCY_BUCKETS} - 1
         * @return the bound in ns; {@link Long#MAX_VALUE} for the last bucket, which counts
         *     everything longer than the one before it
         */
        public static long latencyBucketUpperNs(int i) {
            return i == LATENCY_BUCKETS - 1 ? Long.MAX_VALUE : (1L << i) * 1000;
        }

        /**
         * The sum of two snapshots, e.g. of the instances of one export served by several
         * servers. Any thread.
         *
         * @param o the other snapshot
         * @return a new snapshot; this one and {@code o} are unchanged
         */
        public Stats plus(Stats o) {
            long[] b = latencyBuckets.clone();
            for (int i = 0; i < b.length; i++) {
                b[i] += o.latencyBuckets[i];
            }
            return new Stats(requests + o.requests, errors + o.errors, bytesRead + o.bytesRead,
                    bytesWritten + o.bytesWritten, latencySumNs + o.latencySumNs, b,
                    waitsExecuting + o.waitsExecuting, waitsUnsent + o.waitsUnsent);
        }

        /** {@return a snapshot with every counter 0} Any thread. */
        public static Stats empty() {
            return new Stats(0, 0, 0, 0, 0, new long[LATENCY_BUCKETS], 0, 0);
        }
    }

    @Override
    public String toString() {
        return "NbdExport[" + name + (readOnly ? ", read-only" : "") + ", size=" + backend.size() + "]";
    }

    /** Options of a new export. Not thread-safe: use it from one thread at a time (any thread). */
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

        /**
         * A description for NBD_OPT_LIST and NBD_INFO_DESCRIPTION (cut to 4096 UTF-8 bytes on the
         * wire). Default "".
         *
         * @param description the description; "" for none
         * @return this builder
         * @throws NullPointerException if {@code description} is null
         */
        public Builder description(String description) {
            this.description = Objects.requireNonNull(description, "description");
            return this;
        }

        /**
         * Refuse writes, trims and write-zeroes (EPERM) even if the backend accepts them; the
         * export then advertises {@link Nbd#FLAG_READ_ONLY}. Default false.
         *
         * @param readOnly whether the export is read-only
         * @return this builder
         */
        public Builder readOnly(boolean readOnly) {
            this.readOnly = readOnly;
            return this;
        }

        /**
         * Advertise {@link Nbd#FLAG_CAN_MULTI_CONN}. Default true.
         *
         * @param multiConn whether clients may use several connections to the export
         * @return this builder
         */
        public Builder multiConn(boolean multiConn) {
            this.multiConn = multiConn;
            return this;
        }

        /**
         * Answer structured READs with OFFSET_HOLE chunks for the holes the backend reports
         * (one block-status query per read of at least {@link #sparseReadMinimum} bytes).
         * Default true; turn off for backends where block status is slow.
         *
         * @param sparseReads whether READ replies describe holes
         * @return this builder
         */
        public Builder sparseReads(boolean sparseReads) {
            this.sparseReads = sparseReads;
            return this;
        }

        /**
         * Shortest READ for which holes are looked up (default 64 KiB): a short read gains
         * little from hole chunks and would pay a block-status query on every request.
         *
         * @param bytes the minimum READ length in bytes, 0 or more
         * @return this builder
         * @throws IllegalArgumentException if {@code bytes} is negative
         */
        public Builder sparseReadMinimum(int bytes) {
            if (bytes < 0) {
                throw new IllegalArgumentException("sparseReadMinimum must be >= 0, got " + bytes);
            }
            this.sparseReadMinimum = bytes;
            return this;
        }

        /**
         * The image's dirty bitmaps, to mark and to offer as metadata contexts
         * ({@code qemu:dirty-bitmap:NAME}); default none.
         *
         * @param bitmaps the bitmaps, or null for none; they stay the caller's to close
         * @return this builder
         * @throws IllegalArgumentException if the bitmaps cover a size other than the backend's
         */
        public Builder dirtyBitmaps(DirtyBitmaps bitmaps) {
            if (bitmaps != null && bitmaps.imageSize() != backend.size()) {
                throw new IllegalArgumentException("dirty bitmaps cover " + bitmaps.imageSize()
                        + " bytes, the backend has " + backend.size());
            }
            this.dirtyBitmaps = bitmaps;
            return this;
        }

        /**
         * Builds the export.
         *
         * @return the export
         * @throws IllegalArgumentException if the backend's alignment is not a power of two up
         *     to 64 KiB
         */
        public NbdExport build() {
            return new NbdExport(this);
        }
    }
}
