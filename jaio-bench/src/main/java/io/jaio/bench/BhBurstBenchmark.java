package io.jaio.bench;

import io.jaio.aio.AioContext;
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
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * A burst of {@link #BURST} tasks scheduled by the loop itself, then run: jaio
 * {@code scheduleOneshot} from a bottom half of the same context (QEMU: {@code aio_bh_schedule_oneshot}
 * from the home thread) vs Netty {@code execute()} from a task on its own event loop.
 *
 * <p>The benchmark thread hands one task to the loop; that task schedules the burst; the last task of
 * the burst signals the benchmark thread. So the loop-internal cost (scheduling from the loop, then the
 * pass or passes that run the burst) dominates, and one cross-thread hand-off is amortised over
 * {@link #BURST} tasks. Score: tasks per second (higher is better).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class BhBurstBenchmark {
    /** Tasks per burst (one invocation). */
    static final int BURST = 1024;
    private static final String NAME = "bh-burst";

    @Param({"jaio", "netty-epoll"})
    public String impl;

    /** Thread placement, see {@link Placement}. */
    @Param({"cross"})
    public String pin;

    private Placement placement;
    private final Signal done = new Signal();
    private final Runnable task = this::consume;

    private IoThread io;
    private AioContext ctx;
    private MultiThreadIoEventLoopGroup group;
    private EventLoop eventLoop;
    /** Runs on the loop: schedules the burst from there. */
    private Runnable burst;

    @Setup(Level.Trial)
    public void setUp() {
        placement = Placement.of(pin);
        switch (Loops.kindOf(impl)) {
            case JAIO -> {
                io = Loops.jaio(impl);
                ctx = io.context();
                placement.pinLoop(Loops.executor(ctx));
                burst = () -> {
                    for (int i = 0; i < BURST; i++) {
                        ctx.scheduleOneshot(NAME, task);
                    }
                };
            }
            case NETTY -> {
                group = Loops.netty(impl);
                eventLoop = group.next();
                placement.pinLoop(eventLoop);
                burst = () -> {
                    for (int i = 0; i < BURST; i++) {
                        eventLoop.execute(task);
                    }
                };
            }
            case SPIN -> throw new IllegalArgumentException("BhBurst has no spin baseline (impl=" + impl + ")");
        }
    }

    private void consume() {
        done.tick(BURST); // counted in Signal, on a line of its own (see Signal)
    }

    @Setup(Level.Iteration)
    public void pinCaller() {
        placement.pinCaller();
    }

    @Benchmark
    @OperationsPerInvocation(BURST)
    public void burst() {
        long target = done.expectNext();
        if (ctx != null) {
            ctx.scheduleOneshot(NAME, burst);
        } else {
            eventLoop.execute(burst);
        }
        done.await(target, placement);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        if (io != null) {
            Loops.close(io);
        }
        if (group != null) {
            Loops.close(group);
        }
    }
}
