package io.jaio.nbd;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * Encoders for every message of the NBD protocol, server and client side, on
 * {@link ByteBuffer}s (heap arrays in tests, views of native memory in the server). No I/O, no
 * state: each method writes at the buffer's position and advances it. Any thread.
 */
public final class NbdCodec {
    private NbdCodec() {}

    /** Longest error message put in an error chunk (the specification allows 4096 bytes). */
    public static final int MAX_ERROR_MESSAGE = 1024;

    // ---- handshake, server side ----

    /**
     * The 18-byte newstyle greeting: NBDMAGIC, IHAVEOPT, handshake flags.
     *
     * @param out the buffer to write to, with at least {@link Nbd#GREETING_SIZE} bytes remaining
     * @param handshakeFlags the 16-bit handshake flags ({@link Nbd#FLAG_FIXED_NEWSTYLE}, {@link Nbd#FLAG_NO_ZEROES})
     */
    public static void greeting(ByteBuffer out, int handshakeFlags) {
        out.putLong(Nbd.NBDMAGIC).putLong(Nbd.IHAVEOPT).putShort((short) handshakeFlags);
    }

    /**
     * An option reply header (20 bytes); {@code length} payload bytes must follow.
     *
     * @param out the buffer to write to
     * @param option the option answered, as the client sent it
     * @param type the reply type ({@code Nbd.REP_*})
     * @param length the number of payload bytes the caller writes next (unsigned 32-bit)
     */
    public static void optionReplyHeader(ByteBuffer out, int option, int type, int length) {
        out.putLong(Nbd.REPLY_MAGIC).putInt(option).putInt(type).putInt(length);
    }

    /**
     * An option reply with no payload (e.g. {@link Nbd#REP_ACK}): 20 bytes.
     *
     * @param out the buffer to write to
     * @param option the option answered, as the client sent it
     * @param type the reply type ({@code Nbd.REP_*})
     */
    public static void optionReply(ByteBuffer out, int option, int type) {
        optionReplyHeader(out, option, type, 0);
    }

    /**
     * An error option reply carrying a human-readable message, cut to {@link Nbd#MAX_STRING}
     * UTF-8 bytes; {@link #optionErrorSize} bytes in all.
     *
     * @param out the buffer to write to
     * @param option the option answered, as the client sent it
     * @param type the error reply type ({@code Nbd.REP_ERR_*})
     * @param message the message for the client; null sends none
     */
    public static void optionError(ByteBuffer out, int option, int type, String message) {
        byte[] m = utf8(message, Nbd.MAX_STRING);
        optionReplyHeader(out, option, type, m.length);
        out.put(m);
    }

    /**
     * The size of an error option reply.
     *
     * @param message the message, as passed to {@link #optionError}; null for none
     * @return the bytes {@link #optionError} writes for {@code message}
     */
    public static int optionErrorSize(String message) {
        return Nbd.OPTION_REPLY_HEADER_SIZE + utf8(message, Nbd.MAX_STRING).length;
    }

    /**
     * The NBD_OPT_EXPORT_NAME reply: size, transmission flags, 124 zeroes unless NO_ZEROES
     * (10 or 134 bytes).
     *
     * @param out the buffer to write to
     * @param size the export size in bytes
     * @param transmissionFlags the 16-bit transmission flags (see {@link NbdExport#transmissionFlags})
     * @param noZeroes whether the client set {@link Nbd#FLAG_C_NO_ZEROES}, so the zeroes are left out
     */
    public static void exportNameReply(ByteBuffer out, long size, int transmissionFlags, boolean noZeroes) {
        out.putLong(size).putShort((short) transmissionFlags);
        if (!noZeroes) {
            out.put(new byte[124]);
        }
    }

    // ---- handshake, client side ----

