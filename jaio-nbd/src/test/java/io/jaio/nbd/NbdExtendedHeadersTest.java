package io.jaio.nbd;

import io.jaio.aio.IoThread;
import io.jaio.block.BlockBackend;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * NBD_OPT_EXTENDED_HEADERS: 32-byte requests with 64-bit lengths and NBD_CMD_FLAG_PAYLOAD_LEN,
 * 32-byte reply chunks carrying the request's offset, BLOCK_STATUS_EXT, no simple replies;
 * on byte arrays (codec, handshake, commands) and over a socket.
 */
class NbdExtendedHeadersTest {
    private final BufferPool pool = new BufferPool(64L << 20);
    private IoThread io;
    private NbdServer server;

    @AfterEach
    void tearDown() {
        if (server != null) {
            server.close();
        }
        if (io != null) {
            io.close();
        }
        assertEquals(0, pool.lentCount(), "every pooled buffer returned");
        pool.close();
    }

    private static NbdRequest ext(int type, int flags, long offset, long length) {
        return new NbdRequest(flags, type, 0x0102030405060708L, offset, length, true);
    }

    private static NbdSession extSession(BlockBackend be, boolean meta) {
        NbdExport e = NbdExport.builder("e", be).sparseReadMinimum(1).build();
        return new NbdSession(e, true, meta, e.transmissionFlags(true), true);
    }

    private ExtWire.Decoded run(NbdSession s, NbdRequest r, byte[] payload) {
        NbdCommands.Verdict v = NbdCommands.check(s, r, false);
        NbdReply reply;
        if (!v.ok()) {
            reply = NbdCommands.errorReply(s, r, v.error(), v.message(), pool);
        } else {
            BufferPool.Buffer buf = null;
            MemorySegment p = null;
            if (payload != null) {
                buf = pool.acquire(payload.length);
                p = buf.segment();
                MemorySegment.copy(payload, 0, p, ValueLayout.JAVA_BYTE, 0, payload.length);
            }
            reply = NbdCommands.execute(s, r, p, pool);
            pool.release(buf);
        }
        try {
            return ExtWire.decode(Wire.bytes(reply), r);
        } finally {
            reply.release();
        }
    }

    // ---- codec ----

    @Test
    void extendedRequestRoundTripsThroughTheWireFormat() {
        NbdRequest r = new NbdRequest(Nbd.CMD_FLAG_PAYLOAD_LEN | Nbd.CMD_FLAG_FUA, Nbd.CMD_WRITE, -2L,
                0xFFFF_FFFF_0000_0000L, 0x1_0000_0001L, true);
        ByteBuffer b = ByteBuffer.allocate(32);
        r.encode(b);
        assertEquals("21e41c7100210001fffffffffffffffeffffffff000000000000000100000001",
                HexFormat.of().formatHex(b.array()));
        assertEquals(r, NbdRequest.decode(b.flip(), true));
        assertEquals(0x1_0000_0001L, r.payloadLength());
        assertEquals(32, r.headerSize());
        assertEquals(0, ext(Nbd.CMD_WRITE, 0, 0, 5).payloadLength(), "no PAYLOAD_LEN: an effect length");
        assertEquals(7, ext(Nbd.CMD_READ, Nbd.CMD_FLAG_PAYLOAD_LEN, 0, 7).payloadLength());
        // Each form insists on its own magic and size.
        NbdProtocolException e = assertThrows(NbdProtocolException.class, () -> NbdRequest.decode(b.flip(), false));
        assertTrue(e.getMessage().contains("compact headers expect 0x25609513"), e.getMessage());
        ByteBuffer compact = ByteBuffer.allocate(32);
        new NbdRequest(0, Nbd.CMD_READ, 1, 0, 512).encode(compact);
        assertThrows(NbdProtocolException.class, () -> NbdRequest.decode(compact.flip(), true));
        assertThrows(NbdProtocolException.class, () -> NbdRequest.decode(ByteBuffer.allocate(31), true));
        assertThrows(IllegalArgumentException.class,
                () -> new NbdRequest(0, Nbd.CMD_TRIM, 1, 0, 1L << 32, false).encode(ByteBuffer.allocate(28)));
    }

    @Test
    void extendedChunkHeadersCarryTheRequestOffset() {
        ByteBuffer b = ByteBuffer.allocate(64);
        NbdCodec.noneChunk(b, true, 7, 0x1000);
        assertEquals("6e8a278c0001000000000000000000070000000000001000" + "0000000000000000",
                HexFormat.of().formatHex(b.array(), 0, b.position()));
        b.clear();
        NbdCodec.blockStatusChunk(b, true, Nbd.REPLY_FLAG_DONE, 7, 0, 1, new long[] {1L << 33}, new long[] {3}, 1);
        assertEquals(NbdCodec.blockStatusChunkSize(true, 1), b.position());
        assertEquals("6e8a278c00010006" + "0000000000000007" + "0000000000000000" + "0000000000000018"
                + "00000001" + "00000001" + "0000000200000000" + "0000000000000003",
                HexFormat.of().formatHex(b.array(), 0, b.position()));
    }

