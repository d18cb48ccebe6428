package io.jaio.fs;

import io.jaio.linux.FileSys;
import io.jaio.linux.Linux;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link FileEngine}'s completion rules, shared by every engine of CoFile and jaio-block
 * (docs/design/aio-semantics.md §16.4), on a scripted op: -EINTR/-EAGAIN resubmit, short transfers
 * resubmit the remainder (vectored: the iovec array advanced in place), a read of 0 is end of file,
 * a write of 0 is ENOSPC, other errors pass through; and the RWF_DSYNC → fdatasync fallback.
 */
class CompletionRulesTest {
    /** Replays {@code results}, recording each attempt as {addr, len, off}. */
    static final class Script implements FileEngine.Op {
        final Deque<Long> results = new ArrayDeque<>();
        final List<long[]> calls = new ArrayList<>();

        Script(long... rs) {
            for (long r : rs) {
                results.add(r);
            }
        }

        @Override
        public long apply(long addr, long len, long off) {
            calls.add(new long[] {addr, len, off});
            long r = results.removeFirst();
            return r == Long.MAX_VALUE ? len : r; // MAX_VALUE: "all of it"
        }
    }

    @Test
    void readResubmitsAfterInterruptsAndShortReads() {
        Script s = new Script(-Linux.EINTR, -Linux.EAGAIN, 100, Long.MAX_VALUE);
        assertEquals(1000, FileEngine.readFully(s, 5000, 1000, 64, 1));
        assertEquals(4, s.calls.size());
        assertEquals(List.of(5000L, 1000L, 64L), List.of(s.calls.get(2)[0], s.calls.get(2)[1], s.calls.get(2)[2]));
        long[] last = s.calls.get(3);
        assertEquals(List.of(5100L, 900L, 164L), List.of(last[0], last[1], last[2]), "the remainder at offset + done");
    }

    @Test
    void readEndsAtEndOfFile() {
        Script s = new Script(300, 0);
        assertEquals(300, FileEngine.readFully(s, 0, 1000, 0, 1), "0 = EOF: the caller zero-fills the rest");
    }

    @Test
    void directReadStopsAtAnUnalignedShortRead() {
        Script s = new Script(4096 + 100);
        assertEquals(4196, FileEngine.readFully(s, 0, 8192, 0, 512), "EOF inside a block: no unaligned resubmission");
        assertEquals(1, s.calls.size());
        Script t = new Script(4096, Long.MAX_VALUE);
        assertEquals(8192, FileEngine.readFully(t, 0, 8192, 0, 512), "an aligned short read is resubmitted");
    }

    @Test
    void readErrorsPassThrough() {
        assertEquals(-Linux.EIO, FileEngine.readFully(new Script(100, -Linux.EIO), 0, 1000, 0, 1));
    }

    @Test
    void writeResubmitsAndMapsNoProgressToEnospc() {
        Script s = new Script(-Linux.EAGAIN, 10, Long.MAX_VALUE);
        assertEquals(100, FileEngine.writeFully(s, 0, 100, 0, 1));
        assertEquals(90, s.calls.get(2)[1]);
        assertEquals(-Linux.ENOSPC, FileEngine.writeFully(new Script(10, 0), 0, 100, 0, 1));
        assertEquals(-Linux.ENOSPC, FileEngine.writeFully(new Script(700), 0, 1024, 0, 512), "unaligned O_DIRECT remainder");
        assertEquals(-Linux.EIO, FileEngine.writeFully(new Script(-Linux.EIO), 0, 100, 0, 1));
    }

    @Test
    void zeroLengthDoesNothing() {
        Script s = new Script();
        assertEquals(0, FileEngine.readFully(s, 0, 0, 0, 1));
        assertEquals(0, FileEngine.writeFully(s, 0, 0, 0, 1));
        assertEquals(0, s.calls.size());
    }

    // ---- vectored ----

    /** Linux's cap on one read/write call, {@code MAX_RW_COUNT} ({@code INT_MAX & PAGE_MASK}). */
    static final long KERNEL_CAP = 0x7ffff000L;

    /**
     * Replays {@code results} over an iovec array, recording each attempt's iovecs as {base, len}
     * pairs; "all of it" is at most {@link #cap} bytes, as the kernel transfers.
     */
    static final class VecScript implements FileEngine.VecOp {
        final Deque<Long> results = new ArrayDeque<>();
        final List<List<Long>> iovs = new ArrayList<>();
        final List<Long> offs = new ArrayList<>();
        final List<Long> totals = new ArrayList<>();
        long cap = Long.MAX_VALUE;