    /**
     * A client option: IHAVEOPT, option, payload length, payload (16 bytes plus the payload).
     *
     * @param out the buffer to write to
     * @param option the option ({@code Nbd.OPT_*})
     * @param payload the option data, empty for none
     */
    public static void option(ByteBuffer out, int option, byte[] payload) {
        out.putLong(Nbd.IHAVEOPT).putInt(option).putInt(payload.length).put(payload);
    }

    /**
     * The payload of NBD_OPT_INFO / NBD_OPT_GO: name length, name, info request count, requests.
     *
     * @param exportName the export to describe or choose ("" for the default export)
     * @param infoRequests the information asked for ({@code Nbd.INFO_*}), none for the defaults
     * @return a new array holding the payload, for {@link #option}
     */
    public static byte[] infoPayload(String exportName, int... infoRequests) {
        byte[] name = exportName.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(4 + name.length + 2 + 2 * infoRequests.length);
        b.putInt(name.length).put(name).putShort((short) infoRequests.length);
        for (int r : infoRequests) {
            b.putShort((short) r);
        }
        return b.array();
    }

    /**
     * The payload of NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT: name length, name,
     * query count, then each query's length and bytes.
     *
     * @param exportName the export whose contexts are meant
     * @param queries the context names or queries, e.g. {@link Nbd#CONTEXT_BASE_ALLOCATION};
     *     none asks LIST_META_CONTEXT for every context
     * @return a new array holding the payload, for {@link #option}
     */
    public static byte[] metaContextPayload(String exportName, String... queries) {
        byte[] name = exportName.getBytes(StandardCharsets.UTF_8);
        byte[][] q = new byte[queries.length][];
        int size = 4 + name.length + 4;
        for (int i = 0; i < queries.length; i++) {
            q[i] = queries[i].getBytes(StandardCharsets.UTF_8);
            size += 4 + q[i].length;
        }
        ByteBuffer b = ByteBuffer.allocate(size);
        b.putInt(name.length).put(name).putInt(q.length);
        for (byte[] x : q) {
            b.putInt(x.length).put(x);
        }
        return b.array();
    }

    // ---- transmission, server side ----

    /**
     * A simple reply header (16 bytes); a successful READ's data follows it.
     *
     * @param out the buffer to write to
     * @param error the NBD error value ({@code Nbd.E*}), 0 for success
     * @param handle the request's handle, echoed
     */
    public static void simpleReply(ByteBuffer out, int error, long handle) {
        out.putInt(Nbd.SIMPLE_REPLY_MAGIC).putInt(error).putLong(handle);
    }

    /**
     * A structured reply chunk header (20 bytes); {@code length} payload bytes follow.
     *
     * @param out the buffer to write to
     * @param flags the chunk flags ({@link Nbd#REPLY_FLAG_DONE} on the last chunk)
     * @param type the chunk type ({@code Nbd.REPLY_TYPE_*})
     * @param handle the request's handle, echoed
     * @param length the number of payload bytes that follow (unsigned 32-bit)
     */
    public static void chunkHeader(ByteBuffer out, int flags, int type, long handle, int length) {
        out.putInt(Nbd.STRUCTURED_REPLY_MAGIC).putShort((short) flags).putShort((short) type).putLong(handle)
                .putInt(length);
    }

    /**
     * An extended reply chunk header (32 bytes): like a structured one, plus the request's
     * offset, with a 64-bit payload length.
     *
     * @param out the buffer to write to
     * @param flags the chunk flags ({@link Nbd#REPLY_FLAG_DONE} on the last chunk)
     * @param type the chunk type ({@code Nbd.REPLY_TYPE_*})
     * @param handle the request's handle, echoed
     * @param requestOffset the request's offset, echoed
     * @param length the number of payload bytes that follow
     */
    public static void extendedChunkHeader(ByteBuffer out, int flags, int type, long handle, long requestOffset,
            long length) {
        out.putInt(Nbd.EXTENDED_REPLY_MAGIC).putShort((short) flags).putShort((short) type).putLong(handle)
                .putLong(requestOffset).putLong(length);
    }

