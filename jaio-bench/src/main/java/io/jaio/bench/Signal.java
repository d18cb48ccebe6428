package io.jaio.bench;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * A completion count with one writer (the loop thread) and one waiter (the benchmark thread).
 *
 * <p>The waiter reads {@link #expectNext()} before it hands work to the loop, then waits until the
 * count reaches that value. Waits give up with an exception after {@link #TIMEOUT_NS}, so that a loop
 * that never runs the work fails the benchmark (and {@code -foe}) instead of hanging it.
 *
 * <p>The count the waiter spins on and the loop's per-task counter ({@link #tick}) sit in one
 * array, 128 bytes apart and from its ends: a loop that counted its tasks in a field beside
 * anything the waiter or a producer reads would move that cache line between the CPUs on every
 * task, and which fields shared a line changed from one JVM to the next with the heap layout
 * (measured: cross-thread hand-off bimodal by fork, for jaio and Netty alike).
 */
final class Signal {
    static final long TIMEOUT_NS = TimeUnit.SECONDS.toNanos(10);

    private static final VarHandle SLOT = MethodHandles.arrayElementVarHandle(long[].class);
    /** Completions: written only by the loop thread; the volatile write publishes its work to the waiter. */
    private static final int COUNT = 16;
    /** Tasks run in the current batch ({@link #tick}): loop thread only, plain. */
    private static final int TASKS = 32;
    private final long[] slots = new long[48];
    /** The waiter to unpark, for {@link #awaitParked}; null while the waiter spins. */
    private volatile Thread parked;

    /** The count the next {@link #signal()} will produce. Waiter thread only. */
    long expectNext() {
        return count() + 1;
    }

    private long count() {
        return (long) SLOT.getVolatile(slots, COUNT); // pairs with signal()'s setVolatile
    }

    /** Counts one task; every {@code batch}-th one signals. Loop thread only. */
    void tick(int batch) {
        if (++slots[TASKS] == batch) {
            slots[TASKS] = 0;
            signal();
        }
    }

    /** Loop thread only (single writer, so a read-modify-write needs no atomic). */
    void signal() {
        SLOT.setVolatile(slots, COUNT, slots[COUNT] + 1); // single writer: no atomic needed
        Thread t = parked;
        if (t != null) {
            LockSupport.unpark(t);
        }
    }

    /** Busy-waits (as {@code placement} says) until the count reaches {@code target}. */
    void await(long target, Placement placement) {
        long deadline = 0;
        for (int round = 0; count() < target; round++) {
            placement.pause(round);
            if ((round & 0xFFFF) == 0xFFFF) {
                deadline = checkDeadline(deadline, target);
            }
        }
    }

    /** Parks until the count reaches {@code target}; {@link #signal()} unparks. */
    void awaitParked(long target) {
        parked = Thread.currentThread();
        long deadline = 0;
        while (count() < target) {
            LockSupport.parkNanos(this, TimeUnit.MILLISECONDS.toNanos(100));
            deadline = checkDeadline(deadline, target);
        }
    }

    private long checkDeadline(long deadline, long target) {
        long now = System.nanoTime();
        if (deadline == 0) {
            return now + TIMEOUT_NS;
        }
        if (now - deadline > 0) {
            throw new IllegalStateException("the loop did not finish the work within "
                    + TimeUnit.NANOSECONDS.toSeconds(TIMEOUT_NS) + " s (completions " + count() + ", waiting for " + target + ")");
        }
        return deadline;
    }
}
