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
    /** The one file range a reply may carry (its {@code parts} slot is null); fd -1 if none. */
    private int fileFd = -1;
    private long fileOffset;
    private long fileLength;
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

    /**
     * Appends {@code length} bytes of file {@code fd} at {@code offset}, to be sent from the file
     * ({@code sendfile(2)}) instead of through a data buffer, like {@link #dataBuffer}: one per reply.
     */
    void addFile(int fd, long offset, long length) {
        if (fileFd != -1) {
            throw new IllegalStateException("one file range per reply");
        }
        fileFd = fd;
        fileOffset = offset;
        fileLength = length;
        add(null);
    }

    /** Whether the reply carries a file range (its {@link #part} is null). */
    boolean hasFileParts() {
        return fileFd != -1;
    }

    /** Part {@code i}: a segment, or null for the file range ({@link #fileFd} etc.). */
    MemorySegment part(int i) {
        return parts[i];
    }

    int fileFd() {
        return fileFd;
    }

    long fileOffset() {
        return fileOffset;
    }

    long fileLength() {
        return fileLength;
    }

    /** Forgets every part and gives the buffers back, so an error reply can be built instead. */
    void reset() {
        pool.release(header);
        pool.release(data);
        header = null;
        data = null;
        Arrays.fill(parts, 0, count, null);
        count = 0;
        fileFd = -1;
        headerUsed = 0;
        bytes = 0;
    }

    /** The segments to write, in order (a reply without file ranges). */
    MemorySegment[] parts() {
        if (hasFileParts()) {
            throw new IllegalStateException("reply has file ranges");
        }
        return count == parts.length ? parts : Arrays.copyOf(parts, count);
    }

    /** How many parts (segments and file ranges) the reply has. */
    int partCount() {
        return count;
    }

    /** Total bytes of the reply. */
    long byteSize() {
        long n = 0;
        for (int i = 0; i < count; i++) {
            n += parts[i] != null ? parts[i].byteSize() : fileLength;
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
