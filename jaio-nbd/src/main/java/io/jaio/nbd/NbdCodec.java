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

    /** The 18-byte greeting: NBDMAGIC, IHAVEOPT, handshake flags. */
    public static void greeting(ByteBuffer out, int handshakeFlags) {
        out.putLong(Nbd.NBDMAGIC).putLong(Nbd.IHAVEOPT).putShort((short) handshakeFlags);
    }

    /** An option reply header (20 bytes); {@code length} payload bytes must follow. */
    public static void optionReplyHeader(ByteBuffer out, int option, int type, int length) {
        out.putLong(Nbd.REPLY_MAGIC).putInt(option).putInt(type).putInt(length);
    }

    /** An option reply with no payload (e.g. {@link Nbd#REP_ACK}). */
    public static void optionReply(ByteBuffer out, int option, int type) {
        optionReplyHeader(out, option, type, 0);
    }

    /** An error option reply carrying a human-readable message (truncated to the string limit). */
    public static void optionError(ByteBuffer out, int option, int type, String message) {
        byte[] m = utf8(message, Nbd.MAX_STRING);
        optionReplyHeader(out, option, type, m.length);
        out.put(m);
    }

    /** Bytes {@link #optionError} writes for {@code message}. */
    public static int optionErrorSize(String message) {
        return Nbd.OPTION_REPLY_HEADER_SIZE + utf8(message, Nbd.MAX_STRING).length;
    }

    /** The NBD_OPT_EXPORT_NAME reply: size, transmission flags, 124 zeroes unless NO_ZEROES. */
    public static void exportNameReply(ByteBuffer out, long size, int transmissionFlags, boolean noZeroes) {
        out.putLong(size).putShort((short) transmissionFlags);
        if (!noZeroes) {
            out.put(new byte[124]);
        }
    }

    // ---- handshake, client side ----

    /** A client option: IHAVEOPT, option, payload length, payload. */
    public static void option(ByteBuffer out, int option, byte[] payload) {
        out.putLong(Nbd.IHAVEOPT).putInt(option).putInt(payload.length).put(payload);
    }

    /** The payload of NBD_OPT_INFO / NBD_OPT_GO: name length, name, info request count, requests. */
    public static byte[] infoPayload(String exportName, int... infoRequests) {
        byte[] name = exportName.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(4 + name.length + 2 + 2 * infoRequests.length);
        b.putInt(name.length).put(name).putShort((short) infoRequests.length);
        for (int r : infoRequests) {
            b.putShort((short) r);
        }
        return b.array();
    }

    /** The payload of NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT. */
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

    /** A simple reply header (16 bytes); a successful READ's data follows it. */
    public static void simpleReply(ByteBuffer out, int error, long handle) {
        out.putInt(Nbd.SIMPLE_REPLY_MAGIC).putInt(error).putLong(handle);
    }

    /** A structured reply chunk header (20 bytes); {@code length} payload bytes follow. */
    public static void chunkHeader(ByteBuffer out, int flags, int type, long handle, int length) {
        out.putInt(Nbd.STRUCTURED_REPLY_MAGIC).putShort((short) flags).putShort((short) type).putLong(handle)
                .putInt(length);
    }

    /**
     * An extended reply chunk header (32 bytes): like a structured one, plus the request's
     * offset, with a 64-bit payload length.
     */
    public static void extendedChunkHeader(ByteBuffer out, int flags, int type, long handle, long requestOffset,
            long length) {
        out.putInt(Nbd.EXTENDED_REPLY_MAGIC).putShort((short) flags).putShort((short) type).putLong(handle)
                .putLong(requestOffset).putLong(length);
    }

    /**
     * A chunk header in the session's form: extended ({@code ext}: 32 bytes, carrying
     * {@code requestOffset}) or structured (20 bytes; {@code length} must fit 32 bits).
     */
    public static void chunkHeader(ByteBuffer out, boolean ext, int flags, int type, long handle, long requestOffset,
            long length) {
        if (ext) {
            extendedChunkHeader(out, flags, type, handle, requestOffset, length);
        } else {
            chunkHeader(out, flags, type, handle, (int) length);
        }
    }

    /** Bytes of a chunk header in the session's form. */
    public static int chunkHeaderSize(boolean ext) {
        return ext ? Nbd.EXTENDED_CHUNK_HEADER_SIZE : Nbd.CHUNK_HEADER_SIZE;
    }

    /** An OFFSET_DATA chunk up to its data (28 bytes); {@code dataLength} (>= 1) data bytes follow. */
    public static void offsetDataPrefix(ByteBuffer out, int flags, long handle, long offset, int dataLength) {
        offsetDataPrefix(out, false, flags, handle, 0, offset, dataLength);
    }

    /** An OFFSET_DATA chunk up to its data, in the session's header form. */
    public static void offsetDataPrefix(ByteBuffer out, boolean ext, int flags, long handle, long requestOffset,
            long offset, int dataLength) {
        chunkHeader(out, ext, flags, Nbd.REPLY_TYPE_OFFSET_DATA, handle, requestOffset, dataLength + 8L);
        out.putLong(offset);
    }

    /** A whole OFFSET_HOLE chunk (32 bytes). */
    public static void offsetHole(ByteBuffer out, int flags, long handle, long offset, int holeLength) {
        offsetHole(out, false, flags, handle, 0, offset, holeLength);
    }

    /** A whole OFFSET_HOLE chunk in the session's header form. */
    public static void offsetHole(ByteBuffer out, boolean ext, int flags, long handle, long requestOffset, long offset,
            int holeLength) {
        chunkHeader(out, ext, flags, Nbd.REPLY_TYPE_OFFSET_HOLE, handle, requestOffset, 12);
        out.putLong(offset).putInt(holeLength);
    }

    /** A NONE chunk with the DONE flag (20 bytes). */
    public static void noneChunk(ByteBuffer out, long handle) {
        noneChunk(out, false, handle, 0);
    }

    /**
     * A NONE chunk with the DONE flag in the session's header form (with extended headers, the
     * success reply of every command without data).
     */
    public static void noneChunk(ByteBuffer out, boolean ext, long handle, long requestOffset) {
        chunkHeader(out, ext, Nbd.REPLY_FLAG_DONE, Nbd.REPLY_TYPE_NONE, handle, requestOffset, 0);
    }

    /** An ERROR chunk with a message (truncated to {@link #MAX_ERROR_MESSAGE} bytes). */
    public static void errorChunk(ByteBuffer out, int flags, long handle, int error, String message) {
        errorChunk(out, false, flags, handle, 0, error, message);
    }

    /** An ERROR chunk in the session's header form. */
    public static void errorChunk(ByteBuffer out, boolean ext, int flags, long handle, long requestOffset, int error,
            String message) {
        byte[] m = utf8(message, MAX_ERROR_MESSAGE);
        chunkHeader(out, ext, flags, Nbd.REPLY_TYPE_ERROR, handle, requestOffset, 6 + m.length);
        out.putInt(error).putShort((short) m.length).put(m);
    }

    /** Bytes {@link #errorChunk} writes for {@code message}. */
    public static int errorChunkSize(String message) {
        return errorChunkSize(false, message);
    }

    /** Bytes {@link #errorChunk} writes for {@code message} in the session's header form. */
    public static int errorChunkSize(boolean ext, String message) {
        return chunkHeaderSize(ext) + 6 + utf8(message, MAX_ERROR_MESSAGE).length;
    }

    /** A BLOCK_STATUS chunk: context id and {@code count} descriptors (length, status flags). */
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
     * BLOCK_STATUS (context id, 32-bit length and status; each length must fit 32 bits).
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

    /** Bytes {@link #blockStatusChunk(ByteBuffer, boolean, int, long, long, int, long[], long[], int)} writes. */
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
