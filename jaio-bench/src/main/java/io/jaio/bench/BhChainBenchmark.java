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
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * A task that reschedules itself on its own loop, {@link #HOPS} times: the cost of one loop-internal hop.
 *
 * <ul>
 *   <li>jaio: a {@link BottomHalf} whose callback calls {@code schedule()} on itself; each hop is one
 *       {@code aio_poll} pass, since a BH scheduled by a running BH runs in the next pass.</li>
 *   <li>Netty: a {@code Runnable} that {@code execute()}s itself on its event loop (an in-loop
 *       {@code execute} only enqueues).</li>
 *   <li>spin: the same task re-queued on a busy-polling thread ({@link SpinLoop}), the lower bound.</li>
 * </ul>
 * The benchmark thread starts a chain and waits for its end, so one cross-thread hand-off and one
 * completion are amortised over {@link #HOPS} hops. Score: hops per second (higher is better).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class BhChainBenchmark {
    /** Hops per benchmark invocation. */
    static final int HOPS = 100_000;

    @Param({"jaio", "jaio-epoll", "netty-nio", "netty-epoll", "spin"})
    public String impl;

    /** Thread placement, see {@link Placement}. */
    @Param({"cross"})
    public String pin;

    private Placement placement;
    private final Signal done = new Signal();
    /** Hops left in the current chain. Loop thread only, except the reset before a chain starts. */
    private int remaining;

    private IoThread io;
    private BottomHalf bh;
    private MultiThreadIoEventLoopGroup group;
    private EventLoop eventLoop;
    private SpinLoop spin;
    /** What the benchmark thread hands to the loop to start a chain. */
    private Runnable start;

    @Setup(Level.Trial)
    public void setUp() {
        placement = Placement.of(pin);
        switch (Loops.kindOf(impl)) {
            case JAIO -> {
                io = Loops.jaio(impl);
                placement.pinLoop(Loops.executor(io.context()));
                bh = io.context().newBottomHalf("bh-chain", this::bhHop);
                start = bh::schedule;
            }
            case NETTY -> {
                group = Loops.netty(impl);
                eventLoop = group.next();
                placement.pinLoop(eventLoop);
                Runnable hop = new Runnable() {
                    @Override
                    public void run() {
                        if (--remaining > 0) {
                            eventLoop.execute(this);
                        } else {
                            done.signal();
                        }
                    }
                };
                start = () -> eventLoop.execute(hop);
            }
            case SPIN -> {
                spin = new SpinLoop("spin-bench", placement);
                Runnable hop = new Runnable() {
                    @Override
                    public void run() {
                        if (--remaining > 0) {
                            spin.execute(this);
                        } else {
                            done.signal();
                        }
                    }
                };
                start = () -> spin.execute(hop);
            }
        }
    }

    private void bhHop() {
        if (--remaining > 0) {
            bh.schedule();
        } else {
            done.signal();
        }
    }

    @Setup(Level.Iteration)
    public void pinCaller() {
        placement.pinCaller();
    }

    @Benchmark
    @OperationsPerInvocation(HOPS)
    public void chain() {
        long target = done.expectNext();
        // Published to the loop by the hand-off below (schedule()/execute() are release, the loop's
        // dequeue acquire); the loop is idle until then.
        remaining = HOPS;
        start.run();
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
