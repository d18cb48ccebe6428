package io.jaio.nbd;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * A reply ready to go on the wire: the segments to write in order with one gathering write
 * (headers in a pooled header buffer, data in a pooled data buffer), and the pooled buffers to
 * give back once written. Home thread of the server's context.
 */
final class NbdReply {
    /** Size of the header buffer every reply gets (all headers of one reply fit in it). */
    static final int HEADER_BUFFER = 4096;

    private final BufferPool pool;
    private BufferPool.Buffer header;
    private BufferPool.Buffer data;
    private MemorySegment[] parts = new MemorySegment[4];
    private int count;
    /** Bytes of header written so far. */
    private int headerUsed;
    /** NBD error value sent (0 on success), for statistics. */
    int error;
    /** Payload bytes moved by the command (read or written), for statistics. */
    long bytes;

    NbdReply(BufferPool pool) {
        this.pool = pool;
    }

    /** A view of the rest of the header buffer to encode into (allocating it on first use). */
    ByteBuffer headerSpace() {
        if (header == null) {
            header = pool.acquire(HEADER_BUFFER);
        }
        return header.segment().asSlice(headerUsed).asByteBuffer();
    }

    /** Appends the {@code n} header bytes just encoded into {@link #headerSpace()}. */
    void commitHeader(int n) {
        add(header.segment().asSlice(headerUsed, n));
        headerUsed += n;
    }

    /** A data buffer of at least {@code size} bytes owned by this reply. */
    MemorySegment dataBuffer(int size) {
        if (data != null) {
            throw new IllegalStateException("one data buffer per reply");
        }
        data = pool.acquire(size);
        return data.segment().asSlice(0, size);
    }

    /** Appends a data segment (a slice of {@link #dataBuffer}). */
    void add(MemorySegment part) {
        if (count == parts.length) {
            parts = Arrays.copyOf(parts, count * 2);
        }
        parts[count++] = part;
    }

    /** Forgets every part and gives the buffers back, so an error reply can be built instead. */
    void reset() {
        pool.release(header);
        pool.release(data);
        header = null;
        data = null;
        Arrays.fill(parts, 0, count, null);
        count = 0;
        headerUsed = 0;
        bytes = 0;
    }

    /** The segments to write, in order. */
    MemorySegment[] parts() {
        return count == parts.length ? parts : Arrays.copyOf(parts, count);
    }

    /** How many segments {@link #parts()} has. */
    int partCount() {
        return count;
    }

    /** Copies the segments into {@code dst} from index {@code at}; returns the index after them. */
    int copyParts(MemorySegment[] dst, int at) {
        System.arraycopy(parts, 0, dst, at, count);
        return at + count;
    }

    /** Total bytes of the reply. */
    long byteSize() {
        long n = 0;
        for (int i = 0; i < count; i++) {
            n += parts[i].byteSize();
        }
        return n;
    }

    /** Gives the buffers back to the pool; the reply must not be used afterwards. */
    void release() {
        pool.release(header);
        pool.release(data);
        header = null;
        data = null;
    }
}
