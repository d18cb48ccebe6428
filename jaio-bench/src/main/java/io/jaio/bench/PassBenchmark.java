package io.jaio.bench;

import io.jaio.aio.AioContext;
import io.jaio.aio.BottomHalf;
import io.jaio.aio.FdMonitorKind;
import io.jaio.aio.IoThread;
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
 * One {@code poll(true)} pass that runs one bottom half, which schedules itself for the next pass:
 * {@link BhChainBenchmark}'s hop without the other thread. The benchmark thread is the context's
 * home thread and calls {@code poll} itself, so there is no second CPU, no hand-off and no pinning
 * in the figure: it moves by a few per cent between JVMs where the chain moves by ±20–50 % on
 * this machine, which makes it the tool for A/B of a change to the pass (two jars, alternating
 * forks: {@code bench/loop-ab.sh}). It has no Netty counterpart (Netty's loop runs a task that
 * re-executes itself without going round its loop); the peer comparison stays the chain's.
 *
 * <p>Score: passes per second (higher is better); the score's inverse is the cost of one pass.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class PassBenchmark {
    /** The fd monitor: {@code auto} (jaio-core's choice), {@code ppoll}, {@code epoll}, {@code io_uring}. */
    @Param({"auto", "epoll"})
    public String monitor;

    private AioContext ctx;
    private BottomHalf bh;
    private long runs;
    /**
     * Wakes the context every 100 ms, so a pass that finds no bottom half (a broken chain) returns
     * instead of blocking for ever, and {@link #pass()} fails the run. Costs the measured passes one
     * {@code accept} with a fence per 100 ms.
     */
    private Thread watchdog;
    private volatile boolean stop;

    /** Runs on the benchmark thread (thread-scoped state), which becomes the context's home. */
    @Setup(Level.Trial)
    public void setUp() {
        FdMonitorKind kind = switch (monitor) {
            case "auto" -> FdMonitorKind.AUTO;
            case "ppoll" -> FdMonitorKind.POLL;
            case "epoll" -> FdMonitorKind.EPOLL;
            case "io_uring" -> FdMonitorKind.IO_URING;
            default -> throw new IllegalArgumentException("unknown monitor '" + monitor + "'");
        };
        ctx = AioContext.builder().name("jaio-bench-pass").fdMonitor(kind)
                .pollMaxNs(IoThread.DEFAULT_POLL_MAX_NS).build(); // as an IoThread's
        BottomHalf[] self = new BottomHalf[1];
        self[0] = ctx.newBottomHalf("pass", () -> {
            runs++;
            self[0].schedule();
        });
        bh = self[0];
        bh.schedule();
        watchdog = Thread.ofPlatform().daemon().name("jaio-bench-pass-watchdog").start(() -> {
            while (!stop) {
                try {
                    Thread.sleep(100);
                } catch (InterruptedException e) {
                    return;
                }
                ctx.wakeup(); // any thread
            }
        });
        System.out.println("# jaio pass: AioContext on the benchmark thread, fd monitor " + ctx.fdMonitorKind()
                + ", poll-max-ns " + ctx.pollMaxNs());
    }

    /** One pass; it must run the bottom half (a pass that did not was woken by the watchdog). */
    @Benchmark
    public boolean pass() {
        long before = runs;
        boolean progress = ctx.poll(true);
        if (runs != before + 1) {
            throw new IllegalStateException("a pass ran the bottom half " + (runs - before) + " times, not once");
        }
        return progress;
    }

    @TearDown(Level.Trial)
    public void tearDown() throws InterruptedException {
        stop = true;
        watchdog.interrupt();
        watchdog.join();
        long errors = ctx.stats().callbackErrors();
        bh.delete();
        ctx.close();
        if (errors != 0) {
            throw new IllegalStateException(errors + " callback(s) threw on the jaio loop; see the log above");
        }
    }
}