    /**
     * A chunk header in the session's form: extended ({@code ext}: 32 bytes, carrying
     * {@code requestOffset}) or structured (20 bytes; {@code length} must fit 32 bits).
     *
     * @param out the buffer to write to
     * @param ext whether the session negotiated extended headers
     * @param flags the chunk flags ({@link Nbd#REPLY_FLAG_DONE} on the last chunk)
     * @param type the chunk type ({@code Nbd.REPLY_TYPE_*})
     * @param handle the request's handle, echoed
     * @param requestOffset the request's offset, echoed in an extended header, ignored otherwise
     * @param length the number of payload bytes that follow
     */
    public static void chunkHeader(ByteBuffer out, boolean ext, int flags, int type, long handle, long requestOffset,
            long length) {
        if (ext) {
            extendedChunkHeader(out, flags, type, handle, requestOffset, length);
        } else {
            chunkHeader(out, flags, type, handle, (int) length);
        }
    }

    /**
     * The size of a chunk header in the session's form.
     *
     * @param ext whether the session negotiated extended headers
     * @return {@link Nbd#EXTENDED_CHUNK_HEADER_SIZE} or {@link Nbd#CHUNK_HEADER_SIZE} bytes
     */
    public static int chunkHeaderSize(boolean ext) {
        return ext ? Nbd.EXTENDED_CHUNK_HEADER_SIZE : Nbd.CHUNK_HEADER_SIZE;
    }

    /**
     * An OFFSET_DATA chunk up to its data (28 bytes, structured form); {@code dataLength} data
     * bytes must follow.
     *
     * @param out the buffer to write to
     * @param flags the chunk flags ({@link Nbd#REPLY_FLAG_DONE} on the last chunk)
     * @param handle the request's handle, echoed
     * @param offset the export offset of the first data byte
     * @param dataLength the number of data bytes that follow, at least 1
     */
    public static void offsetDataPrefix(ByteBuffer out, int flags, long handle, long offset, int dataLength) {
        offsetDataPrefix(out, false, flags, handle, 0, offset, dataLength);
    }

    /**
     * An OFFSET_DATA chunk up to its data, in the session's header form (the chunk header and
     * an 8-byte offset); {@code dataLength} data bytes must follow.
     *
     * @param out the buffer to write to
     * @param ext whether the session negotiated extended headers
     * @param flags the chunk flags ({@link Nbd#REPLY_FLAG_DONE} on the last chunk)
     * @param handle the request's handle, echoed
     * @param requestOffset the request's offset, echoed in an extended header, ignored otherwise
     * @param offset the export offset of the first data byte
     * @param dataLength the number of data bytes that follow, at least 1
     */
    public static void offsetDataPrefix(ByteBuffer out, boolean ext, int flags, long handle, long requestOffset,
            long offset, int dataLength) {
        chunkHeader(out, ext, flags, Nbd.REPLY_TYPE_OFFSET_DATA, handle, requestOffset, dataLength + 8L);
        out.putLong(offset);
    }

    /**
     * A whole OFFSET_HOLE chunk (32 bytes, structured form): a range of the READ that reads as
     * zeroes.
     *
     * @param out the buffer to write to
     * @param flags the chunk flags ({@link Nbd#REPLY_FLAG_DONE} on the last chunk)
     * @param handle the request's handle, echoed
     * @param offset the export offset where the hole starts
     * @param holeLength the hole's length in bytes, at least 1
     */
    public static void offsetHole(ByteBuffer out, int flags, long handle, long offset, int holeLength) {
        offsetHole(out, false, flags, handle, 0, offset, holeLength);
    }

