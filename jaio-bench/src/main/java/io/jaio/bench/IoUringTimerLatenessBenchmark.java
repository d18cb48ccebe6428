package io.jaio.bench;

import io.jaio.aio.AioContext;
import io.jaio.aio.BottomHalf;
import io.jaio.aio.ClockSource;
import io.jaio.aio.ClockType;
import io.jaio.aio.IoThread;
import io.jaio.aio.Timer;
import io.netty.channel.EventLoop;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.IterationParams;
import org.openjdk.jmh.runner.IterationType;

/**
 * {@link TimerLatenessBenchmark} on io_uring only: jaio's IoThread on {@code FdMonitorKind.IO_URING}
 * (poll-max-ns 0 and 32768) beside Netty 4.2's {@code IoUringIoHandler}; same methodology and code (a
 * copy with its own parameter list), 2 warm-up and 3 measurement iterations of 1 s.
 *
 * <p>The original description follows.
 *
 * Timer lateness: how long after its deadline a timer's callback runs, for 0 ms and 1 ms timers.
 *
 * <p>A chain runs entirely on the loop thread: a task arms a timer ({@code deadline = now + delay}), the
 * timer's callback measures {@code lateness = now - deadline}, then hands the next arming to a task
 * (jaio: a bottom half; Netty: {@code execute}), and so on. No other thread is involved in arming or
 * firing, so the lateness contains no cross-thread hand-off.
 * <ul>
 *   <li>jaio: {@code Timer} on {@code ClockType.REALTIME}, scale {@code NANOSECONDS}, armed with
 *       {@code modNs} from a bottom half; times from the context's clock source.</li>
 *   <li>Netty: {@code eventLoop.schedule(task, delay, NANOSECONDS)} from a task; times from
 *       {@code System.nanoTime()} read just before {@code schedule} (Netty computes its own deadline a few
 *       ns later, so this overstates Netty's lateness by those few ns).</li>
 * </ul>
 *
 * <p><b>The figure to read is the lateness line</b> the fork prints at the end
 * ({@code # lateness ...: p50 p90 p99 ...}, from all measurement iterations). The JMH score is only a
 * cross-check: each sample is the benchmark thread waiting (parked) for the next firing, i.e. about one
 * chain period = delay + lateness + re-arming + the benchmark thread's own wake-up.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED",
        "--add-exports", "java.base/jdk.internal.vm=ALL-UNNAMED"})
public class IoUringTimerLatenessBenchmark {
    @Param({"jaio-io_uring-poll0", "jaio-io_uring-poll32768", "netty-io_uring"})
    public String impl;

    /** The timer's delay, ms. */
    @Param({"0", "1"})
    public long delayMs;

    /** Thread placement, see {@link Placement}. */
    @Param({"cross"})
    public String pin;

    private Placement placement;
    private long delayNs;
    private final Signal fired = new Signal();

    // Loop-thread state: written and read only by the loop thread, handed to the benchmark thread
    // through Loops.runAndWait (its CompletableFuture is the happens-before edge).
    private final LatencyHistogram lateness = new LatencyHistogram();
    private boolean recording;
    private boolean running = true;
    private long deadline;

    private IoThread io;
    private ClockSource clock;
    private Timer timer;
    private BottomHalf armBh;

    private MultiThreadIoEventLoopGroup group;
    private EventLoop eventLoop;
    private Runnable nettyArm;
    private Runnable nettyFire;
    private ScheduledFuture<?> pending;

    private Executor loop;

    @Setup(Level.Trial)
    public void setUp() {
        placement = Placement.of(pin);
        delayNs = TimeUnit.MILLISECONDS.toNanos(delayMs);
        switch (Loops.kindOf(impl)) {
            case JAIO -> {
                io = Loops.jaio(impl);
                AioContext ctx = io.context();
                clock = ctx.clockSource();
                loop = Loops.executor(ctx);
                placement.pinLoop(loop);
                timer = ctx.newTimer(ClockType.REALTIME, TimeUnit.NANOSECONDS, this::jaioFired);
                armBh = ctx.newBottomHalf("timer-arm", this::jaioArm);
                armBh.schedule();
            }
            case NETTY -> {
                group = Loops.netty(impl);
                eventLoop = group.next();
                loop = eventLoop;
                placement.pinLoop(loop);
                nettyFire = this::nettyFired;
                nettyArm = this::nettyArm;
                eventLoop.execute(nettyArm);
            }
            case SPIN -> throw new IllegalArgumentException("spin has no timers");
        }
    }

    private void jaioArm() {
        if (running) {
            deadline = clock.nowNs(ClockType.REALTIME) + delayNs;
            timer.modNs(deadline);
        }
    }

    private void jaioFired() {
        long late = clock.nowNs(ClockType.REALTIME) - deadline;
        if (recording) {
            lateness.record(late);
        }
        fired.signal();
        if (running) {
            armBh.schedule();
        }
    }

    private void nettyArm() {
        if (running) {
            deadline = System.nanoTime() + delayNs;
            pending = eventLoop.schedule(nettyFire, delayNs, TimeUnit.NANOSECONDS);
        }
    }

    private void nettyFired() {
        long late = System.nanoTime() - deadline;
        if (recording) {
            lateness.record(late);
        }
        fired.signal();
        if (running) {
            eventLoop.execute(nettyArm);
        }
    }

    /** Records lateness in measurement iterations only. */
    @Setup(Level.Iteration)
    public void startIteration(IterationParams params) {
        placement.pinCaller();
        boolean measure = params.getType() == IterationType.MEASUREMENT;
        Loops.runAndWait(loop, () -> recording = measure);
    }

    @Benchmark
    public void nextFiring() {
        fired.awaitParked(fired.expectNext());
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        if (loop != null) {
            Loops.runAndWait(loop, () -> {
                running = false;
                recording = false;
                if (timer != null) {
                    timer.del();
                }
                if (pending != null) {
                    pending.cancel(false);
                }
            });
            System.out.println("\n# lateness " + impl + " delay " + delayMs + " ms, pin " + pin + ": "
                    + lateness.summary());
        }
        if (io != null) {
            armBh.delete();
            Loops.close(io);
        }
        if (group != null) {
            Loops.close(group);
        }
    }
}
