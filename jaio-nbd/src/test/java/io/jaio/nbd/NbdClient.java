package io.jaio.nbd;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A small blocking NBD client over a {@link SocketChannel} (Unix or TCP), a test fixture (jaio-nbd's
 * test-jar, used by jaio-daemon's tests too; the server never needs it):
 * fixed newstyle handshake with NO_ZEROES, structured replies, {@code base:allocation}, GO (or
 * EXPORT_NAME), then READ, WRITE, FLUSH, TRIM, WRITE_ZEROES, CACHE, BLOCK_STATUS and DISC.
 * Synchronous calls ({@link #read}, {@link #write}, ...) send one request and wait for its
 * reply; {@link #send} and {@link #receive} keep many requests in flight and take replies in
 * the order the server sends them. Replies are checked against the specification (chunk
 * bounds, overlap, coverage, DONE) and a malformed one throws {@link NbdProtocolException}.
 *
 * <p>Threads: not thread-safe; one thread at a time.
 */
public final class NbdClient implements AutoCloseable {

    /** An NBD error reply (the NBD error value, and the server's message if it sent one). */
    public static final class NbdError extends RuntimeException {
        private final int error;

        public NbdError(int error, String message) {
            super(Nbd.errorName(error) + (message == null || message.isEmpty() ? "" : ": " + message));
            this.error = error;
        }

        /** The NBD error value (Nbd.EINVAL, ...). */
        public int error() {
            return error;
        }
    }

    /** One block status descriptor. */
    public record Extent(long length, int flags) {}

    /**
     * A complete reply: the command it answers, the NBD error (0 on success) and message,
     * a READ's data, a BLOCK_STATUS's descriptors, and how it was sent.
     */
    public record Reply(long handle, int command, int error, String message, byte[] data, List<Extent> extents,
            boolean structured, int chunks, int holeChunks) {
        /** Throws {@link NbdError} if the reply is an error. */
        public Reply check() {
            if (error != 0) {
                throw new NbdError(error, message);
            }
            return this;
        }
    }

    /** Handshake choices. */
    public static final class Options {
        String exportName = "";
        boolean structuredReplies = true;
        boolean baseAllocation = true;
        boolean useGo = true;
        boolean noZeroes = true;
        boolean fixedNewstyle = true;

        /** The export to use ("" = default). */
        public Options exportName(String name) {
            this.exportName = Objects.requireNonNull(name);
            return this;
        }

        /** Negotiate structured replies (default true). */
        public Options structuredReplies(boolean b) {
            this.structuredReplies = b;
            return this;
        }

        /** Select base:allocation (default true; needs structured replies). */
        public Options baseAllocation(boolean b) {
            this.baseAllocation = b;
            return this;
        }

        /** End the handshake with NBD_OPT_GO (true, the default) or NBD_OPT_EXPORT_NAME. */
        public Options useGo(boolean b) {
            this.useGo = b;
            return this;
        }

        /** Set NBD_FLAG_C_NO_ZEROES (default true). */
        public Options noZeroes(boolean b) {
            this.noZeroes = b;
            return this;
        }

        /** Set NBD_FLAG_C_FIXED_NEWSTYLE (default true; false allows only EXPORT_NAME). */
        public Options fixedNewstyle(boolean b) {
            this.fixedNewstyle = b;
            return this;
        }
    }

    private final SocketChannel ch;
    private final ReplyDecoder decoder;
    private long size;
    private int transmissionFlags;
    private boolean structured;
    private boolean baseAllocation;
    private int minBlock;
    private int preferredBlock;
    private int maxBlock;
    private String exportDescription;
    private long nextHandle = 1;
    private final Map<Long, Reply> early = new HashMap<>();

    private NbdClient(SocketChannel ch) {
        this.ch = ch;
        this.decoder = new ReplyDecoder(this::readFully);
    }

    /** Connects and negotiates with the default options for {@code exportName}. */
    public static NbdClient connect(SocketAddress addr, String exportName) {
        return connect(addr, new Options().exportName(exportName));
    }

    /**
     * Connects and runs the handshake.
     *
     * @throws NbdError if the server refuses an option the handshake needs (e.g. an unknown export)
     * @throws NbdProtocolException if the server breaks the protocol
     * @throws UncheckedIOException if the connection fails
     */
    public static NbdClient connect(SocketAddress addr, Options o) {
        SocketChannel ch = open(addr);
        NbdClient c = new NbdClient(ch);
        try {
            c.handshake(o);
            return c;
        } catch (RuntimeException e) {
            c.closeQuietly();
            throw e;
        }
    }

    /** Opens a blocking socket to {@code addr} (TCP_NODELAY for TCP). */
    public static SocketChannel open(SocketAddress addr) {
        try {
            SocketChannel ch = addr instanceof UnixDomainSocketAddress ? SocketChannel.open(StandardProtocolFamily.UNIX)
                    : SocketChannel.open();
            if (addr instanceof InetSocketAddress) {
                ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
            }
            ch.connect(addr);
            return ch;
        } catch (IOException e) {
            throw new UncheckedIOException("connect to " + addr, e);
        }
    }

    /** Export names and descriptions from NBD_OPT_LIST (then NBD_OPT_ABORT). */
    public static Map<String, String> list(SocketAddress addr) {
        SocketChannel ch = open(addr);
        NbdClient c = new NbdClient(ch);
        try {
            c.greet(new Options());
            c.sendOption(Nbd.OPT_LIST, new byte[0]);
            Map<String, String> out = new java.util.LinkedHashMap<>();
            for (;;) {
                OptionReply r = c.readOptionReply(Nbd.OPT_LIST);
                if (r.type == Nbd.REP_ACK) {
                    break;
                }
                if (r.type != Nbd.REP_SERVER) {
                    throw new NbdError(Nbd.EINVAL, "NBD_OPT_LIST failed: reply type 0x" + Integer.toHexString(r.type));
                }
                ByteBuffer b = ByteBuffer.wrap(r.data);
                int n = b.getInt();
                byte[] name = new byte[n];
                b.get(name);
                byte[] desc = new byte[b.remaining()];
                b.get(desc);
                out.put(new String(name, StandardCharsets.UTF_8), new String(desc, StandardCharsets.UTF_8));
            }
            c.sendOption(Nbd.OPT_ABORT, new byte[0]);
            c.readOptionReply(Nbd.OPT_ABORT);
            return out;
        } finally {
            c.closeQuietly();
        }
    }

    // ---- handshake ----

    private void greet(Options o) {
        ByteBuffer g = ByteBuffer.allocate(Nbd.GREETING_SIZE);
        readFully(g);
        g.flip();
        if (g.getLong() != Nbd.NBDMAGIC || g.getLong() != Nbd.IHAVEOPT) {
            throw new NbdProtocolException("not an NBD newstyle server");
        }
        int hflags = Short.toUnsignedInt(g.getShort());
        int cflags = 0;
        if (o.fixedNewstyle && (hflags & Nbd.FLAG_FIXED_NEWSTYLE) != 0) {
            cflags |= Nbd.FLAG_C_FIXED_NEWSTYLE;
        }
        if (o.noZeroes && (hflags & Nbd.FLAG_NO_ZEROES) != 0) {
            cflags |= Nbd.FLAG_C_NO_ZEROES;
        }
        writeFully(ByteBuffer.allocate(4).putInt(cflags).flip());
    }

    private void handshake(Options o) {
        greet(o);
        boolean noZeroes = o.noZeroes;
        if (o.structuredReplies && o.fixedNewstyle) {
            sendOption(Nbd.OPT_STRUCTURED_REPLY, new byte[0]);
            OptionReply r = readOptionReply(Nbd.OPT_STRUCTURED_REPLY);
            structured = r.type == Nbd.REP_ACK;
            if (structured && o.baseAllocation) {
                sendOption(Nbd.OPT_SET_META_CONTEXT,
                        NbdCodec.metaContextPayload(o.exportName, Nbd.CONTEXT_BASE_ALLOCATION));
                for (;;) {
                    r = readOptionReply(Nbd.OPT_SET_META_CONTEXT);
                    if (r.type == Nbd.REP_META_CONTEXT) {
                        String name = new String(r.data, 4, r.data.length - 4, StandardCharsets.UTF_8);
                        baseAllocation |= name.equals(Nbd.CONTEXT_BASE_ALLOCATION);
                        continue;
                    }
                    if ((r.type & Nbd.REP_FLAG_ERROR) != 0) {
                        throw new NbdError(Nbd.EINVAL, "NBD_OPT_SET_META_CONTEXT failed: " + r.message());
                    }
                    break;
                }
            }
        }
        if (o.useGo && o.fixedNewstyle) {
            sendOption(Nbd.OPT_GO, NbdCodec.infoPayload(o.exportName, Nbd.INFO_BLOCK_SIZE, Nbd.INFO_DESCRIPTION));
            boolean gotExport = false;
            for (;;) {
                OptionReply r = readOptionReply(Nbd.OPT_GO);
                if (r.type == Nbd.REP_ACK) {
                    break;
                }
                if ((r.type & Nbd.REP_FLAG_ERROR) != 0) {
                    throw new NbdError(Nbd.EINVAL, "NBD_OPT_GO failed (reply 0x" + Integer.toHexString(r.type) + "): "
                            + r.message());
                }
                if (r.type != Nbd.REP_INFO || r.data.length < 2) {
                    throw new NbdProtocolException("unexpected reply to NBD_OPT_GO: 0x" + Integer.toHexString(r.type));
                }
                ByteBuffer b = ByteBuffer.wrap(r.data);
                int info = Short.toUnsignedInt(b.getShort());
                switch (info) {
                    case Nbd.INFO_EXPORT -> {
                        if (r.data.length != 12) {
                            throw new NbdProtocolException("NBD_INFO_EXPORT of " + r.data.length + " bytes");
                        }
                        size = b.getLong();
                        transmissionFlags = Short.toUnsignedInt(b.getShort());
                        gotExport = true;
                    }
                    case Nbd.INFO_BLOCK_SIZE -> {
                        if (r.data.length != 14) {
                            throw new NbdProtocolException("NBD_INFO_BLOCK_SIZE of " + r.data.length + " bytes");
                        }
                        minBlock = b.getInt();
                        preferredBlock = b.getInt();
                        maxBlock = b.getInt();
                    }
                    case Nbd.INFO_DESCRIPTION -> exportDescription = new String(r.data, 2, r.data.length - 2,
                            StandardCharsets.UTF_8);
                    default -> { } // ignore what we did not ask for
                }
            }
            if (!gotExport) {
                throw new NbdProtocolException("NBD_OPT_GO succeeded without NBD_INFO_EXPORT");
            }
        } else {
            byte[] name = o.exportName.getBytes(StandardCharsets.UTF_8);
            ByteBuffer b = ByteBuffer.allocate(Nbd.OPTION_HEADER_SIZE + name.length);
            NbdCodec.option(b, Nbd.OPT_EXPORT_NAME, name);
            writeFully(b.flip());
            ByteBuffer r = ByteBuffer.allocate(10 + (noZeroes ? 0 : 124));
            readFully(r);
            r.flip();
            size = r.getLong();
            transmissionFlags = Short.toUnsignedInt(r.getShort());
        }
        if ((transmissionFlags & Nbd.FLAG_HAS_FLAGS) == 0) {
            throw new NbdProtocolException("transmission flags without NBD_FLAG_HAS_FLAGS");
        }
        decoder.structured = structured;
    }

    private record OptionReply(int option, int type, byte[] data) {
        String message() {
            return new String(data, StandardCharsets.UTF_8);
        }
    }

    private void sendOption(int option, byte[] payload) {
        ByteBuffer b = ByteBuffer.allocate(Nbd.OPTION_HEADER_SIZE + payload.length);
        NbdCodec.option(b, option, payload);
        writeFully(b.flip());
    }

    private OptionReply readOptionReply(int option) {
        ByteBuffer h = ByteBuffer.allocate(Nbd.OPTION_REPLY_HEADER_SIZE);
        readFully(h);
        h.flip();
        long magic = h.getLong();
        int opt = h.getInt();
        int type = h.getInt();
        int len = h.getInt();
        if (magic != Nbd.REPLY_MAGIC || opt != option) {
            throw new NbdProtocolException(String.format("bad option reply: magic 0x%x, option %d (sent %d)", magic,
                    opt, option));
        }
        if (len < 0 || len > 16 << 20) {
            throw new NbdProtocolException("option reply of " + Integer.toUnsignedString(len) + " bytes");
        }
        ByteBuffer d = ByteBuffer.allocate(len);
        readFully(d);
        return new OptionReply(opt, type, d.array());
    }

    // ---- what was negotiated ----

    /** The export size. */
    public long size() {
        return size;
    }

    /** The transmission flags the server sent. */
    public int transmissionFlags() {
        return transmissionFlags;
    }

    /** Whether structured replies were negotiated. */
    public boolean structuredReplies() {
        return structured;
    }

    /** Whether base:allocation was selected (BLOCK_STATUS may be used). */
    public boolean baseAllocation() {
        return baseAllocation;
    }

    /** Minimum block size from NBD_INFO_BLOCK_SIZE (0 if not sent). */
    public int minBlockSize() {
        return minBlock;
    }

    /** Preferred block size from NBD_INFO_BLOCK_SIZE (0 if not sent). */
    public int preferredBlockSize() {
        return preferredBlock;
    }

    /** Maximum block size from NBD_INFO_BLOCK_SIZE (0 if not sent). */
    public int maxBlockSize() {
        return maxBlock;
    }

    /** The export description from NBD_INFO_DESCRIPTION, or null. */
    public String description() {
        return exportDescription;
    }

    /** The underlying channel (for tests that send raw bytes). */
    public SocketChannel channel() {
        return ch;
    }

    // ---- asynchronous requests ----

    /**
     * Sends a request (with {@code payload} after the header for WRITE, or null) and returns its
     * handle; nothing is validated, so tests can send anything.
     */
    public long send(int type, int flags, long offset, int length, byte[] payload) {
        ByteBuffer b = ByteBuffer.allocate(Nbd.REQUEST_SIZE + (payload == null ? 0 : payload.length));
        long handle = encode(b, type, flags, offset, length, payload);
        writeFully(b.flip());
        return handle;
    }

    /**
     * Encodes a request (and its payload, or null) into {@code out} without sending it and returns
     * its handle; its reply is expected like {@link #send}'s. For pipelining: encode several, then
     * write them with one {@code channel().write}.
     */
    public long encode(ByteBuffer out, int type, int flags, long offset, int length, byte[] payload) {
        long handle = nextHandle++;
        new NbdRequest(flags, type, handle, offset, length).encode(out);
        if (payload != null) {
            out.put(payload);
        }
        if (type != Nbd.CMD_DISC) {
            decoder.expect(handle, type, offset, length, flags);
        }
        return handle;
    }

    /** Waits for the next complete reply, whichever request it answers. */
    public Reply receive() {
        if (!early.isEmpty()) {
            Long k = early.keySet().iterator().next();
            return early.remove(k);
        }
        return decoder.next();
    }

    /** Waits for the reply to {@code handle}, keeping others for {@link #receive()}. */
    public Reply await(long handle) {
        Reply r = early.remove(handle);
        if (r != null) {
            return r;
        }
        for (;;) {
            r = decoder.next();
            if (r.handle() == handle) {
                return r;
            }
            early.put(r.handle(), r);
        }
    }

    /** Requests sent and not yet answered. */
    public int pending() {
        return decoder.pending.size() + early.size();
    }

    // ---- synchronous requests ----

    public byte[] read(long offset, int length) {
        return read(offset, length, 0);
    }

    public byte[] read(long offset, int length, int flags) {
        return await(send(Nbd.CMD_READ, flags, offset, length, null)).check().data();
    }

    public void write(long offset, byte[] data) {
        write(offset, data, 0);
    }

    public void write(long offset, byte[] data, int flags) {
        await(send(Nbd.CMD_WRITE, flags, offset, data.length, data)).check();
    }

    public void flush() {
        await(send(Nbd.CMD_FLUSH, 0, 0, 0, null)).check();
    }

    public void trim(long offset, int length, int flags) {
        await(send(Nbd.CMD_TRIM, flags, offset, length, null)).check();
    }

    public void writeZeroes(long offset, int length, int flags) {
        await(send(Nbd.CMD_WRITE_ZEROES, flags, offset, length, null)).check();
    }

    public void cache(long offset, int length) {
        await(send(Nbd.CMD_CACHE, 0, offset, length, null)).check();
    }

    public List<Extent> blockStatus(long offset, int length, int flags) {
        return await(send(Nbd.CMD_BLOCK_STATUS, flags, offset, length, null)).check().extents();
    }

    /** Sends NBD_CMD_DISC and closes the connection. */
    public void disconnect() {
        try {
            send(Nbd.CMD_DISC, 0, 0, 0, null);
        } finally {
            closeQuietly();
        }
    }

    /** Whether the server closed the connection: reads until EOF (true) or a byte arrives (false). */
    public boolean awaitEof() {
        ByteBuffer one = ByteBuffer.allocate(1);
        try {
            return ch.read(one) < 0;
        } catch (IOException e) {
            return true; // reset
        }
    }

    @Override
    public void close() {
        closeQuietly();
    }

    private void closeQuietly() {
        try {
            ch.close();
        } catch (IOException e) {
            // closing
        }
    }

    private void readFully(ByteBuffer b) {
        try {
            while (b.hasRemaining()) {
                if (ch.read(b) < 0) {
                    throw new UncheckedIOException(new java.io.EOFException("server closed the connection"));
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void writeFully(ByteBuffer b) {
        try {
            while (b.hasRemaining()) {
                ch.write(b);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Reads exactly {@code dst.remaining()} bytes from somewhere. */
    interface Source {
        void readFully(ByteBuffer dst);
    }

    /**
     * Decodes server replies from a byte source, checking each against the request it answers
     * (simple or structured, chunk types valid for the command, chunks inside the request's
     * range and not overlapping, full coverage on success, DONE last). Pure apart from the
     * source; the fuzz test runs it over server output held in byte arrays.
     */
    static final class ReplyDecoder {
        private final Source in;
        boolean structured;
        final Map<Long, Pending> pending = new HashMap<>();

        ReplyDecoder(Source in) {
            this.in = in;
        }

        private static final class Pending {
            final int type;
            final long offset;
            final int length;
            final int flags;
            byte[] data;
            BitSet covered;
            List<Extent> extents;
            int error;
            String message;
            int chunks;
            int holes;
            int contentChunks;

            Pending(int type, long offset, int length, int flags) {
                this.type = type;
                this.offset = offset;
                this.length = length;
                this.flags = flags;
            }
        }

        void expect(long handle, int type, long offset, int length, int flags) {
            pending.put(handle, new Pending(type, offset, length, flags));
        }

        private ByteBuffer read(int n) {
            ByteBuffer b = ByteBuffer.allocate(n);
            in.readFully(b);
            return b.flip();
        }

        Reply next() {
            for (;;) {
                ByteBuffer m = read(4);
                int magic = m.getInt();
                if (magic == Nbd.SIMPLE_REPLY_MAGIC) {
                    return simple();
                }
                if (magic != Nbd.STRUCTURED_REPLY_MAGIC) {
                    throw new NbdProtocolException(String.format("bad reply magic 0x%08x", magic));
                }
                if (!structured) {
                    throw new NbdProtocolException("structured reply without negotiation");
                }
                Reply r = chunk();
                if (r != null) {
                    return r;
                }
            }
        }

        private Pending take(long handle) {
            Pending p = pending.get(handle);
            if (p == null) {
                throw new NbdProtocolException("reply for unknown handle " + handle);
            }
            return p;
        }

        private Reply simple() {
            ByteBuffer b = read(12);
            int error = b.getInt();
            long handle = b.getLong();
            Pending p = take(handle);
            if (p.type == Nbd.CMD_READ && structured) {
                throw new NbdProtocolException("simple reply to a READ with structured replies negotiated");
            }
            if (p.type == Nbd.CMD_BLOCK_STATUS && error == 0) {
                throw new NbdProtocolException("simple success reply to BLOCK_STATUS");
            }
            pending.remove(handle);
            byte[] data = null;
            if (p.type == Nbd.CMD_READ && error == 0) {
                data = new byte[p.length];
                in.readFully(ByteBuffer.wrap(data));
            }
            return new Reply(handle, p.type, error, null, data, null, false, 0, 0);
        }

        private Reply chunk() {
            ByteBuffer b = read(16);
            int flags = Short.toUnsignedInt(b.getShort());
            int type = Short.toUnsignedInt(b.getShort());
            long handle = b.getLong();
            long len = Integer.toUnsignedLong(b.getInt());
            Pending p = take(handle);
            p.chunks++;
            switch (type) {
                case Nbd.REPLY_TYPE_NONE -> {
                    if (len != 0 || (flags & Nbd.REPLY_FLAG_DONE) == 0) {
                        throw new NbdProtocolException("NONE chunk with length " + len + " or without DONE");
                    }
                }
                case Nbd.REPLY_TYPE_OFFSET_DATA, Nbd.REPLY_TYPE_OFFSET_HOLE -> {
                    if (p.type != Nbd.CMD_READ) {
                        throw new NbdProtocolException("content chunk for " + Nbd.commandName(p.type));
                    }
                    boolean hole = type == Nbd.REPLY_TYPE_OFFSET_HOLE;
                    if (hole ? len != 12 : len < 9 || len > 8L + Nbd.MAX_PAYLOAD) {
                        throw new NbdProtocolException("content chunk of length " + len);
                    }
                    ByteBuffer c = read(hole ? 12 : 8);
                    long off = c.getLong();
                    long n = hole ? Integer.toUnsignedLong(c.getInt()) : len - 8;
                    if (n == 0 || Long.compareUnsigned(off, p.offset) < 0
                            || off - p.offset + n > Integer.toUnsignedLong(p.length)) {
                        throw new NbdProtocolException("content chunk [" + off + ", +" + n + ") outside the request");
                    }
                    if (p.data == null) {
                        p.data = new byte[p.length];
                        p.covered = new BitSet(p.length);
                    }
                    int rel = (int) (off - p.offset);
                    if (p.covered.nextSetBit(rel) >= 0 && p.covered.nextSetBit(rel) < rel + n) {
                        throw new NbdProtocolException("overlapping content chunks");
                    }
                    p.covered.set(rel, (int) (rel + n));
                    if (!hole) {
                        in.readFully(ByteBuffer.wrap(p.data, rel, (int) n));
                    } else {
                        p.holes++;
                    }
                    p.contentChunks++;
                    if ((p.flags & Nbd.CMD_FLAG_DF) != 0 && p.contentChunks > 1) {
                        throw new NbdProtocolException("more than one content chunk with DF");
                    }
                }
                case Nbd.REPLY_TYPE_BLOCK_STATUS -> {
                    if (p.type != Nbd.CMD_BLOCK_STATUS || len < 12 || (len - 4) % 8 != 0 || len > 1 << 20) {
                        throw new NbdProtocolException("bad BLOCK_STATUS chunk of length " + len);
                    }
                    if (p.extents != null) {
                        throw new NbdProtocolException("two BLOCK_STATUS chunks for one context");
                    }
                    ByteBuffer c = read((int) len);
                    c.getInt(); // context id
                    List<Extent> ex = new ArrayList<>();
                    long sum = 0;
                    while (c.hasRemaining()) {
                        long l = Integer.toUnsignedLong(c.getInt());
                        int st = c.getInt();
                        if (l == 0) {
                            throw new NbdProtocolException("zero-length block status descriptor");
                        }
                        if (sum >= Integer.toUnsignedLong(p.length)) {
                            throw new NbdProtocolException("block status descriptors beyond the request");
                        }
                        sum += l;
                        ex.add(new Extent(l, st));
                    }
                    if ((p.flags & Nbd.CMD_FLAG_REQ_ONE) != 0
                            && (ex.size() != 1 || ex.get(0).length() > Integer.toUnsignedLong(p.length))) {
                        throw new NbdProtocolException("REQ_ONE reply with " + ex.size() + " descriptors");
                    }
                    p.extents = ex;
                }
                case Nbd.REPLY_TYPE_ERROR, Nbd.REPLY_TYPE_ERROR_OFFSET -> {
                    if (len < 6 || len > 65536) {
                        throw new NbdProtocolException("error chunk of length " + len);
                    }
                    ByteBuffer c = read((int) len);
                    int err = c.getInt();
                    int mlen = Short.toUnsignedInt(c.getShort());
                    if (err == 0 || mlen > len - 6) {
                        throw new NbdProtocolException("bad error chunk");
                    }
                    byte[] msg = new byte[mlen];
                    c.get(msg);
                    if (p.error == 0) {
                        p.error = err;
                        p.message = new String(msg, StandardCharsets.UTF_8);
                    }
                }
                default -> throw new NbdProtocolException("unknown chunk type " + type);
            }
            if ((flags & Nbd.REPLY_FLAG_DONE) == 0) {
                return null;
            }
            pending.remove(handle);
            if (p.error == 0) {
                if (p.type == Nbd.CMD_READ) {
                    int got = p.covered == null ? 0 : p.covered.cardinality();
                    if (got != p.length) {
                        throw new NbdProtocolException("READ reply covers " + got + " of " + p.length + " bytes");
                    }
                    if (p.data == null) {
                        p.data = new byte[0];
                    }
                }
                if (p.type == Nbd.CMD_BLOCK_STATUS && p.extents == null) {
                    throw new NbdProtocolException("BLOCK_STATUS reply without descriptors");
                }
            }
            return new Reply(handle, p.type, p.error, p.message, p.error == 0 ? p.data : null,
                    p.error == 0 ? p.extents : null, true, p.chunks, p.holes);
        }
    }
}
