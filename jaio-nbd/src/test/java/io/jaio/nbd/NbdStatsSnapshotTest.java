package io.jaio.nbd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The statistics records are snapshots: neither their creator nor their reader can change them. */
class NbdStatsSnapshotTest {

    @Test
    void serverStatsArraysAreCopiedInAndOut() {
        long[] req = new long[Nbd.CMD_COUNT + 1];
        long[] err = new long[Nbd.CMD_COUNT + 1];
        req[Nbd.CMD_READ] = 5;
        err[Nbd.CMD_READ] = 1;
        NbdStats s = new NbdStats(1, 1, 0, req, err, 4096, 0);
        req[Nbd.CMD_READ] = 99; // the creator's array
        err[Nbd.CMD_READ] = 99;
        s.requests()[Nbd.CMD_READ] = 77; // the reader's copy
        s.errors()[Nbd.CMD_READ] = 77;
        assertEquals(5, s.requests(Nbd.CMD_READ));
        assertEquals(1, s.errors(Nbd.CMD_READ));
        assertEquals(5, s.totalRequests());
        assertEquals(1, s.totalErrors());
    }

    @Test
    void exportStatsBucketsAreCopiedInAndOut() {
        long[] b = new long[NbdExport.LATENCY_BUCKETS];
        b[3] = 2;
        NbdExport.Stats s = new NbdExport.Stats(2, 0, 8192, 0, 10_000, b, 0, 0);
        b[3] = 99;
        s.latencyBuckets()[3] = 77;
        assertEquals(2, s.latencyBuckets()[3]);
        NbdExport.Stats sum = s.plus(s);
        assertEquals(4, sum.latencyBuckets()[3]);
        assertArrayEquals(new long[NbdExport.LATENCY_BUCKETS], NbdExport.Stats.empty().latencyBuckets());
        assertEquals(2, s.latencyBuckets()[3], "plus() left its operands alone");
        assertThrows(IllegalArgumentException.class, () -> new NbdExport.Stats(0, 0, 0, 0, 0, new long[3], 0, 0));
        NbdExport.Stats w = new NbdExport.Stats(1, 0, 0, 0, 5, new long[NbdExport.LATENCY_BUCKETS], 3, 4);
        assertEquals(6, w.plus(w).waitsExecuting(), "plus() adds the receive waits too");
        assertEquals(8, w.plus(w).waitsUnsent());
        assertTrue(w.toString().contains("latencyBuckets=[0, 0"), w.toString());
        assertTrue(w.toString().endsWith("waitsExecuting=3, waitsUnsent=4]"), w.toString());
    }

    /** Two snapshots with the same counts are equal, whatever arrays they were built from. */
    @Test
    void snapshotsWithTheSameCountsAreEqual() {
        long[] req = new long[Nbd.CMD_COUNT + 1];
        req[Nbd.CMD_WRITE] = 3;
        NbdStats a = new NbdStats(2, 1, 0, req, new long[Nbd.CMD_COUNT + 1], 0, 12288);
        NbdStats b = new NbdStats(2, 1, 0, req.clone(), new long[Nbd.CMD_COUNT + 1], 0, 12288);
        assertEquals(a, b);
        assertEquals(a.hashCode(), b.hashCode());
        req[Nbd.CMD_WRITE] = 4;
        assertNotEquals(a, new NbdStats(2, 1, 0, req, new long[Nbd.CMD_COUNT + 1], 0, 12288), "a count differs");

        long[] buckets = new long[NbdExport.LATENCY_BUCKETS];
        buckets[5] = 1;
        NbdExport.Stats s = new NbdExport.Stats(1, 0, 4096, 0, 40_000, buckets, 0, 1);
        NbdExport.Stats t = NbdExport.Stats.empty().plus(s);
        assertEquals(s, t);
        assertEquals(s.hashCode(), t.hashCode());
        buckets[5] = 0;
        buckets[6] = 1;
        assertNotEquals(s, new NbdExport.Stats(1, 0, 4096, 0, 40_000, buckets, 0, 1), "a bucket differs");
        assertNotEquals(s, new NbdExport.Stats(1, 0, 4096, 0, 40_000, t.latencyBuckets(), 0, 2), "a wait differs");
    }

    /**
     * A request lands in the first bucket whose bound it does not exceed: 1000 ns in bucket 0
     * (at most 1 µs), 1001 and 1999 ns in bucket 1 (at most 2 µs; rounding the µs down put
     * 1999 ns under the 1 µs bound), 2001 ns in bucket 2, and a day in the last.
     */
    @Test
    void aRequestIsCountedInTheFirstBucketWhoseBoundItDoesNotExceed() {
        NbdExport e = NbdExport.builder("b", new MemoryBackend(4096)).build();
        long[] ns = {0, 1000, 1001, 1999, 2000, 2001, 4000, 4001, 86_400_000_000_000L};
        for (long n : ns) {
            e.requestDone(Nbd.CMD_READ, 0, 512, n);
        }
        long[] b = e.stats().latencyBuckets();
        assertEquals(2, b[0], "0 and 1000 ns");
        assertEquals(3, b[1], "1001, 1999 and 2000 ns");
        assertEquals(2, b[2], "2001 and 4000 ns");
        assertEquals(1, b[3], "4001 ns");
        assertEquals(1, b[NbdExport.LATENCY_BUCKETS - 1], "a day");
        for (int i = 0; i < b.length; i++) {
            long upper = NbdExport.Stats.latencyBucketUpperNs(i);
            long lower = i == 0 ? -1 : NbdExport.Stats.latencyBucketUpperNs(i - 1);
            long expected = java.util.Arrays.stream(ns).filter(n -> n > lower && n <= upper).count();
            assertEquals(expected, b[i], "bucket " + i + " holds exactly the latencies within its bounds");
        }
    }
}
