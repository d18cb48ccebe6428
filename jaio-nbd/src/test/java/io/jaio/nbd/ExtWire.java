package io.jaio.nbd;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A checking decoder of extended replies (32-byte chunk headers) for tests: every chunk must
 * name the request's cookie and offset, have a length that fits, a known type, and the reply
 * must end with exactly one DONE chunk and use up the bytes given.
 */
final class ExtWire {
    private ExtWire() {}

    /** What a reply said: error (0 = success), a READ's data, block-status descriptors. */
    record Decoded(int error, String message, byte[] data, int contextId, List<long[]> extents, int chunks) {}

    static Decoded decode(byte[] bytes, NbdRequest r) {
        ByteBuffer b = ByteBuffer.wrap(bytes);
        boolean read = r.type() == Nbd.CMD_READ;
        // A READ longer than the maximum payload can only be answered with an error.
        byte[] data = read && Long.compareUnsigned(r.length(), Nbd.MAX_PAYLOAD) <= 0 ? new byte[(int) r.length()] : null;
        long covered = 0;
        int error = 0;
        String message = null;
        int context = -1;
        List<long[]> extents = new ArrayList<>();
        int chunks = 0;
        boolean done = false;
        while (!done) {
            assertTrue(b.remaining() >= Nbd.EXTENDED_CHUNK_HEADER_SIZE, "truncated chunk header");
            assertEquals(Nbd.EXTENDED_REPLY_MAGIC, b.getInt(), "extended reply magic");
            int flags = Short.toUnsignedInt(b.getShort());
            int type = Short.toUnsignedInt(b.getShort());
            assertEquals(r.handle(), b.getLong(), "cookie");
            assertEquals(r.offset(), b.getLong(), "the chunk carries the request's offset");
            long len = b.getLong();
            assertTrue(len >= 0 && len <= b.remaining(), "chunk length " + len + " within the reply");
            assertEquals(0, flags & ~Nbd.REPLY_FLAG_DONE, "known reply flags");
            done = (flags & Nbd.REPLY_FLAG_DONE) != 0;
            chunks++;
            int end = b.position() + (int) len;
            switch (type) {
                case Nbd.REPLY_TYPE_NONE -> {
                    assertEquals(0, len);
                    assertTrue(done, "NONE only as the final chunk");
                }
                case Nbd.REPLY_TYPE_OFFSET_DATA, Nbd.REPLY_TYPE_OFFSET_HOLE -> {
                    assertTrue(data != null, "data chunks only for a READ of at most the maximum payload");
                    long off = b.getLong();
                    long n = type == Nbd.REPLY_TYPE_OFFSET_HOLE ? Integer.toUnsignedLong(b.getInt()) : len - 8;
                    assertTrue(n > 0, "a data or hole chunk covers bytes");
                    assertTrue(Long.compareUnsigned(off, r.offset()) >= 0 && off - r.offset() + n <= r.length(),
                            "chunk inside the request");
                    if (type == Nbd.REPLY_TYPE_OFFSET_DATA) {
                        b.get(data, (int) (off - r.offset()), (int) n);
                    } else {
                        assertEquals(12, len);
                    }
                    covered += n;
                }
                case Nbd.REPLY_TYPE_BLOCK_STATUS_EXT -> {
                    assertEquals(Nbd.CMD_BLOCK_STATUS, r.type());
                    context = b.getInt();
                    int count = b.getInt();
                    assertTrue(count > 0, "at least one descriptor");
                    assertEquals(8 + 16L * count, len, "length = 8 + 16 * count");
                    for (int i = 0; i < count; i++) {
                        long l = b.getLong();
                        long st = b.getLong();
                        assertTrue(l != 0, "descriptor lengths are non-zero");
                        extents.add(new long[] {l, st});
                    }
                }
                case Nbd.REPLY_TYPE_ERROR -> {
                    error = b.getInt();
                    assertTrue(error != 0, "an error chunk carries an error");
                    int ml = Short.toUnsignedInt(b.getShort());
                    assertEquals(len, 6 + ml);
                    byte[] m = new byte[ml];
                    b.get(m);
                    message = new String(m, java.nio.charset.StandardCharsets.UTF_8);
                }
                default -> throw new AssertionError("unexpected chunk type " + type);
            }
            assertEquals(end, b.position(), "chunk payload used exactly");
        }
        assertEquals(0, b.remaining(), "nothing after the DONE chunk");
        if (read && error == 0) {
            assertTrue(data != null, "an oversized READ cannot succeed");
            assertEquals(r.length(), covered, "a successful READ covers every byte once");
        }
        return new Decoded(error, message, data, context, extents, chunks);
    }
}
