package io.jaio.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * One {@code struct __kernel_timespec} ({@code tv_sec}, {@code tv_nsec}: two 64-bit fields) in
 * native memory, for {@link IoUring#prepTimeout}. Allocated once and rewritten per request, so a
 * timeout costs no allocation.
 *
 * <p>Threads: written by the one thread that owns the ring it is used with; {@link #close()} on
 * that thread once no unsubmitted entry points at it (the kernel copies the value when it consumes
 * the entry).
 */
public final class KernelTimespec implements AutoCloseable {
    /** {@code sizeof(struct __kernel_timespec)}. */
    public static final long SIZE = 16;
    static final long TV_SEC = 0;
    static final long TV_NSEC = 8;
    private static final long NANOS_PER_SECOND = 1_000_000_000L;

    private final Arena arena = Arena.ofShared();
    private final MemorySegment ts = arena.allocate(SIZE, 8);

    /** A zeroed timespec. Any thread. */
    public KernelTimespec() {
    }

    /**
     * Sets the value to {@code ns} nanoseconds (a duration or, with {@code IORING_TIMEOUT_ABS}, a
     * CLOCK_MONOTONIC time).
     *
     * @param ns the value in nanoseconds, ≥ 0
     * @return this timespec
     * @throws IllegalArgumentException if {@code ns} is negative
     */
    public KernelTimespec set(long ns) {
        if (ns < 0) {
            throw new IllegalArgumentException("timespec must be >= 0 ns, got " + ns);
        }
        ts.set(JAVA_LONG, TV_SEC, ns / NANOS_PER_SECOND);
        ts.set(JAVA_LONG, TV_NSEC, ns % NANOS_PER_SECOND);
        return this;
    }

    /** {@return the {@code tv_sec} field: whole seconds} */
    public long seconds() {
        return ts.get(JAVA_LONG, TV_SEC);
    }

    /** {@return the {@code tv_nsec} field: nanoseconds past {@link #seconds()}, 0..999,999,999} */
    public long nanos() {
        return ts.get(JAVA_LONG, TV_NSEC);
    }

    /** {@return the native address the kernel reads} */
    public long address() {
        return ts.address();
    }

    /** Frees the native memory; idempotent. The timespec must not be used afterwards. */
    @Override
    public void close() {
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }
}
