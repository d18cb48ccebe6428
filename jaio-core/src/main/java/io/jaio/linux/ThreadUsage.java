package io.jaio.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The calling thread's scheduler counters: {@code getrusage(RUSAGE_THREAD)} through
 * {@code syscall(2)} (one system call, no /proc text to format or parse). For adaptive polling's
 * contention detector, which samples it at most every few milliseconds.
 */
public final class ThreadUsage {
    private ThreadUsage() {}

    private static final boolean AARCH64 = "aarch64".equals(System.getProperty("os.arch"));
    /** {@code getrusage}, <asm/unistd_64.h> (x86-64) and <asm-generic/unistd.h> (arm64). */
    private static final long SYS_GETRUSAGE = AARCH64 ? 165 : 98;
    /** {@code RUSAGE_THREAD}, <linux/resource.h>. */
    private static final long RUSAGE_THREAD = 1;
    /**
     * {@code struct rusage} on LP64: two {@code struct timeval} (16 bytes each), then 14 longs,
     * of which {@code ru_nvcsw} is the 13th and {@code ru_nivcsw} the 14th.
     */
    private static final long RUSAGE_SIZE = 144;
    private static final long RU_NVCSW = 32 + 12 * 8;
    private static final long RU_NIVCSW = 32 + 13 * 8;

    /** Per-thread [errno capture][struct rusage]. Freed by the GC with the thread. */
    private static final ThreadLocal<MemorySegment> SCRATCH = ThreadLocal.withInitial(
            () -> Arena.ofAuto().allocate(Linux.SCRATCH_ARG + RUSAGE_SIZE, 16));

    private static MemorySegment fill() {
        MemorySegment s = SCRATCH.get();
        long r = Linux.retry(s, c -> (long) Linux.SYSCALL6.invokeExact(c, SYS_GETRUSAGE, RUSAGE_THREAD,
                c.address() + Linux.SCRATCH_ARG, 0L, 0L, 0L, 0L));
        return r < 0 ? null : s;
    }

    /**
     * How many times the calling thread was switched out while it could still run (preempted:
     * {@code ru_nivcsw}), or -1 if the kernel refused ({@code getrusage} fails only under a
     * seccomp filter or on a kernel without {@code RUSAGE_THREAD}). Any thread: it reads its own
     * counter.
     *
     * @return the count since the thread started, or -1
     */
    public static long involuntarySwitches() {
        MemorySegment s = fill();
        return s == null ? -1 : s.get(JAVA_LONG, Linux.SCRATCH_ARG + RU_NIVCSW);
    }

    /**
     * How many times the calling thread gave up the CPU by waiting ({@code ru_nvcsw}), or -1 as
     * {@link #involuntarySwitches()}. Any thread: it reads its own counter.
     *
     * @return the count since the thread started, or -1
     */
    public static long voluntarySwitches() {
        MemorySegment s = fill();
        return s == null ? -1 : s.get(JAVA_LONG, Linux.SCRATCH_ARG + RU_NVCSW);
    }
}
