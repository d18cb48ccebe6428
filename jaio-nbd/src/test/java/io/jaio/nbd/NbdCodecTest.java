package io.jaio.nbd;

import io.jaio.block.BlockBackend;
import io.jaio.block.BlockException;
import io.jaio.block.DirtyBitmaps;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The transmission codec on byte arrays: request decoding, reply encoding, check() rules, execute(). */
class NbdCodecTest {
    private final BufferPool pool = new BufferPool(64L << 20);

    @AfterEach
    void tearDown() {
        assertEquals(0, pool.lentCount(), "every pooled buffer returned");
        pool.close();
    }

    private static NbdSession session(BlockBackend be, boolean structured, boolean meta, boolean readOnly) {
        NbdExport e = NbdExport.builder("e", be).readOnly(readOnly).sparseReadMinimum(1).build();
        return new NbdSession(e, structured, meta, e.transmissionFlags(structured));
    }

    private static NbdRequest req(int type, int flags, long offset, long length) {
        return new NbdRequest(flags, type, 0x1122334455667788L, offset, (int) length);
    }

    private static byte[] pattern(int n, int seed) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (i * 31 + seed);
        }
        return b;
    }

    // ---- request header ----

    @Test
    void requestRoundTripsThroughTheWireFormat() {
        NbdRequest r = new NbdRequest(Nbd.CMD_FLAG_FUA, Nbd.CMD_WRITE, -2L, 0xFFFF_FFFF_0000_0000L, 0x8000_0001);
        ByteBuffer b = ByteBuffer.allocate(28);
        r.encode(b);
        assertEquals("2560951300010001fffffffffffffffeffffffff0000000080000001", HexFormat.of().formatHex(b.array()));
        NbdRequest back = NbdRequest.decode(b.flip());
        assertEquals(r, back);
        assertEquals(0x8000_0001L, back.length());
        assertFalse(b.hasRemaining());
    }

    @Test
    void badRequestMagicAndShortHeaderAreProtocolErrors() {
        ByteBuffer b = ByteBuffer.allocate(28);
        req(Nbd.CMD_READ, 0, 0, 512).encode(b);
        b.put(0, (byte) 0x26);
        assertThrows(NbdProtocolException.class, () -> NbdRequest.decode(b.flip()));
        assertThrows(NbdProtocolException.class, () -> NbdRequest.decode(ByteBuffer.allocate(27)));
    }

    // ---- encoders ----

    @Test
    void encodersWriteTheSpecifiedLayouts() {
        HexFormat hex = HexFormat.of();
        ByteBuffer b = ByteBuffer.allocate(64);
        NbdCodec.greeting(b, 3);
        assertEquals("4e42444d41474943" + "49484156454f5054" + "0003", hex.formatHex(b.array(), 0, b.position()));

        b.clear();
        NbdCodec.simpleReply(b, Nbd.EINVAL, 7);
        assertEquals("67446698" + "00000016" + "0000000000000007", hex.formatHex(b.array(), 0, b.position()));

        b.clear();
        NbdCodec.offsetHole(b, Nbd.REPLY_FLAG_DONE, 7, 4096, 512);
        assertEquals("668e33ef" + "0001" + "0002" + "0000000000000007" + "0000000c" + "0000000000001000" + "00000200",
                hex.formatHex(b.array(), 0, b.position()));

        b.clear();
        NbdCodec.offsetDataPrefix(b, 0, 7, 512, 100);
        assertEquals("668e33ef" + "0000" + "0001" + "0000000000000007" + "0000006c" + "0000000000000200",
                hex.formatHex(b.array(), 0, b.position()));

        b.clear();
        NbdCodec.noneChunk(b, 9);
        assertEquals("668e33ef" + "0001" + "0000" + "0000000000000009" + "00000000",
                hex.formatHex(b.array(), 0, b.position()));

        b.clear();
        NbdCodec.errorChunk(b, Nbd.REPLY_FLAG_DONE, 9, Nbd.EPERM, "ro");
        assertEquals("668e33ef" + "0001" + "8001" + "0000000000000009" + "00000008" + "00000001" + "0002" + "726f",
                hex.formatHex(b.array(), 0, b.position()));
        assertEquals(b.position(), NbdCodec.errorChunkSize("ro"));

        b.clear();
        NbdCodec.blockStatusChunk(b, 1, 9, 1, new int[] {4096, 512}, new int[] {3, 0}, 2);
        assertEquals("668e33ef" + "0001" + "0005" + "0000000000000009" + "00000014" + "00000001"
                + "00001000" + "00000003" + "00000200" + "00000000", hex.formatHex(b.array(), 0, b.position()));

        b.clear();
        NbdCodec.optionReply(b, Nbd.OPT_GO, Nbd.REP_ERR_UNSUP);
        assertEquals("0003e889045565a9" + "00000007" + "80000001" + "00000000", hex.formatHex(b.array(), 0, b.position()));

        ByteBuffer e = ByteBuffer.allocate(200);
        NbdCodec.exportNameReply(e, 1 << 20, 0x1ed, false);
        assertEquals(134, e.position());
        e.clear();
        NbdCodec.exportNameReply(e, 1 << 20, 0x1ed, true);
        assertEquals("0000000000100000" + "01ed", hex.formatHex(e.array(), 0, e.position()));
    }

    @Test
    void longMessagesAreCutOnACharacterBoundary() {
        String s = "é".repeat(3000); // 6000 bytes
        byte[] cut = NbdCodec.utf8(s, NbdCodec.MAX_ERROR_MESSAGE);
        assertEquals(NbdCodec.MAX_ERROR_MESSAGE, cut.length);
        assertEquals(512, new String(cut, StandardCharsets.UTF_8).length());
        assertEquals(1023, NbdCodec.utf8("a" + s, 1024).length);
    }

    @Test
    void errnosMapToTheSpecifiedErrorValues() {
        assertEquals(Nbd.EPERM, Nbd.errnoToNbd(1, 0));
        assertEquals(Nbd.EPERM, Nbd.errnoToNbd(30, 0)); // EROFS
        assertEquals(Nbd.EIO, Nbd.errnoToNbd(5, 0));
        assertEquals(Nbd.ENOMEM, Nbd.errnoToNbd(12, 0));
        assertEquals(Nbd.EINVAL, Nbd.errnoToNbd(22, 0));
        assertEquals(Nbd.ENOSPC, Nbd.errnoToNbd(28, 0));
        assertEquals(Nbd.ENOSPC, Nbd.errnoToNbd(122, 0)); // EDQUOT
        assertEquals(Nbd.ENOSPC, Nbd.errnoToNbd(27, 0)); // EFBIG
        assertEquals(Nbd.EOVERFLOW, Nbd.errnoToNbd(75, Nbd.CMD_FLAG_DF));
        assertEquals(Nbd.EINVAL, Nbd.errnoToNbd(75, 0));
        assertEquals(Nbd.ENOTSUP, Nbd.errnoToNbd(95, Nbd.CMD_FLAG_FAST_ZERO));
        assertEquals(Nbd.EINVAL, Nbd.errnoToNbd(95, 0));
        assertEquals(Nbd.ESHUTDOWN, Nbd.errnoToNbd(108, 0));
        assertEquals(Nbd.EIO, Nbd.errnoToNbd(6, 0)); // ENXIO: an I/O failure
    }

    @Test
    void transmissionFlagsFollowTheExport() {
        MemoryBackend be = new MemoryBackend(8192);
        int rw = NbdExport.builder("a", be).build().transmissionFlags(true);
        assertEquals(Nbd.FLAG_HAS_FLAGS | Nbd.FLAG_SEND_FLUSH | Nbd.FLAG_SEND_FUA | Nbd.FLAG_SEND_TRIM
                | Nbd.FLAG_SEND_WRITE_ZEROES | Nbd.FLAG_SEND_DF | Nbd.FLAG_CAN_MULTI_CONN | Nbd.FLAG_SEND_CACHE
                | Nbd.FLAG_SEND_FAST_ZERO, rw);
        int ro = NbdExport.builder("a", be).readOnly(true).multiConn(false).build().transmissionFlags(false);
        assertEquals(Nbd.FLAG_HAS_FLAGS | Nbd.FLAG_READ_ONLY | Nbd.FLAG_SEND_FLUSH | Nbd.FLAG_SEND_FUA
                | Nbd.FLAG_SEND_CACHE, ro);
        assertTrue(NbdExport.builder("a", new MemoryBackend(8192, true, 1, true)).build().isReadOnly());
        assertThrows(IllegalArgumentException.class,
                () -> NbdExport.builder("a", new MemoryBackend(8192, false, 3, true)).build());
    }

    // ---- check(): every error rule ----

    private static int err(NbdSession s, NbdRequest r) {
        return NbdCommands.check(s, r, false).error();
    }

    @Test
    void checkAcceptsValidRequests() {
        NbdSession s = session(new MemoryBackend(1 << 20), true, true, false);
        assertEquals(0, err(s, req(Nbd.CMD_READ, Nbd.CMD_FLAG_DF | Nbd.CMD_FLAG_FUA, 0, 1 << 20)));
        assertEquals(0, err(s, req(Nbd.CMD_WRITE, Nbd.CMD_FLAG_FUA, (1 << 20) - 1, 1)));
        assertEquals(0, err(s, req(Nbd.CMD_FLUSH, 0, 0, 0)));
        assertEquals(0, err(s, req(Nbd.CMD_TRIM, Nbd.CMD_FLAG_FUA, 0, 1 << 20)));
        assertEquals(0, err(s, req(Nbd.CMD_CACHE, 0, 0, 4096)));
        assertEquals(0, err(s, req(Nbd.CMD_WRITE_ZEROES, Nbd.CMD_FLAG_NO_HOLE | Nbd.CMD_FLAG_FAST_ZERO, 0, 1 << 20)));
        assertEquals(0, err(s, req(Nbd.CMD_BLOCK_STATUS, Nbd.CMD_FLAG_REQ_ONE, 512, 512)));
        assertEquals(0, err(s, req(Nbd.CMD_DISC, 0, 0, 0)));
        assertEquals(0, err(s, req(Nbd.CMD_READ, 0, 1 << 20, 0)), "an empty read at the end is in range");
    }

    @Test
    void unknownCommandsAreEinval() {
        NbdSession s = session(new MemoryBackend(8192), true, true, false);
        assertEquals(Nbd.EINVAL, err(s, req(8, 0, 0, 0)));
        assertEquals(Nbd.EINVAL, err(s, req(0xFFFF, 0, 0, 0)));
        assertTrue(NbdCommands.check(s, req(8, 0, 0, 0), true).error() == Nbd.EINVAL);
    }

    @Test
    void writesToReadOnlyExportsAreEperm() {
        NbdSession s = session(new MemoryBackend(8192), true, true, true);
        assertEquals(Nbd.EPERM, err(s, req(Nbd.CMD_WRITE, 0, 0, 512)));
        assertEquals(Nbd.EPERM, err(s, req(Nbd.CMD_TRIM, 0, 0, 512)));
        assertEquals(Nbd.EPERM, err(s, req(Nbd.CMD_WRITE_ZEROES, 0, 0, 512)));
        assertEquals(Nbd.EPERM, err(s, req(Nbd.CMD_WRITE, 0, 1 << 30, 512)), "EPERM before range");
        assertEquals(0, err(s, req(Nbd.CMD_READ, 0, 0, 512)));
        assertEquals(0, err(s, req(Nbd.CMD_FLUSH, 0, 0, 0)));
    }

    @Test
    void rangesPastTheEndAreEinvalForReadsAndEnospcForWrites() {
        NbdSession s = session(new MemoryBackend(8192), true, true, false);
        assertEquals(Nbd.EINVAL, err(s, req(Nbd.CMD_READ, 0, 8192, 1)));
        assertEquals(Nbd.EINVAL, err(s, req(Nbd.CMD_READ, 0, 4096, 4097)));
        assertEquals(Nbd.EINVAL, err(s, req(Nbd.CMD_READ, 0, -1L, 1)), "offset 2^64-1");
        assertEquals(Nbd.EINVAL, err(s, req(Nbd.CMD_READ, 0, Long.MIN_VALUE, 1)), "offset 2^63");
        assertEquals(Nbd.EINVAL, err(s, req(Nbd.CMD_CACHE, 0, 8000, 4096)));
        assertEquals(Nbd.EINVAL, err(s, req(Nbd.CMD_TRIM, 0, 8000, 4096)));
        assertEquals(Nbd.EINVAL, err(s, req(Nbd.CMD_BLOCK_STATUS, 0, 9000, 1)));
        assertEquals(Nbd.ENOSPC, err(s, req(Nbd.CMD_WRITE, 0, 8000, 512)));
        assertEquals(Nbd.ENOSPC, err(s, req(Nbd.CMD_WRITE, 0, -512L, 512)));
        assertEquals(Nbd.ENOSPC, err(s, req(Nbd.CMD_WRITE_ZEROES, 0, 0, 0xFFFF_FFFFL)));
    }

    @Test
    void payloadsOver32MiBAreRefused() {
        NbdSession s = session(new MemoryBackend(8192), true, true, false);
        NbdCommands.Verdict w = NbdCommands.check(s, req(Nbd.CMD_WRITE, 0, 0, Nbd.MAX_PAYLOAD + 1L), false);
        assertEquals(Nbd.EINVAL, w.error());
        assertFalse(w.disconnect(), "a payload up to 64 MiB is skipped and the connection survives");
        NbdCommands.Verdict w1 = NbdCommands.check(s, req(Nbd.CMD_WRITE, 0, 0, 2L * Nbd.MAX_PAYLOAD + 1), false);
        assertEquals(Nbd.EINVAL, w1.error());
        assertTrue(w1.disconnect(), "a larger one is not read: the connection ends after the reply");
        NbdCommands.Verdict w2 = NbdCommands.check(s, req(Nbd.CMD_WRITE, 0, 0, 0xFFFF_FFFFL), true);
        assertEquals(Nbd.EINVAL, w2.error());
        assertTrue(w2.disconnect(), "even during shutdown the payload is not read");
        NbdCommands.Verdict r = NbdCommands.check(s, req(Nbd.CMD_READ, 0, 0, Nbd.MAX_PAYLOAD + 1L), false);
        assertEquals(Nbd.EINVAL, r.error());
        assertFalse(r.disconnect());
        assertEquals(Nbd.EINVAL, err(s, req(Nbd.CMD_CACHE, 0, 0, Nbd.MAX_PAYLOAD + 1L)));
        // A 32 MiB write fits the limit (and here fails on range instead).
        assertEquals(Nbd.ENOSPC, err(s, req(Nbd.CMD_WRITE, 0, 0, Nbd.MAX_PAYLOAD)));
    }

    @Test
    void flagsNotValidForTheCommandAreEinval() {
        NbdSession s = session(new MemoryBackend(8192), true, true, false);
        assertEquals(Nbd.EINVAL, err(s, req(Nbd.CMD_READ, 1 << 5, 0, 512)), "unknown flag");
        assertEquals(Nbd.EINVAL, err(s, req(Nbd.CMD_READ, 0x8000, 0, 512)), "unknown flag");
        assertEquals(Nbd.EINVAL, err(s, req(Nbd.CMD_WRITE, Nbd.CMD_FLAG_NO_HOLE, 0, 512)));
        assertEquals(Nbd.EINVAL, err(s, req(Nbd.CMD_TRIM, Nbd.CMD_FLAG_FAST_ZERO, 0, 512)));
        assertEquals(Nbd.EINVAL, err(s, req(Nbd.CMD_WRITE, Nbd.CMD_FLAG_DF, 0, 512)));
        assertEquals(Nbd.EINVAL, err(s, req(Nbd.CMD_READ, Nbd.CMD_FLAG_REQ_ONE, 0, 512)));
        NbdSession simple = session(new MemoryBackend(8192), false, false, false);
        assertEquals(Nbd.EINVAL, err(simple, req(Nbd.CMD_READ, Nbd.CMD_FLAG_DF, 0, 512)), "DF needs structured");
        assertEquals(0, err(simple, req(Nbd.CMD_FLUSH, Nbd.CMD_FLAG_FUA, 0, 0)), "FUA is accepted on any command");
    }

    @Test
    void commandSpecificRules() {
        NbdSession s = session(new MemoryBackend(8192), true, true, false);
        assertEquals(Nbd.EINVAL, err(s, req(Nbd.CMD_FLUSH, 0, 1, 0)));
        assertEquals(Nbd.EINVAL, err(s, req(Nbd.CMD_FLUSH, 0, 0, 1)));
        assertEquals(Nbd.EINVAL, err(s, req(Nbd.CMD_BLOCK_STATUS, 0, 0, 0)), "zero-length block status");
        NbdSession noMeta = session(new MemoryBackend(8192), true, false, false);
        assertEquals(Nbd.EINVAL, err(noMeta, req(Nbd.CMD_BLOCK_STATUS, 0, 0, 512)));
        NbdSession simple = session(new MemoryBackend(8192), false, true, false);
        assertEquals(Nbd.EINVAL, err(simple, req(Nbd.CMD_BLOCK_STATUS, 0, 0, 512)));
    }

    /**
     * proto.md: BLOCK_STATUS needs a nonzero number of metadata contexts selected, whichever they
     * are, not {@code base:allocation} in particular.
     */
    @Test
    void blockStatusNeedsAnyMetadataContextNotBaseAllocation() {
        DirtyBitmaps bitmaps = DirtyBitmaps.inMemory(8192);
        NbdExport e = NbdExport.builder("e", new MemoryBackend(8192)).dirtyBitmaps(bitmaps).build();
        NbdSession bitmapOnly = new NbdSession(e, true, false, e.transmissionFlags(true), false, false,
                List.of(new NbdSession.ExportedBitmap(3, bitmaps.add("b", 4096))));
        NbdSession depthOnly = new NbdSession(e, true, false, e.transmissionFlags(true), false, true);
        NbdSession none = new NbdSession(e, true, false, e.transmissionFlags(true), false, false);
        assertEquals(0, err(bitmapOnly, req(Nbd.CMD_BLOCK_STATUS, 0, 0, 512)));
        assertEquals(0, err(depthOnly, req(Nbd.CMD_BLOCK_STATUS, 0, 0, 512)));
        assertEquals(Nbd.EINVAL, err(none, req(Nbd.CMD_BLOCK_STATUS, 0, 0, 512)));
    }

    @Test
    void unalignedRequestsAreEinvalWhenTheBackendNeedsAlignment() {
        NbdSession s = session(new MemoryBackend(65536, false, 4096, true), true, true, false);
        assertEquals(4096, s.export().minBlockSize());
        assertEquals(Nbd.EINVAL, err(s, req(Nbd.CMD_READ, 0, 512, 4096)));
        assertEquals(Nbd.EINVAL, err(s, req(Nbd.CMD_WRITE, 0, 0, 512)));
        assertEquals(0, err(s, req(Nbd.CMD_WRITE, 0, 4096, 8192)));
    }

    @Test
    void shutdownAnswersEshutdown() {
        NbdSession s = session(new MemoryBackend(8192), true, true, false);
        assertEquals(Nbd.ESHUTDOWN, NbdCommands.check(s, req(Nbd.CMD_READ, 0, 0, 512), true).error());
        assertEquals(Nbd.ESHUTDOWN, NbdCommands.check(s, req(Nbd.CMD_FLUSH, 0, 0, 0), true).error());
        assertEquals(0, NbdCommands.check(s, req(Nbd.CMD_DISC, 0, 0, 0), true).error());
    }

    // ---- execute(): replies ----

    @Test
    void simpleReadAndWrite() {
        MemoryBackend be = new MemoryBackend(65536);
        NbdSession s = session(be, false, false, false);
        byte[] data = pattern(5000, 1);
        NbdClient.Reply w = Wire.run(s, req(Nbd.CMD_WRITE, Nbd.CMD_FLAG_FUA, 100, data.length), data, pool);
        assertEquals(0, w.error());
        assertFalse(w.structured());
        assertEquals(1, be.fuaWrites.get());
        NbdClient.Reply r = Wire.run(s, req(Nbd.CMD_READ, 0, 100, data.length), null, pool);
        assertArrayEquals(data, r.data());
        assertFalse(r.structured());
        NbdClient.Reply e = Wire.run(s, req(Nbd.CMD_READ, 0, 65000, 1000), null, pool);
        assertEquals(Nbd.EINVAL, e.error());
        assertNull(e.data(), "no payload after a simple error reply");
    }

    @Test
    void structuredReadSendsHolesAsHoleChunks() {
        MemoryBackend be = new MemoryBackend(65536);
        byte[] a = pattern(4096, 2);
        byte[] b = pattern(8192, 3);
        be.fill(4096, a);      // block 1
        be.fill(16384, b);     // blocks 4-5
        NbdSession s = session(be, true, true, false);
        NbdClient.Reply r = Wire.run(s, req(Nbd.CMD_READ, 0, 0, 32768), null, pool);
        byte[] expect = new byte[32768];
        System.arraycopy(a, 0, expect, 4096, 4096);
        System.arraycopy(b, 0, expect, 16384, 8192);
        assertArrayEquals(expect, r.data());
        assertTrue(r.structured());
        assertEquals(5, r.chunks(), "hole, data, hole, data, hole");
        assertEquals(3, r.holeChunks());

        NbdClient.Reply df = Wire.run(s, req(Nbd.CMD_READ, Nbd.CMD_FLAG_DF, 0, 32768), null, pool);
        assertArrayEquals(expect, df.data());
        assertEquals(1, df.chunks(), "DF: a single data chunk");
        assertEquals(0, df.holeChunks());

        NbdClient.Reply hole = Wire.run(s, req(Nbd.CMD_READ, 0, 40960, 8192), null, pool);
        assertArrayEquals(new byte[8192], hole.data());
        assertEquals(1, hole.holeChunks());

        NbdClient.Reply unaligned = Wire.run(s, req(Nbd.CMD_READ, 0, 4000, 200), null, pool);
        assertArrayEquals(Arrays.copyOfRange(expect, 4000, 4200), unaligned.data());

        NbdClient.Reply empty = Wire.run(s, req(Nbd.CMD_READ, 0, 0, 0), null, pool);
        assertEquals(0, empty.error());
        assertEquals(0, empty.data().length);

        NbdExport dense = NbdExport.builder("d", be).sparseReads(false).build();
        NbdExport shortReads = NbdExport.builder("s", be).build(); // default minimum: 64 KiB
        NbdClient.Reply sh = Wire.run(new NbdSession(shortReads, true, false, shortReads.transmissionFlags(true)),
                req(Nbd.CMD_READ, 0, 0, 32768), null, pool);
        assertEquals(1, sh.chunks(), "a read shorter than the sparse minimum is one data chunk");
        assertArrayEquals(expect, sh.data());
        NbdClient.Reply lg = Wire.run(new NbdSession(shortReads, true, false, shortReads.transmissionFlags(true)),
                req(Nbd.CMD_READ, 0, 0, 65536), null, pool);
        assertEquals(5, lg.chunks(), "from 64 KiB on, holes are looked up");
        NbdClient.Reply d = Wire.run(new NbdSession(dense, true, false, dense.transmissionFlags(true)),
                req(Nbd.CMD_READ, 0, 0, 32768), null, pool);
        assertEquals(1, d.chunks());
        assertArrayEquals(expect, d.data());
    }

    @Test
    void structuredReadWithManyExtentsStaysWithinTheChunkLimit() {
        MemoryBackend be = new MemoryBackend(1 << 20);
        for (int blk = 0; blk < 256; blk += 2) {
            be.fill(blk * 4096, pattern(4096, blk));
        }
        NbdSession s = session(be, true, true, false);
        NbdClient.Reply r = Wire.run(s, req(Nbd.CMD_READ, 0, 0, 1 << 20), null, pool);
        assertArrayEquals(be.snapshot(), r.data());
        assertTrue(r.chunks() <= NbdCommands.MAX_READ_CHUNKS, "chunks: " + r.chunks());
    }

    @Test
    void readErrorsBecomeErrorChunksOrSimpleErrors() {
        MemoryBackend be = new MemoryBackend(65536);
        be.fill(0, pattern(65536, 4));
        be.eioAt(5000);
        NbdClient.Reply st = Wire.run(session(be, true, true, false), req(Nbd.CMD_READ, 0, 4096, 4096), null, pool);
        assertEquals(Nbd.EIO, st.error());
        assertTrue(st.message().contains("injected"), st.message());
        NbdClient.Reply si = Wire.run(session(be, false, false, false), req(Nbd.CMD_READ, 0, 4096, 4096), null, pool);
        assertEquals(Nbd.EIO, si.error());
        NbdClient.Reply range = Wire.run(session(be, true, true, false), req(Nbd.CMD_READ, 0, 65536, 1), null, pool);
        assertEquals(Nbd.EINVAL, range.error());
        assertTrue(range.structured(), "a READ error is a structured reply once negotiated");
    }

    @Test
    void writeTrimZeroFlushCache() {
        MemoryBackend be = new MemoryBackend(65536);
        NbdSession s = session(be, true, true, false);
        byte[] data = pattern(16384, 5);
        assertEquals(0, Wire.run(s, req(Nbd.CMD_WRITE, 0, 0, data.length), data, pool).error());
        assertTrue(be.isAllocated(1));
        assertEquals(0, Wire.run(s, req(Nbd.CMD_TRIM, 0, 4096, 4096), null, pool).error());
        assertFalse(be.isAllocated(1));
        assertEquals(0, Wire.run(s, req(Nbd.CMD_WRITE_ZEROES, Nbd.CMD_FLAG_NO_HOLE, 8192, 4096), null, pool).error());
        assertTrue(be.isAllocated(2), "NO_HOLE keeps the blocks allocated");
        byte[] snap = be.snapshot();
        assertArrayEquals(new byte[8192], Arrays.copyOfRange(snap, 4096, 12288));
        assertArrayEquals(Arrays.copyOfRange(data, 12288, 16384), Arrays.copyOfRange(snap, 12288, 16384));
        NbdClient.Reply fast = Wire.run(s, req(Nbd.CMD_WRITE_ZEROES, Nbd.CMD_FLAG_NO_HOLE | Nbd.CMD_FLAG_FAST_ZERO,
                0, 4096), null, pool);
        assertEquals(Nbd.ENOTSUP, fast.error(), "FAST_ZERO that would need a slow write");
        assertEquals(0, Wire.run(s, req(Nbd.CMD_WRITE_ZEROES, Nbd.CMD_FLAG_FAST_ZERO, 0, 4096), null, pool).error());
        assertEquals(0, Wire.run(s, req(Nbd.CMD_FLUSH, 0, 0, 0), null, pool).error());
        assertEquals(1, be.flushes.get());
        assertEquals(0, Wire.run(s, req(Nbd.CMD_CACHE, 0, 0, 4096), null, pool).error());
        assertEquals(0, Wire.run(s, req(Nbd.CMD_WRITE, 0, 0, 0), new byte[0], pool).error(), "empty write");

        MemoryBackend noDiscard = new MemoryBackend(8192, false, 1, false);
        noDiscard.fill(0, pattern(8192, 6));
        NbdSession nd = session(noDiscard, false, false, false);
        assertEquals(0, Wire.run(nd, req(Nbd.CMD_TRIM, 0, 0, 4096), null, pool).error(), "trim is a hint");
        assertEquals(0, Wire.run(nd, req(Nbd.CMD_WRITE_ZEROES, 0, 0, 4096), null, pool).error());
        assertArrayEquals(new byte[4096], Arrays.copyOf(noDiscard.snapshot(), 4096));
    }

    @Test
    void writeErrorsUseTheBackendErrno() {
        BlockBackend full = new MemoryBackend(8192) {
            @Override
            public void write(long offset, MemorySegment buf, boolean fua) {
                throw new BlockException(122, "quota"); // EDQUOT
            }

            @Override
            public void flush() {
                throw new IllegalStateException("bug in a backend");
            }
        };
        NbdSession s = session(full, false, false, false);
        assertEquals(Nbd.ENOSPC, Wire.run(s, req(Nbd.CMD_WRITE, 0, 0, 10), new byte[10], pool).error());
        assertEquals(Nbd.EIO, Wire.run(s, req(Nbd.CMD_FLUSH, 0, 0, 0), null, pool).error());
    }

    @Test
    void blockStatusReportsHolesAndData() {
        MemoryBackend be = new MemoryBackend(65536);
        be.fill(8192, pattern(8192, 7));
        NbdSession s = session(be, true, true, false);
        List<NbdClient.Extent> all = Wire.run(s, req(Nbd.CMD_BLOCK_STATUS, 0, 0, 65536), null, pool).extents();
        assertEquals(List.of(new NbdClient.Extent(8192, Nbd.STATE_HOLE | Nbd.STATE_ZERO), new NbdClient.Extent(8192, 0),
                new NbdClient.Extent(49152, 3)), all);
        List<NbdClient.Extent> one = Wire.run(s, req(Nbd.CMD_BLOCK_STATUS, Nbd.CMD_FLAG_REQ_ONE, 4096, 65536 - 4096),
                null, pool).extents();
        assertEquals(List.of(new NbdClient.Extent(4096, 3)), one);
        List<NbdClient.Extent> clipped = Wire.run(s, req(Nbd.CMD_BLOCK_STATUS, 0, 8192, 100), null, pool).extents();
        assertEquals(List.of(new NbdClient.Extent(100, 0)), clipped);
    }

    @Test
    void blockStatusCapsTheDescriptorCount() {
        MemoryBackend be = new MemoryBackend(4 << 20);
        for (int blk = 0; blk < 1024; blk += 2) {
            be.fill(blk * 4096, new byte[] {1});
        }
        NbdSession s = session(be, true, true, false);
        List<NbdClient.Extent> ex = Wire.run(s, req(Nbd.CMD_BLOCK_STATUS, 0, 0, 4 << 20), null, pool).extents();
        assertEquals(NbdCommands.MAX_DESCRIPTORS, ex.size());
    }

    @Test
    void readRunsSurviveMisbehavingBlockStatus() {
        MemoryBackend be = new MemoryBackend(65536) {
            @Override
            public List<Extent> blockStatus(long offset, long length) {
                return List.of(new Extent(0, true, true)); // no progress
            }
        };
        long[] len = new long[8];
        boolean[] hole = new boolean[8];
        assertEquals(1, NbdCommands.readRuns(be, 0, 4096, len, hole));
        assertEquals(4096, len[0]);
        assertFalse(hole[0]);
        MemoryBackend failing = new MemoryBackend(65536) {
            @Override
            public List<Extent> blockStatus(long offset, long length) {
                throw new BlockException(5, "seek failed");
            }
        };
        assertEquals(1, NbdCommands.readRuns(failing, 0, 4096, len, hole));
    }

    // ---- buffer pool ----

    @Test
    void bufferPoolReusesAndBoundsItsBuffers() {
        try (BufferPool p = new BufferPool((32L << 20) + 65536)) {
            assertEquals(0, BufferPool.classOf(1));
            assertEquals(0, BufferPool.classOf(4096));
            assertEquals(1, BufferPool.classOf(4097));
            assertEquals(13, BufferPool.classOf(32 << 20));
            assertThrows(IllegalArgumentException.class, () -> BufferPool.classOf((32 << 20) + 1));
            BufferPool.Buffer a = p.acquire(100);
            assertEquals(4096, a.segment().byteSize());
            assertEquals(0, a.segment().address() % 4096, "4 KiB aligned");
            p.release(a);
            BufferPool.Buffer b = p.acquire(4000);
            assertTrue(a == b, "reused");
            BufferPool.Buffer big = p.acquire(32 << 20); // fits: 4 KiB + 32 MiB <= budget
            assertThrows(IllegalStateException.class, () -> p.acquire(65536), "would wait outside a coroutine");
            p.release(b);
            p.release(big);
            assertThrows(IllegalStateException.class, () -> p.release(big));
            BufferPool.Buffer c = p.acquire(65536); // evicts cached buffers to fit
            assertTrue(p.heldBytes() <= (32L << 20) + 65536);
            p.release(c);
        }
    }
}