    // ---- handshake ----

    @Test
    void handshakeNegotiatesExtendedHeaders() {
        NbdHandshakeTest.Driver d = NbdHandshakeTest.fixed();
        assertEquals(Nbd.REP_ERR_INVALID, d.option(Nbd.OPT_EXTENDED_HEADERS, new byte[] {1}).single().type());
        assertEquals(Nbd.REP_ACK, d.option(Nbd.OPT_EXTENDED_HEADERS, new byte[0]).single().type());
        assertEquals(Nbd.REP_ERR_INVALID, d.option(Nbd.OPT_EXTENDED_HEADERS, new byte[0]).single().type());
        // Structured replies are implied (extended headers take precedence); meta contexts work.
        assertEquals(Nbd.REP_ERR_EXT_HEADER_REQD, d.option(Nbd.OPT_STRUCTURED_REPLY, new byte[0]).single().type());
        List<NbdHandshakeTest.OptReply> meta = d.option(Nbd.OPT_SET_META_CONTEXT,
                NbdCodec.metaContextPayload("disk", "base:allocation")).replies();
        assertEquals(Nbd.REP_META_CONTEXT, meta.get(0).type());
        d.option(Nbd.OPT_GO, NbdCodec.infoPayload("disk"));
        assertEquals(NbdHandshake.Next.TRANSMISSION, d.last);
        NbdSession s = d.hs.session();
        assertTrue(s.extendedHeaders() && s.structuredReplies() && s.baseAllocation());
        assertEquals(32, s.requestSize());
        assertTrue((s.transmissionFlags() & Nbd.FLAG_SEND_DF) != 0);
        assertEquals(0, s.transmissionFlags() & Nbd.FLAG_BLOCK_STATUS_PAYLOAD, "payload form not offered");
        // Structured replies first, then extended headers: an upgrade.
        NbdHandshakeTest.Driver u = NbdHandshakeTest.fixed();
        assertEquals(Nbd.REP_ACK, u.option(Nbd.OPT_STRUCTURED_REPLY, new byte[0]).single().type());
        assertEquals(Nbd.REP_ACK, u.option(Nbd.OPT_EXTENDED_HEADERS, new byte[0]).single().type());
        u.option(Nbd.OPT_GO, NbdCodec.infoPayload("disk"));
        assertTrue(u.hs.session().extendedHeaders());
        // Without the option: compact headers.
        NbdHandshakeTest.Driver c = NbdHandshakeTest.fixed().option(Nbd.OPT_GO, NbdCodec.infoPayload("disk"));
        assertFalse(c.hs.session().extendedHeaders());
        assertEquals(28, c.hs.session().requestSize());
    }

    // ---- commands ----

    @Test
    void everyReplyIsAnExtendedChunk() {
        MemoryBackend disk = new MemoryBackend(1 << 20);
        NbdSession s = extSession(disk, true);
        byte[] data = new byte[8192];
        new java.util.Random(5).nextBytes(data);
        ExtWire.Decoded w = run(s, ext(Nbd.CMD_WRITE, Nbd.CMD_FLAG_PAYLOAD_LEN, 65536, data.length), data);
        assertEquals(0, w.error());
        assertEquals(1, w.chunks(), "a NONE chunk, never a simple reply");
        assertTrue(disk.matches(65536, data));
        ExtWire.Decoded r = run(s, ext(Nbd.CMD_READ, 0, 65536 - 4096, 16384), null);
        assertEquals(0, r.error());
        assertArrayEquals(data, java.util.Arrays.copyOfRange(r.data(), 4096, 4096 + 8192));
        assertEquals(0, run(s, ext(Nbd.CMD_FLUSH, 0, 0, 0), null).error());
        assertEquals(0, run(s, ext(Nbd.CMD_READ, 0, 0, 0), null).error());
        ExtWire.Decoded bs = run(s, ext(Nbd.CMD_BLOCK_STATUS, 0, 0, 1 << 20), null);
        assertEquals(NbdSession.BASE_ALLOCATION_ID, bs.contextId());
        long sum = 0;
        for (long[] x : bs.extents()) {
            sum += x[0];
        }
        assertEquals(1 << 20, sum);
        // Errors are extended error chunks.
        ExtWire.Decoded e = run(s, ext(Nbd.CMD_READ, 0, 1 << 20, 512), null);
        assertEquals(Nbd.EINVAL, e.error());
        assertTrue(e.message().contains("beyond the end"), e.message());
    }

