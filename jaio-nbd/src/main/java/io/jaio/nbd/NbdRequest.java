package io.jaio.nbd;

import java.nio.ByteBuffer;

/**
 * One transmission-phase request header (28 bytes on the wire): command flags, type, handle
 * (the client's cookie, echoed in the reply), offset and length. {@code offset} is an unsigned
 * 64-bit value and {@code length} an unsigned 32-bit value kept in Java's signed types; use
 * {@link #lengthUnsigned()} for arithmetic.
 */
public record NbdRequest(int flags, int type, long handle, long offset, int length) {

    /** The length as the unsigned value it is on the wire. */
    public long lengthUnsigned() {
        return Integer.toUnsignedLong(length);
    }

    /**
     * Decodes the 28 bytes at {@code in}'s position (advancing it). Any thread; no I/O.
     *
     * @throws NbdProtocolException if fewer than 28 bytes remain or the magic is wrong
     */
    public static NbdRequest decode(ByteBuffer in) {
        if (in.remaining() < Nbd.REQUEST_SIZE) {
            throw new NbdProtocolException("short request header: " + in.remaining() + " of " + Nbd.REQUEST_SIZE
                    + " bytes");
        }
        int magic = in.getInt();
        if (magic != Nbd.REQUEST_MAGIC) {
            throw new NbdProtocolException(String.format("bad request magic 0x%08x", magic));
        }
        int flags = Short.toUnsignedInt(in.getShort());
        int type = Short.toUnsignedInt(in.getShort());
        long handle = in.getLong();
        long offset = in.getLong();
        int length = in.getInt();
        return new NbdRequest(flags, type, handle, offset, length);
    }

    /** Encodes this request (28 bytes) at {@code out}'s position. */
    public void encode(ByteBuffer out) {
        out.putInt(Nbd.REQUEST_MAGIC).putShort((short) flags).putShort((short) type).putLong(handle)
                .putLong(offset).putInt(length);
    }

    @Override
    public String toString() {
        return Nbd.commandName(type) + "[flags=0x" + Integer.toHexString(flags) + ", handle=" + handle + ", offset="
                + Long.toUnsignedString(offset) + ", length=" + Integer.toUnsignedString(length) + "]";
    }
}
