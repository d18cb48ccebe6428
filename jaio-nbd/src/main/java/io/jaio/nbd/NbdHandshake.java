package io.jaio.nbd;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Objects;

/**
 * The server side of the fixed newstyle handshake as a state machine without I/O: the caller
 * sends {@link #greeting()}, then repeatedly reads exactly {@link #bytesNeeded()} bytes, passes
 * them to {@link #consume}, and writes the returned {@link Step#output()}, until the step says
 * {@link Next#TRANSMISSION} (then {@link #session()} holds what was agreed) or
 * {@link Next#CLOSE}. Malformed input that cannot be answered throws
 * {@link NbdProtocolException}: the connection must end without a reply.
 *
 * <p>Options: EXPORT_NAME (honouring NO_ZEROES), ABORT, LIST (name and description), INFO and GO
 * (INFO_EXPORT always, INFO_NAME and INFO_DESCRIPTION when asked, INFO_BLOCK_SIZE always),
 * STRUCTURED_REPLY, EXTENDED_HEADERS (which implies structured replies), LIST_META_CONTEXT and
 * SET_META_CONTEXT with {@code base:allocation}, {@code qemu:allocation-depth} and
 * {@code qemu:dirty-bitmap:NAME},
 * STARTTLS when the server has TLS credentials (FORCEDTLS: see {@link #NbdHandshake(Catalog,
 * boolean)}; the caller runs the TLS handshake at a {@link Next#STARTTLS} step); every
 * other option is answered with NBD_REP_ERR_UNSUP. An option payload over
 * {@link Nbd#MAX_OPTION_LENGTH}, more than {@link #MAX_OPTIONS} options, unknown client flags,
 * a bad option magic, any option but EXPORT_NAME from a client that did not set
 * FLAG_C_FIXED_NEWSTYLE, and EXPORT_NAME of an unknown export all end the connection. While
 * the server shuts down, options are answered with NBD_REP_ERR_SHUTDOWN (ABORT still with ACK).
 *
 * <p>Threads: one instance per connection, used by one thread at a time.
 */
final class NbdHandshake {
    /** Options accepted on one connection before it is judged a denial of service. */
    static final int MAX_OPTIONS = 256;
    /** Handshake flags this server sends. */
    static final int HANDSHAKE_FLAGS = Nbd.FLAG_FIXED_NEWSTYLE | Nbd.FLAG_NO_ZEROES;

    /** The exports a handshake can choose from, and whether the server is shutting down. */
    interface Catalog {
        /** The export called {@code name} ("" = the default export), or null. */
        NbdExport find(String name);

        /** Every export, in listing order. */
        Collection<NbdExport> all();

        /** Whether the server is shutting down (options are then refused). */
        boolean shuttingDown();
    }

    /** What the caller does after writing a step's output. */
    enum Next {
        /** Read {@link #bytesNeeded()} more bytes. */
        CONTINUE,
        /** The handshake is over; serve {@link #session()}. */
        TRANSMISSION,
        /** End the connection (the client sent NBD_OPT_ABORT). */
        CLOSE,
        /**
         * The client sent NBD_OPT_STARTTLS and the output is its ACK: run the TLS handshake on
         * the socket, call {@link #tlsEstablished()}, and carry on over TLS.
         */
        STARTTLS
    }

    /** Bytes to send to the client (possibly none), and what to do next. */
    record Step(byte[] output, Next next) {}

    private enum Phase { CLIENT_FLAGS, OPTION_HEADER, OPTION_DATA, DONE }

    private final Catalog catalog;
    /** The server has TLS credentials: every option but STARTTLS and ABORT waits for TLS. */
    private final boolean tlsRequired;
    private boolean tlsUp;
    /** A STARTTLS step was returned and {@link #tlsEstablished()} has not been called yet. */
    private boolean tlsPending;
    private Phase phase = Phase.CLIENT_FLAGS;
    private boolean fixedNewstyle;
    private boolean noZeroes;
    private boolean structuredReplies;
    /** NBD_OPT_EXTENDED_HEADERS was acknowledged (structuredReplies is then set too). */
    private boolean extendedHeaders;
    /** The export named by the last SET_META_CONTEXT, or null; with the contexts it selected. */
    private NbdExport metaExport;
    private List<String> metaSelected = List.of();
    private List<Integer> metaIds = List.of();
    private int option;
    private int optionLength;
    private int optionCount;
    private NbdSession session;