    @Test
    void payloadFlagRules() {
        MemoryBackend disk = new MemoryBackend(1 << 20);
        NbdSession s = extSession(disk, true);
        NbdCommands.Verdict v = NbdCommands.check(s, ext(Nbd.CMD_WRITE, 0, 0, 512), false);
        assertEquals(Nbd.EINVAL, v.error());
        assertTrue(v.message().contains("needs NBD_CMD_FLAG_PAYLOAD_LEN"), v.message());
        v = NbdCommands.check(s, ext(Nbd.CMD_READ, Nbd.CMD_FLAG_PAYLOAD_LEN, 0, 512), false);
        assertEquals(Nbd.EINVAL, v.error());
        assertFalse(v.disconnect(), "the payload is read and dropped");
        v = NbdCommands.check(s, ext(Nbd.CMD_BLOCK_STATUS, Nbd.CMD_FLAG_PAYLOAD_LEN, 0, 12), false);
        assertEquals(Nbd.EINVAL, v.error());
        v = NbdCommands.check(s, ext(Nbd.CMD_TRIM, Nbd.CMD_FLAG_PAYLOAD_LEN, 0, 3L * Nbd.MAX_PAYLOAD), false);
        assertTrue(v.disconnect(), "a payload too large to skip ends the connection");
        v = NbdCommands.check(s, ext(Nbd.CMD_WRITE, Nbd.CMD_FLAG_PAYLOAD_LEN, 0, -1L), false);
        assertTrue(v.disconnect(), "a 2^64-1 payload");
        // Compact sessions do not know the flag.
        NbdExport e = NbdExport.builder("c", disk).build();
        NbdSession compact = new NbdSession(e, true, true, e.transmissionFlags(true));
        v = NbdCommands.check(compact, new NbdRequest(Nbd.CMD_FLAG_PAYLOAD_LEN, Nbd.CMD_READ, 1, 0, 512), false);
        assertEquals(Nbd.EINVAL, v.error());
        assertTrue(v.message().contains("unknown command flags"), v.message());
    }

    /** An 8 GiB image: 1 GiB of data, then a hole (nothing is stored). */
    static final class Huge implements BlockBackend {
        long discarded;

        @Override
        public long size() {
            return 8L << 30;
        }

        @Override
        public boolean isReadOnly() {
            return false;
        }

        @Override
        public int alignment() {
            return 1;
        }

        @Override
        public boolean canDiscard() {
            return true;
        }

        @Override
        public void read(long offset, MemorySegment buf) {
            buf.fill((byte) 0);
        }

        @Override
        public void write(long offset, MemorySegment buf, boolean fua) {
        }

        @Override
        public void flush() {
        }

        @Override
        public void discard(long offset, long length, boolean fua) {
            discarded += length;
        }

        @Override
        public void writeZeroes(long offset, long length, boolean mayUnmap, boolean fastOnly, boolean fua) {
        }

        @Override
        public List<Extent> blockStatus(long offset, long length) {
            long dataEnd = 1L << 30;
            if (offset < dataEnd) {
                return List.of(new Extent(dataEnd - offset, false, false), new Extent(size() - dataEnd, true, true));
            }
            return List.of(new Extent(size() - offset, true, true));
        }

        @Override
        public void close() {
        }
    }

    @Test
    void effectLengthsBeyond32Bits() {
        Huge huge = new Huge();
        NbdSession s = extSession(huge, true);
        ExtWire.Decoded bs = run(s, ext(Nbd.CMD_BLOCK_STATUS, 0, 0, 6L << 30), null);
        assertEquals(2, bs.extents().size());
        assertArrayEquals(new long[] {1L << 30, 0}, bs.extents().get(0));
        assertArrayEquals(new long[] {5L << 30, Nbd.STATE_HOLE | Nbd.STATE_ZERO}, bs.extents().get(1));
        ExtWire.Decoded one = run(s, ext(Nbd.CMD_BLOCK_STATUS, Nbd.CMD_FLAG_REQ_ONE, 2L << 30, 5L << 30), null);
        assertEquals(1, one.extents().size());
        assertArrayEquals(new long[] {5L << 30, 3}, one.extents().get(0));
        assertEquals(0, run(s, ext(Nbd.CMD_TRIM, 0, 1L << 30, 7L << 30), null).error());
        assertEquals(7L << 30, huge.discarded);
        assertEquals(Nbd.EINVAL, run(s, ext(Nbd.CMD_TRIM, 0, 1L << 30, 7L << 30 | 1), null).error());
        assertEquals(Nbd.EINVAL, run(s, ext(Nbd.CMD_READ, 0, 0, (long) Nbd.MAX_PAYLOAD + 1), null).error());
        assertEquals(Nbd.EINVAL, run(s, ext(Nbd.CMD_TRIM, 0, 0, Long.MIN_VALUE), null).error(), "2^63");
    }

