package io.jaio.nbd;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The handshake state machine on byte arrays: every option, every reply, every protocol error. */
class NbdHandshakeTest {

    /** A catalog of two exports: "disk" (writable, described) and "ro" (read-only). */
    static final class Catalog implements NbdHandshake.Catalog {
        final Map<String, NbdExport> exports = new LinkedHashMap<>();
        boolean shuttingDown;

        Catalog() {
            exports.put("disk", NbdExport.builder("disk", new MemoryBackend(1 << 20)).description("a test disk").build());
            exports.put("ro", NbdExport.builder("ro", new MemoryBackend(65536)).readOnly(true).build());
        }

        @Override
        public NbdExport find(String name) {
            return exports.get(name);
        }

        @Override
        public Collection<NbdExport> all() {
            return exports.values();
        }

        @Override
        public boolean shuttingDown() {
            return shuttingDown;
        }
    }

    record OptReply(int option, int type, byte[] data) {
        ByteBuffer buf() {
            return ByteBuffer.wrap(data);
        }
    }

    /** Drives a handshake with client bytes and parses what the server answers. */
    static final class Driver {
        final Catalog catalog = new Catalog();
        final NbdHandshake hs;
        NbdHandshake.Next last = NbdHandshake.Next.CONTINUE;
        final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Driver() {
            this(false);
        }

        Driver(boolean tlsRequired) {
            hs = new NbdHandshake(catalog, tlsRequired);
        }

        Driver flags(int clientFlags) {
            return feed(ByteBuffer.allocate(4).putInt(clientFlags).array());
        }

        Driver option(int opt, byte[] payload) {
            ByteBuffer b = ByteBuffer.allocate(16 + payload.length);
            NbdCodec.option(b, opt, payload);
            return feed(b.array());
        }

        /** Feeds bytes in the sizes the machine asks for; stops when it leaves CONTINUE. */
        Driver feed(byte[] bytes) {
            ByteBuffer in = ByteBuffer.wrap(bytes);
            while (in.hasRemaining() && last == NbdHandshake.Next.CONTINUE) {
                int need = hs.bytesNeeded();
                if (in.remaining() < need) {
                    throw new IllegalStateException("fed " + in.remaining() + " of " + need + " bytes");
                }
                NbdHandshake.Step s = hs.consume(in.slice(in.position(), need));
                in.position(in.position() + need);
                out.writeBytes(s.output());
                last = s.next();
            }
            return this;
        }

        /** Parses and removes every option reply written so far. */
        List<OptReply> replies() {
            ByteBuffer b = ByteBuffer.wrap(out.toByteArray());
            out.reset();
            List<OptReply> r = new ArrayList<>();
            while (b.hasRemaining()) {
                assertEquals(Nbd.REPLY_MAGIC, b.getLong());
                int opt = b.getInt();
                int type = b.getInt();
                byte[] d = new byte[b.getInt()];
                b.get(d);
                r.add(new OptReply(opt, type, d));
            }
            return r;
        }

        OptReply single() {
            List<OptReply> r = replies();
            assertEquals(1, r.size(), () -> "replies: " + r);
            return r.get(0);
        }
    }