    NbdHandshake(Catalog catalog) {
        this(catalog, false);
    }

    /**
     * A handshake choosing from {@code catalog}; with {@code tlsRequired} the server runs the
     * specification's FORCEDTLS mode: before NBD_OPT_STARTTLS every option but ABORT is answered
     * NBD_REP_ERR_TLS_REQD (EXPORT_NAME, which cannot be answered, ends the connection).
     */
    NbdHandshake(Catalog catalog, boolean tlsRequired) {
        this.catalog = Objects.requireNonNull(catalog, "catalog");
        this.tlsRequired = tlsRequired;
    }

    /** The TLS handshake that followed a {@link Next#STARTTLS} step succeeded; options go on over TLS. */
    void tlsEstablished() {
        if (!tlsPending) {
            throw new IllegalStateException("tlsEstablished without a STARTTLS step");
        }
        tlsPending = false;
        tlsUp = true;
    }

    /** The 18 bytes the server sends first. */
    static byte[] greeting() {
        ByteBuffer b = ByteBuffer.allocate(Nbd.GREETING_SIZE);
        NbdCodec.greeting(b, HANDSHAKE_FLAGS);
        return b.array();
    }

    /** How many bytes the next {@link #consume} call takes (0 once the handshake is over). */
    int bytesNeeded() {
        return switch (phase) {
            case CLIENT_FLAGS -> 4;
            case OPTION_HEADER -> Nbd.OPTION_HEADER_SIZE;
            case OPTION_DATA -> optionLength;
            case DONE -> 0;
        };
    }

    /** Whether the next bytes are an option header (for tests that track the option being answered). */
    boolean awaitingOptionHeader() {
        return phase == Phase.OPTION_HEADER;
    }

    /** The agreed session once a step returned {@link Next#TRANSMISSION}, else null. */
    NbdSession session() {
        return session;
    }

    /** Whether the client set NBD_FLAG_C_NO_ZEROES. */
    boolean noZeroes() {
        return noZeroes;
    }

    /**
     * Consumes exactly {@link #bytesNeeded()} bytes from {@code in} and returns the reply to send.
     *
     * @throws NbdProtocolException if the input cannot be answered; the connection must end
     * @throws IllegalStateException if the handshake is over or too few bytes are given
     */
    Step consume(ByteBuffer in) {
        int need = bytesNeeded();
        if (phase == Phase.DONE) {
            throw new IllegalStateException("the handshake is over");
        }
        if (tlsPending) {
            throw new IllegalStateException("the TLS handshake must come first (tlsEstablished)");
        }
        if (in.remaining() < need) {
            throw new IllegalStateException("consume needs " + need + " bytes, got " + in.remaining());
        }
        return switch (phase) {
            case CLIENT_FLAGS -> clientFlags(in.getInt());
            case OPTION_HEADER -> optionHeader(in);
            case OPTION_DATA -> {
                byte[] data = new byte[optionLength];
                in.get(data);
                phase = Phase.OPTION_HEADER;
                yield handleOption(option, ByteBuffer.wrap(data));
            }
            case DONE -> throw new AssertionError();
        };
    }

    private Step clientFlags(int flags) {
        if ((flags & ~(Nbd.FLAG_C_FIXED_NEWSTYLE | Nbd.FLAG_C_NO_ZEROES)) != 0) {
            throw fail(String.format("unknown client flags 0x%08x", flags));
        }
        fixedNewstyle = (flags & Nbd.FLAG_C_FIXED_NEWSTYLE) != 0;
        noZeroes = (flags & Nbd.FLAG_C_NO_ZEROES) != 0;
        phase = Phase.OPTION_HEADER;
        return new Step(new byte[0], Next.CONTINUE);
    }

