package io.jaio.bench;

import io.jaio.aio.BottomHalf;
import io.jaio.aio.IoThread;
import io.netty.channel.EventLoop;
import io.netty.channel.MultiThreadIoEventLoopGroup;
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

/**
 * {@link WakeupRttBenchmark} on io_uring only: jaio's IoThread on {@code FdMonitorKind.IO_URING}
 * ({@code jaio-io_uring-poll0}: never polls; {@code jaio-io_uring-poll32768}: the IoThread default) beside
 * Netty 4.2's {@code IoUringIoHandler} and the spin lower bound, same methodology and code (a copy, so that
 * the io_uring comparison runs in one fork set with its own parameter list; {@code same} placement is
 * available with {@code -p pin=same}).
 *
 * <p>The original description follows.
 *
 * Wake-up round trip: the benchmark thread hands one task to an idle loop, the task bumps a counter the
 * benchmark thread is waiting on. One sample = hand-off + the loop waking up (if it slept) + the task
 * running + the caller seeing the counter. The caller busy-waits ({@code cross}) or yields ({@code same}),
 * see {@link Placement}, so the caller's own wake-up is not part of the sample.
 *
 * <ul>
 *   <li>jaio: a bottom half scheduled from the benchmark thread ({@code aio_notify} writes the eventfd
 *       only if the loop may be asleep); {@code jaio-poll0} never polls, {@code jaio-poll32768} is the
 *       IoThread default, adaptive polling up to 32.768 µs before it blocks.</li>
 *   <li>Netty: {@code execute()} from the benchmark thread (wakes the selector/eventfd/ring if the loop
 *       is blocked).</li>
 *   <li>spin: the busy-polling lower bound ({@link SpinLoop}).</li>
 * </ul>
 * {@code idleUs}: how long the caller waits before each hand-off (outside the measured time; it busy-waits
 * on its own CPU with {@code cross}, yields with {@code same}, so the gap is precise). With 0 the next
 * request comes ~1 µs after the last one and may find any loop still awake; with 10 every loop that
 * blocks has had time to block, but the request still falls inside jaio's 32.768 µs polling window; with
 * 200 it falls after the window, so every loop pays a real wake-up. Score: µs per round trip (lower is
 * better).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED",
        "--add-exports", "java.base/jdk.internal.vm=ALL-UNNAMED"})
public class IoUringWakeupRttBenchmark {
    @Param({"jaio-io_uring-poll0", "jaio-io_uring-poll32768", "netty-io_uring", "spin"})
    public String impl;

    /** Thread placement, see {@link Placement}: {@code cross} = other vCPU, {@code same} = same vCPU. */
    @Param({"cross"})
    public String pin;

    /** The caller's wait before each hand-off, µs (not measured). */
    @Param({"0", "10", "200"})
    public long idleUs;

    private Placement placement;
    private final Signal done = new Signal();
    private final Runnable reply = done::signal;

    private IoThread io;
    private BottomHalf bh;
    private MultiThreadIoEventLoopGroup group;
    private EventLoop eventLoop;
    private SpinLoop spin;
    private Runnable handOff;

    @Setup(Level.Trial)
    public void setUp() {
        placement = Placement.of(pin);
        switch (Loops.kindOf(impl)) {
            case JAIO -> {
                io = Loops.jaio(impl);
                placement.pinLoop(Loops.executor(io.context()));
                bh = io.context().newBottomHalf("wakeup-rtt", reply);
                handOff = bh::schedule;
            }
            case NETTY -> {
                group = Loops.netty(impl);
                eventLoop = group.next();
                placement.pinLoop(eventLoop);
                handOff = () -> eventLoop.execute(reply);
            }
            case SPIN -> {
                spin = new SpinLoop("spin-bench", placement);
                handOff = () -> spin.execute(reply);
            }
        }
    }

    @Setup(Level.Iteration)
    public void pinCaller() {
        placement.pinCaller();
    }

    /**
     * Lets the loop go idle for {@code idleUs} before the next sample (outside the measured time). The
     * caller waits without sleeping, so the gap does not stretch by its own timer slack or wake-up.
     */
    @Setup(Level.Invocation)
    public void idle() {
        if (idleUs > 0) {
            long end = System.nanoTime() + TimeUnit.MICROSECONDS.toNanos(idleUs);
            for (int round = 0; System.nanoTime() - end < 0; round++) {
                placement.pause(round);
            }
        }
    }

    @Benchmark
    public void roundTrip() {
        long target = done.expectNext();
        handOff.run();
        done.await(target, placement);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        if (io != null) {
            bh.delete();
            Loops.close(io);
        }
        if (group != null) {
            Loops.close(group);
        }
        if (spin != null) {
            spin.close();
        }
    }
}
