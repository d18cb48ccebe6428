package io.jaio.nbd;

import io.jaio.aio.AioContext;
import io.jaio.block.BlockBackend;
import io.jaio.block.BlockException;
import io.jaio.coroutine.CoQueue;
import io.jaio.coroutine.Coroutine;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongToIntFunction;

/**
 * An in-memory {@link BlockBackend} test double: a byte array plus an allocation map in 4 KiB
 * blocks (discard and write-zeroes with unmap punch holes in whole blocks; block status reports
 * them as hole+zero). Bounds, read-only and alignment are checked as the interface specifies.
 * Extras for tests: a number of yields per request (so replies come back out of order), a
 * gate that holds writes until opened, an offset that fails with EIO, counters.
 *
 * <p>Threads: I/O from coroutines of the server's context; inspection methods from any thread
 * (synchronized).
 */
class MemoryBackend implements BlockBackend {
    static final int BLOCK = 4096;

    private final byte[] data;
    private final BitSet allocated;
    private final boolean readOnly;
    private final int alignment;
    private final boolean canDiscard;
    private volatile LongToIntFunction yields = off -> 0;
    private volatile long eioOffset = -1;
    private volatile boolean gateClosed;
    private final CoQueue gate = new CoQueue();
    final AtomicInteger flushes = new AtomicInteger();
    final AtomicInteger fuaWrites = new AtomicInteger();
    final AtomicInteger held = new AtomicInteger();

    MemoryBackend(int size) {
        this(size, false, 1, true);
    }

    MemoryBackend(int size, boolean readOnly, int alignment, boolean canDiscard) {
        this.data = new byte[size];
        this.allocated = new BitSet((size + BLOCK - 1) / BLOCK);
        this.readOnly = readOnly;
        this.alignment = alignment;
        this.canDiscard = canDiscard;
    }

    /** Each request at {@code offset} yields {@code f(offset)} times before it runs. */
    void yields(LongToIntFunction f) {
        this.yields = f;
    }

    /** Reads and writes covering {@code offset} fail with EIO (-1: none). */
    void eioAt(long offset) {
        this.eioOffset = offset;
    }

    /** Writes wait until {@link #openGate} (which must run in the server's context). */
    void closeGate() {
        gateClosed = true;
    }

    /** Releases held writes; call in the server's home thread. */
    void openGate() {
        gateClosed = false;
        gate.restartAll();
    }

    synchronized byte[] snapshot() {
        return data.clone();
    }

    synchronized void fill(int offset, byte[] bytes) {
        System.arraycopy(bytes, 0, data, offset, bytes.length);
        allocated.set(offset / BLOCK, (offset + bytes.length + BLOCK - 1) / BLOCK);
    }

    /** Whether bytes {@code [offset, offset + b.length)} equal {@code b}. */
    synchronized boolean matches(int offset, byte[] b) {
        return java.util.Arrays.equals(data, offset, offset + b.length, b, 0, b.length);
    }

    synchronized boolean isAllocated(int block) {
        return allocated.get(block);
    }

    private void pause(long offset) {
        int n = yields.applyAsInt(offset);
        for (int i = 0; i < n && Coroutine.inCoroutine(); i++) {
            Coroutine.schedule(AioContext.current(), Coroutine.self());
            Coroutine.yield();
        }
    }

    private void check(long offset, long length, boolean write) {
        if (write && readOnly) {
            throw new BlockException(1, "read-only");
        }
        if (offset < 0 || length < 0 || offset > data.length || length > data.length - offset) {
            throw new BlockException(write ? 28 : 22, "out of range: " + offset + "+" + length);
        }
        if ((offset % alignment) != 0 || (length % alignment) != 0) {
            throw new BlockException(22, "unaligned: " + offset + "+" + length);
        }
        long e = eioOffset;
        if (e >= 0 && e >= offset && e < offset + Math.max(1, length)) {
            throw new BlockException(5, "injected I/O error at " + e);
        }
    }

    @Override
    public long size() {
        return data.length;
    }

    @Override
    public boolean isReadOnly() {
        return readOnly;
    }

    @Override
    public int alignment() {
        return alignment;
    }

    @Override
    public boolean canDiscard() {
        return canDiscard;
    }

    @Override
    public void read(long offset, MemorySegment buf) {
        pause(offset);
        check(offset, buf.byteSize(), false);
        synchronized (this) {
            MemorySegment.copy(data, (int) offset, buf, ValueLayout.JAVA_BYTE, 0, (int) buf.byteSize());
        }
    }

    @Override
    public void write(long offset, MemorySegment buf, boolean fua) {
        pause(offset);
        check(offset, buf.byteSize(), true);
        if (gateClosed && Coroutine.inCoroutine()) {
            held.incrementAndGet();
            while (gateClosed) {
                gate.await(null);
            }
            held.decrementAndGet();
        }
        synchronized (this) {
            MemorySegment.copy(buf, ValueLayout.JAVA_BYTE, 0, data, (int) offset, (int) buf.byteSize());
            if (buf.byteSize() > 0) {
                allocated.set((int) (offset / BLOCK), (int) ((offset + buf.byteSize() + BLOCK - 1) / BLOCK));
            }
        }
        if (fua) {
            fuaWrites.incrementAndGet();
        }
    }

    @Override
    public void flush() {
        pause(0);
        flushes.incrementAndGet();
    }

    @Override
    public void discard(long offset, long length, boolean fua) {
        pause(offset);
        check(offset, length, true);
        if (!canDiscard) {
            throw new BlockException(95, "discard not supported");
        }
        punch(offset, length);
    }

    /** Zeroes the range; whole blocks inside it (and a partial last block of the image) become holes. */
    private synchronized void punch(long offset, long length) {
        java.util.Arrays.fill(data, (int) offset, (int) (offset + length), (byte) 0);
        long first = (offset + BLOCK - 1) / BLOCK;
        long end = offset + length == data.length ? (data.length + BLOCK - 1) / BLOCK : (offset + length) / BLOCK;
        if (end > first) {
            allocated.clear((int) first, (int) end);
        }
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayUnmap, boolean fastOnly, boolean fua) {
        pause(offset);
        check(offset, length, true);
        if (mayUnmap && canDiscard) {
            punch(offset, length);
            return;
        }
        if (fastOnly) {
            throw new BlockException(95, "no fast zeroing without unmap");
        }
        synchronized (this) {
            java.util.Arrays.fill(data, (int) offset, (int) (offset + length), (byte) 0);
            if (length > 0) {
                allocated.set((int) (offset / BLOCK), (int) ((offset + length + BLOCK - 1) / BLOCK));
            }
        }
    }

    @Override
    public synchronized List<Extent> blockStatus(long offset, long length) {
        check(offset, length, false);
        List<Extent> out = new ArrayList<>();
        long pos = offset;
        long end = offset + length;
        while (pos < end) {
            int b = (int) (pos / BLOCK);
            boolean alloc = allocated.get(b);
            int next = alloc ? allocated.nextClearBit(b) : allocated.nextSetBit(b);
            long stop = next < 0 ? end : Math.min(end, (long) next * BLOCK);
            out.add(new Extent(stop - pos, !alloc, !alloc));
            pos = stop;
        }
        return out;
    }

    @Override
    public void close() {
    }
}
