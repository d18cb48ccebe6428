package io.jaio.nbd;

import java.nio.ByteBuffer;

/**
 * One transmission-phase request header: command flags, type, handle (the client's cookie,
 * echoed in the reply), offset and length, in the compact form (28 bytes, 32-bit length) or,
 * after NBD_OPT_EXTENDED_HEADERS, the extended form (32 bytes, 64-bit length: a payload length
 * with {@link Nbd#CMD_FLAG_PAYLOAD_LEN}, else an effect length). {@code offset} and
 * {@code length} are unsigned 64-bit values kept in Java's {@code long}. Immutable; any thread.
 *
 * @param flags the 16-bit command flags ({@code Nbd.CMD_FLAG_*}), unsigned
 * @param type the 16-bit command type ({@code Nbd.CMD_*}), unsigned; unknown types are kept
 * @param handle the client's cookie, echoed in every reply to this request
 * @param offset the export offset in bytes (unsigned)
 * @param length the length in bytes (unsigned): the effect length, or with
 *     {@link Nbd#CMD_FLAG_PAYLOAD_LEN} the payload length
 * @param extended whether the request uses the extended (32-byte) header
 */
public record NbdRequest(int flags, int type, long handle, long offset, long length, boolean extended) {

    /**
     * A compact request; {@code length} is the unsigned 32-bit value of the wire.
     *
     * @param flags the 16-bit command flags ({@code Nbd.CMD_FLAG_*})
     * @param type the 16-bit command type ({@code Nbd.CMD_*})
     * @param handle the client's cookie, echoed in the reply
     * @param offset the export offset in bytes (unsigned)
     * @param length the length in bytes, read as an unsigned 32-bit value
     */
    public NbdRequest(int flags, int type, long handle, long offset, int length) {
        this(flags, type, handle, offset, Integer.toUnsignedLong(length), false);
    }

    /**
     * Bytes of payload that follow the header on the wire: a compact WRITE's length; an
     * extended request's length when it carries {@link Nbd#CMD_FLAG_PAYLOAD_LEN}; else 0.
     * Any thread.
     *
     * @return the payload length in bytes (unsigned)
     */
    public long payloadLength() {
        if (extended) {
            return (flags & Nbd.CMD_FLAG_PAYLOAD_LEN) != 0 ? length : 0;
        }
        return type == Nbd.CMD_WRITE ? length : 0;
    }

    /**
     * The size of this request's header on the wire. Any thread.
     *
     * @return {@link Nbd#EXTENDED_REQUEST_SIZE} or {@link Nbd#REQUEST_SIZE} bytes
     */
    public int headerSize() {
        return extended ? Nbd.EXTENDED_REQUEST_SIZE : Nbd.REQUEST_SIZE;
    }

    /**
     * Decodes the 28-byte compact request at {@code in}'s position (advancing it). Any thread; no I/O.
     *
     * @param in a big-endian buffer holding the header at its position
     * @return the request
     * @throws NbdProtocolException if fewer than 28 bytes remain or the magic is wrong
     */
    public static NbdRequest decode(ByteBuffer in) {
        return decode(in, false);
    }

    /**
     * Decodes a request in the form the session agreed on: extended (32 bytes, magic
     * {@link Nbd#EXTENDED_REQUEST_MAGIC}) or compact (28 bytes, {@link Nbd#REQUEST_MAGIC}).
     * Any thread; no I/O.
     *
     * @param in a big-endian buffer holding the header at its position
     * @param extended whether the session negotiated extended headers
     * @return the request
     * @throws NbdProtocolException if the header is short or its magic is not the agreed one
     */
    public static NbdRequest decode(ByteBuffer in, boolean extended) {
        int size = extended ? Nbd.EXTENDED_REQUEST_SIZE : Nbd.REQUEST_SIZE;
        if (in.remaining() < size) {
            throw new NbdProtocolException("short request header: " + in.remaining() + " of " + size + " bytes");
        }
        int magic = in.getInt();
        int want = extended ? Nbd.EXTENDED_REQUEST_MAGIC : Nbd.REQUEST_MAGIC;
        if (magic != want) {
            throw new NbdProtocolException(String.format("bad request magic 0x%08x (%s headers expect 0x%08x)", magic,
                    extended ? "extended" : "compact", want));
        }
        int flags = Short.toUnsignedInt(in.getShort());
        int type = Short.toUnsignedInt(in.getShort());
        long handle = in.getLong();
        long offset = in.getLong();
        long length = extended ? in.getLong() : Integer.toUnsignedLong(in.getInt());
        return new NbdRequest(flags, type, handle, offset, length, extended);
    }

    /**
     * Encodes this request's header ({@link #headerSize()} bytes) at {@code out}'s position,
     * advancing it; a WRITE's payload is the caller's to write next. Any thread.
     *
     * @param out a big-endian buffer with room for the header
     * @throws IllegalArgumentException if a compact request's length does not fit 32 bits
     */
    public void encode(ByteBuffer out) {
        if (extended) {
            out.putInt(Nbd.EXTENDED_REQUEST_MAGIC).putShort((short) flags).putShort((short) type).putLong(handle)
                    .putLong(offset).putLong(length);
        } else {
            if ((length >>> 32) != 0) {
                throw new IllegalArgumentException("compact request length " + Long.toUnsignedString(length)
                        + " does not fit 32 bits");
            }
            out.putInt(Nbd.REQUEST_MAGIC).putShort((short) flags).putShort((short) type).putLong(handle)
                    .putLong(offset).putInt((int) length);
        }
    }

    @Override
    public String toString() {
        return Nbd.commandName(type) + "[flags=0x" + Integer.toHexString(flags) + ", handle=" + handle + ", offset="
                + Long.toUnsignedString(offset) + ", length=" + Long.toUnsignedString(length)
                + (extended ? ", extended" : "") + "]";
    }
}
