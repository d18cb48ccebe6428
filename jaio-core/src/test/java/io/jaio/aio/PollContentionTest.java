package io.jaio.aio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * PollContention's decision rule with a fake clock and a fake preemption counter: no timing, no
 * real scheduler. Interval 10 ms, threshold 2000 preemptions a second (20 per interval).
 */
class PollContentionTest {
    private static final long MS = 1_000_000;
    private static final long MAX = 65_536;

    private long now;
    private long preemptions;
    private int clockReads;
    private final PollContention d = new PollContention("test", () -> {
        clockReads++;
        return now;
    }, () -> preemptions);

    /** One sample after {@code ms} of wall time with {@code n} more preemptions. */
    private void interval(long ms, long n) {
        now += ms * MS;
        preemptions += n;
        d.sample();
    }

    @Test
    void firstSampleOnlyRecordsTheBaseline() {
        preemptions = 1_000_000; // a thread that was preempted a lot before polling began
        d.sample();
        assertEquals(0, d.samples());
        assertEquals(-1, d.capNs());
        assertEquals(MAX, d.window(MAX));
    }

    @Test
    void contendedSampleSuspendsPolling() {
        d.sample();
        interval(10, 500); // 50 000 a second, as the IOThreads of docs/benchmarks.md §3
        assertEquals(1, d.samples());
        assertEquals(1, d.contendedSamples());
        assertEquals(0, d.capNs(), "polling suspended");
        assertEquals(0, d.window(MAX));
        assertEquals(0, d.window(4000));
        assertEquals(2, d.cappedWindows());
    }

    @Test
    void thresholdIsStrictlyAbove2000PerSecond() {
        d.sample();
        interval(10, 20); // exactly 2000/s
        assertEquals(-1, d.capNs(), "2000 a second is not contended");
        interval(10, 21);
        assertEquals(0, d.capNs(), "2100 a second is");
        interval(20, 41); // 2050/s over a longer interval
        assertEquals(0, d.capNs());
        assertEquals(2, d.contendedSamples());
        assertEquals(3, d.samples());
    }

    @Test
    void noSampleBeforeTheIntervalHasPassed() {
        d.sample();
        interval(9, 10_000);
        assertEquals(0, d.samples(), "9 ms: too early");
        assertEquals(-1, d.capNs());
        interval(1, 0); // 10 ms since the baseline, 10 000 preemptions in it
        assertEquals(1, d.samples());
        assertEquals(0, d.capNs());
    }

    @Test
    void growsBackByDoublingAndLiftsTheCapAtTheWindowAskedFor() {
        d.sample();
        interval(10, 1000);
        assertEquals(0, d.capNs());
        assertEquals(0, d.window(MAX), "the loop asks for 64 µs while suspended");
        long[] expected = {4000, 8000, 16_000, 32_000, 64_000};
        for (long cap : expected) {
            interval(10, 0);
            assertEquals(cap, d.capNs());
            assertEquals(cap, d.window(MAX), "window capped at " + cap);
        }
        interval(10, 0); // 128 000 >= 65 536 asked: lifted
        assertEquals(-1, d.capNs());
        assertEquals(MAX, d.window(MAX), "QEMU's window again");
        assertEquals(1, d.contendedSamples());
        assertEquals(7, d.samples());
        assertEquals(6, d.cappedWindows(), "the suspended window and the five capped ones");
    }

    @Test
    void capIsLiftedEarlyWhenTheLoopAsksForLess() {
        d.sample();
        interval(10, 1000);
        d.window(5000);
        interval(10, 0);
        assertEquals(4000, d.capNs());
        assertEquals(4000, d.window(5000));
        interval(10, 0);
        assertEquals(-1, d.capNs(), "8000 >= the 5000 asked for");
    }

    @Test
    void contentionDuringRecoverySuspendsAgain() {
        d.sample();
        interval(10, 1000);
        d.window(MAX);
        interval(10, 0);
        d.window(MAX);
        interval(10, 0);
        assertEquals(8000, d.capNs());
        interval(10, 300);
        assertEquals(0, d.capNs());
        assertEquals(2, d.contendedSamples());
    }

    @Test
    void windowReadsTheClockOnlyEverySixteenthCall() {
        for (int i = 1; i < PollContention.CHECK_EVERY; i++) {
            d.window(MAX);
        }
        assertEquals(0, clockReads);
        d.window(MAX);
        assertEquals(1, clockReads);
        now += 10 * MS;
        preemptions += 10_000;
        for (int i = 0; i < PollContention.CHECK_EVERY - 1; i++) {
            assertEquals(MAX, d.window(MAX), "no decision between checks");
        }
        assertEquals(0, d.window(MAX), "the 32nd window samples and is suspended");
        assertEquals(2, clockReads);
    }

    @Test
    void unavailableSourceDisablesTheDetector() {
        PollContention off = new PollContention("test", () -> now, () -> -1);
        off.sample();
        assertTrue(off.disabled());
        now += 100 * MS;
        off.sample();
        assertEquals(0, off.samples());
        assertEquals(MAX, off.window(MAX));
        assertEquals(-1, off.capNs());
        assertFalse(d.disabled());
    }
}
