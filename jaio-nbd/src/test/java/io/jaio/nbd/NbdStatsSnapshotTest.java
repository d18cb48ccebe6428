package io.jaio.nbd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

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
        NbdExport.Stats s = new NbdExport.Stats(2, 0, 8192, 0, 10_000, b);
        b[3] = 99;
        s.latencyBuckets()[3] = 77;
        assertEquals(2, s.latencyBuckets()[3]);
        NbdExport.Stats sum = s.plus(s);
        assertEquals(4, sum.latencyBuckets()[3]);
        assertArrayEquals(new long[NbdExport.LATENCY_BUCKETS], NbdExport.Stats.empty().latencyBuckets());
        assertEquals(2, s.latencyBuckets()[3], "plus() left its operands alone");
        assertThrows(IllegalArgumentException.class, () -> new NbdExport.Stats(0, 0, 0, 0, 0, new long[3]));
    }
}
