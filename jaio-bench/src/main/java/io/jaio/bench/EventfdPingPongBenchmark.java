package io.jaio.bench;

import io.jaio.aio.EventNotifier;
import io.jaio.aio.IoThread;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Event notifier ping-pong between two IoThreads, per fd monitor: A's handler on notifier {@code a} sets
 * notifier {@code b}, B's handler on {@code b} sets {@code a} (QEMU's ioeventfd/irqfd shape). Each handler
 * clears its notifier ({@code testAndClear}, one read) and sets the other's (one write).
 *
 * <p>For adaptive polling to have something to poll, each notifier is registered with an {@code io_poll}
 * callback that reads a volatile "pending" flag the sender sets just before its eventfd write (what a
 * virtqueue's io_poll does with the ring: it never reads the eventfd). With {@code poll0} that callback is
 * never used and every hop is an eventfd wake-up through the monitor.
 *
 * <p>Each notifier has a "pending" flag: the sender sets it, then writes the eventfd; the receiver takes it
 * with a CAS, so a hop that polling handled before its write landed is not handled twice.
 *
 * <p>One invocation: the benchmark thread sets {@code a} with a budget of {@link #RTTS} round trips; A
 * counts them down and signals the (parked) benchmark thread when the budget is spent. The benchmark
 * thread's own hand-off and wake-up happen once per {@link #RTTS} round trips (≈1 % of the figure or less).
 * Score: ns per round trip (lower is better).
 *
 * <p>Placement ({@code pin}): {@code cross} puts A on CPU 0 and B on CPU 1 (every hop crosses vCPUs);
 * {@code same} puts both on CPU 0; {@code none} lets the scheduler decide. The benchmark thread is unpinned
 * and parked while it waits.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED",
        "--add-exports", "java.base/jdk.internal.vm=ALL-UNNAMED"})
public class EventfdPingPongBenchmark {
    static final int RTTS = 200;

    /** The fd monitor of both IoThreads: {@code ppoll}, {@code epoll}, {@code io_uring} (Loops names). */
    @Param({"ppoll", "epoll", "io_uring"})
    public String monitor;

    /** poll-max-ns of both IoThreads. */
    @Param({"0", "32768"})
    public long pollNs;

    @Param({"cross", "same"})
    public String pin;

    private IoThread ioA;
    private IoThread ioB;
    private EventNotifier a;
    private EventNotifier b;
    /**
     * Set by the sender before its eventfd write, taken (CAS) by the receiver: a hop is handled once even
     * when polling sees it before the write lands and the write then wakes the monitor again.
     */
    private final AtomicBoolean pendingA = new AtomicBoolean();
    private final AtomicBoolean pendingB = new AtomicBoolean();
    /**
     * Round trips left in this invocation: written by the benchmark thread while A is idle (after its
     * signal), then only by A. Volatile, because the eventfd write is no happens-before edge.
     */
    private volatile int remaining;
    private final Signal done = new Signal();
    private long roundTrips;

    @Setup(Level.Trial)
    public void setUp() {
        String impl = "jaio-" + monitor + "-poll" + pollNs;
        ioA = Loops.jaio(impl);
        ioB = Loops.jaio(impl);
        switch (pin) {
            case "cross" -> {
                Loops.runAndWait(Loops.executor(ioA.context()), () -> Affinity.pinCurrentThread(0));
                Loops.runAndWait(Loops.executor(ioB.context()), () -> Affinity.pinCurrentThread(1));
            }
            case "same" -> {
                Loops.runAndWait(Loops.executor(ioA.context()), () -> Affinity.pinCurrentThread(0));
                Loops.runAndWait(Loops.executor(ioB.context()), () -> Affinity.pinCurrentThread(0));
            }
            case "none" -> { }
            default -> throw new IllegalArgumentException("pin must be cross, same or none, not " + pin);
        }
        a = EventNotifier.create();
        b = EventNotifier.create();
        ioA.context().setEventNotifier(a, this::onA, n -> pendingA.get(), this::onA);
        ioB.context().setEventNotifier(b, this::onB, n -> pendingB.get(), this::onB);
    }

    /** Thread A: one round trip came back (or the benchmark thread started a new invocation). */
    private void onA(EventNotifier n) {
        n.testAndClear();
        if (!pendingA.compareAndSet(true, false)) {
            return; // the write of a hop that polling already handled
        }
        int left = remaining;
        if (left > 0) {
            remaining = left - 1;
            roundTrips++;
            pendingB.set(true);
            b.set();
        } else {
            done.signal();
        }
    }

    /** Thread B: bounce. */
    private void onB(EventNotifier n) {
        n.testAndClear();
        if (!pendingB.compareAndSet(true, false)) {
            return;
        }
        pendingA.set(true);
        a.set();
    }

    @Benchmark
    @OperationsPerInvocation(RTTS)
    public void pingPong() {
        long target = done.expectNext();
        remaining = RTTS; // thread A is idle: its last invocation ended with signal()
        pendingA.set(true);
        a.set();
        done.awaitParked(target);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        ioA.context().setEventNotifier(a, null, null, null);
        ioB.context().setEventNotifier(b, null, null, null);
        Loops.runAndWait(Loops.executor(ioA.context()), () ->
                System.out.println("\n# " + monitor + " poll " + pollNs + " pin " + pin + ": " + roundTrips
                        + " round trips; eventfd writes by the contexts' own wake-ups: A "
                        + ioA.context().stats().eventfdWrites() + ", B " + ioB.context().stats().eventfdWrites()));
        Loops.close(ioA);
        Loops.close(ioB);
        a.close();
        b.close();
    }
}
