package io.jaio.aio;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/**
 * {@code PollPolicy.adjust(pollNs, blockNs, maxNs, grow, shrink)} is QEMU's
 * {@code adjust_polling_time} (docs/design/aio-semantics.md 6.4) as a pure function. One test per branch.
 */
class PollPolicyTest {

    private static final long MAX = 32_768;

    @Test
    void sweetSpotBlockNotLongerThanPollingTimeKeepsIt() {
        assertEquals(8000, PollPolicy.adjust(8000, 5000, MAX, 0, 0));
        assertEquals(8000, PollPolicy.adjust(8000, 8000, MAX, 0, 0), "block_ns == ns is still the sweet spot");
        assertEquals(0, PollPolicy.adjust(0, 0, MAX, 0, 0), "no time measured: no change");
    }

    @Test
    void shrinkWithoutDivisorResetsToZero() {
        assertEquals(0, PollPolicy.adjust(8000, MAX + 1, MAX, 0, 0));
        assertEquals(0, PollPolicy.adjust(16_000, 1_000_000, MAX, 3, 0), "grow is irrelevant when shrinking");
    }

    @Test
    void shrinkWithDivisor() {
        assertEquals(2000, PollPolicy.adjust(8000, 40_000, MAX, 0, 4));
        assertEquals(4000, PollPolicy.adjust(8000, 40_000, MAX, 0, 2));
        assertEquals(2666, PollPolicy.adjust(8000, 40_000, MAX, 0, 3), "integer division");
        assertEquals(0, PollPolicy.adjust(0, 40_000, MAX, 0, 2), "0 / shrink stays 0");
    }

    @Test
    void growFromZeroStartsAt4000() {
        assertEquals(4000, PollPolicy.adjust(0, 1, MAX, 0, 0));
        assertEquals(4000, PollPolicy.adjust(0, 100, MAX, 5, 0), "the first step ignores the grow factor");
        assertEquals(4000, PollPolicy.adjust(0, MAX - 1, MAX, 0, 0));
    }

    @Test
    void growDoublesByDefault() {
        assertEquals(8000, PollPolicy.adjust(4000, 5000, MAX, 0, 0));
        assertEquals(16_000, PollPolicy.adjust(8000, 9000, MAX, 0, 0));
    }

    @Test
    void growByCustomFactor() {
        assertEquals(12_000, PollPolicy.adjust(4000, 5000, MAX, 3, 0));
        assertEquals(4000, PollPolicy.adjust(4000, 5000, MAX, 1, 0), "factor 1 keeps the value");
    }

    @Test
    void growIsClampedToMax() {
        assertEquals(MAX, PollPolicy.adjust(20_000, 30_000, MAX, 0, 0), "40000 clamped");
        assertEquals(MAX, PollPolicy.adjust(16_384, 20_000, MAX, 0, 0), "exactly max");
        assertEquals(3000, PollPolicy.adjust(0, 100, 3000, 0, 0), "even the initial 4000 is clamped");
        assertEquals(1_000_000_000L, PollPolicy.adjust(4000, 50_000, 1_000_000_000L, 1_000_000L, 0));
    }

    @Test
    void blockEqualToMaxChangesNothing() {
        assertEquals(4000, PollPolicy.adjust(4000, MAX, MAX, 0, 0));
        assertEquals(0, PollPolicy.adjust(0, MAX, MAX, 0, 0));
        assertEquals(4000, PollPolicy.adjust(4000, MAX, MAX, 0, 2), "not a shrink either");
    }

    @Test
    void blockJustAboveMaxShrinksJustBelowGrows() {
        assertEquals(8000, PollPolicy.adjust(4000, MAX - 1, MAX, 0, 0));
        assertEquals(2000, PollPolicy.adjust(4000, MAX + 1, MAX, 0, 2));
    }

    @Test
    void maxZeroMeansEveryMeasuredBlockShrinks() {
        assertEquals(0, PollPolicy.adjust(0, 5, 0, 0, 0));
        assertEquals(0, PollPolicy.adjust(4000, 5000, 0, 0, 0));
    }

    @Test
    void notifierBlockIsTheMomentTheWakerWroteWhenItFallsInsideThePass() {
        long start = 1_000_000;
        assertEquals(1_500, PollPolicy.notifierBlockNs(start, 40_000, start + 1_500),
                "woken 1.5 µs after the pass began, running again 40 µs after: judged by the 1.5 µs");
        assertEquals(0, PollPolicy.notifierBlockNs(start, 40_000, start), "written as the pass began");
        assertEquals(40_000, PollPolicy.notifierBlockNs(start, 40_000, start - 1),
                "a stamp from before the pass (an earlier write) is ignored");
        assertEquals(40_000, PollPolicy.notifierBlockNs(start, 40_000, start + 40_000),
                "a stamp at or after the end of the block is not this pass's wake-up");
        assertEquals(40_000, PollPolicy.notifierBlockNs(start, 40_000, 0), "no write ever made");
    }

    /**
     * The trap this avoids: a loop whose window shrank to 0, woken 2 µs into each pass by another
     * thread, but running again only 35 µs later (a cross-vCPU wake-up). QEMU's rule keeps the
     * window at 0 for ever; judged by the waker's stamp it grows back to 4 µs, which catches the
     * next hand-off without sleeping.
     */
    @Test
    void aWakeUpLatencyAboveTheMaximumNoLongerKeepsPollingOff() {
        long pollNs = 0;
        long qemu = 0;
        long start = 0;
        for (int pass = 0; pass < 3; pass++, start += 100_000) {
            long blockNs = 35_000;
            qemu = PollPolicy.adjust(qemu, blockNs, MAX, 0, 0);
            pollNs = PollPolicy.adjust(pollNs, PollPolicy.notifierBlockNs(start, blockNs, start + 2_000), MAX, 0, 0);
        }
        assertEquals(0, qemu);
        assertEquals(PollPolicy.INITIAL_NS, pollNs);
    }
}
