package io.jaio.linux;

/**
 * The {@code user_data} word of jaio's io_uring requests: a slot index and a generation, so a
 * completion finds its request in a table and a stale completion (for a slot since reused) is
 * recognised. Layout: {@code generation << 32 | (slot + 1)}. {@link #NONE} (0) never names a slot:
 * it marks requests whose completions the owner ignores (its own timeouts, removes, cancels).
 *
 * <p>Pure functions; any thread.
 */
public final class UserData {
    /** The {@code user_data} of requests nobody waits for; decodes to slot -1. */
    public static final long NONE = 0L;
    /** The largest slot index (slot + 1 must stay a positive int). */
    public static final int MAX_SLOT = Integer.MAX_VALUE - 1;
    /** Generations run from 0 to this value, then wrap to 0 ({@link #nextGeneration}). */
    public static final int MAX_GENERATION = Integer.MAX_VALUE;

    private UserData() {}

    /**
     * Packs {@code slot} (0..{@link #MAX_SLOT}) and {@code generation} (0..{@link #MAX_GENERATION}).
     *
     * @param slot the request's table index
     * @param generation the slot's current generation
     * @return the {@code user_data} word, never {@link #NONE}
     * @throws IllegalArgumentException if either is out of range
     */
    public static long encode(int slot, int generation) {
        if (slot < 0 || slot > MAX_SLOT || generation < 0) {
            throw new IllegalArgumentException("user_data slot " + slot + " / generation " + generation
                    + " out of range");
        }
        return ((long) generation << 32) | (slot + 1);
    }

    /**
     * The slot of {@code userData}: -1 for {@link #NONE}, negative for any word {@link #encode}
     * cannot produce (the caller treats both as "no slot").
     *
     * @param userData a CQE's {@code user_data}
     * @return the slot, or a negative value
     */
    public static int slot(long userData) {
        return (int) userData - 1;
    }

    /**
     * The generation of {@code userData}.
     *
     * @param userData a word from {@link #encode}
     * @return its generation
     */
    public static int generation(long userData) {
        return (int) (userData >>> 32);
    }

    /**
     * The generation after {@code generation}: one more, wrapping from {@link #MAX_GENERATION} to 0.
     *
     * @param generation a generation, 0..{@link #MAX_GENERATION}
     * @return the next one
     */
    public static int nextGeneration(int generation) {
        return (generation + 1) & MAX_GENERATION;
    }
}
