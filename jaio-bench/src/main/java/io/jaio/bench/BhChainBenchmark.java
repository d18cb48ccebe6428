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
 *
 * <p>{@code chains} (default 1): that many tasks reschedule themselves side by side, sharing the
 * {@link #HOPS} hops, so a jaio pass runs {@code chains} BHs: with 1 the score is the cost of a
 * whole pass, with 64 mostly that of a BH's schedule and dequeue.
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

    /** Tasks rescheduling themselves side by side. */
    @Param({"1"})
    public int chains;

    private Placement placement;
    private final Signal done = new Signal();
    /** Hops left in the current run. Loop thread only, except the reset before a run starts. */
    private int remaining;
    /** Chains still going in the current run. Loop thread only, except the reset before a run starts. */
    private int alive;

    private IoThread io;
    private BottomHalf[] bhs;
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
                bhs = new BottomHalf[chains];
                for (int i = 0; i < chains; i++) {
                    BottomHalf[] self = new BottomHalf[1];
                    self[0] = io.context().newBottomHalf("bh-chain-" + i, () -> {
                        if (hop()) {
                            self[0].schedule();
                        }
                    });
                    bhs[i] = self[0];
                }
                start = () -> {
                    for (BottomHalf b : bhs) {
                        b.schedule();
                    }
                };
            }
            case NETTY -> {
                group = Loops.netty(impl);
                eventLoop = group.next();
                placement.pinLoop(eventLoop);
                start = selfSubmittingChains(eventLoop::execute);
            }
            case SPIN -> {
                spin = new SpinLoop("spin-bench", placement);
                start = selfSubmittingChains(spin::execute);
            }
        }
    }

    /**
     * {@code chains} tasks that each hand themselves to {@code execute} again while the run goes
     * on; returns what starts them all.
     */
    private Runnable selfSubmittingChains(java.util.function.Consumer<Runnable> execute) {
        Runnable[] hops = new Runnable[chains];
        for (int i = 0; i < chains; i++) {
            hops[i] = new Runnable() {
                @Override
                public void run() {
                    if (hop()) {
                        execute.accept(this);
                    }
                }
            };
        }
        return () -> {
            for (Runnable h : hops) {
                execute.accept(h);
            }
        };
    }

    /**
     * One hop of one chain (loop thread): true if the chain goes on. The last chain to stop
     * signals the end of the run.
     */
    private boolean hop() {
        if (--remaining > 0) {
            return true;
        }
        if (--alive == 0) {
            done.signal();
        }
        return false;
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
        alive = chains;
        start.run();
        done.await(target, placement);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        if (io != null) {
            for (BottomHalf b : bhs) {
                b.delete();
            }
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
