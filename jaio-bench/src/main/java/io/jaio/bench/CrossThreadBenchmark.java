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
 * One producer thread hands tasks to a loop thread: jaio {@code scheduleOneshot} into an IoThread's
 * context vs Netty {@code execute} into an event loop (vs a busy-polling {@link SpinLoop}, the lower bound).
 *
 * <p>Each invocation submits a batch of {@link #BATCH} tasks and then waits until the loop has run all
 * of them, so the score is tasks <em>consumed</em> per second: neither side can look fast by piling
 * tasks up in memory. The first task of a batch may have to wake the loop (jaio's adaptive polling may
 * catch it awake); the others find it running. Score: tasks per second (higher is better).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class CrossThreadBenchmark {
    /** Tasks per invocation (one batch). */
    static final int BATCH = 1000;
    private static final String NAME = "cross-thread";

    @Param({"jaio", "jaio-epoll", "netty-nio", "netty-epoll", "spin"})
    public String impl;

    /** Thread placement, see {@link Placement}. */
    @Param({"cross"})
    public String pin;

    private Placement placement;
    private final Signal done = new Signal();
    /** The task: count, and signal the producer at the end of a batch. */
    private final Runnable task = this::consume;

    private IoThread io;
    private AioContext ctx;
    private MultiThreadIoEventLoopGroup group;
    private EventLoop eventLoop;
    private SpinLoop spin;

    @Setup(Level.Trial)
    public void setUp() {
        placement = Placement.of(pin);
        switch (Loops.kindOf(impl)) {
            case JAIO -> {
                io = Loops.jaio(impl);
                ctx = io.context();
                placement.pinLoop(Loops.executor(ctx));
            }
            case NETTY -> {
                group = Loops.netty(impl);
                eventLoop = group.next();
                placement.pinLoop(eventLoop);
            }
            case SPIN -> spin = new SpinLoop("spin-bench", placement);
        }
    }

    private void consume() {
        done.tick(BATCH); // counted in Signal, on a line of its own (see Signal)
    }

    @Setup(Level.Iteration)
    public void pinCaller() {
        placement.pinCaller();
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void handOff() {
        long target = done.expectNext();
        if (ctx != null) {
            for (int i = 0; i < BATCH; i++) {
                ctx.scheduleOneshot(NAME, task);
            }
        } else if (eventLoop != null) {
            for (int i = 0; i < BATCH; i++) {
                eventLoop.execute(task);
            }
        } else {
            for (int i = 0; i < BATCH; i++) {
                spin.execute(task);
            }
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
        if (spin != null) {
            spin.close();
        }
    }
}
