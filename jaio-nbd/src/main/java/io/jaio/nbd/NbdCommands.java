package io.jaio.nbd;

import io.jaio.block.BlockBackend;
import io.jaio.block.BlockException;
import io.jaio.block.DirtyBitmap;
import io.jaio.block.DirtyBitmaps;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * The transmission phase without sockets: {@link #check} decides whether a decoded request may
 * run (and which NBD error answers it if not), {@link #execute} runs a checked request against
 * the export's backend and builds the {@link NbdReply}. The connection only moves bytes.
 *
 * <p>Threads: {@link #check} any thread (pure); {@link #execute} and {@link #errorReply} in the
 * server context's home thread, inside the request's coroutine (backend calls suspend it).
 */
final class NbdCommands {
    private NbdCommands() {}

    private static final System.Logger LOG = System.getLogger("io.jaio.nbd");

    /** Most content chunks in a sparse structured READ reply; the rest is sent as data. */
    static final int MAX_READ_CHUNKS = 64;
    /**
     * Dense READs of at least this many bytes from a backend with a {@link BlockBackend#sendFileFd}
     * are sent from the file ({@code sendfile(2)}: the kernel passes page references to the
     * socket) instead of being copied into a buffer and from it into the socket. Smaller ones are
     * not: the copy saved is smaller than the system call that a gathering write of several
     * replies would have shared.
     */
    static final int SENDFILE_MIN = 32 * 1024;
    /** Most descriptors in a BLOCK_STATUS reply (the client asks again for the rest). */
    static final int MAX_DESCRIPTORS = 256;
    /**
     * Largest refused WRITE payload that is read and thrown away so the connection survives (as
     * nbdkit does); a refused WRITE announcing more ends the connection after its reply.
     */
    static final long MAX_SKIPPED_PAYLOAD = 2L * Nbd.MAX_PAYLOAD;

    private static final int FLAGS_KNOWN = Nbd.CMD_FLAG_FUA | Nbd.CMD_FLAG_NO_HOLE | Nbd.CMD_FLAG_DF
            | Nbd.CMD_FLAG_REQ_ONE | Nbd.CMD_FLAG_FAST_ZERO;

    /**
     * The answer to a request before it runs: OK, or an NBD error with a message for the
     * client; {@code disconnect} means the connection must end after the reply (a WRITE whose
     * payload is too large even to skip). A refused WRITE's payload is still read (and
     * dropped) unless {@code disconnect}.
     */
    record Verdict(int error, String message, boolean disconnect) {
        static final Verdict OK = new Verdict(0, null, false);

        boolean ok() {
            return error == 0;
        }
    }

    private static Verdict reject(int error, String message) {
        return new Verdict(error, message, false);
    }

    static boolean knownCommand(int type) {
        return type >= Nbd.CMD_READ && type <= Nbd.CMD_BLOCK_STATUS;
    }

    /**
     * Validates {@code r} against the session, in this order: a payload over 32 MiB (EINVAL;
     * over 64 MiB the connection ends too); unknown command (EINVAL); with extended headers, a
     * WRITE without {@link Nbd#CMD_FLAG_PAYLOAD_LEN} or another command with a payload (EINVAL);
     * server shutting down (ESHUTDOWN); write to
     * a read-only export (EPERM); unknown flags or flags not valid for the command (EINVAL);
     * FLUSH with a non-zero offset or length (EINVAL); BLOCK_STATUS without structured replies,
     * without any metadata context selected by NBD_OPT_SET_META_CONTEXT (any one will do:
     * {@code base:allocation}, {@code qemu:allocation-depth} or a {@code qemu:dirty-bitmap:};
     * proto.md: a client MUST NOT send it unless it selected a nonzero number of contexts, and
     * its reply must be structured), or with length 0 (EINVAL); READ/CACHE over 32 MiB
     * (EINVAL); range past the end of the export (ENOSPC for WRITE and WRITE_ZEROES, EINVAL
     * otherwise); offset or length not a multiple of the minimum block size (EINVAL). DISC is
     * always OK.
     */
    static Verdict check(NbdSession s, NbdRequest r, boolean shuttingDown) {
        int type = r.type();
        if (type == Nbd.CMD_DISC) {
            return Verdict.OK;
        }
        long len = r.length(); // unsigned: 64 bits with extended headers
        long payload = r.payloadLength();
        if (Long.compareUnsigned(payload, Nbd.MAX_PAYLOAD) > 0) {
            String what = type == Nbd.CMD_WRITE ? "write" : Nbd.commandName(type) + " payload";
            return new Verdict(Nbd.EINVAL, what + " of " + Long.toUnsignedString(payload)
                    + " bytes exceeds the maximum of " + Nbd.MAX_PAYLOAD,
                    Long.compareUnsigned(payload, MAX_SKIPPED_PAYLOAD) > 0);
        }
        if (!knownCommand(type)) {
            return reject(Nbd.EINVAL, "unknown command " + type);
        }
        if (r.extended()) {
            boolean hasPayload = (r.flags() & Nbd.CMD_FLAG_PAYLOAD_LEN) != 0;
            if (type == Nbd.CMD_WRITE && !hasPayload) {
                return reject(Nbd.EINVAL, "NBD_CMD_WRITE needs NBD_CMD_FLAG_PAYLOAD_LEN with extended headers");
            }
            if (type != Nbd.CMD_WRITE && hasPayload) {
                return reject(Nbd.EINVAL, Nbd.commandName(type) + " takes no payload");
            }
        }
        if (shuttingDown) {
            return reject(Nbd.ESHUTDOWN, "server is shutting down");
        }
        NbdExport e = s.export();
        boolean writes = type == Nbd.CMD_WRITE || type == Nbd.CMD_TRIM || type == Nbd.CMD_WRITE_ZEROES;
        if (writes && e.isReadOnly()) {
            return reject(Nbd.EPERM, "export is read-only");
        }
        int flags = r.flags();
        if ((flags & ~(r.extended() ? FLAGS_KNOWN | Nbd.CMD_FLAG_PAYLOAD_LEN : FLAGS_KNOWN)) != 0) {
            return reject(Nbd.EINVAL, "unknown command flags 0x" + Integer.toHexString(flags));
        }
        if ((flags & (Nbd.CMD_FLAG_NO_HOLE | Nbd.CMD_FLAG_FAST_ZERO)) != 0 && type != Nbd.CMD_WRITE_ZEROES) {
            return reject(Nbd.EINVAL, "NO_HOLE and FAST_ZERO are valid only with NBD_CMD_WRITE_ZEROES");
        }
        if ((flags & Nbd.CMD_FLAG_DF) != 0 && (type != Nbd.CMD_READ || !s.structuredReplies())) {
            return reject(Nbd.EINVAL, "DF is valid only with NBD_CMD_READ and structured replies");
        }
        if ((flags & Nbd.CMD_FLAG_REQ_ONE) != 0 && type != Nbd.CMD_BLOCK_STATUS) {
            return reject(Nbd.EINVAL, "REQ_ONE is valid only with NBD_CMD_BLOCK_STATUS");
        }
        switch (type) {
            case Nbd.CMD_FLUSH -> {
                if (r.offset() != 0 || len != 0) {
                    return reject(Nbd.EINVAL, "NBD_CMD_FLUSH needs offset and length 0");
                }
                return Verdict.OK;
            }
            case Nbd.CMD_BLOCK_STATUS -> {
                if (!s.structuredReplies() || !s.anyMetaContext()) {
                    return reject(Nbd.EINVAL, "NBD_CMD_BLOCK_STATUS without a metadata context negotiated");
                }
                if (len == 0) {
                    return reject(Nbd.EINVAL, "NBD_CMD_BLOCK_STATUS needs a non-zero length");
                }
            }
            case Nbd.CMD_READ, Nbd.CMD_CACHE -> {
                if (Long.compareUnsigned(len, Nbd.MAX_PAYLOAD) > 0) {
                    return reject(Nbd.EINVAL, Nbd.commandName(type) + " of " + Long.toUnsignedString(len)
                            + " bytes exceeds the maximum of " + Nbd.MAX_PAYLOAD);
                }
            }
            default -> {
                // WRITE (size checked above), TRIM, WRITE_ZEROES: no size limit of their own.
            }
        }
        long size = e.size();
        long off = r.offset();
        if (Long.compareUnsigned(off, size) > 0 || Long.compareUnsigned(len, size - off) > 0) {
            int err = type == Nbd.CMD_WRITE || type == Nbd.CMD_WRITE_ZEROES ? Nbd.ENOSPC : Nbd.EINVAL;
            return reject(err, "offset " + Long.toUnsignedString(off) + " + length " + Long.toUnsignedString(len)
                    + " is beyond the end of the export (" + size + " bytes)");
        }
        int min = e.minBlockSize();
        if (min > 1 && ((off | len) & (min - 1)) != 0) {
            return reject(Nbd.EINVAL, "offset and length must be multiples of " + min);
        }
        return Verdict.OK;
    }

    /** The reply to a request rejected (or failed) with {@code error}. */
    static NbdReply errorReply(NbdSession s, NbdRequest r, int error, String message, BufferPool pool) {
        NbdReply reply = new NbdReply(pool);
        fillError(reply, s, r, error, message);
        return reply;
    }

    private static void fillError(NbdReply reply, NbdSession s, NbdRequest r, int error, String message) {
        ByteBuffer h = reply.headerSpace();
        if (s.structuredReplies() || s.extendedHeaders()) {
            NbdCodec.errorChunk(h, s.extendedHeaders(), Nbd.REPLY_FLAG_DONE, r.handle(), r.offset(), error, message);
        } else {
            NbdCodec.simpleReply(h, error, r.handle());
        }
        reply.commitHeader(h.position());
        reply.error = error;
    }

    /**
     * Runs a request that passed {@link #check} (with {@code payload} holding a WRITE's data)
     * and returns its reply; backend failures become error replies (BlockException's errno
     * mapped by {@link Nbd#errnoToNbd}, anything else EIO). Coroutine of the home thread.
     */
    static NbdReply execute(NbdSession s, NbdRequest r, MemorySegment payload, BufferPool pool) {
        NbdReply reply = new NbdReply(pool);
        BlockBackend be = s.export().backend();
        int flags = r.flags();
        boolean fua = (flags & Nbd.CMD_FLAG_FUA) != 0;
        long off = r.offset();
        long len = r.length();
        boolean writes = r.type() == Nbd.CMD_WRITE || r.type() == Nbd.CMD_TRIM || r.type() == Nbd.CMD_WRITE_ZEROES;
        try {
            switch (r.type()) {
                case Nbd.CMD_READ -> {
                    read(reply, s, r, be);
                    return reply;
                }
                case Nbd.CMD_WRITE -> {
                    if (len > 0) {
                        be.write(off, payload.asSlice(0, len), fua);
                    }
                    reply.bytes = len;
                }
                case Nbd.CMD_FLUSH -> be.flush();
                case Nbd.CMD_TRIM -> {
                    // A hint: without hole punching there is nothing to do (and nothing to persist).
                    if (len > 0 && be.canDiscard()) {
                        be.discard(off, len, fua);
                    }
                }
                case Nbd.CMD_CACHE -> {
                    // Advisory; the backend has no cache to fill. Validated, then acknowledged.
                }
                case Nbd.CMD_WRITE_ZEROES -> {
                    if (len > 0) {
                        be.writeZeroes(off, len, (flags & Nbd.CMD_FLAG_NO_HOLE) == 0,
                                (flags & Nbd.CMD_FLAG_FAST_ZERO) != 0, fua);
                    }
                }
                case Nbd.CMD_BLOCK_STATUS -> {
                    blockStatus(reply, s, r, be);
                    return reply;
                }
                default -> throw new IllegalArgumentException("execute of unchecked command " + r);
            }
            ByteBuffer h = reply.headerSpace();
            if (s.extendedHeaders()) {
                NbdCodec.noneChunk(h, true, r.handle(), r.offset()); // simple replies are not allowed
            } else {
                NbdCodec.simpleReply(h, 0, r.handle());
            }
            reply.commitHeader(h.position());
            return reply;
        } catch (BlockException ex) {
            int err = Nbd.errnoToNbd(ex.errno(), flags);
            reply.reset();
            fillError(reply, s, r, err, ex.getMessage());
            return reply;
        } catch (RuntimeException ex) {
            LOG.log(System.Logger.Level.WARNING, "backend of export '" + s.export().name() + "' failed " + r, ex);
            reply.reset();
            fillError(reply, s, r, Nbd.EIO, "internal error: " + ex);
            return reply;
        } finally {
            // At completion, success or not (a failed write may have changed some bytes): a
            // checkpoint taken while the write was in flight puts it in the next generation,
            // which the next backup copies.
            DirtyBitmaps bitmaps = s.export().dirtyBitmaps();
            if (writes && bitmaps != null && len > 0) {
                bitmaps.mark(off, len);
            }
        }
    }

    // ---- READ ----

    private static void read(NbdReply reply, NbdSession s, NbdRequest r, BlockBackend be) {
        int len = (int) r.length(); // <= 32 MiB, checked
        long off = r.offset();
        boolean ext = s.extendedHeaders();
        if (!s.structuredReplies() && !ext) {
            ByteBuffer h = reply.headerSpace();
            NbdCodec.simpleReply(h, 0, r.handle());
            reply.commitHeader(h.position());
            if (len > 0) {
                addData(reply, be, off, len);
            }
            reply.bytes = len;
            return;
        }
        if (len == 0) {
            ByteBuffer h = reply.headerSpace();
            NbdCodec.noneChunk(h, ext, r.handle(), off);
            reply.commitHeader(h.position());
            return;
        }
        boolean dense = (r.flags() & Nbd.CMD_FLAG_DF) != 0 || !s.export().sparseReads()
                || len < s.export().sparseReadMinimum();
        long[] runLen = dense ? null : new long[MAX_READ_CHUNKS]; // a dense read needs no run table
        boolean[] runHole = dense ? null : new boolean[MAX_READ_CHUNKS];
        int runs = dense ? 0 : readRuns(be, off, len, runLen, runHole);
        if (runs == 0 || (runs == 1 && !runHole[0])) {
            ByteBuffer h = reply.headerSpace();
            NbdCodec.offsetDataPrefix(h, ext, Nbd.REPLY_FLAG_DONE, r.handle(), off, off, len);
            reply.commitHeader(h.position());
            addData(reply, be, off, len);
            reply.bytes = len;
            return;
        }
        // Sparse: read every data run into its place in one buffer, then one chunk per run.
        MemorySegment data = null;
        long pos = 0;
        for (int i = 0; i < runs; i++) {
            if (!runHole[i]) {
                if (data == null) {
                    data = reply.dataBuffer(len);
                }
                be.read(off + pos, data.asSlice(pos, runLen[i]));
            }
            pos += runLen[i];
        }
        pos = 0;
        for (int i = 0; i < runs; i++) {
            int flags = i == runs - 1 ? Nbd.REPLY_FLAG_DONE : 0;
            ByteBuffer h = reply.headerSpace();
            if (runHole[i]) {
                NbdCodec.offsetHole(h, ext, flags, r.handle(), off, off + pos, (int) runLen[i]);
                reply.commitHeader(h.position());
            } else {
                NbdCodec.offsetDataPrefix(h, ext, flags, r.handle(), off, off + pos, (int) runLen[i]);
                reply.commitHeader(h.position());
                reply.add(data.asSlice(pos, runLen[i]));
            }
            pos += runLen[i];
        }
        reply.bytes = len;
    }

    /**
     * Appends {@code len} bytes of the image at {@code off} after the header just committed: a
     * file range sent with sendfile when the backend offers one and the read is large enough,
     * else a data buffer read now (a failed read throws, and the caller replaces the reply).
     */
    private static void addData(NbdReply reply, BlockBackend be, long off, int len) {
        int fd = len >= SENDFILE_MIN ? be.sendFileFd() : -1;
        if (fd >= 0) {
            reply.addFile(fd, off, len);
        } else {
            MemorySegment data = reply.dataBuffer(len);
            be.read(off, data);
            reply.add(data);
        }
    }

    /**
     * Splits {@code [off, off + len)} into runs that read as zeroes (holes) and runs of data,
     * alternating, covering the whole range: at most {@link #MAX_READ_CHUNKS} runs, the last one
     * taking whatever remains as data. Extents the backend reports as holes not known to read
     * as zeroes count as data. A failing block-status query makes the rest data.
     */
    static int readRuns(BlockBackend be, long off, long len, long[] runLen, boolean[] runHole) {
        int n = 0;
        long pos = 0;
        int max = runLen.length;
        try {
            outer:
            while (pos < len && n < max - 1) {
                List<BlockBackend.Extent> extents = be.blockStatus(off + pos, len - pos);
                if (extents == null || extents.isEmpty()) {
                    break;
                }
                long before = pos;
                for (BlockBackend.Extent x : extents) {
                    long l = Math.min(x.length(), len - pos);
                    if (l <= 0) {
                        break;
                    }
                    boolean hole = x.zero();
                    if (n > 0 && runHole[n - 1] == hole) {
                        runLen[n - 1] += l;
                    } else {
                        if (n == max - 1) {
                            break outer;
                        }
                        runLen[n] = l;
                        runHole[n] = hole;
                        n++;
                    }
                    pos += l;
                    if (pos == len) {
                        break outer;
                    }
                }
                if (pos == before) {
                    break; // the backend made no progress: treat the rest as data
                }
            }
        } catch (BlockException ex) {
            LOG.log(System.Logger.Level.DEBUG, "block status for a sparse read failed: {0}", ex.getMessage());
        }
        if (pos < len) {
            if (n > 0 && !runHole[n - 1]) {
                runLen[n - 1] += len - pos;
            } else {
                runLen[n] = len - pos;
                runHole[n] = false;
                n++;
            }
        }
        return n;
    }

    // ---- BLOCK_STATUS ----

    /**
     * Answers BLOCK_STATUS with one chunk (BLOCK_STATUS, or BLOCK_STATUS_EXT with extended
     * headers) per selected context, encoded into the reply's data buffer:
     * {@code base:allocation} with at most {@link #MAX_DESCRIPTORS} descriptors from the
     * backend; {@code qemu:allocation-depth} with one descriptor of depth 1 over the whole
     * range (a backend is a single image without a backing chain: every byte is allocated in
     * it, holes included, as QEMU reports for a raw file); each selected dirty bitmap with runs
     * of dirty (1) and clean (0) chunks. DONE on the last chunk.
     */
    private static void blockStatus(NbdReply reply, NbdSession s, NbdRequest r, BlockBackend be) {
        long off = r.offset();
        long len = r.length(); // checked: 0 < len <= size - off
        boolean ext = s.extendedHeaders();
        boolean one = (r.flags() & Nbd.CMD_FLAG_REQ_ONE) != 0;
        int size = 0;
        long[] lengths = null;
        long[] statuses = null;
        int n = 0;
        if (s.baseAllocation()) {
            int max = one ? 1 : MAX_DESCRIPTORS;
            lengths = new long[max];
            statuses = new long[max];
            n = allocation(be, off, len, lengths, statuses);
            size += NbdCodec.blockStatusChunkSize(ext, n);
        }
        if (s.allocationDepth()) {
            size += NbdCodec.blockStatusChunkSize(ext, 1);
        }
        List<NbdSession.ExportedBitmap> bitmaps = s.bitmaps();
        long[][] bl = new long[bitmaps.size()][];
        long[][] bs = new long[bitmaps.size()][];
        int[] bn = new int[bitmaps.size()];
        for (int i = 0; i < bitmaps.size(); i++) {
            int max = one ? 1 : MAX_DESCRIPTORS;
            bl[i] = new long[max];
            bs[i] = new long[max];
            bn[i] = dirty(bitmaps.get(i).bitmap(), off, len, bl[i], bs[i]);
            size += NbdCodec.blockStatusChunkSize(ext, bn[i]);
        }
        MemorySegment buf = reply.dataBuffer(size);
        ByteBuffer h = buf.asByteBuffer();
        int chunks = (s.baseAllocation() ? 1 : 0) + (s.allocationDepth() ? 1 : 0) + bitmaps.size();
        if (s.baseAllocation()) {
            NbdCodec.blockStatusChunk(h, ext, --chunks == 0 ? Nbd.REPLY_FLAG_DONE : 0, r.handle(), off,
                    NbdSession.BASE_ALLOCATION_ID, lengths, statuses, n);
        }
        if (s.allocationDepth()) {
            NbdCodec.blockStatusChunk(h, ext, --chunks == 0 ? Nbd.REPLY_FLAG_DONE : 0, r.handle(), off,
                    NbdSession.ALLOCATION_DEPTH_ID, new long[] {len}, new long[] {1}, 1);
        }
        for (int i = 0; i < bitmaps.size(); i++) {
            NbdCodec.blockStatusChunk(h, ext, --chunks == 0 ? Nbd.REPLY_FLAG_DONE : 0, r.handle(), off,
                    bitmaps.get(i).id(), bl[i], bs[i], bn[i]);
        }
        reply.add(buf.asSlice(0, h.position()));
    }

    /**
     * The {@code qemu:dirty-bitmap:} descriptors of {@code [off, off + len)}: runs of dirty (1)
     * and clean (0) chunks, at most {@code lengths.length}; at least one.
     */
    private static int dirty(DirtyBitmap b, long off, long len, long[] lengths, long[] statuses) {
        int n = 0;
        long pos = 0;
        while (pos < len && n < lengths.length) {
            long l = b.runLength(off + pos, len - pos);
            if (l <= 0) {
                break; // past the bitmap's end (cannot happen: the range is inside the export)
            }
            lengths[n] = l;
            statuses[n] = b.isDirty(off + pos) ? 1 : 0;
            n++;
            pos += l;
        }
        if (n == 0) {
            lengths[0] = len;
            statuses[0] = 1; // unknown: dirty is the safe answer
            n = 1;
        }
        return n;
    }

    /**
     * Fills {@code lengths}/{@code statuses} with the {@code base:allocation} descriptors of
     * {@code [off, off + len)} (at most their length) and returns how many; at least one.
     */
    private static int allocation(BlockBackend be, long off, long len, long[] lengths, long[] statuses) {
        int max = lengths.length;
        // A compact descriptor's length is 32 bits; a compact request's length fits them.
        int n = 0;
        long covered = 0;
        List<BlockBackend.Extent> extents = be.blockStatus(off, len);
        if (extents != null) {
            for (BlockBackend.Extent x : extents) {
                long l = Math.min(x.length(), len - covered);
                if (l <= 0) {
                    break;
                }
                int status = (x.hole() ? Nbd.STATE_HOLE : 0) | (x.zero() ? Nbd.STATE_ZERO : 0);
                if (n > 0 && statuses[n - 1] == status) {
                    lengths[n - 1] += l; // the sum stays <= len
                } else {
                    if (n == max) {
                        break;
                    }
                    lengths[n] = l;
                    statuses[n] = status;
                    n++;
                }
                covered += l;
                if (covered == len) {
                    break;
                }
            }
        }
        if (n == 0) {
            // Nothing usable from the backend: status 0 (allocated, contents unknown) is always true.
            lengths[0] = len;
            statuses[0] = 0;
            n = 1;
        }
        return n;
    }
}
