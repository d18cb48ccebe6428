package io.jaio.nbd;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;

/** Test helpers: flatten a reply to bytes and decode it with the client's checking decoder. */
final class Wire {
    private Wire() {}

    static byte[] bytes(NbdReply reply) {
        MemorySegment[] parts = reply.parts();
        long n = reply.byteSize();
        byte[] out = new byte[(int) n];
        int pos = 0;
        for (MemorySegment p : parts) {
            MemorySegment.copy(p, ValueLayout.JAVA_BYTE, 0, out, pos, (int) p.byteSize());
            pos += (int) p.byteSize();
        }
        return out;
    }

    /** A decoder over {@code src} that fails with NbdProtocolException on truncation. */
    static NbdClient.ReplyDecoder decoder(ByteBuffer src, boolean structured) {
        NbdClient.ReplyDecoder d = new NbdClient.ReplyDecoder(dst -> {
            int n = dst.remaining();
            if (src.remaining() < n) {
                throw new NbdProtocolException("reply truncated: need " + n + ", have " + src.remaining());
            }
            dst.put(src.slice(src.position(), n));
            src.position(src.position() + n);
        });
        d.structured = structured;
        return d;
    }

    /** Decodes one complete reply to {@code r} from {@code bytes}, which it must use up exactly. */
    static NbdClient.Reply decode(byte[] bytes, boolean structured, NbdRequest r) {
        ByteBuffer src = ByteBuffer.wrap(bytes);
        NbdClient.ReplyDecoder d = decoder(src, structured);
        d.expect(r.handle(), r.type(), r.offset(), (int) r.length(), r.flags());
        NbdClient.Reply reply = d.next();
        if (src.hasRemaining()) {
            throw new NbdProtocolException(src.remaining() + " bytes after the reply");
        }
        return reply;
    }

    /** Executes {@code r} (after check) on {@code s} and decodes the reply. */
    static NbdClient.Reply run(NbdSession s, NbdRequest r, byte[] payload, BufferPool pool) {
        NbdCommands.Verdict v = NbdCommands.check(s, r, false);
        NbdReply reply;
        if (!v.ok()) {
            reply = NbdCommands.errorReply(s, r, v.error(), v.message(), pool);
        } else {
            MemorySegment p = null;
            BufferPool.Buffer buf = null;
            if (payload != null && payload.length > 0) {
                buf = pool.acquire(payload.length);
                p = buf.segment();
                MemorySegment.copy(payload, 0, p, ValueLayout.JAVA_BYTE, 0, payload.length);
            }
            reply = NbdCommands.execute(s, r, p, pool);
            pool.release(buf);
        }
        try {
            return decode(bytes(reply), s.structuredReplies(), r);
        } finally {
            reply.release();
        }
    }
}