    private Step optionHeader(ByteBuffer in) {
        long magic = in.getLong();
        int opt = in.getInt();
        int len = in.getInt();
        if (magic != Nbd.IHAVEOPT) {
            throw fail(String.format("bad option magic 0x%016x", magic));
        }
        if (++optionCount > MAX_OPTIONS) {
            throw fail("more than " + MAX_OPTIONS + " options");
        }
        if (Integer.compareUnsigned(len, Nbd.MAX_OPTION_LENGTH) > 0) {
            throw fail(Nbd.optionName(opt) + " payload of " + Integer.toUnsignedString(len) + " bytes exceeds "
                    + Nbd.MAX_OPTION_LENGTH);
        }
        if (!fixedNewstyle && opt != Nbd.OPT_EXPORT_NAME) {
            throw fail(Nbd.optionName(opt) + " from a client that did not negotiate fixed newstyle");
        }
        if (len == 0) {
            return handleOption(opt, ByteBuffer.allocate(0));
        }
        option = opt;
        optionLength = len;
        phase = Phase.OPTION_DATA;
        return new Step(new byte[0], Next.CONTINUE);
    }

    private Step handleOption(int opt, ByteBuffer data) {
        Out out = new Out();
        if (catalog.shuttingDown()) {
            switch (opt) {
                case Nbd.OPT_ABORT -> {
                    out.reply(opt, Nbd.REP_ACK);
                    return close(out);
                }
                case Nbd.OPT_EXPORT_NAME -> throw fail("NBD_OPT_EXPORT_NAME while the server shuts down");
                default -> {
                    out.error(opt, Nbd.REP_ERR_SHUTDOWN, "server is shutting down");
                    return new Step(out.bytes(), Next.CONTINUE);
                }
            }
        }
        if (tlsRequired && !tlsUp) {
            switch (opt) {
                case Nbd.OPT_ABORT -> {
                    out.reply(opt, Nbd.REP_ACK);
                    return close(out);
                }
                case Nbd.OPT_STARTTLS -> {
                    if (data.hasRemaining()) {
                        out.error(opt, Nbd.REP_ERR_INVALID, "NBD_OPT_STARTTLS takes no data");
                        return new Step(out.bytes(), Next.CONTINUE);
                    }
                    out.reply(opt, Nbd.REP_ACK);
                    tlsPending = true;
                    return new Step(out.bytes(), Next.STARTTLS);
                }
                case Nbd.OPT_EXPORT_NAME -> throw fail("NBD_OPT_EXPORT_NAME before TLS on a server that requires TLS");
                default -> {
                    out.error(opt, Nbd.REP_ERR_TLS_REQD, "TLS is required: send NBD_OPT_STARTTLS first");
                    return new Step(out.bytes(), Next.CONTINUE);
                }
            }
        }
        switch (opt) {
            case Nbd.OPT_EXPORT_NAME -> {
                return exportName(data);
            }
            case Nbd.OPT_STARTTLS -> {
                if (tlsUp) {
                    out.error(opt, Nbd.REP_ERR_INVALID, "TLS is already negotiated");
                } else {
                    out.error(opt, Nbd.REP_ERR_UNSUP, "TLS is not configured on this server");
                }
            }
            case Nbd.OPT_ABORT -> {
                out.reply(opt, Nbd.REP_ACK); // any payload is ignored, as the specification asks
                return close(out);
            }
            case Nbd.OPT_LIST -> list(out, data);
            case Nbd.OPT_INFO, Nbd.OPT_GO -> {
                NbdExport chosen = infoOrGo(out, opt, data);
                if (chosen != null && opt == Nbd.OPT_GO) {
                    return enter(out, chosen);
                }
            }
            case Nbd.OPT_EXTENDED_HEADERS -> {
                if (data.hasRemaining()) {
                    out.error(opt, Nbd.REP_ERR_INVALID, "NBD_OPT_EXTENDED_HEADERS takes no data");
                } else if (extendedHeaders) {
                    out.error(opt, Nbd.REP_ERR_INVALID, "extended headers already negotiated");
                } else {
                    // Extended headers take precedence over (and imply) structured replies.
                    extendedHeaders = true;
                    structuredReplies = true;
                    out.reply(opt, Nbd.REP_ACK);
                }
            }
            case Nbd.OPT_STRUCTURED_REPLY -> {
                if (data.hasRemaining()) {
                    out.error(opt, Nbd.REP_ERR_INVALID, "NBD_OPT_STRUCTURED_REPLY takes no data");
                } else if (extendedHeaders) {
                    // As the extension asks (and QEMU answers): extended headers take precedence.
                    out.error(opt, Nbd.REP_ERR_EXT_HEADER_REQD, "extended headers already negotiated");
                } else if (structuredReplies) {
                    out.error(opt, Nbd.REP_ERR_INVALID, "structured replies already negotiated");
                } else {
                    structuredReplies = true;
                    out.reply(opt, Nbd.REP_ACK);
                }
            }
            case Nbd.OPT_LIST_META_CONTEXT, Nbd.OPT_SET_META_CONTEXT -> metaContext(out, opt, data);
            default -> out.error(opt, Nbd.REP_ERR_UNSUP, Nbd.optionName(opt) + " is not supported");
        }
        return new Step(out.bytes(), Next.CONTINUE);
    }