    static Driver fixed() {
        return new Driver().flags(Nbd.FLAG_C_FIXED_NEWSTYLE | Nbd.FLAG_C_NO_ZEROES);
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void greetingAdvertisesFixedNewstyleAndNoZeroes() {
        ByteBuffer g = ByteBuffer.wrap(NbdHandshake.greeting());
        assertEquals(Nbd.NBDMAGIC, g.getLong());
        assertEquals(Nbd.IHAVEOPT, g.getLong());
        assertEquals(Nbd.FLAG_FIXED_NEWSTYLE | Nbd.FLAG_NO_ZEROES, g.getShort());
        assertFalse(g.hasRemaining());
    }

    @Test
    void unknownClientFlagsEndTheConnection() {
        assertThrows(NbdProtocolException.class, () -> new Driver().flags(4));
        assertThrows(NbdProtocolException.class, () -> new Driver().flags(0x8000_0000));
    }

    @Test
    void exportNameWithAndWithoutZeroes() {
        Driver d = fixed().option(Nbd.OPT_EXPORT_NAME, utf8("disk"));
        assertEquals(NbdHandshake.Next.TRANSMISSION, d.last);
        ByteBuffer b = ByteBuffer.wrap(d.out.toByteArray());
        assertEquals(10, b.remaining(), "NO_ZEROES: no 124 zero bytes");
        assertEquals(1 << 20, b.getLong());
        int flags = b.getShort() & 0xFFFF;
        assertEquals(NbdExport.builder("x", new MemoryBackend(8)).build().transmissionFlags(false), flags);
        NbdSession s = d.hs.session();
        assertEquals("disk", s.export().name());
        assertFalse(s.structuredReplies());
        assertEquals(0, d.hs.bytesNeeded());

        Driver z = new Driver().flags(Nbd.FLAG_C_FIXED_NEWSTYLE).option(Nbd.OPT_EXPORT_NAME, utf8("ro"));
        byte[] out = z.out.toByteArray();
        assertEquals(134, out.length);
        assertArrayEquals(new byte[124], java.util.Arrays.copyOfRange(out, 10, 134));
        assertTrue((ByteBuffer.wrap(out).getShort(8) & Nbd.FLAG_READ_ONLY) != 0);
    }

    @Test
    void exportNameOfAnUnknownExportEndsTheConnection() {
        assertThrows(NbdProtocolException.class, () -> fixed().option(Nbd.OPT_EXPORT_NAME, utf8("nope")));
        assertThrows(NbdProtocolException.class, () -> fixed().option(Nbd.OPT_EXPORT_NAME, new byte[5000]));
    }

    @Test
    void nonFixedClientsMayOnlySendExportName() {
        Driver d = new Driver().flags(0).option(Nbd.OPT_EXPORT_NAME, utf8("disk"));
        assertEquals(NbdHandshake.Next.TRANSMISSION, d.last);
        assertEquals(134, d.out.size());
        assertThrows(NbdProtocolException.class, () -> new Driver().flags(0).option(Nbd.OPT_LIST, new byte[0]));
    }

    @Test
    void abortIsAcknowledgedAndCloses() {
        Driver d = fixed().option(Nbd.OPT_ABORT, utf8("ignored data"));
        assertEquals(NbdHandshake.Next.CLOSE, d.last);
        OptReply r = d.single();
        assertEquals(Nbd.OPT_ABORT, r.option());
        assertEquals(Nbd.REP_ACK, r.type());
        assertThrows(IllegalStateException.class, () -> d.hs.consume(ByteBuffer.allocate(16)));
    }

    @Test
    void listNamesEveryExportWithItsDescription() {
        Driver d = fixed().option(Nbd.OPT_LIST, new byte[0]);
        List<OptReply> r = d.replies();
        assertEquals(3, r.size());
        ByteBuffer s0 = r.get(0).buf();
        assertEquals(Nbd.REP_SERVER, r.get(0).type());
        assertEquals(4, s0.getInt());
        byte[] rest = new byte[s0.remaining()];
        s0.get(rest);
        assertEquals("diska test disk", new String(rest, StandardCharsets.UTF_8));
        assertEquals(Nbd.REP_SERVER, r.get(1).type());
        assertEquals(Nbd.REP_ACK, r.get(2).type());
        assertEquals(Nbd.REP_ERR_INVALID, fixed().option(Nbd.OPT_LIST, new byte[1]).single().type());
    }

    @Test
    void infoThenGo() {
        Driver d = fixed().option(Nbd.OPT_INFO, NbdCodec.infoPayload("disk", Nbd.INFO_NAME, Nbd.INFO_DESCRIPTION,
                Nbd.INFO_BLOCK_SIZE, 99));
        assertEquals(NbdHandshake.Next.CONTINUE, d.last);
        List<OptReply> r = d.replies();
        assertEquals(5, r.size(), () -> r.toString());
        ByteBuffer ex = r.get(0).buf();
        assertEquals(Nbd.REP_INFO, r.get(0).type());
        assertEquals(Nbd.INFO_EXPORT, ex.getShort());
        assertEquals(1 << 20, ex.getLong());
        assertEquals(Nbd.INFO_NAME, r.get(1).buf().getShort());
        assertEquals("disk", new String(r.get(1).data(), 2, 4, StandardCharsets.UTF_8));
        assertEquals("a test disk", new String(r.get(2).data(), 2, r.get(2).data().length - 2, StandardCharsets.UTF_8));
        ByteBuffer bs = r.get(3).buf();
        assertEquals(Nbd.INFO_BLOCK_SIZE, bs.getShort());
        assertEquals(1, bs.getInt());
        assertEquals(4096, bs.getInt());
        assertEquals(32 << 20, bs.getInt());
        assertEquals(Nbd.REP_ACK, r.get(4).type());
        assertNull(d.hs.session());

        d.option(Nbd.OPT_GO, NbdCodec.infoPayload("disk"));
        assertEquals(NbdHandshake.Next.TRANSMISSION, d.last);
        List<OptReply> g = d.replies();
        assertEquals(List.of(Nbd.REP_INFO, Nbd.REP_INFO, Nbd.REP_ACK), g.stream().map(OptReply::type).toList(),
                "export and block size info even unasked, then ACK");
        assertEquals("disk", d.hs.session().export().name());
    }

    @Test
    void infoAndGoErrors() {
        assertEquals(Nbd.REP_ERR_UNKNOWN, fixed().option(Nbd.OPT_GO, NbdCodec.infoPayload("nope")).single().type());
        assertEquals(Nbd.REP_ERR_INVALID, fixed().option(Nbd.OPT_GO, new byte[5]).single().type());
        byte[] bad = NbdCodec.infoPayload("disk", 1);
        ByteBuffer.wrap(bad).putInt(0, 100); // name length past the end
        assertEquals(Nbd.REP_ERR_INVALID, fixed().option(Nbd.OPT_INFO, bad).single().type());
        byte[] count = NbdCodec.infoPayload("disk", 1, 2);
        ByteBuffer.wrap(count).putShort(8, (short) 3); // count says 3, 2 present
        assertEquals(Nbd.REP_ERR_INVALID, fixed().option(Nbd.OPT_GO, count).single().type());
        Driver d = fixed().option(Nbd.OPT_GO, NbdCodec.infoPayload("nope"));
        assertEquals(NbdHandshake.Next.CONTINUE, d.last, "a failed GO leaves the client in option haggling");
        d.replies();
        d.option(Nbd.OPT_GO, NbdCodec.infoPayload("ro"));
        assertEquals(NbdHandshake.Next.TRANSMISSION, d.last);
    }

    @Test
    void structuredReplyOnceWithoutData() {
        Driver d = fixed().option(Nbd.OPT_STRUCTURED_REPLY, new byte[0]);
        assertEquals(Nbd.REP_ACK, d.single().type());
        assertEquals(Nbd.REP_ERR_INVALID, d.option(Nbd.OPT_STRUCTURED_REPLY, new byte[0]).single().type());
        assertEquals(Nbd.REP_ERR_INVALID, fixed().option(Nbd.OPT_STRUCTURED_REPLY, new byte[1]).single().type());
        d.option(Nbd.OPT_GO, NbdCodec.infoPayload("disk"));
        NbdSession s = d.hs.session();
        assertTrue(s.structuredReplies());
        assertTrue((s.transmissionFlags() & Nbd.FLAG_SEND_DF) != 0, "DF only with structured replies");
        assertFalse(s.baseAllocation());
    }

    @Test
    void metaContextsNeedStructuredReplies() {
        assertEquals(Nbd.REP_ERR_INVALID, fixed().option(Nbd.OPT_SET_META_CONTEXT,
                NbdCodec.metaContextPayload("disk", Nbd.CONTEXT_BASE_ALLOCATION)).single().type());
        assertEquals(Nbd.REP_ERR_INVALID, fixed().option(Nbd.OPT_LIST_META_CONTEXT,
                NbdCodec.metaContextPayload("disk")).single().type());
    }

    @Test
    void listMetaContext() {
        Driver d = fixed().option(Nbd.OPT_STRUCTURED_REPLY, new byte[0]);
        d.replies();
        // No query lists every context (base:allocation first; qemu:allocation-depth has its own test).
        List<OptReply> all = d.option(Nbd.OPT_LIST_META_CONTEXT, NbdCodec.metaContextPayload("disk")).replies();
        assertEquals(3, all.size());
        assertEquals("base:allocation", new String(all.get(0).data(), 4, all.get(0).data().length - 4,
                StandardCharsets.UTF_8));
        for (String[] q : new String[][] {{"base:"}, {"base:allocation"}, {"x-foo:bar", "base:allocation"}}) {
            List<OptReply> r = d.option(Nbd.OPT_LIST_META_CONTEXT, NbdCodec.metaContextPayload("disk", q)).replies();
            assertEquals(2, r.size(), () -> "query " + List.of(q));
            ByteBuffer c = r.get(0).buf();
            assertEquals(Nbd.REP_META_CONTEXT, r.get(0).type());
            assertEquals(0, c.getInt(), "ids in LIST replies are 0");
            assertEquals("base:allocation", new String(r.get(0).data(), 4, r.get(0).data().length - 4,
                    StandardCharsets.UTF_8));
            assertEquals(Nbd.REP_ACK, r.get(1).type());
        }
        List<OptReply> none = d.option(Nbd.OPT_LIST_META_CONTEXT,
                NbdCodec.metaContextPayload("disk", "qemu:dirty-bitmap:x", "base:other")).replies();
        assertEquals(List.of(Nbd.REP_ACK), none.stream().map(OptReply::type).toList());
        assertEquals(Nbd.REP_ERR_UNKNOWN, d.option(Nbd.OPT_LIST_META_CONTEXT,
                NbdCodec.metaContextPayload("nope")).single().type());
    }

    @Test
    void setMetaContextSelectsBaseAllocationForThatExportOnly() {
        Driver d = fixed().option(Nbd.OPT_STRUCTURED_REPLY, new byte[0]);
        d.replies();
        List<OptReply> r = d.option(Nbd.OPT_SET_META_CONTEXT,
                NbdCodec.metaContextPayload("disk", "x-a:b", Nbd.CONTEXT_BASE_ALLOCATION)).replies();
        assertEquals(2, r.size());
        assertEquals(NbdSession.BASE_ALLOCATION_ID, r.get(0).buf().getInt());
        d.option(Nbd.OPT_GO, NbdCodec.infoPayload("disk"));
        assertTrue(d.hs.session().baseAllocation());

        Driver other = fixed().option(Nbd.OPT_STRUCTURED_REPLY, new byte[0]);
        other.option(Nbd.OPT_SET_META_CONTEXT, NbdCodec.metaContextPayload("disk", Nbd.CONTEXT_BASE_ALLOCATION));
        other.option(Nbd.OPT_GO, NbdCodec.infoPayload("ro"));
        assertFalse(other.hs.session().baseAllocation(), "selected for another export");

        Driver base = fixed().option(Nbd.OPT_STRUCTURED_REPLY, new byte[0]);
        base.replies();
        assertEquals(List.of(Nbd.REP_ACK), base.option(Nbd.OPT_SET_META_CONTEXT,
                NbdCodec.metaContextPayload("disk", "base:")).replies().stream().map(OptReply::type).toList(),
                "base: selects nothing in SET");

        Driver reset = fixed().option(Nbd.OPT_STRUCTURED_REPLY, new byte[0]);
        reset.option(Nbd.OPT_SET_META_CONTEXT, NbdCodec.metaContextPayload("disk", Nbd.CONTEXT_BASE_ALLOCATION));
        reset.replies();
        assertEquals(Nbd.REP_ERR_INVALID, reset.option(Nbd.OPT_SET_META_CONTEXT, new byte[3]).single().type());
        reset.option(Nbd.OPT_EXPORT_NAME, utf8("disk"));
        assertFalse(reset.hs.session().baseAllocation(), "a failed SET still replaces the selection");
    }

    @Test
    void malformedMetaContextPayloadsAreInvalid() {
        byte[] good = NbdCodec.metaContextPayload("disk", Nbd.CONTEXT_BASE_ALLOCATION);
        byte[] longQuery = good.clone();
        ByteBuffer.wrap(longQuery).putInt(12, 1000);
        byte[] manyQueries = good.clone();
        ByteBuffer.wrap(manyQueries).putInt(8, 2);
        byte[] trailing = java.util.Arrays.copyOf(good, good.length + 1);
        byte[] hugeName = good.clone();
        ByteBuffer.wrap(hugeName).putInt(0, -1);
        for (byte[] p : List.of(longQuery, manyQueries, trailing, hugeName, new byte[7])) {
            Driver d = fixed().option(Nbd.OPT_STRUCTURED_REPLY, new byte[0]);
            d.replies();
            assertEquals(Nbd.REP_ERR_INVALID, d.option(Nbd.OPT_SET_META_CONTEXT, p).single().type());
        }
    }

    @Test
    void otherOptionsAreUnsupported() {
        for (int opt : new int[] {Nbd.OPT_PEEK_EXPORT, Nbd.OPT_STARTTLS, 12, 0, -1}) {
            Driver d = fixed().option(opt, new byte[] {1, 2, 3});
            OptReply r = d.single();
            assertEquals(opt, r.option());
            assertEquals(Nbd.REP_ERR_UNSUP, r.type());
            assertEquals(NbdHandshake.Next.CONTINUE, d.last, "the next option is still parsed");
        }
    }

    @Test
    void oversizedOptionsBadMagicAndFloodsEndTheConnection() {
        Driver d = fixed();
        ByteBuffer h = ByteBuffer.allocate(16).putLong(Nbd.IHAVEOPT).putInt(Nbd.OPT_GO).putInt(Nbd.MAX_OPTION_LENGTH + 1);
        assertThrows(NbdProtocolException.class, () -> d.feed(h.array()));
        ByteBuffer m = ByteBuffer.allocate(16).putLong(Nbd.IHAVEOPT + 1).putInt(Nbd.OPT_LIST).putInt(0);
        assertThrows(NbdProtocolException.class, () -> fixed().feed(m.array()));
        Driver flood = fixed();
        for (int i = 0; i < NbdHandshake.MAX_OPTIONS; i++) {
            flood.option(Nbd.OPT_STARTTLS, new byte[0]);
        }
        assertThrows(NbdProtocolException.class, () -> flood.option(Nbd.OPT_STARTTLS, new byte[0]));
        // The largest option that is accepted is read and answered.
        Driver max = fixed().option(Nbd.OPT_INFO, new byte[Nbd.MAX_OPTION_LENGTH]);
        assertEquals(Nbd.REP_ERR_INVALID, max.single().type());
    }

    @Test
    void optionsDuringShutdownAreRefused() {
        Driver d = fixed();
        d.catalog.shuttingDown = true;
        assertEquals(Nbd.REP_ERR_SHUTDOWN, d.option(Nbd.OPT_GO, NbdCodec.infoPayload("disk")).single().type());
        assertEquals(Nbd.REP_ERR_SHUTDOWN, d.option(Nbd.OPT_LIST, new byte[0]).single().type());
        assertThrows(NbdProtocolException.class, () -> d.option(Nbd.OPT_EXPORT_NAME, utf8("disk")));
        Driver a = fixed();
        a.catalog.shuttingDown = true;
        assertEquals(Nbd.REP_ACK, a.option(Nbd.OPT_ABORT, new byte[0]).single().type());
        assertEquals(NbdHandshake.Next.CLOSE, a.last);
    }

    @Test
    void consumeInsistsOnTheBytesItAskedFor() {
        Driver d = fixed();
        assertEquals(16, d.hs.bytesNeeded());
        assertThrows(IllegalStateException.class, () -> d.hs.consume(ByteBuffer.allocate(15)));
        d.feed(ByteBuffer.allocate(16).putLong(Nbd.IHAVEOPT).putInt(Nbd.OPT_GO).putInt(9).array());
        assertEquals(9, d.hs.bytesNeeded());
        assertNotNull(d.hs);
    }

    @Test
    void forcedTlsRefusesEverythingButStartTlsAndAbortUntilTheUpgrade() {
        Driver d = new Driver(true).flags(Nbd.FLAG_C_FIXED_NEWSTYLE | Nbd.FLAG_C_NO_ZEROES);
        for (int opt : new int[] {Nbd.OPT_LIST, Nbd.OPT_INFO, Nbd.OPT_GO, Nbd.OPT_STRUCTURED_REPLY,
                Nbd.OPT_SET_META_CONTEXT, Nbd.OPT_EXTENDED_HEADERS, Nbd.OPT_PEEK_EXPORT, 12, -1}) {
            OptReply r = d.option(opt, NbdCodec.infoPayload("disk")).single();
            assertEquals(opt, r.option());
            assertEquals(Nbd.REP_ERR_TLS_REQD, r.type(), Nbd.optionName(opt));
            assertEquals(NbdHandshake.Next.CONTINUE, d.last);
        }
        assertEquals(Nbd.REP_ERR_INVALID, d.option(Nbd.OPT_STARTTLS, new byte[] {0}).single().type());
        assertThrows(IllegalStateException.class, d.hs::tlsEstablished, "no STARTTLS step yet");
        assertEquals(Nbd.REP_ACK, d.option(Nbd.OPT_STARTTLS, new byte[0]).single().type());
        assertEquals(NbdHandshake.Next.STARTTLS, d.last);
        assertEquals(16, d.hs.bytesNeeded(), "not one byte past the option is read before TLS");
        d.hs.tlsEstablished();
        d.last = NbdHandshake.Next.CONTINUE;
        assertEquals(Nbd.REP_ERR_INVALID, d.option(Nbd.OPT_STARTTLS, new byte[0]).single().type());
        assertEquals(Nbd.REP_ACK, d.option(Nbd.OPT_STRUCTURED_REPLY, new byte[0]).single().type());
        List<OptReply> go = d.option(Nbd.OPT_GO, NbdCodec.infoPayload("disk")).replies();
        assertEquals(Nbd.REP_ACK, go.get(go.size() - 1).type());
        assertEquals(NbdHandshake.Next.TRANSMISSION, d.last);
        assertTrue(d.hs.session().structuredReplies());
        assertThrows(IllegalStateException.class, d.hs::tlsEstablished);
    }

    @Test
    void forcedTlsEndsAPlaintextExportNameAndHonoursAbort() {
        Driver d = new Driver(true).flags(Nbd.FLAG_C_FIXED_NEWSTYLE);
        assertThrows(NbdProtocolException.class, () -> d.option(Nbd.OPT_EXPORT_NAME, utf8("disk")));
        Driver old = new Driver(true).flags(0); // not fixed newstyle: EXPORT_NAME is all it may send
        assertThrows(NbdProtocolException.class, () -> old.option(Nbd.OPT_EXPORT_NAME, utf8("disk")));
        Driver a = new Driver(true).flags(Nbd.FLAG_C_FIXED_NEWSTYLE);
        assertEquals(Nbd.REP_ACK, a.option(Nbd.OPT_ABORT, new byte[0]).single().type());
        assertEquals(NbdHandshake.Next.CLOSE, a.last);
        // Shutdown wins over TLS: the STARTTLS is refused rather than started.
        Driver s = new Driver(true).flags(Nbd.FLAG_C_FIXED_NEWSTYLE);
        s.catalog.shuttingDown = true;
        assertEquals(Nbd.REP_ERR_SHUTDOWN, s.option(Nbd.OPT_STARTTLS, new byte[0]).single().type());
        assertEquals(NbdHandshake.Next.CONTINUE, s.last);
    }
}