    /**
     * A whole OFFSET_HOLE chunk in the session's header form (the chunk header and 12 bytes).
     *
     * @param out the buffer to write to
     * @param ext whether the session negotiated extended headers
     * @param flags the chunk flags ({@link Nbd#REPLY_FLAG_DONE} on the last chunk)
     * @param handle the request's handle, echoed
     * @param requestOffset the request's offset, echoed in an extended header, ignored otherwise
     * @param offset the export offset where the hole starts
     * @param holeLength the hole's length in bytes, at least 1
     */
    public static void offsetHole(ByteBuffer out, boolean ext, int flags, long handle, long requestOffset, long offset,
            int holeLength) {
        chunkHeader(out, ext, flags, Nbd.REPLY_TYPE_OFFSET_HOLE, handle, requestOffset, 12);
        out.putLong(offset).putInt(holeLength);
    }

    /**
     * A NONE chunk with the DONE flag (20 bytes, structured form): the request succeeded and
     * its reply is complete.
     *
     * @param out the buffer to write to
     * @param handle the request's handle, echoed
     */
    public static void noneChunk(ByteBuffer out, long handle) {
        noneChunk(out, false, handle, 0);
    }

    /**
     * A NONE chunk with the DONE flag in the session's header form (with extended headers, the
     * success reply of every command without data).
     *
     * @param out the buffer to write to
     * @param ext whether the session negotiated extended headers
     * @param handle the request's handle, echoed
     * @param requestOffset the request's offset, echoed in an extended header, ignored otherwise
     */
    public static void noneChunk(ByteBuffer out, boolean ext, long handle, long requestOffset) {
        chunkHeader(out, ext, Nbd.REPLY_FLAG_DONE, Nbd.REPLY_TYPE_NONE, handle, requestOffset, 0);
    }

    /**
     * An ERROR chunk (structured form) with a message cut to {@link #MAX_ERROR_MESSAGE} UTF-8
     * bytes; {@link #errorChunkSize(String)} bytes in all.
     *
     * @param out the buffer to write to
     * @param flags the chunk flags ({@link Nbd#REPLY_FLAG_DONE} on the last chunk)
     * @param handle the request's handle, echoed
     * @param error the NBD error value ({@code Nbd.E*}), not 0
     * @param message the message for the client; null sends none
     */
    public static void errorChunk(ByteBuffer out, int flags, long handle, int error, String message) {
        errorChunk(out, false, flags, handle, 0, error, message);
    }

    /**
     * An ERROR chunk in the session's header form, with a message cut to
     * {@link #MAX_ERROR_MESSAGE} UTF-8 bytes; {@link #errorChunkSize(boolean, String)} bytes in all.
     *
     * @param out the buffer to write to
     * @param ext whether the session negotiated extended headers
     * @param flags the chunk flags ({@link Nbd#REPLY_FLAG_DONE} on the last chunk)
     * @param handle the request's handle, echoed
     * @param requestOffset the request's offset, echoed in an extended header, ignored otherwise
     * @param error the NBD error value ({@code Nbd.E*}), not 0
     * @param message the message for the client; null sends none
     */
    public static void errorChunk(ByteBuffer out, boolean ext, int flags, long handle, long requestOffset, int error,
            String message) {
        byte[] m = utf8(message, MAX_ERROR_MESSAGE);
        chunkHeader(out, ext, flags, Nbd.REPLY_TYPE_ERROR, handle, requestOffset, 6 + m.length);
        out.putInt(error).putShort((short) m.length).put(m);
    }

    /**
     * The size of a structured-form error chunk.
     *
     * @param message the message, as passed to {@link #errorChunk(ByteBuffer, int, long, int, String)}
     * @return the bytes that method writes for {@code message}
     */
    public static int errorChunkSize(String message) {
        return errorChunkSize(false, message);
    }

    /**
     * The size of an error chunk in the session's header form.
     *
     * @param ext whether the session negotiated extended headers
     * @param message the message, as passed to
     *     {@link #errorChunk(ByteBuffer, boolean, int, long, long, int, String)}
     * @return the bytes that method writes for {@code message}
     */
    public static int errorChunkSize(boolean ext, String message) {
        return chunkHeaderSize(ext) + 6 + utf8(message, MAX_ERROR_MESSAGE).length;
    }