    // ---- over a socket ----

    @Test
    void aSessionWithExtendedHeadersOverTcp() throws Exception {
        io = IoThread.start("nbd-ext");
        MemoryBackend disk = new MemoryBackend(1 << 20);
        server = NbdServer.builder(io.context()).export(NbdExport.builder("disk", disk).build()).build();
        int port = ((InetSocketAddress) server.listen(new InetSocketAddress("127.0.0.1", 0))).getPort();
        try (Socket sock = new Socket("127.0.0.1", port)) {
            DataInputStream in = new DataInputStream(new java.io.BufferedInputStream(sock.getInputStream()));
            DataOutputStream out = new DataOutputStream(new java.io.BufferedOutputStream(sock.getOutputStream()));
            in.readNBytes(Nbd.GREETING_SIZE);
            out.writeInt(Nbd.FLAG_C_FIXED_NEWSTYLE | Nbd.FLAG_C_NO_ZEROES);
            assertEquals(Nbd.REP_ACK, option(in, out, Nbd.OPT_EXTENDED_HEADERS, new byte[0]));
            assertEquals(Nbd.REP_ACK, option(in, out, Nbd.OPT_SET_META_CONTEXT,
                    NbdCodec.metaContextPayload("disk", "base:allocation")));
            assertEquals(Nbd.REP_ACK, option(in, out, Nbd.OPT_GO, NbdCodec.infoPayload("disk")));
            byte[] data = new byte[100_000];
            new java.util.Random(9).nextBytes(data);
            // Pipelined: a WRITE, a READ with a stray payload (refused, payload consumed), a READ
            // of what was written, block status; replies may come in any order.
            NbdRequest w = new NbdRequest(Nbd.CMD_FLAG_PAYLOAD_LEN, Nbd.CMD_WRITE, 1, 4096, data.length, true);
            NbdRequest bad = new NbdRequest(Nbd.CMD_FLAG_PAYLOAD_LEN, Nbd.CMD_READ, 2, 0, 3, true);
            NbdRequest r = new NbdRequest(0, Nbd.CMD_READ, 3, 4096, data.length, true);
            NbdRequest bs = new NbdRequest(0, Nbd.CMD_BLOCK_STATUS, 4, 0, 1 << 20, true);
            ByteBuffer b = ByteBuffer.allocate(4 * 32 + data.length + 3);
            w.encode(b);
            b.put(data);
            bad.encode(b);
            b.put(new byte[] {1, 2, 3});
            r.encode(b);
            bs.encode(b);
            out.write(b.array());
            out.flush();
            java.util.Map<Long, ExtWire.Decoded> replies = new java.util.HashMap<>();
            java.util.Map<Long, NbdRequest> byHandle = java.util.Map.of(1L, w, 2L, bad, 3L, r, 4L, bs);
            while (replies.size() < 4) {
                // Read one whole reply: chunks until DONE.
                java.io.ByteArrayOutputStream one = new java.io.ByteArrayOutputStream();
                long handle;
                boolean done;
                do {
                    byte[] h = in.readNBytes(32);
                    ByteBuffer hb = ByteBuffer.wrap(h);
                    done = (hb.getShort(4) & Nbd.REPLY_FLAG_DONE) != 0;
                    handle = hb.getLong(8);
                    one.writeBytes(h);
                    one.writeBytes(in.readNBytes((int) hb.getLong(24)));
                } while (!done);
                replies.put(handle, ExtWire.decode(one.toByteArray(), byHandle.get(handle)));
            }
            assertEquals(0, replies.get(1L).error());
            assertEquals(Nbd.EINVAL, replies.get(2L).error());
            assertArrayEquals(data, replies.get(3L).data());
            assertEquals(0, replies.get(4L).error());
            assertTrue(disk.matches(4096, data));
            new NbdRequest(0, Nbd.CMD_DISC, 5, 0, 0, true).encode(b.clear());
            out.write(b.array(), 0, 32);
            out.flush();
            assertEquals(-1, in.read(), "the server closes after DISC");
        }
    }

    private static int option(DataInputStream in, DataOutputStream out, int opt, byte[] payload) throws Exception {
        out.writeLong(Nbd.IHAVEOPT);
        out.writeInt(opt);
        out.writeInt(payload.length);
        out.write(payload);
        out.flush();
        for (;;) {
            assertEquals(Nbd.REPLY_MAGIC, in.readLong());
            assertEquals(opt, in.readInt());
            int type = in.readInt();
            in.readNBytes(in.readInt());
            if (type == Nbd.REP_ACK || (type & Nbd.REP_FLAG_ERROR) != 0) {
                return type;
            }
        }
    }
}