        VecScript(long... rs) {
            for (long r : rs) {
                results.add(r);
            }
        }

        @Override
        public long apply(long iov, int iovcnt, long off) {
            MemorySegment v = FileSys.view(iov, FileEngine.IOVEC_SIZE * iovcnt);
            List<Long> seen = new ArrayList<>();
            long total = 0;
            for (int i = 0; i < iovcnt; i++) {
                seen.add(v.get(JAVA_LONG, FileEngine.IOVEC_SIZE * i));
                seen.add(v.get(JAVA_LONG, FileEngine.IOVEC_SIZE * i + 8));
                total += v.get(JAVA_LONG, FileEngine.IOVEC_SIZE * i + 8);
            }
            iovs.add(seen);
            offs.add(off);
            totals.add(total);
            long r = results.removeFirst();
            return r == Long.MAX_VALUE ? Math.min(total, cap) : r; // MAX_VALUE: "all of it" (up to the cap)
        }
    }

    /** An iovec array in {@code a} of {base, len} pairs. */
    static MemorySegment iovec(Arena a, long... baseLen) {
        MemorySegment v = a.allocate(8L * baseLen.length, 8);
        for (int i = 0; i < baseLen.length; i++) {
            v.setAtIndex(JAVA_LONG, i, baseLen[i]);
        }
        return v;
    }

