package io.jaio.linux;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** getrusage(RUSAGE_THREAD) reads this thread's counters, and they move. */
class ThreadUsageTest {
    @Test
    void sleepingIsAVoluntarySwitchAndCountersAreNonNegative() throws InterruptedException {
        long inv = ThreadUsage.involuntarySwitches();
        long vol = ThreadUsage.voluntarySwitches();
        assertTrue(inv >= 0, "ru_nivcsw " + inv);
        assertTrue(vol >= 0, "ru_nvcsw " + vol);
        Thread.sleep(2); // the subject, not synchronisation: a sleep always gives up the CPU
        long vol2 = ThreadUsage.voluntarySwitches();
        assertTrue(vol2 > vol, "a sleep switches out voluntarily: " + vol + " -> " + vol2);
        assertTrue(ThreadUsage.involuntarySwitches() >= inv, "counters only grow");
    }
}
