package io.jaio.bench;

import io.jaio.aio.AioContext;
import io.jaio.aio.BottomHalf;
import io.jaio.aio.IoThread;
import io.jaio.coroutine.Coroutine;
import io.jaio.coroutine.ThreadPools;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;
import java.util.function.Supplier;
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
 * Thread-pool offload latency: submit of a trivial task ({@code () -> 1}) to completion seen back on the
 * submitting ("home") thread.
 *
 * <ul>
 *   <li>{@code jaio-bh-pollN}: a bottom half on an IoThread (poll-max-ns N) calls
 *       {@code ctx.threadPool().submitAio(work, done)}; {@code done} runs back on the IoThread.</li>
 *   <li>{@code jaio-co-pollN}: a coroutine on the IoThread calls {@code submitCo(work)} (submit, yield, woken
 *       by the completion on the IoThread).</li>
 *   <li>{@code fjp}: the peer; the home thread is the benchmark thread, which calls
 *       {@code CompletableFuture.supplyAsync(work, pool).join()} on a dedicated {@link ForkJoinPool}
 *       (parallelism 2 = the vCPUs).</li>
 * </ul>
 *
 * <p><b>The figure to read is the latency line</b> the fork prints at the end ({@code # offload ...}): the
 * home thread reads {@code System.nanoTime()} just before submitting and again in the completion (jaio:
 * in {@code done} / after {@code submitCo} returns, on the IoThread; fjp: after {@code join()}), measurement
 * iterations only. For {@code fjp} the JMH score is the same interval; for jaio it also contains the
 * benchmark thread handing the request to the IoThread and waiting (parked) for the answer, two more
 * cross-thread wake-ups. Placement: unpinned.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED",
        "--add-exports", "java.base/jdk.internal.vm=ALL-UNNAMED"})
public class ThreadPoolLatencyBenchmark {
    @Param({"jaio-bh-poll0", "jaio-bh-poll32768", "jaio-co-poll32768", "fjp"})
    public String impl;

    private static final Callable<Integer> WORK = () -> 1;
    private static final Supplier<Integer> WORK_SUPPLIER = () -> 1;

    private final Signal done = new Signal();
    // Home-thread state (the IoThread for jaio, the benchmark thread for fjp); jaio hands it over
    // through Loops.runAndWait.
    private final LatencyHistogram latency = new LatencyHistogram();
    private boolean recording;
    private long t0;

    private IoThread io;
    private BottomHalf kick;
    private Coroutine co;
    private boolean stop;
    private ForkJoinPool pool;

    private final BiConsumer<Integer, Throwable> onDone = (v, e) -> {
        long t1 = System.nanoTime();
        if (e != null || v != 1) {
            throw new IllegalStateException("offloaded work failed", e);
        }
        if (recording) {
            latency.record(t1 - t0);
        }
        done.signal();
    };

    @Setup(Level.Trial)
    public void setUp() {
        if (impl.equals("fjp")) {
            pool = new ForkJoinPool(2);
            return;
        }
        String[] parts = impl.split("-");
        io = Loops.jaio("jaio-" + parts[2]);
        AioContext ctx = io.context();
        if (parts[1].equals("bh")) {
            kick = ctx.newBottomHalf("offload-bh", () -> {
                t0 = System.nanoTime();
                ctx.threadPool().submitAio(WORK, onDone);
            });
        } else {
            co = Coroutine.create(() -> {
                while (!stop) {
                    t0 = System.nanoTime();
                    Integer v = ThreadPools.submitCo(ctx.threadPool(), WORK);
                    onDone.accept(v, null);
                    Coroutine.yield();
                }
            });
            // The coroutine yields after every answer; the next request enters it from a bottom half.
            kick = ctx.newBottomHalf("offload-co", co::enter);
        }
    }

    @Setup(Level.Iteration)
    public void startIteration(IterationParams params) {
        boolean measure = params.getType() == IterationType.MEASUREMENT;
        if (io != null) {
            Loops.runAndWait(Loops.executor(io.context()), () -> recording = measure);
        } else {
            recording = measure;
        }
    }

    @Benchmark
    public void offload() {
        if (pool != null) {
            t0 = System.nanoTime();
            Integer v = CompletableFuture.supplyAsync(WORK_SUPPLIER, pool).join();
            onDone.accept(v, null);
            return;
        }
        long target = done.expectNext();
        kick.schedule();
        done.awaitParked(target);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        if (io != null) {
            Loops.runAndWait(Loops.executor(io.context()), () -> {
                recording = false;
                if (co != null) {
                    stop = true;
                    co.enter(); // ends after its yield
                }
            });
            kick.delete();
            Loops.close(io);
        }
        if (pool != null) {
            pool.shutdown();
            try {
                if (!pool.awaitTermination(10, TimeUnit.SECONDS)) {
                    throw new IllegalStateException("ForkJoinPool did not terminate");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        System.out.println("\n# offload latency " + impl + ": " + latency.summary());
    }
}