    private Step close(Out out) {
        phase = Phase.DONE;
        return new Step(out.bytes(), Next.CLOSE);
    }

    private Step enter(Out out, NbdExport export) {
        List<String> meta = metaExport == export ? metaSelected : List.of();
        // Bitmaps are resolved now: one removed since SET_META_CONTEXT is no longer offered.
        List<NbdSession.ExportedBitmap> bitmaps = new ArrayList<>();
        for (int i = 0; i < meta.size(); i++) {
            String c = meta.get(i);
            if (c.startsWith(Nbd.CONTEXT_DIRTY_BITMAP_PREFIX) && export.dirtyBitmaps() != null) {
                io.jaio.block.DirtyBitmap b = export.dirtyBitmaps().get(c.substring(
                        Nbd.CONTEXT_DIRTY_BITMAP_PREFIX.length()));
                if (b != null) {
                    bitmaps.add(new NbdSession.ExportedBitmap(metaIds.get(i), b));
                }
            }
        }
        session = new NbdSession(export, structuredReplies, meta.contains(Nbd.CONTEXT_BASE_ALLOCATION),
                export.transmissionFlags(structuredReplies), extendedHeaders,
                meta.contains(Nbd.CONTEXT_ALLOCATION_DEPTH), List.copyOf(bitmaps));
        phase = Phase.DONE;
        return new Step(out.bytes(), Next.TRANSMISSION);
    }

    private Step exportName(ByteBuffer data) {
        if (data.remaining() > Nbd.MAX_STRING) {
            throw fail("NBD_OPT_EXPORT_NAME with a name of " + data.remaining() + " bytes");
        }
        String name = string(data, data.remaining());
        NbdExport export = catalog.find(name);
        if (export == null) {
            throw fail("NBD_OPT_EXPORT_NAME of unknown export '" + name + "'");
        }
        Out out = new Out();
        ByteBuffer b = ByteBuffer.allocate(10 + (noZeroes ? 0 : 124));
        NbdCodec.exportNameReply(b, export.size(), export.transmissionFlags(structuredReplies), noZeroes);
        out.put(b);
        return enter(out, export);
    }

    private void list(Out out, ByteBuffer data) {
        if (data.hasRemaining()) {
            out.error(Nbd.OPT_LIST, Nbd.REP_ERR_INVALID, "NBD_OPT_LIST takes no data");
            return;
        }
        for (NbdExport e : catalog.all()) {
            byte[] name = NbdCodec.utf8(e.name(), Nbd.MAX_STRING);
            byte[] desc = NbdCodec.utf8(e.description(), Nbd.MAX_STRING);
            ByteBuffer b = ByteBuffer.allocate(Nbd.OPTION_REPLY_HEADER_SIZE + 4 + name.length + desc.length);
            NbdCodec.optionReplyHeader(b, Nbd.OPT_LIST, Nbd.REP_SERVER, 4 + name.length + desc.length);
            b.putInt(name.length).put(name).put(desc);
            out.put(b);
        }
        out.reply(Nbd.OPT_LIST, Nbd.REP_ACK);
    }