    /**
     * A BLOCK_STATUS chunk (structured form): context id and {@code count} descriptors (32-bit
     * length, 32-bit status flags); 24 + 8 * {@code count} bytes.
     *
     * @param out the buffer to write to
     * @param flags the chunk flags ({@link Nbd#REPLY_FLAG_DONE} on the last chunk)
     * @param handle the request's handle, echoed
     * @param contextId the metadata context id, as NBD_REP_META_CONTEXT announced it
     * @param lengths the descriptors' lengths in bytes; the first {@code count} are sent
     * @param statuses the descriptors' status flags (e.g. {@link Nbd#STATE_HOLE}); the first {@code count} are sent
     * @param count the number of descriptors
     */
    public static void blockStatusChunk(ByteBuffer out, int flags, long handle, int contextId, int[] lengths,
            int[] statuses, int count) {
        chunkHeader(out, flags, Nbd.REPLY_TYPE_BLOCK_STATUS, handle, 4 + 8 * count);
        out.putInt(contextId);
        for (int i = 0; i < count; i++) {
            out.putInt(lengths[i]).putInt(statuses[i]);
        }
    }

    /**
     * A block status chunk in the session's form: BLOCK_STATUS_EXT with extended headers
     * (context id, descriptor count, 64-bit length and status per descriptor), else
     * BLOCK_STATUS (context id, 32-bit length and status; each length must fit 32 bits);
     * {@link #blockStatusChunkSize} bytes.
     *
     * @param out the buffer to write to
     * @param ext whether the session negotiated extended headers
     * @param flags the chunk flags ({@link Nbd#REPLY_FLAG_DONE} on the last chunk)
     * @param handle the request's handle, echoed
     * @param requestOffset the request's offset, echoed in an extended header, ignored otherwise
     * @param contextId the metadata context id, as NBD_REP_META_CONTEXT announced it
     * @param lengths the descriptors' lengths in bytes; the first {@code count} are sent
     * @param statuses the descriptors' status flags (e.g. {@link Nbd#STATE_HOLE}); the first {@code count} are sent
     * @param count the number of descriptors
     */
    public static void blockStatusChunk(ByteBuffer out, boolean ext, int flags, long handle, long requestOffset,
            int contextId, long[] lengths, long[] statuses, int count) {
        if (ext) {
            extendedChunkHeader(out, flags, Nbd.REPLY_TYPE_BLOCK_STATUS_EXT, handle, requestOffset, 8 + 16L * count);
            out.putInt(contextId).putInt(count);
            for (int i = 0; i < count; i++) {
                out.putLong(lengths[i]).putLong(statuses[i]);
            }
        } else {
            chunkHeader(out, flags, Nbd.REPLY_TYPE_BLOCK_STATUS, handle, 4 + 8 * count);
            out.putInt(contextId);
            for (int i = 0; i < count; i++) {
                out.putInt((int) lengths[i]).putInt((int) statuses[i]);
            }
        }
    }

    /**
     * The size of a block status chunk in the session's form.
     *
     * @param ext whether the session negotiated extended headers
     * @param count the number of descriptors
     * @return the bytes
     *     {@link #blockStatusChunk(ByteBuffer, boolean, int, long, long, int, long[], long[], int)} writes
     */
    public static int blockStatusChunkSize(boolean ext, int count) {
        return ext ? Nbd.EXTENDED_CHUNK_HEADER_SIZE + 8 + 16 * count : Nbd.CHUNK_HEADER_SIZE + 4 + 8 * count;
    }

    /** UTF-8 bytes of {@code s}, cut to at most {@code max} bytes (on a character boundary). */
    static byte[] utf8(String s, int max) {
        byte[] b = (s == null ? "" : s).getBytes(StandardCharsets.UTF_8);
        if (b.length <= max) {
            return b;
        }
        int n = max;
        while (n > 0 && (b[n] & 0xC0) == 0x80) {
            n--; // do not split a multi-byte character
        }
        return java.util.Arrays.copyOf(b, n);
    }
}
