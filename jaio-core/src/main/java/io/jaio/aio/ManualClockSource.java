package io.jaio.aio;

import java.util.concurrent.atomic.AtomicLongArray;

/**
 * A clock source whose clocks move only when told to, for deterministic timer tests: arm a
 * timer, {@link #advance} the clock, step the loop with {@code poll(false)}. Every clock starts
 * at 0. Moving a clock does not wake any context. Any thread.
 */
public final class ManualClockSource implements ClockSource {
    private final AtomicLongArray now = new AtomicLongArray(ClockType.values().length);

    /** A clock source whose clocks all read 0. Any thread. */
    public ManualClockSource() {
    }

    @Override
    public long nowNs(ClockType clock) {
        return now.get(clock.ordinal());
    }

    /**
     * Sets {@code clock} to {@code ns} (backwards too). Any thread.
     *
     * @param clock the clock to set
     * @param ns its new time in nanoseconds
     */
    public void set(ClockType clock, long ns) {
        now.set(clock.ordinal(), ns);
    }

    /**
     * Moves {@code clock} forward by {@code ns}. Any thread.
     *
     * @param clock the clock to move
     * @param ns nanoseconds to add, ≥ 0
     * @throws IllegalArgumentException if {@code ns} is negative
     */
    public void advance(ClockType clock, long ns) {
        if (ns < 0) {
            throw new IllegalArgumentException("cannot move a clock backwards: advance(" + clock + ", " + ns + ")");
        }
        now.addAndGet(clock.ordinal(), ns);
    }

    /**
     * Moves every clock forward by {@code ns}. Any thread.
     *
     * @param ns nanoseconds to add, ≥ 0
     * @throws IllegalArgumentException if {@code ns} is negative
     */
    public void advanceAll(long ns) {
        for (ClockType c : ClockType.values()) {
            advance(c, ns);
        }
    }
}