    /** Answers INFO or GO; returns the export on success (replies ending in ACK), else null. */
    private NbdExport infoOrGo(Out out, int opt, ByteBuffer data) {
        // Data: u32 name length, name, u16 request count, u16 requests.
        if (data.remaining() < 6) {
            out.error(opt, Nbd.REP_ERR_INVALID, Nbd.optionName(opt) + " payload too short");
            return null;
        }
        long nameLen = Integer.toUnsignedLong(data.getInt());
        if (nameLen > data.remaining() - 2) {
            out.error(opt, Nbd.REP_ERR_INVALID, "export name length exceeds the option");
            return null;
        }
        if (nameLen > Nbd.MAX_STRING) {
            out.error(opt, Nbd.REP_ERR_TOO_BIG, "export name longer than 4096 bytes");
            return null;
        }
        String name = string(data, (int) nameLen);
        int count = Short.toUnsignedInt(data.getShort());
        if (data.remaining() != 2 * count) {
            out.error(opt, Nbd.REP_ERR_INVALID, "information request count does not match the option length");
            return null;
        }
        boolean wantName = false;
        boolean wantDescription = false;
        for (int i = 0; i < count; i++) {
            int info = Short.toUnsignedInt(data.getShort());
            wantName |= info == Nbd.INFO_NAME;
            wantDescription |= info == Nbd.INFO_DESCRIPTION;
            // INFO_BLOCK_SIZE is sent whether asked or not; unknown requests are ignored.
        }
        NbdExport export = catalog.find(name);
        if (export == null) {
            out.error(opt, Nbd.REP_ERR_UNKNOWN, "export '" + name + "' not found");
            return null;
        }
        ByteBuffer b = ByteBuffer.allocate(Nbd.OPTION_REPLY_HEADER_SIZE + 12);
        NbdCodec.optionReplyHeader(b, opt, Nbd.REP_INFO, 12);
        b.putShort((short) Nbd.INFO_EXPORT).putLong(export.size())
                .putShort((short) export.transmissionFlags(structuredReplies));
        out.put(b);
        if (wantName) {
            infoString(out, opt, Nbd.INFO_NAME, export.name());
        }
        if (wantDescription && !export.description().isEmpty()) {
            infoString(out, opt, Nbd.INFO_DESCRIPTION, export.description());
        }
        b = ByteBuffer.allocate(Nbd.OPTION_REPLY_HEADER_SIZE + 14);
        NbdCodec.optionReplyHeader(b, opt, Nbd.REP_INFO, 14);
        b.putShort((short) Nbd.INFO_BLOCK_SIZE).putInt(export.minBlockSize()).putInt(export.preferredBlockSize())
                .putInt(export.maxBlockSize());
        out.put(b);
        out.reply(opt, Nbd.REP_ACK);
        return export;
    }

    private static void infoString(Out out, int opt, int type, String s) {
        byte[] v = NbdCodec.utf8(s, Nbd.MAX_STRING);
        ByteBuffer b = ByteBuffer.allocate(Nbd.OPTION_REPLY_HEADER_SIZE + 2 + v.length);
        NbdCodec.optionReplyHeader(b, opt, Nbd.REP_INFO, 2 + v.length);
        b.putShort((short) type).put(v);
        out.put(b);
    }

    /**
     * The metadata contexts {@code export} offers now, in id order (a context's id is its
     * index + 1): {@code base:allocation}, {@code qemu:allocation-depth}, then
     * {@code qemu:dirty-bitmap:NAME} for each of its dirty bitmaps.
     */
    static List<String> contexts(NbdExport export) {
        List<String> c = new ArrayList<>(List.of(Nbd.CONTEXT_BASE_ALLOCATION, Nbd.CONTEXT_ALLOCATION_DEPTH));
        if (export.dirtyBitmaps() != null) {
            for (io.jaio.block.DirtyBitmap b : export.dirtyBitmaps().list()) {
                c.add(Nbd.CONTEXT_DIRTY_BITMAP_PREFIX + b.name());
            }
        }
        return c;
    }

    /**
     * Whether query {@code q} selects context {@code c}: the exact name; for LIST also a
     * namespace ({@code base:}, {@code qemu:}) or the {@code qemu:dirty-bitmap:} prefix.
     */
    private static boolean matches(String q, String c, boolean set) {
        if (q.equals(c)) {
            return true;
        }
        if (set) {
            return false;
        }
        return (q.equals("base:") || q.equals("qemu:") || q.equals(Nbd.CONTEXT_DIRTY_BITMAP_PREFIX))
                && c.startsWith(q);
    }

