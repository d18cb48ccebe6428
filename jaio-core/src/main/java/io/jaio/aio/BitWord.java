package io.jaio.aio;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * A word of independent flags that several threads set and clear while the home thread reads
 * the whole word on every poll pass, to skip work none of the flags asks for: which timer lists
 * hold timers ({@link TimerList}), why a pass must ask the fd monitor ({@link FdHandlers}). Each
 * flag has its own writers, ordered among themselves by the caller (a lock, or the home thread);
 * the atomic bit operations keep writers of different flags from overwriting each other (jcstress
 * {@code BitWordTest}).
 */
final class BitWord {
    private static final VarHandle BITS;

    static {
        try {
            BITS = MethodHandles.lookup().findVarHandle(BitWord.class, "bits", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private volatile int bits;

    /** Whether no flag is set. Any thread; a volatile read: pairs with {@link #set}'s atomics. */
    boolean none() {
        return bits == 0;
    }

    /** Whether any flag of {@code mask} is set. Any thread; a volatile read: pairs with {@link #set}'s atomics. */
    boolean any(int mask) {
        return (bits & mask) != 0;
    }

    /** {@return the flags} Any thread; a volatile read. */
    int get() {
        return bits;
    }

    /**
     * Sets ({@code on}) or clears {@code bit}; other bits are left as they are. Any thread; an
     * atomic read-modify-write (a full fence).
     */
    void set(int bit, boolean on) {
        if (on) {
            BITS.getAndBitwiseOr(this, bit);
        } else {
            BITS.getAndBitwiseAnd(this, ~bit);
        }
    }
}
