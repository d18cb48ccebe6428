package io.jaio.aio;

import io.jaio.linux.ThreadUsage;
import java.util.function.LongSupplier;

/**
 * Beyond QEMU: caps a context's busy-polling window while its thread competes for a CPU
 * ({@code poll-contention=on}).
 *
 * <p>Why. QEMU's adaptive polling judges a window by how long the loop waited for its event,
 * not by whether the polling took the CPU that would have produced the event. On an
 * oversubscribed machine (two IOThreads and four fio jobs on two vCPUs, docs/benchmarks.md §3)
 * every reply wakes a client that needs the vCPU the IOThread is spinning on: the IOThread was
 * preempted ≈50 000 times a second, and the client ran only when the scheduler took the CPU away
 * from the poller.
 *
 * <p>The signal: the home thread's involuntary context switches ({@code getrusage(RUSAGE_THREAD)}
 * {@code ru_nivcsw}, one system call), sampled at most every {@link #SAMPLE_INTERVAL_NS} and
 * only on every {@link #CHECK_EVERY}th window, so the common pass pays a counter increment
 * and a compare. Preemptions count only runnable-but-descheduled time, not the wake-up latency
 * of a sleeping loop, so a loop that stops polling does not keep itself "contended" by sleeping
 * more. A sample interval with more than {@link #PREEMPTIONS_PER_S} preemptions a second is
 * contended.
 *
 * <p>The rule: a contended sample suspends polling (cap 0); each uncontended sample after that
 * doubles the cap from {@link PollPolicy#INITIAL_NS}, and once the cap reaches the largest window
 * asked for during the sample, the cap is lifted. Handlers' own polling times keep following
 * {@link PollPolicy#adjust} all along (the cap limits the window, not what the loop learns), so
 * without contention the loop behaves exactly as QEMU's.
 *
 * <p>Threads: everything but construction and the counters' reads runs in the context's home
 * thread (the source reads the calling thread's counters). The counters are plain longs read by
 * {@link AioContext#stats()} from any thread: possibly stale, never torn on 64-bit JVMs (JLS
 * 17.7 permits tearing; HotSpot on x86-64 and arm64 does not), like {@code pollCount}.
 */
final class PollContention {
    /** At most one sample per this many ns (10 ms). */
    static final long SAMPLE_INTERVAL_NS = 10_000_000;
    /** The clock is read on every this-many-th window only (a power of two). */
    static final int CHECK_EVERY = 16;
    /**
     * Preemptions per second above which the thread is contended. An uncontended IOThread at QD1
     * sees tens to hundreds a second (timer ticks that find another task runnable, JIT and GC
     * threads); the oversubscribed one in docs/benchmarks.md §3 ≈50 000.
     */
    static final long PREEMPTIONS_PER_S = 2000;
    /** No cap. */
    static final long UNCAPPED = Long.MAX_VALUE;

    private final LongSupplier clock;
    private final LongSupplier preemptions;
    private final String context;

    private int windows;
    private boolean started;
    private boolean disabled;
    private long lastNs;
    private long lastPreemptions;
    private long capNs = UNCAPPED;
    /** The largest window asked for since the last sample. */
    private long askedNs;

    // ---- counters (AioStats) ----
    private long samples;
    private long contendedSamples;
    private long cappedWindows;

    /**
     * A detector that reads the time from {@code clock} (ns, monotonic) and the thread's
     * cumulative preemption count from {@code preemptions} (-1: unavailable, which turns the
     * detector off for good). Any thread; the suppliers are called in the home thread only.
     */
    PollContention(String context, LongSupplier clock, LongSupplier preemptions) {
        this.context = context;
        this.clock = clock;
        this.preemptions = preemptions;
    }

    /** The production detector: System.nanoTime and getrusage(RUSAGE_THREAD). Any thread. */
    static PollContention system(String context) {
        return new PollContention(context, System::nanoTime, ThreadUsage::involuntarySwitches);
    }

    /**
     * The window the loop may busy-poll for, given that adaptive polling asks for {@code maxNs}
     * (&gt; 0): {@code maxNs}, or less while the thread is contended. Home thread.
     */
    long window(long maxNs) {
        if ((++windows & (CHECK_EVERY - 1)) == 0) {
            sample();
        }
        if (maxNs > askedNs) {
            askedNs = maxNs;
        }
        if (maxNs > capNs) {
            cappedWindows++;
            return capNs;
        }
        return maxNs;
    }

    /** Takes a sample if the interval has passed (the decision rule). Home thread. */
    void sample() {
        if (disabled) {
            return;
        }
        long now = clock.getAsLong();
        if (started && now - lastNs < SAMPLE_INTERVAL_NS) {
            return;
        }
        long p = preemptions.getAsLong();
        if (p < 0) {
            disabled = true;
            capNs = UNCAPPED;
            return;
        }
        if (!started) {
            started = true;
            lastNs = now;
            lastPreemptions = p;
            return;
        }
        long wallNs = now - lastNs;
        long delta = p - lastPreemptions;
        // delta / wall > PREEMPTIONS_PER_S / 1e9, without division; delta < 2^32 in any sane interval
        boolean contended = delta * 1_000_000_000L > PREEMPTIONS_PER_S * wallNs;
        long before = capNs;
        samples++;
        if (contended) {
            contendedSamples++;
            capNs = 0;
        } else if (capNs != UNCAPPED) {
            long next = capNs == 0 ? PollPolicy.INITIAL_NS : capNs * 2;
            capNs = next >= askedNs ? UNCAPPED : next;
        }
        if (PollContentionEvent.enabled()) {
            PollContentionEvent ev = new PollContentionEvent();
            ev.context = context;
            ev.intervalNs = wallNs;
            ev.preemptions = delta;
            ev.contended = contended;
            ev.capBeforeNs = before == UNCAPPED ? -1 : before;
            ev.capNs = capNs == UNCAPPED ? -1 : capNs;
            ev.askedNs = askedNs;
            ev.commit();
        }
        askedNs = 0;
        lastNs = now;
        lastPreemptions = p;
    }

    /** The current cap in ns, or -1 for none. Any thread (a possibly stale plain read). */
    long capNs() {
        long c = capNs;
        return c == UNCAPPED ? -1 : c;
    }

    /** Samples taken. Any thread (a possibly stale plain read). */
    long samples() {
        return samples;
    }

    /** Samples found contended. Any thread (a possibly stale plain read). */
    long contendedSamples() {
        return contendedSamples;
    }

    /** Polling windows shortened or suspended by the cap. Any thread (a possibly stale plain read). */
    long cappedWindows() {
        return cappedWindows;
    }

    /** Whether the source was unavailable, so the detector never caps. Home thread. */
    boolean disabled() {
        return disabled;
    }
}