    private void metaContext(Out out, int opt, ByteBuffer data) {
        boolean set = opt == Nbd.OPT_SET_META_CONTEXT;
        if (set) {
            // The selection is replaced even when the option fails.
            metaExport = null;
            metaSelected = List.of();
            metaIds = List.of();
        }
        if (!structuredReplies) {
            out.error(opt, Nbd.REP_ERR_INVALID, Nbd.optionName(opt) + " needs structured replies first");
            return;
        }
        // Data: u32 name length, name, u32 query count, queries (u32 length, string).
        if (data.remaining() < 8) {
            out.error(opt, Nbd.REP_ERR_INVALID, Nbd.optionName(opt) + " payload too short");
            return;
        }
        long nameLen = Integer.toUnsignedLong(data.getInt());
        if (nameLen > data.remaining() - 4) {
            out.error(opt, Nbd.REP_ERR_INVALID, "export name length exceeds the option");
            return;
        }
        if (nameLen > Nbd.MAX_STRING) {
            out.error(opt, Nbd.REP_ERR_TOO_BIG, "export name longer than 4096 bytes");
            return;
        }
        String name = string(data, (int) nameLen);
        long queries = Integer.toUnsignedLong(data.getInt());
        List<String> query = new ArrayList<>();
        for (long i = 0; i < queries; i++) {
            if (data.remaining() < 4) {
                out.error(opt, Nbd.REP_ERR_INVALID, "query count exceeds the option");
                return;
            }
            long qLen = Integer.toUnsignedLong(data.getInt());
            if (qLen > data.remaining()) {
                out.error(opt, Nbd.REP_ERR_INVALID, "query length exceeds the option");
                return;
            }
            if (qLen > Nbd.MAX_STRING) {
                out.error(opt, Nbd.REP_ERR_TOO_BIG, "query longer than 4096 bytes");
                return;
            }
            query.add(string(data, (int) qLen));
        }
        if (data.hasRemaining()) {
            out.error(opt, Nbd.REP_ERR_INVALID, "trailing bytes after the last query");
            return;
        }
        NbdExport export = catalog.find(name);
        if (export == null) {
            out.error(opt, Nbd.REP_ERR_UNKNOWN, "export '" + name + "' not found");
            return;
        }
        // Queries that match nothing (other namespaces, unknown leaves) are ignored, as required.
        List<String> all = contexts(export);
        List<String> chosen = new ArrayList<>();
        List<Integer> ids = new ArrayList<>();
        for (int i = 0; i < all.size(); i++) {
            String c = all.get(i);
            boolean hit = !set && query.isEmpty(); // LIST with no query: everything
            for (String q : query) {
                hit |= matches(q, c, set);
            }
            if (hit) {
                chosen.add(c);
                ids.add(i + 1);
            }
        }
        for (int i = 0; i < chosen.size(); i++) {
            metaContextReply(out, opt, set ? ids.get(i) : 0, chosen.get(i));
        }
        if (set) {
            metaExport = export;
            metaSelected = List.copyOf(chosen);
            metaIds = List.copyOf(ids);
        }
        out.reply(opt, Nbd.REP_ACK);
    }

    private static void metaContextReply(Out out, int opt, int id, String context) {
        byte[] n = context.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(Nbd.OPTION_REPLY_HEADER_SIZE + 4 + n.length);
        NbdCodec.optionReplyHeader(b, opt, Nbd.REP_META_CONTEXT, 4 + n.length);
        b.putInt(id).put(n);
        out.put(b);
    }

    private static String string(ByteBuffer data, int len) {
        byte[] b = new byte[len];
        data.get(b);
        return new String(b, StandardCharsets.UTF_8);
    }

    private NbdProtocolException fail(String message) {
        phase = Phase.DONE;
        return new NbdProtocolException(message);
    }

    /** Accumulates option replies. */
    private static final class Out {
        private final ByteArrayOutputStream bytes = new ByteArrayOutputStream(64);

        void put(ByteBuffer filled) {
            bytes.write(filled.array(), 0, filled.position());
        }

        void reply(int opt, int type) {
            ByteBuffer b = ByteBuffer.allocate(Nbd.OPTION_REPLY_HEADER_SIZE);
            NbdCodec.optionReply(b, opt, type);
            put(b);
        }

        void error(int opt, int type, String message) {
            ByteBuffer b = ByteBuffer.allocate(NbdCodec.optionErrorSize(message));
            NbdCodec.optionError(b, opt, type, message);
            put(b);
        }

        byte[] bytes() {
            return bytes.toByteArray();
        }
    }
}
