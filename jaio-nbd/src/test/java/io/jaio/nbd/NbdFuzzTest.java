package io.jaio.nbd;

import io.jaio.block.BlockBackend;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A seeded, reproducible fuzz test of the codec, the handshake state machine and the request
 * path ({@code check} + {@code execute} on in-memory backends, replies decoded by the client's
 * checking decoder). At least {@value #DEFAULT_INPUTS} generated inputs: mutated valid
 * handshakes (each possibly followed by requests on the session it produced; some in FORCEDTLS
 * mode, where every STARTTLS is taken to succeed) and mutated request headers with payloads,
 * in both header forms (compact, and extended with 64-bit lengths and PAYLOAD_LEN, whose
 * replies are checked by {@link ExtWire}). Properties: no exception escapes but
 * {@link NbdProtocolException}; every reply is well formed; reads return the image's bytes;
 * no backend call touches a byte outside the image (a guard throws AssertionError).
 *
 * <p>{@code -Djaio.fuzz.seed=N} replays a run; {@code -Djaio.fuzz.inputs=N} changes the count.
 */
class NbdFuzzTest {
    static final int DEFAULT_INPUTS = 1_000_000;
    private static final int SIZE = 64 * 1024;

    private final BufferPool pool = new BufferPool(64L << 20);

    @AfterEach
    void tearDown() {
        assertEquals(0, pool.lentCount(), "every pooled buffer returned");
        pool.close();
    }

    /** Fails loudly (AssertionError, which nothing in the server catches) on any access outside the image. */
    static final class Guard implements BlockBackend {
        final MemoryBackend inner;
        long writes;

        Guard(MemoryBackend inner) {
            this.inner = inner;
        }

        private void guard(String op, long offset, long length) {
            if (offset < 0 || length < 0 || offset > inner.size() || length > inner.size() - offset) {
                throw new AssertionError(op + " outside the image: offset " + offset + ", length " + length);
            }
        }

        @Override
        public long size() {
            return inner.size();
        }

        @Override
        public boolean isReadOnly() {
            return inner.isReadOnly();
        }

        @Override
        public int alignment() {
            return inner.alignment();
        }

        @Override
        public boolean canDiscard() {
            return inner.canDiscard();
        }

        @Override
        public void read(long offset, MemorySegment buf) {
            guard("read", offset, buf.byteSize());
            inner.read(offset, buf);
        }

        @Override
        public void write(long offset, MemorySegment buf, boolean fua) {
            guard("write", offset, buf.byteSize());
            writes++;
            inner.write(offset, buf, fua);
        }

        @Override
        public void flush() {
            inner.flush();
        }

        @Override
        public void discard(long offset, long length, boolean fua) {
            guard("discard", offset, length);
            writes++;
            inner.discard(offset, length, fua);
        }

        @Override
        public void writeZeroes(long offset, long length, boolean mayUnmap, boolean fastOnly, boolean fua) {
            guard("write zeroes", offset, length);
            writes++;
            inner.writeZeroes(offset, length, mayUnmap, fastOnly, fua);
        }

        @Override
        public List<Extent> blockStatus(long offset, long length) {
            guard("block status", offset, length);
            return inner.blockStatus(offset, length);
        }

        @Override
        public void close() {
        }
    }

    private final Map<String, NbdExport> exports = new LinkedHashMap<>();
    private final NbdHandshake.Catalog catalog = new NbdHandshake.Catalog() {
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
            return false;
        }
    };
    private final List<NbdSession> sessions = new ArrayList<>();
    private static final String[] NAMES = {"disk", "ro", "al", "", "nope", "disk\0", "d\u00e9"};

    private SplittableRandom rnd;
    private long inputs;
    private long handshakes;
    private long requests;
    private long protocolErrors;
    private long executed;
    private long transmissions;

    private void setUpExports() {
        MemoryBackend disk = new MemoryBackend(SIZE);
        MemoryBackend ro = new MemoryBackend(SIZE / 2, true, 1, true);
        MemoryBackend al = new MemoryBackend(SIZE, false, 512, false);
        byte[] init = new byte[SIZE];
        rnd.nextBytes(init);
        disk.fill(0, java.util.Arrays.copyOf(init, SIZE / 2)); // upper half stays a hole
        ro.fill(0, java.util.Arrays.copyOf(init, SIZE / 2));
        io.jaio.block.DirtyBitmaps bitmaps = io.jaio.block.DirtyBitmaps.inMemory(SIZE);
        io.jaio.block.DirtyBitmap bitmap = bitmaps.add("a", 4096);
        exports.put("disk", NbdExport.builder("disk", new Guard(disk)).description("fuzz").sparseReadMinimum(1)
                .dirtyBitmaps(bitmaps).build());
        exports.put("ro", NbdExport.builder("ro", new Guard(ro)).readOnly(true).sparseReadMinimum(512).build());
        exports.put("al", NbdExport.builder("al", new Guard(al)).sparseReads(false).build());
        for (NbdExport e : exports.values()) {
            for (int m = 0; m < 6; m++) {
                boolean ext = m >= 4; // extended headers imply structured replies
                boolean structured = (m & 1) != 0 || ext;
                sessions.add(new NbdSession(e, structured, (m & 2) != 0, e.transmissionFlags(structured), ext));
            }
            // Other contexts: allocation depth alone (compact replies: one chunk), and with
            // extended headers every context at once (one chunk each, checked by ExtWire).
            sessions.add(new NbdSession(e, true, false, e.transmissionFlags(true), false, true));
            List<NbdSession.ExportedBitmap> bm = e.dirtyBitmaps() == null ? List.of()
                    : List.of(new NbdSession.ExportedBitmap(3, bitmap));
            sessions.add(new NbdSession(e, true, true, e.transmissionFlags(true), true, true, bm));
        }
    }

    @Test
    void fuzzCodecHandshakeAndRequests() {
        long seed = Long.getLong("jaio.fuzz.seed", 0x6a61696f2d6e6264L); // "jaio-nbd"
        long target = Long.getLong("jaio.fuzz.inputs", DEFAULT_INPUTS);
        System.out.println("NBD fuzz: seed " + seed + " (-Djaio.fuzz.seed=" + seed + " to replay), " + target
                + " inputs");
        rnd = new SplittableRandom(seed);
        setUpExports();
        long start = System.nanoTime();
        byte[] current = null;
        try {
            while (inputs < target) {
                if (rnd.nextInt(10) < 3) {
                    current = handshakeInput();
                    fuzzHandshake(current);
                } else {
                    NbdSession s = sessions.get(rnd.nextInt(sessions.size()));
                    current = requestInput(s);
                    fuzzRequest(s, current);
                }
            }
        } catch (RuntimeException | AssertionError e) {
            throw new AssertionError("fuzz input #" + inputs + " (seed " + seed + ") failed: "
                    + HexFormat.of().formatHex(current, 0, Math.min(current.length, 256)), e);
        }
        long ms = (System.nanoTime() - start) / 1_000_000;
        System.out.printf("NBD fuzz: %d inputs (%d handshakes reaching transmission %d times, %d requests, "
                + "%d executed) in %d ms; %d protocol errors%n", inputs, handshakes, transmissions, requests,
                executed, ms, protocolErrors);
        assertTrue(inputs >= target);
        assertTrue(transmissions > 1000, "handshakes reach transmission");
        assertTrue(executed > target / 5, "requests reach the backend");
    }

    // ---- handshakes ----

    private byte[] handshakeInput() {
        ByteBuffer b = ByteBuffer.allocate(1 << 16);
        int flags = switch (rnd.nextInt(8)) {
            case 0 -> 0;
            case 1 -> Nbd.FLAG_C_FIXED_NEWSTYLE;
            case 2 -> rnd.nextInt();
            default -> Nbd.FLAG_C_FIXED_NEWSTYLE | Nbd.FLAG_C_NO_ZEROES;
        };
        b.putInt(flags);
        int options = 1 + rnd.nextInt(6);
        for (int i = 0; i < options && b.remaining() > 9000; i++) {
            int opt = pickOption();
            byte[] payload = optionPayload(opt);
            NbdCodec.option(b, opt, payload);
        }
        // Sometimes a request follows, as a client would send after GO.
        if (rnd.nextBoolean()) {
            randomRequest(null, rnd.nextBoolean()).encode(b);
        }
        byte[] valid = java.util.Arrays.copyOf(b.array(), b.position());
        return mutate(valid);
    }

    private int pickOption() {
        int r = rnd.nextInt(20);
        return switch (r) {
            case 0, 1 -> Nbd.OPT_EXPORT_NAME;
            case 2 -> Nbd.OPT_ABORT;
            case 3 -> Nbd.OPT_LIST;
            case 4, 5 -> Nbd.OPT_INFO;
            case 6, 7, 8 -> Nbd.OPT_GO;
            case 9, 10, 11 -> Nbd.OPT_STRUCTURED_REPLY;
            case 12 -> Nbd.OPT_LIST_META_CONTEXT;
            case 13, 14 -> Nbd.OPT_SET_META_CONTEXT;
            case 15 -> Nbd.OPT_STARTTLS;
            case 16 -> Nbd.OPT_EXTENDED_HEADERS;
            default -> rnd.nextInt(32) == 0 ? rnd.nextInt() : rnd.nextInt(16);
        };
    }

    private String name() {
        if (rnd.nextInt(10) == 0) {
            byte[] b = new byte[rnd.nextInt(20)];
            rnd.nextBytes(b);
            return new String(b, StandardCharsets.ISO_8859_1);
        }
        return NAMES[rnd.nextInt(NAMES.length)];
    }

    private byte[] optionPayload(int opt) {
        return switch (opt) {
            case Nbd.OPT_EXPORT_NAME -> name().getBytes(StandardCharsets.UTF_8);
            case Nbd.OPT_INFO, Nbd.OPT_GO -> {
                int n = rnd.nextInt(5);
                int[] infos = new int[n];
                for (int i = 0; i < n; i++) {
                    infos[i] = rnd.nextInt(6);
                }
                yield NbdCodec.infoPayload(name(), infos);
            }
            case Nbd.OPT_LIST_META_CONTEXT, Nbd.OPT_SET_META_CONTEXT -> {
                String[] q = new String[rnd.nextInt(4)];
                String[] choices = {"base:allocation", "base:", "qemu:dirty-bitmap:a", "x-y:z", "nocolon", ""};
                for (int i = 0; i < q.length; i++) {
                    q[i] = choices[rnd.nextInt(choices.length)];
                }
                yield NbdCodec.metaContextPayload(name(), q);
            }
            case Nbd.OPT_ABORT, Nbd.OPT_LIST, Nbd.OPT_STRUCTURED_REPLY -> rnd.nextInt(8) == 0 ? new byte[1] : new byte[0];
            default -> {
                byte[] b = new byte[rnd.nextInt(64)];
                rnd.nextBytes(b);
                yield b;
            }
        };
    }

    /** Byte-level mutations of a valid input: bit flips, boundary bytes, insertions, deletions, truncation. */
    private byte[] mutate(byte[] in) {
        if (rnd.nextInt(4) == 0 || in.length == 0) {
            return in; // a quarter stay valid
        }
        byte[] b = in;
        int n = 1 + rnd.nextInt(4);
        for (int i = 0; i < n && b.length > 0; i++) {
            int pos = rnd.nextInt(b.length);
            switch (rnd.nextInt(6)) {
                case 0 -> b[pos] ^= (byte) (1 << rnd.nextInt(8));
                case 1 -> b[pos] = (byte) new int[] {0, 0xFF, 0x7F, 0x80, 1}[rnd.nextInt(5)];
                case 2 -> {
                    // A 32-bit field at pos set to a boundary value (lengths, counts).
                    if (pos + 4 <= b.length) {
                        int[] v = {0, 1, -1, 0x7FFF_FFFF, 0x8000_0000, 4096, 65536, Nbd.MAX_OPTION_LENGTH,
                                Nbd.MAX_OPTION_LENGTH + 1, 12};
                        ByteBuffer.wrap(b).putInt(pos, v[rnd.nextInt(v.length)]);
                    }
                }
                case 3 -> {
                    byte[] c = new byte[b.length + 1 + rnd.nextInt(8)];
                    System.arraycopy(b, 0, c, 0, pos);
                    System.arraycopy(b, pos, c, c.length - (b.length - pos), b.length - pos);
                    b = c;
                }
                case 4 -> {
                    int len = Math.min(b.length - pos, 1 + rnd.nextInt(8));
                    byte[] c = new byte[b.length - len];
                    System.arraycopy(b, 0, c, 0, pos);
                    System.arraycopy(b, pos + len, c, pos, b.length - pos - len);
                    b = c;
                }
                default -> b = java.util.Arrays.copyOf(b, pos);
            }
        }
        return b;
    }

    private void fuzzHandshake(byte[] input) {
        inputs++;
        handshakes++;
        boolean tls = rnd.nextInt(8) == 0; // FORCEDTLS, with every TLS handshake succeeding
        NbdHandshake hs = new NbdHandshake(catalog, tls);
        ByteBuffer in = ByteBuffer.wrap(input);
        int lastOption = 0;
        try {
            for (;;) {
                int need = hs.bytesNeeded();
                if (in.remaining() < need) {
                    return; // the connection would wait for more bytes, or see EOF
                }
                if (hs.awaitingOptionHeader()) {
                    lastOption = in.getInt(in.position() + 8);
                }
                NbdHandshake.Step step = hs.consume(in.slice(in.position(), need));
                in.position(in.position() + need);
                checkOptionOutput(step, lastOption, hs);
                if (step.next() == NbdHandshake.Next.TRANSMISSION) {
                    transmissions++;
                    NbdSession s = hs.session();
                    // Whatever follows is requests on the new session.
                    while (in.remaining() >= s.requestSize()) {
                        byte[] r = new byte[Math.min(in.remaining(), s.requestSize() + rnd.nextInt(64))];
                        in.get(r);
                        fuzzRequest(s, r);
                    }
                    return;
                }
                if (step.next() == NbdHandshake.Next.CLOSE) {
                    return;
                }
                if (step.next() == NbdHandshake.Next.STARTTLS) {
                    assertTrue(tls, "STARTTLS accepted only by a server with TLS");
                    hs.tlsEstablished();
                }
            }
        } catch (NbdProtocolException e) {
            protocolErrors++;
        }
    }

    /** Every option reply the machine writes is well formed and answers the option just sent. */
    private static void checkOptionOutput(NbdHandshake.Step step, int option, NbdHandshake hs) {
        ByteBuffer out = ByteBuffer.wrap(step.output());
        if (step.next() == NbdHandshake.Next.TRANSMISSION && option == Nbd.OPT_EXPORT_NAME) {
            assertEquals(hs.noZeroes() ? 10 : 134, out.remaining());
            assertEquals(hs.session().export().size(), out.getLong());
            return;
        }
        int last = 0;
        boolean export = false;
        while (out.hasRemaining()) {
            assertTrue(out.remaining() >= Nbd.OPTION_REPLY_HEADER_SIZE, "truncated option reply");
            assertEquals(Nbd.REPLY_MAGIC, out.getLong());
            assertEquals(option, out.getInt(), "reply names the option");
            last = out.getInt();
            int len = out.getInt();
            assertTrue(len >= 0 && len <= out.remaining(), "reply length within the output");
            if (last == Nbd.REP_INFO) {
                assertTrue(len >= 2);
                export |= out.getShort(out.position()) == Nbd.INFO_EXPORT;
            }
            out.position(out.position() + len);
        }
        if (step.next() == NbdHandshake.Next.TRANSMISSION) {
            assertEquals(Nbd.OPT_GO, option);
            assertEquals(Nbd.REP_ACK, last, "GO ends with ACK");
            assertTrue(export, "GO sends NBD_INFO_EXPORT");
        } else if (step.output().length > 0) {
            assertTrue(last == Nbd.REP_ACK || (last & Nbd.REP_FLAG_ERROR) != 0, "final reply is ACK or an error");
        }
    }

    // ---- requests ----

    private NbdRequest randomRequest(NbdSession s) {
        return randomRequest(s, s != null && s.extendedHeaders());
    }

    /** A random request, compact or extended (then with 64-bit lengths and PAYLOAD_LEN at times). */
    private NbdRequest randomRequest(NbdSession s, boolean extended) {
        NbdRequest c = randomCompactRequest(s);
        if (!extended) {
            return c;
        }
        long size = s == null ? SIZE : s.export().size();
        int flags = c.flags();
        if (c.type() == Nbd.CMD_WRITE ? rnd.nextInt(8) != 0 : rnd.nextInt(16) == 0) {
            flags |= Nbd.CMD_FLAG_PAYLOAD_LEN;
        }
        long length = switch (rnd.nextInt(12)) {
            case 0 -> rnd.nextLong();
            case 1 -> (1L << 32) + rnd.nextInt(3) - 1;
            case 2 -> 2 * size;
            case 3 -> -1L;
            default -> c.length();
        };
        return new NbdRequest(flags, c.type(), c.handle(), c.offset(), length, true);
    }

    private NbdRequest randomCompactRequest(NbdSession s) {
        long size = s == null ? SIZE : s.export().size();
        int type = switch (rnd.nextInt(40)) {
            case 0 -> rnd.nextInt(1 << 16);
            case 1 -> 8 + rnd.nextInt(8);
            default -> rnd.nextInt(8);
        };
        if (type == Nbd.CMD_DISC && rnd.nextInt(4) != 0) {
            type = Nbd.CMD_READ;
        }
        int flags = switch (rnd.nextInt(10)) {
            case 0 -> rnd.nextInt(1 << 16);
            case 1 -> rnd.nextInt(32);
            case 2, 3, 4 -> validFlags(type);
            default -> 0;
        };
        long length = switch (rnd.nextInt(16)) {
            case 0 -> 0;
            case 1 -> size;
            case 2 -> Integer.toUnsignedLong(rnd.nextInt());
            case 3 -> Nbd.MAX_PAYLOAD + (long) rnd.nextInt(3) - 1;
            case 4, 5 -> 512L * rnd.nextInt(9);
            default -> rnd.nextInt(4096) + 1;
        };
        long offset = switch (rnd.nextInt(24)) {
            case 0 -> size - length + rnd.nextInt(3) - 1;
            case 1 -> size + rnd.nextInt(3) - 1;
            case 2 -> rnd.nextLong();
            case 3 -> Long.MIN_VALUE + rnd.nextInt(3) - 1;
            case 4 -> -1L - rnd.nextInt(4096);
            case 5, 6, 7 -> length <= size ? 512L * rnd.nextInt((int) ((size - length) / 512) + 1) : 0;
            default -> length <= size ? rnd.nextLong(size - length + 1) : rnd.nextLong(Math.max(1, size));
        };
        int align = s == null ? 1 : s.export().minBlockSize();
        if (align > 1 && rnd.nextInt(4) != 0) {
            offset &= -align;
            length &= -align;
        }
        if (type == Nbd.CMD_FLUSH && rnd.nextInt(8) != 0) {
            offset = 0;
            length = 0;
        }
        return new NbdRequest(flags, type, rnd.nextLong(), offset, (int) length);
    }

    /** A random combination of the flags valid for {@code type}. */
    private int validFlags(int type) {
        int valid = Nbd.CMD_FLAG_FUA | switch (type) {
            case Nbd.CMD_READ -> Nbd.CMD_FLAG_DF;
            case Nbd.CMD_WRITE_ZEROES -> Nbd.CMD_FLAG_NO_HOLE | Nbd.CMD_FLAG_FAST_ZERO;
            case Nbd.CMD_BLOCK_STATUS -> Nbd.CMD_FLAG_REQ_ONE;
            default -> 0;
        };
        return rnd.nextInt(32) & valid;
    }

    private byte[] requestInput(NbdSession s) {
        NbdRequest r = randomRequest(s);
        long len = r.payloadLength();
        int payload = len != 0 && Long.compareUnsigned(len, s.export().size()) <= 0 ? (int) len : rnd.nextInt(8);
        ByteBuffer b = ByteBuffer.allocate(r.headerSize() + payload);
        r.encode(b);
        byte[] tail = new byte[payload];
        rnd.nextBytes(tail);
        b.put(tail);
        byte[] bytes = b.array();
        if (rnd.nextInt(8) == 0) {
            int flips = 1 + rnd.nextInt(3);
            for (int i = 0; i < flips; i++) {
                int pos = rnd.nextInt(r.headerSize());
                bytes[pos] ^= (byte) (1 << rnd.nextInt(8));
            }
        }
        return bytes;
    }

    private void fuzzRequest(NbdSession s, byte[] input) {
        inputs++;
        requests++;
        ByteBuffer in = ByteBuffer.wrap(input);
        NbdRequest r;
        try {
            r = NbdRequest.decode(in, s.extendedHeaders());
        } catch (NbdProtocolException e) {
            protocolErrors++;
            return;
        }
        if (r.type() == Nbd.CMD_DISC) {
            return;
        }
        NbdCommands.Verdict v = NbdCommands.check(s, r, rnd.nextInt(200) == 0);
        if (v.disconnect()) {
            assertEquals(Nbd.EINVAL, v.error());
            return;
        }
        long len = r.payloadLength();
        byte[] payload = null;
        if (len != 0) {
            if (in.remaining() < len) {
                return; // the connection would wait for the payload (v.disconnect() covers the huge ones)
            }
            if (v.ok()) {
                assertEquals(Nbd.CMD_WRITE, r.type(), "only WRITE takes a payload");
                payload = new byte[(int) len];
                in.get(payload);
            }
        }
        NbdReply reply;
        if (v.ok()) {
            executed++;
            BufferPool.Buffer buf = null;
            MemorySegment seg = null;
            if (payload != null && payload.length > 0) {
                buf = pool.acquire(payload.length);
                seg = buf.segment();
                MemorySegment.copy(payload, 0, seg, ValueLayout.JAVA_BYTE, 0, payload.length);
            }
            try {
                reply = NbdCommands.execute(s, r, seg, pool);
            } finally {
                pool.release(buf);
            }
        } else {
            assertTrue(v.error() == Nbd.EINVAL || v.error() == Nbd.EPERM || v.error() == Nbd.ENOSPC
                    || v.error() == Nbd.ESHUTDOWN, "a specified error value: " + v.error());
            reply = NbdCommands.errorReply(s, r, v.error(), v.message(), pool);
        }
        if (s.extendedHeaders()) {
            ExtWire.Decoded d;
            try {
                d = ExtWire.decode(Wire.bytes(reply), r);
            } finally {
                reply.release();
            }
            checkOutcome(s, r, v, payload, d.error(), d.data());
            return;
        }
        NbdClient.Reply decoded;
        try {
            decoded = Wire.decode(Wire.bytes(reply), s.structuredReplies(), r);
        } finally {
            reply.release();
        }
        assertEquals(r.handle(), decoded.handle());
        checkOutcome(s, r, v, payload, decoded.error(), decoded.data());
    }

    private static void checkOutcome(NbdSession s, NbdRequest r, NbdCommands.Verdict v, byte[] payload, int error,
            byte[] data) {
        if (!v.ok()) {
            assertEquals(v.error(), error);
            return;
        }
        MemoryBackend image = ((Guard) s.export().backend()).inner;
        if (error == 0) {
            if (r.type() == Nbd.CMD_READ) {
                assertTrue(image.matches((int) r.offset(), data), "READ returns the image's bytes");
            } else if (r.type() == Nbd.CMD_WRITE) {
                assertTrue(image.matches((int) r.offset(), payload == null ? new byte[0] : payload),
                        "WRITE lands where it was asked to");
            }
        }
    }
}
