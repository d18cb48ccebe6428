package io.jaio.aio;

import java.time.Instant;

/**
 * Where a context's timers read the time. {@link #system()} in production;
 * {@link ManualClockSource} in tests, where time moves only when the test says so.
 *
 * <p>Implementations must be callable from any thread.
 */
@FunctionalInterface
public interface ClockSource {
    /**
     * The current time of {@code clock}. Any thread.
     *
     * @param clock the clock to read
     * @return its time in nanoseconds
     */
    long nowNs(ClockType clock);

    /**
     * REALTIME, VIRTUAL and VIRTUAL_RT read {@link System#nanoTime()}; HOST reads the wall clock
     * (ns since the epoch).
     *
     * @return the shared system clock source
     */
    static ClockSource system() {
        return SystemClock.INSTANCE;
    }

    /** The system clock source (a singleton). */
    final class SystemClock implements ClockSource {
        static final SystemClock INSTANCE = new SystemClock();

        private SystemClock() {}

        @Override
        public long nowNs(ClockType clock) {
            if (clock == ClockType.HOST) {
                Instant now = Instant.now();
                return now.getEpochSecond() * 1_000_000_000L + now.getNano();
            }
            return System.nanoTime();
        }

        @Override
        public String toString() {
            return "ClockSource.system()";
        }
    }
}
