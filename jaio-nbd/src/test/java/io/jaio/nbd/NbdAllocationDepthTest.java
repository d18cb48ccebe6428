package io.jaio.nbd;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The {@code qemu:allocation-depth} metadata context: negotiation and BLOCK_STATUS chunks. */
class NbdAllocationDepthTest {
    private final BufferPool pool = new BufferPool(64L << 20);

    @AfterEach
    void tearDown() {
        assertEquals(0, pool.lentCount());
        pool.close();
    }

    /** (id, name) of every META_CONTEXT reply, and the final reply type last as (type, ""). */
    private static List<String> contexts(List<NbdHandshakeTest.OptReply> replies) {
        List<String> out = new ArrayList<>();
        for (NbdHandshakeTest.OptReply r : replies) {
            if (r.type() == Nbd.REP_META_CONTEXT) {
                ByteBuffer b = r.buf();
                int id = b.getInt();
                out.add(id + " " + new String(r.data(), 4, r.data().length - 4, StandardCharsets.UTF_8));
            } else {
                out.add(r.type() == Nbd.REP_ACK ? "ACK" : "error " + r.type());
            }
        }
        return out;
    }

    private static NbdHandshakeTest.Driver structured() {
        NbdHandshakeTest.Driver d = NbdHandshakeTest.fixed().option(Nbd.OPT_STRUCTURED_REPLY, new byte[0]);
        d.replies();
        return d;
    }

    @Test
    void listAndSetOfferAllocationDepth() {
        NbdHandshakeTest.Driver d = structured();
        assertEquals(List.of("0 base:allocation", "0 qemu:allocation-depth", "ACK"),
                contexts(d.option(Nbd.OPT_LIST_META_CONTEXT, NbdCodec.metaContextPayload("disk")).replies()));
        assertEquals(List.of("0 qemu:allocation-depth", "ACK"),
                contexts(d.option(Nbd.OPT_LIST_META_CONTEXT, NbdCodec.metaContextPayload("disk", "qemu:")).replies()));
        assertEquals(List.of("ACK"), contexts(d.option(Nbd.OPT_LIST_META_CONTEXT,
                NbdCodec.metaContextPayload("disk", "qemu:dirty-bitmap:", "qemu:nope", "x:y")).replies()));
        // SET takes exact names only; ids are fixed per context.
        assertEquals(List.of("ACK"), contexts(d.option(Nbd.OPT_SET_META_CONTEXT,
                NbdCodec.metaContextPayload("disk", "qemu:")).replies()));
        assertEquals(List.of("2 qemu:allocation-depth", "ACK"), contexts(d.option(Nbd.OPT_SET_META_CONTEXT,
                NbdCodec.metaContextPayload("disk", "qemu:allocation-depth")).replies()));
        assertEquals(List.of("1 base:allocation", "2 qemu:allocation-depth", "ACK"), contexts(d.option(
                Nbd.OPT_SET_META_CONTEXT,
                NbdCodec.metaContextPayload("disk", "qemu:allocation-depth", "base:allocation")).replies()));
        d.option(Nbd.OPT_GO, NbdCodec.infoPayload("disk"));
        NbdSession s = d.hs.session();
        assertTrue(s.baseAllocation() && s.allocationDepth());
        // A selection for another export does not carry over.
        NbdHandshakeTest.Driver o = structured();
        o.option(Nbd.OPT_SET_META_CONTEXT, NbdCodec.metaContextPayload("ro", "qemu:allocation-depth"));
        o.option(Nbd.OPT_GO, NbdCodec.infoPayload("disk"));
        assertFalse(o.hs.session().allocationDepth());
    }

    @Test
    void blockStatusAnswersEverySelectedContext() {
        MemoryBackend disk = new MemoryBackend(1 << 20);
        disk.fill(65536, new byte[4096]);
        NbdExport e = NbdExport.builder("e", disk).build();
        for (boolean ext : new boolean[] {false, true}) {
            NbdSession depthOnly = new NbdSession(e, true, false, e.transmissionFlags(true), ext, true);
            NbdSession both = new NbdSession(e, true, true, e.transmissionFlags(true), ext, true);
            NbdRequest r = new NbdRequest(0, Nbd.CMD_BLOCK_STATUS, 9, 4096, 1 << 19, ext);
            assertTrue(NbdCommands.check(depthOnly, r, false).ok());
            NbdReply reply = NbdCommands.execute(depthOnly, r, null, pool);
            byte[] bytes = Wire.bytes(reply);
            reply.release();
            List<long[]> chunks = chunks(bytes, ext);
            assertEquals(1, chunks.size());
            assertArrayEquals(new long[] {NbdSession.ALLOCATION_DEPTH_ID, 1 << 19, 1, 1}, chunks.get(0),
                    "one descriptor, depth 1 (this image), DONE");
            reply = NbdCommands.execute(both, r, null, pool);
            bytes = Wire.bytes(reply);
            reply.release();
            chunks = chunks(bytes, ext);
            assertEquals(2, chunks.size());
            assertEquals(NbdSession.BASE_ALLOCATION_ID, chunks.get(0)[0]);
            assertEquals(0, chunks.get(0)[chunks.get(0).length - 1], "not DONE before the last chunk");
            assertArrayEquals(new long[] {NbdSession.ALLOCATION_DEPTH_ID, 1 << 19, 1, 1}, chunks.get(1));
        }
        // Without any context BLOCK_STATUS is refused.
        NbdSession none = new NbdSession(e, true, false, e.transmissionFlags(true), false, false);
        NbdCommands.Verdict v = NbdCommands.check(none, new NbdRequest(0, Nbd.CMD_BLOCK_STATUS, 1, 0, 512), false);
        assertEquals(Nbd.EINVAL, v.error());
    }

    /** Each block status chunk as {id, len0, status0, ..., done}. */
    private static List<long[]> chunks(byte[] bytes, boolean ext) {
        ByteBuffer b = ByteBuffer.wrap(bytes);
        List<long[]> out = new ArrayList<>();
        while (b.hasRemaining()) {
            int magic = b.getInt();
            assertEquals(ext ? Nbd.EXTENDED_REPLY_MAGIC : Nbd.STRUCTURED_REPLY_MAGIC, magic);
            int flags = b.getShort();
            int type = b.getShort();
            assertEquals(ext ? Nbd.REPLY_TYPE_BLOCK_STATUS_EXT : Nbd.REPLY_TYPE_BLOCK_STATUS, type);
            b.getLong();
            long len;
            if (ext) {
                b.getLong();
                len = b.getLong();
            } else {
                len = b.getInt();
            }
            int id = b.getInt();
            int count = ext ? b.getInt() : (int) ((len - 4) / 8);
            long[] c = new long[2 + 2 * count];
            c[0] = id;
            for (int i = 0; i < count; i++) {
                c[1 + 2 * i] = ext ? b.getLong() : Integer.toUnsignedLong(b.getInt());
                c[2 + 2 * i] = ext ? b.getLong() : Integer.toUnsignedLong(b.getInt());
            }
            c[c.length - 1] = flags & Nbd.REPLY_FLAG_DONE;
            out.add(c);
        }
        return out;
    }
}
