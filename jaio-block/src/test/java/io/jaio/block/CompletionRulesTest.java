package io.jaio.block;

import io.jaio.linux.FileSys;
import io.jaio.linux.Linux;
import org.junit.jupiter.api.Test;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The completion rules shared by both engines (docs/design/aio-semantics.md §16.4), on a scripted op:
 * -EINTR/-EAGAIN resubmit, short transfers resubmit the remainder, a read of 0 is end of file,
 * a write of 0 is ENOSPC, other errors pass through.
 */
class CompletionRulesTest {
    /** Replays {@code results}, recording each attempt as {addr, len, off}. */
    static final class Script implements FileIo.Op {
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
        assertEquals(1000, FileIo.readFully(s, 5000, 1000, 64, 1));
        assertEquals(4, s.calls.size());
        assertEquals(List.of(5000L, 1000L, 64L), List.of(s.calls.get(2)[0], s.calls.get(2)[1], s.calls.get(2)[2]));
        long[] last = s.calls.get(3);
        assertEquals(List.of(5100L, 900L, 164L), List.of(last[0], last[1], last[2]), "the remainder at offset + done");
    }

    @Test
    void readEndsAtEndOfFile() {
        Script s = new Script(300, 0);
        assertEquals(300, FileIo.readFully(s, 0, 1000, 0, 1), "0 = EOF: the caller zero-fills the rest");
    }

    @Test
    void directReadStopsAtAnUnalignedShortRead() {
        Script s = new Script(4096 + 100);
        assertEquals(4196, FileIo.readFully(s, 0, 8192, 0, 512), "EOF inside a block: no unaligned resubmission");
        assertEquals(1, s.calls.size());
        Script t = new Script(4096, Long.MAX_VALUE);
        assertEquals(8192, FileIo.readFully(t, 0, 8192, 0, 512), "an aligned short read is resubmitted");
    }

    @Test
    void readErrorsPassThrough() {
        assertEquals(-Linux.EIO, FileIo.readFully(new Script(100, -Linux.EIO), 0, 1000, 0, 1));
    }

    @Test
    void writeResubmitsAndMapsNoProgressToEnospc() {
        Script s = new Script(-Linux.EAGAIN, 10, Long.MAX_VALUE);
        assertEquals(100, FileIo.writeFully(s, 0, 100, 0, 1));
        assertEquals(90, s.calls.get(2)[1]);
        assertEquals(-Linux.ENOSPC, FileIo.writeFully(new Script(10, 0), 0, 100, 0, 1));
        assertEquals(-Linux.ENOSPC, FileIo.writeFully(new Script(700), 0, 1024, 0, 512), "unaligned O_DIRECT remainder");
        assertEquals(-Linux.EIO, FileIo.writeFully(new Script(-Linux.EIO), 0, 100, 0, 1));
    }

    @Test
    void zeroLengthDoesNothing() {
        Script s = new Script();
        assertEquals(0, FileIo.readFully(s, 0, 0, 0, 1));
        assertEquals(0, FileIo.writeFully(s, 0, 0, 0, 1));
        assertEquals(0, s.calls.size());
    }
}
