package io.jaio.block;

import io.jaio.linux.FileSys;
import java.lang.foreign.MemorySegment;

/**
 * Aligned native memory owned by one request (a bounce buffer) or by a backend (its zero
 * buffer), released explicitly with {@link #close()} (QEMU's {@code qemu_try_blockalign} +
 * {@code qemu_vfree}). The segment has global scope, so the kernel (io_uring) and worker threads
 * may use its address; whoever owns the buffer closes it once no I/O uses it any more.
 *
 * <p>Threads: not synchronised; one owner at a time. {@link #close()} is idempotent.
 */
final class NativeBuffer implements AutoCloseable {
    private long address;
    private final long size;
    private final MemorySegment segment;

    private NativeBuffer(long address, long size) {
        this.address = address;
        this.size = size;
        this.segment = FileSys.view(address, size);
    }

    /** {@code size} bytes (at least 1) at a multiple of {@code align}, contents undefined. */
    static NativeBuffer allocate(long size, int align) {
        long n = Math.max(1, size);
        return new NativeBuffer(FileSys.alignedAlloc(Math.max(align, 16), n), n);
    }

    /** {@code size} zeroed bytes at a multiple of {@code align}. */
    static NativeBuffer zeroed(long size, int align) {
        NativeBuffer b = allocate(size, align);
        b.segment.fill((byte) 0);
        return b;
    }

    long address() {
        if (address == 0) {
            throw new IllegalStateException("native buffer already freed");
        }
        return address;
    }

    MemorySegment segment() {
        if (address == 0) {
            throw new IllegalStateException("native buffer already freed");
        }
        return segment;
    }

    @Override
    public void close() {
        long a = address;
        address = 0;
        FileSys.free(a);
    }
}