    @Test
    void vectoredShortTransferSkipsConsumedEntriesAndTrimsThePartialOne() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = iovec(a, 1000, 100, 0, 0, 2000, 50, 3000, 200);
            VecScript s = new VecScript(-Linux.EINTR, 120, Long.MAX_VALUE);
            assertEquals(350, FileEngine.vecFully(s, v.address(), 4, 64, 1, false));
            assertEquals(3, s.iovs.size());
            assertEquals(List.of(1000L, 100L, 0L, 0L, 2000L, 50L, 3000L, 200L), s.iovs.get(1), "the whole array first");
            assertEquals(List.of(2020L, 30L, 3000L, 200L), s.iovs.get(2),
                    "entry 0 and the empty entry 1 consumed, entry 2 trimmed by the 20 bytes it received");
            assertEquals(List.of(64L, 64L, 184L), s.offs, "the remainder at offset + done");
        }
    }

    @Test
    void vectoredZeroIsEndOfFileForReadsAndEnospcForWrites() {
        try (Arena a = Arena.ofConfined()) {
            assertEquals(100, FileEngine.vecFully(new VecScript(100, 0), iovec(a, 1000, 300).address(), 1, 0, 1, false));
            assertEquals(-Linux.ENOSPC,
                    FileEngine.vecFully(new VecScript(100, 0), iovec(a, 1000, 300).address(), 1, 0, 1, true));
            assertEquals(-Linux.EIO,
                    FileEngine.vecFully(new VecScript(-Linux.EIO), iovec(a, 1000, 300).address(), 1, 0, 1, false));
        }
    }

    @Test
    void vectoredDirectStopsAtAnUnalignedRemainder() {
        try (Arena a = Arena.ofConfined()) {
            assertEquals(700, FileEngine.vecFully(new VecScript(700), iovec(a, 0, 512, 4096, 512).address(), 2, 0, 512, false),
                    "a read: end of file inside a block");
            assertEquals(-Linux.ENOSPC,
                    FileEngine.vecFully(new VecScript(700), iovec(a, 0, 512, 4096, 512).address(), 2, 0, 512, true));
            VecScript aligned = new VecScript(512, Long.MAX_VALUE);
            assertEquals(1024, FileEngine.vecFully(aligned, iovec(a, 0, 512, 4096, 512).address(), 2, 0, 512, true),
                    "an aligned short write is resubmitted");
            assertEquals(List.of(4096L, 512L), aligned.iovs.get(1));
        }
    }

    /**
     * CoFile's O_DIRECT alignment is MAX_CHUNK (any short transfer ends a read): a vectored request
     * of 3 GiB must reach the kernel as attempts of at most MAX_CHUNK, or the kernel's cap cuts the
     * first one at 0x7ffff000, which reads as end of file and fails a write with ENOSPC. The
     * addresses are never dereferenced.
     */
    @Test
    void vectoredRequestsAreSplitIntoAttemptsOfAtMostMaxChunk() {
        long g = FileEngine.MAX_CHUNK;
        long base0 = 1L << 40;
        long base1 = 2L << 40;
        for (boolean write : new boolean[] {false, true}) {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment v = iovec(a, base0, g + g / 2, 0, 0, base1, g + g / 2);
                VecScript s = new VecScript(-Linux.EINTR, Long.MAX_VALUE, Long.MAX_VALUE, Long.MAX_VALUE);
                s.cap = KERNEL_CAP;
                assertEquals(3 * g, FileEngine.vecFully(s, v.address(), 3, 0, (int) g, write),
                        (write ? "write" : "read") + ": every byte, in attempts the kernel does not cut");
                for (long t : s.totals) {
                    assertTrue(t <= g, "an attempt of " + t + " bytes");
                }
                assertEquals(List.of(base0, g), s.iovs.get(0), "entry 0 cut at MAX_CHUNK");
                assertEquals(s.iovs.get(0), s.iovs.get(1), "the same attempt again after EINTR");
                assertEquals(List.of(base0 + g, g / 2, 0L, 0L, base1, g / 2), s.iovs.get(2),
                        "the rest of entry 0, the empty entry, entry 2 cut");
                assertEquals(List.of(base1 + g / 2, g), s.iovs.get(3), "the rest of entry 2");
                assertEquals(List.of(0L, 0L, g, 2 * g), s.offs);
            }
        }
    }

    /** A full attempt is not short: a trailing empty entry does not make an O_DIRECT write look cut. */
    @Test
    void vectoredDirectWriteEndingInAnEmptyEntryIsComplete() {
        try (Arena a = Arena.ofConfined()) {
            VecScript s = new VecScript(Long.MAX_VALUE);
            assertEquals(4096, FileEngine.vecFully(s, iovec(a, 8192, 4096, 0, 0).address(), 2, 0,
                    (int) FileEngine.MAX_CHUNK, true));
            assertEquals(1, s.iovs.size());
        }
    }

    @Test
    void vectoredWithOnlyEmptyEntriesDoesNothing() {
        try (Arena a = Arena.ofConfined()) {
            VecScript s = new VecScript();
            assertEquals(0, FileEngine.vecFully(s, iovec(a, 0, 0, 0, 0).address(), 2, 0, 1, true));
            assertEquals(0, s.iovs.size());
        }
    }

    // ---- durable writes ----

    @Test
    void dsyncWritesFallBackToWriteThenFdatasyncForGoodOnceTheFlagIsRefused() {
        List<Integer> flags = new ArrayList<>();
        int[] syncs = {0};
        Deque<Long> results = new ArrayDeque<>(List.of((long) -Linux.EOPNOTSUPP, 100L, 100L, 100L));
        java.util.function.IntFunction<FileEngine.Op> writeOp = f -> (addr, len, off) -> {
            flags.add(f);
            return results.removeFirst();
        };
        FileEngine.DsyncWrites w = new FileEngine.DsyncWrites();
        assertEquals(100, w.write(writeOp, 0, 100, 0, 1, true, () -> ++syncs[0] - 1));
        assertEquals(List.of(FileSys.RWF_DSYNC, 0), flags, "refused with the flag, rewritten without it");
        assertEquals(1, syncs[0], "then made durable by fdatasync");
        assertEquals(100, w.write(writeOp, 0, 100, 0, 1, true, () -> ++syncs[0] - 1));
        assertEquals(List.of(FileSys.RWF_DSYNC, 0, 0), flags, "the flag is not tried again");
        assertEquals(2, syncs[0]);
        assertEquals(100, w.write(writeOp, 0, 100, 0, 1, false, () -> ++syncs[0] - 1));
        assertEquals(2, syncs[0], "no fdatasync without dsync");
        java.util.function.IntFunction<FileEngine.Op> refusing = f -> (addr, len, off) -> f != 0 ? -Linux.EOPNOTSUPP : len;
        assertEquals(-Linux.EIO, new FileEngine.DsyncWrites().write(refusing, 0, 100, 0, 1, true, () -> -Linux.EIO),
                "a failed fdatasync fails the write");
    }

    @Test
    void dsyncWritesUseTheFlagAloneWhileTheKernelTakesIt() {
        List<Integer> flags = new ArrayList<>();
        FileEngine.DsyncWrites w = new FileEngine.DsyncWrites();
        java.util.function.IntFunction<FileEngine.Op> writeOp = f -> (addr, len, off) -> {
            flags.add(f);
            return len;
        };
        for (int i = 0; i < 2; i++) {
            assertEquals(100, w.write(writeOp, 0, 100, 0, 1, true, () -> {
                throw new AssertionError("no fdatasync while RWF_DSYNC works");
            }));
        }
        assertEquals(List.of(FileSys.RWF_DSYNC, FileSys.RWF_DSYNC), flags);
    }
}
